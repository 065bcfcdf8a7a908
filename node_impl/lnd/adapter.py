"""`LightningNode` adapter for LND (`lnd`), driven through its REST API.

lnd is found through `LNH_LND`, the tool directory of `lnharness install lnd`, or PATH
(see config.py). It runs on regtest with LND's `bitcoind` chain backend in RPC-polling
mode, which works on every chain backend the harness has (the embedded one included),
and with the test-friendly settings of LND's own integration tests.
"""
from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from lnharness.errors import ProcessError, RpcError
from lnharness.node import LightningNode, PaymentFailed, PaymentPending
from lnharness.ports import release_port, reserve_port
from lnharness.proc import Daemon
from lnharness.results import Availability, Balance, Channel, Invoice, Payment
from lnharness.wait import default_timeout, wait_for

from . import config, shapes
from .install import installed_binary
from .labels import LabelStore
from .logs import BROKEN_LOG_REGEX, is_benign
from .rest import LndRest

if TYPE_CHECKING:
    from lnharness.chain import Chain
    from lnharness.runtime import NodeRuntime

#: REST is up (logged once the gRPC gateway listens)
READY_REGEX = r"gRPC proxy started at"
#: btcwallet counts the chain as synced only if its tip is younger than this (2 h, less margin)
STALE_TIP_S = 90 * 60
#: fee limit of `pay`: generous, so routed test payments never fail on fees
FEE_LIMIT_MIN_MSAT = 5_000_000
PAY_READ_MARGIN_S = 2  # how much longer we read a payment's stream than LND tries routes
KEYSEND_RECORD_TYPE = 5482373484  # the final hop's record carrying a keysend's preimage
KEYSEND_FINAL_CLTV_DELTA = 40  # LND's default for the final hop of a keysend
TLV_ONION_OPTIONAL = 9  # lnrpc.FeatureBit TLV_ONION_OPT: the payee reads TLV payloads
class LndNode(LightningNode):
    """An lnd node, started as its own process with its own directory and ports."""

    impl = "lnd"
    broken_log_regex: ClassVar[str] = BROKEN_LOG_REGEX
    #: its state (wallet, channel.db, macaroons, TLS cert) is in its --lnddir; ports and the
    #: chain come from the command line; it redials its peers' old addresses, harmlessly
    restore_unsupported: ClassVar[str | None] = None
    container_image: ClassVar[str | None] = "lnd"
    saved_excludes: ClassVar[tuple[str, ...]] = ("log", "logs")

    def __init__(self, name: str, *, directory: Path, chain: Chain,
                 options: dict[str, Any] | None = None, may_reconnect: bool = False,
                 runtime: NodeRuntime | None = None):
        super().__init__(name, directory=directory, chain=chain, options=options,
                         may_reconnect=may_reconnect, runtime=runtime)
        found = config.find_lnd()
        if found is None:
            raise ProcessError(f"lnd: {config.not_found_reason()}")
        self.binary = found.path
        _, known = config.probe(self.binary)
        extra = config.option_args(self.options, known)
        self.port = reserve_port()
        self.grpc_port = reserve_port()
        self.rest_port = reserve_port()
        self.lightning_dir.mkdir(parents=True, exist_ok=True)
        runtime = self.runtime
        chain_host, chain_port = runtime.chain_address(chain)
        command = [runtime.program(self.binary, "lnd"), *config.base_args(
            lnddir=self.lightning_dir, alias=name, host=runtime.bind_host,
            external_host=self.host, reach_host=runtime.reach_host, p2p_port=self.port,
            rpc_port=self.grpc_port, rest_port=self.rest_port,
            chain_rpc=f"{chain_host}:{chain_port}", rpcuser=chain.rpcuser,
            rpcpassword=chain.rpcpassword), *extra]
        self._daemon = runtime.daemon(
            name, command, image=self.container_image, log_path=self.lightning_dir / "log",
            cwd=self.lightning_dir, ready_regex=READY_REGEX,
            ports=[self.port, self.grpc_port, self.rest_port], mounts=[self.lightning_dir])
        macaroon = self.lightning_dir / "data" / "chain" / "bitcoin" / "regtest" / "admin.macaroon"
        self._rpc = LndRest(self.rest_port, self.lightning_dir / "tls.cert", macaroon,
                            host=runtime.reach_host, name=name)
        self._labels = LabelStore(self.lightning_dir / "lnh-invoice-labels.json")
        self._node_id: str | None = None

    @classmethod
    def availability(cls) -> Availability:
        found = config.find_lnd()
        if found is None:
            return Availability(cls.impl, False, reason=config.not_found_reason())
        path = Path(found.path)
        if not (path.is_file() and path.stat().st_mode & 0o111):
            return Availability(cls.impl, False, reason=f"{found.path} ({found.how}) does not "
                                f"exist or is not executable; {config.INSTALL_HINT}")
        try:
            version, _ = config.probe(found.path)
        except ProcessError as exc:
            return Availability(cls.impl, False, reason=f"{exc}; {config.INSTALL_HINT}")
        return Availability(cls.impl, True, version=f"{version} ({found.path}, {found.how})")

    # -- lifecycle --------------------------------------------------------------------
    @property
    def daemon(self) -> Daemon:
        return self._daemon

    @property
    def rpc(self) -> LndRest:
        """LND's REST API: `rpc.get("/v1/getinfo")`, `rpc.post(path, body)`, `rpc.stream(...)`."""
        return self._rpc

    @property
    def node_id(self) -> str:
        if self._node_id is None:
            self._node_id = str(self._rpc.get("/v1/getinfo")["identity_pubkey"])
        return self._node_id

    def start(self, timeout: float | None = None) -> None:
        """Start lnd; return once REST answers, the server is active and lnd is synced
        with the chain's tip (one `timeout` for all of it)."""
        deadline = time.monotonic() + (default_timeout() if timeout is None else timeout)

        def left() -> float:
            return max(deadline - time.monotonic(), 0.001)
        self._refresh_stale_tip()
        self._daemon.start(left())
        hint = f"log: {self._daemon.log_path}"

        def server_active() -> bool:
            self._daemon.check_alive()
            try:
                return self._rpc.get("/v1/state").get("state") == "SERVER_ACTIVE"
            except RpcError:
                return False
        wait_for(server_active, left(), what=f"{self.name} (lnd) to reach SERVER_ACTIVE", hint=hint)
        self._wait_synced(left())

    def _refresh_stale_tip(self) -> None:
        """Mine a block if the tip is too old for btcwallet to call the chain synced."""
        rpc = self.chain.rpc
        tip_time = int(rpc.getblockheader(rpc.getbestblockhash())["time"])
        if time.time() - tip_time > STALE_TIP_S:
            self.chain.generate_block(1)

    def _wait_synced(self, timeout: float | None) -> dict[str, Any]:
        def synced() -> dict[str, Any] | None:
            self._daemon.check_alive()
            info = self._rpc.get("/v1/getinfo")
            if info.get("synced_to_chain") and int(info["block_height"]) >= self.chain.height():
                return info
            return None
        info = wait_for(synced, timeout, what=f"{self.name} (lnd) to sync with the chain",
                        hint=f"log: {self._daemon.log_path}")
        self._node_id = str(info["identity_pubkey"])
        return info

    def stop(self, timeout: float = 30.0) -> int | None:
        def graceful() -> None:
            self._rpc.post("/v1/stop", timeout=timeout)
        return self._daemon.stop(timeout, graceful=graceful if self._daemon.is_running() else None)

    def close(self) -> None:
        for port in (self.port, self.grpc_port, self.rest_port):
            release_port(port)

    def connection_info(self) -> dict[str, str]:
        macaroon = self._rpc.macaroon_path
        return {**super().connection_info(), "rest_url": self._rpc.url,
                "tls_cert": str(self._rpc.cert_path), "macaroon": str(macaroon),
                "cli": (f"{installed_binary('lncli') or 'lncli'} --network=regtest "
                        f"--lnddir={self.lightning_dir} "
                        f"--rpcserver={self.runtime.reach_host}:{self.grpc_port}")}

    # -- identity and wallet -----------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """LND's getinfo, plus the common keys `id`, `alias` and `blockheight`."""
        info = self._rpc.get("/v1/getinfo")
        return {**info, "id": info["identity_pubkey"], "blockheight": int(info["block_height"])}

    def new_address(self) -> str:
        return str(self._rpc.get("/v1/newaddress", {"type": "WITNESS_PUBKEY_HASH"})["address"])

    def balance(self) -> Balance:
        onchain = int(self._rpc.get("/v1/balance/blockchain")["confirmed_balance"])
        in_channels = sum(c.local_msat for c in self.channels() if c.state == "active")
        return Balance(onchain_sat=onchain, channels_msat=in_channels)

    def wait_for_blockheight(self, height: int, timeout: float | None = None) -> int:
        """Wait until lnd has processed the chain up to `height` and is synced again (lnd
        refuses to accept a channel while it catches up with a new block)."""
        def reached() -> int | None:
            info = self._rpc.get("/v1/getinfo")
            current = int(info["block_height"])
            return current if current >= height and info.get("synced_to_chain") else None
        return wait_for(reached, timeout, what=f"{self.name} to reach block height {height}")

    # -- peers --------------------------------------------------------------------------
    def _connect(self, other: LightningNode, host: str, port: int) -> None:
        try:
            self._rpc.post("/v1/peers", {"addr": {"pubkey": other.node_id,
                                                  "host": f"{host}:{port}"},
                                         "perm": False, "timeout": 30})
        except RpcError as exc:
            if "already connected" not in exc.message:
                raise

    def disconnect(self, other: LightningNode) -> None:
        self._rpc.delete(f"/v1/peers/{other.node_id}")

    def known_channels(self) -> set[str]:
        """Short channel ids of the announced channels in lnd's graph."""
        edges = self._rpc.get("/v1/graph").get("edges", [])
        return {scid for edge in edges if (scid := shapes.short_channel_id(edge.get("channel_id")))}

    def is_connected(self, other: LightningNode) -> bool:
        peers = self._rpc.get("/v1/peers").get("peers", [])
        return any(p.get("pub_key") == other.node_id for p in peers)

    # -- channels -----------------------------------------------------------------------
    def _fund_channel(self, other: LightningNode, amount_sat: int, push_msat: int,
                      announce: bool) -> str:
        if push_msat % 1000:
            raise ValueError(f"lnd pushes whole satoshis; push_msat {push_msat} is not a multiple of 1000")
        point = self._rpc.post("/v1/channels", {
            "node_pubkey": base64.b64encode(bytes.fromhex(other.node_id)).decode(),
            "local_funding_amount": str(amount_sat), "push_sat": str(push_msat // 1000),
            "private": not announce})
        return shapes.txid_from_bytes(point["funding_txid_bytes"])

    def channels(self, peer: LightningNode | str | None = None) -> list[Channel]:
        """Every channel LND knows: open (active or not), pending, closing and closed.

        A channel moves between LND's lists; reading pending, open, pending again and
        closed, in that order, with later reads winning, sees a channel that moves on
        between two reads exactly once, in its newer state."""
        peer_id = peer if isinstance(peer, str) or peer is None else peer.node_id
        found: dict[str, Channel] = {}
        found.update(self._pending_channels())
        for record in self._rpc.get("/v1/channels").get("channels", []):
            found[record["channel_point"]] = shapes.channel_from_open(record)
        found.update(self._pending_channels())
        for record in self._rpc.get("/v1/channels/closed").get("channels", []):
            found[record["channel_point"]] = shapes.channel_from_closed(record)
        return [c for c in found.values() if peer_id is None or c.peer_id == peer_id]

    def _pending_channels(self) -> dict[str, Channel]:
        def read() -> dict[str, Any] | None:
            try:
                return self._rpc.get("/v1/channels/pending")
            except RpcError as exc:
                # lnd raced a force close's resolution between two of its own reads: the
                # channel has just moved on, and the next read sees it in its new list
                if "unable to find arbitrator" in exc.message:
                    return None
                raise
        pending = wait_for(read, what=f"{self.name}'s pending channels (lnd's PendingChannels)")
        return {entry["channel"]["channel_point"]: shapes.channel_from_pending(entry, state)
                for key, state in shapes.PENDING_LISTS.items() for entry in pending.get(key) or []}

    def usable_channel(self, other: LightningNode, *, funding_txid: str | None = None) -> Channel | None:
        """Active and connected (LND's link up), and in LND's own graph with our policy:
        pathfinding starts there, even for a direct payment."""
        ours = super().usable_channel(other, funding_txid=funding_txid)
        if ours is None or not self._in_own_graph(ours):
            return None
        return ours

    def _in_own_graph(self, channel: Channel) -> bool:
        """Whether LND's graph has `channel` with our side's policy."""
        try:
            edge = self._rpc.get(f"/v1/graph/edge/{channel.native['chan_id']}")
        except RpcError:
            return False
        ours = "node1_policy" if edge.get("node1_pub") == self.node_id else "node2_policy"
        return bool(edge.get(ours))

    def _close(self, channel: Channel, force: bool) -> str:
        txid, index = channel.native.get("channel_point", channel.funding_txid + ":0").split(":")
        if "channel" in channel.native:  # a pending channel's record
            txid, index = channel.native["channel"]["channel_point"].split(":")
        updates = self._rpc.stream("DELETE", f"/v1/channels/{txid}/{index}",
                                   params={"force": force} if force else None,
                                   until=lambda u: "close_pending" in u or "chan_close" in u)
        last = updates[-1]
        if "close_pending" in last:
            return shapes.txid_from_bytes(last["close_pending"]["txid"])
        return shapes.txid_from_bytes(last["chan_close"]["closing_txid"])

    # -- payments -----------------------------------------------------------------------
    def invoice(self, amount_msat: int | None, *, label: str | None = None,
                description: str = "", expiry: int = 3600) -> Invoice:
        """An invoice with route hints for our private channels; the label is the harness's
        (kept in the node's directory: LND has no invoice labels)."""
        label = label if label is not None else f"lnh-{secrets.token_hex(8)}"
        if self._labels.hash_of(label) is not None:
            raise RpcError("invoice", None, f"duplicate label {label!r}", peer=self.name)
        body: dict[str, Any] = {"memo": description, "expiry": str(expiry), "private": True}
        if amount_msat is not None:
            body["value_msat"] = str(amount_msat)
        result = self._rpc.post("/v1/invoices", body)
        payment_hash = shapes.b64_to_hex(result["r_hash"])
        self._labels.add(label, payment_hash)
        return Invoice(bolt11=result["payment_request"], payment_hash=payment_hash, label=label,
                       amount_msat=amount_msat, native=result)

    def lookup_invoice(self, label_or_hash: str) -> Invoice:
        payment_hash = label_or_hash if _is_hash(label_or_hash) else self._labels.hash_of(label_or_hash)
        if payment_hash is None:
            raise RpcError("lookup_invoice", None, f"no invoice with label {label_or_hash!r}",
                           peer=self.name)
        record = self._rpc.get(f"/v1/invoice/{payment_hash}")
        return shapes.invoice_from_lnd(record, self._labels.label_of(payment_hash) or payment_hash)

    def decode(self, bolt11: str) -> dict[str, Any]:
        """LND's DecodePayReq, plus `amount_msat` (None for an any-amount invoice)."""
        decoded = self._rpc.get(f"/v1/payreq/{bolt11}")
        amount = int(decoded.get("num_msat") or 0)
        return {**decoded, "amount_msat": amount or None}

    def _pay(self, bolt11: str, *, amount_msat: int | None = None,
             timeout: float | None = None) -> Payment:
        """SendPaymentV2 to its final state, read for at most `timeout` seconds (default the
        harness timeout). Paying an invoice already paid returns the earlier success, as Core
        Lightning does; a failure is `PaymentFailed`; a payment still in flight when the time
        is up (LND keeps it in flight while an HTLC is out) is `PaymentPending`."""
        budget = default_timeout() if timeout is None else timeout
        deadline = time.monotonic() + budget
        # LND stops trying new routes after timeout_seconds; the stream then ends FAILED
        # unless an HTLC is still out, which our read of the stream outlasts by the margin
        body: dict[str, Any] = {"payment_request": bolt11,
                                "timeout_seconds": max(1, int(budget) - PAY_READ_MARGIN_S),
                                "no_inflight_updates": True}
        if amount_msat is not None:
            body["amt_msat"] = str(amount_msat)
        wanted = amount_msat if amount_msat is not None else self.decode(bolt11)["amount_msat"] or 0
        body["fee_limit_msat"] = _fee_limit_msat(wanted)
        try:
            updates = self._rpc.stream("POST", "/v2/router/send", body, until=_payment_final,
                                       timeout=max(budget, 1.0))
        except RpcError as exc:
            if "already paid" in exc.message:
                return self._earlier_payment(bolt11)
            if time.monotonic() >= deadline:  # our read of the stream ran out of time
                raise PaymentPending(self.decode(bolt11)["payment_hash"],
                                     f"[{exc.code}] {exc.message}") from None
            raise PaymentFailed(f"[{exc.code}] {exc.message}", native=exc) from None
        payment = shapes.payment_from_lnd(updates[-1])
        if payment.status != "complete":
            reason = updates[-1].get("failure_reason") or updates[-1].get("status")
            raise PaymentFailed(str(reason), payment_hash=payment.payment_hash, native=updates[-1])
        return payment

    def _keysend(self, node_id: str, amount_msat: int, *, timeout: float | None = None) -> Payment:
        """SendPaymentV2 to `node_id` with a fresh preimage in the custom record 5482373484
        (LND's keysend), read like `pay`'s."""
        budget = default_timeout() if timeout is None else timeout
        preimage = secrets.token_bytes(32)
        body: dict[str, Any] = {
            "dest": base64.b64encode(bytes.fromhex(node_id)).decode(),
            "amt_msat": str(amount_msat),
            "payment_hash": base64.b64encode(hashlib.sha256(preimage).digest()).decode(),
            "dest_custom_records": {str(KEYSEND_RECORD_TYPE): base64.b64encode(preimage).decode()},
            "dest_features": [TLV_ONION_OPTIONAL],
            "final_cltv_delta": KEYSEND_FINAL_CLTV_DELTA,
            "timeout_seconds": max(1, int(budget) - PAY_READ_MARGIN_S),
            "fee_limit_msat": _fee_limit_msat(amount_msat),
            "no_inflight_updates": True,
        }
        payment_hash = hashlib.sha256(preimage).hexdigest()
        try:
            updates = self._rpc.stream("POST", "/v2/router/send", body, until=_payment_final,
                                       timeout=max(budget, 1.0))
        except RpcError as exc:
            raise PaymentFailed(f"[{exc.code}] {exc.message}", payment_hash=payment_hash, native=exc) from None
        payment = shapes.payment_from_lnd(updates[-1])
        if payment.status != "complete":
            reason = updates[-1].get("failure_reason") or updates[-1].get("status")
            raise PaymentFailed(str(reason), payment_hash=payment.payment_hash, native=updates[-1])
        return payment

    def _earlier_payment(self, bolt11: str) -> Payment:
        payment_hash = self.decode(bolt11)["payment_hash"]
        updates = self._rpc.stream("GET", f"/v2/router/track/{shapes.hex_to_b64url(payment_hash)}",
                                   params={"no_inflight_updates": True}, until=_payment_final)
        return shapes.payment_from_lnd(updates[-1])

    # -- routing ------------------------------------------------------------------------
    def has_route(self, other: LightningNode, amount_msat: int) -> bool:
        try:
            # the fee limit `pay` uses: without one LND allows fees up to the amount only,
            # so a small amount over two paid hops had "no route"
            routes = self._rpc.get(f"/v1/graph/routes/{other.node_id}/0",
                                   {"amt_msat": amount_msat,
                                    "fee_limit.fixed_msat": _fee_limit_msat(amount_msat)})
        except RpcError as exc:
            # pathfinding's no-route errors (routing/payment_session.go), an unknown target
            if re.search(r"unable to find a path|insufficient local balance|not found",
                         exc.message, re.I):
                return False
            raise
        return bool(routes.get("routes"))

    # -- teardown -----------------------------------------------------------------------
    def broken_log_lines(self) -> list[str]:
        """`[ERR]`/`[CRT]` lines and panics, except the known-benign ones (logs.py)."""
        return [line for line in super().broken_log_lines() if not is_benign(line)]


def _payment_final(update: dict[str, Any]) -> bool:
    return update.get("status") in ("SUCCEEDED", "FAILED")


def _is_hash(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text.lower())


def _fee_limit_msat(amount_msat: int) -> str:
    """The routing fee we allow a payment of `amount_msat` (5% of it, at least 5,000 sat)."""
    return str(max(FEE_LIMIT_MIN_MSAT, amount_msat // 20))
