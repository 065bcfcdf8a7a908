"""Core Lightning-shaped RPC results as lnharness result types, and the node base using them.

Core Lightning's adapter and the built-in node (whose RPC is modelled on Core Lightning's)
both answer in these shapes.
"""
from __future__ import annotations

import secrets
import time
from abc import abstractmethod
from typing import Any, ClassVar

from lnharness.errors import RpcError, WaitTimeout
from lnharness.node import LightningNode, PaymentFailed, PaymentPending
from lnharness.proc import Daemon
from lnharness.results import Balance, Channel, Invoice, Payment
from lnharness.wait import default_timeout, wait_for

#: getinfo fields Core Lightning (and the built-in node) add while not caught up with the chain
SYNC_WARNINGS = ("warning_bitcoind_sync", "warning_lightningd_sync")

CHANNEL_STATES = {
    "OPENINGD": "opening",
    "DUALOPEND_OPEN_INIT": "opening",
    "DUALOPEND_AWAITING_LOCKIN": "opening",
    "CHANNELD_AWAITING_LOCKIN": "opening",
    "CHANNELD_NORMAL": "active",
    "CHANNELD_AWAITING_SPLICE": "active",
    "CHANNELD_SHUTTING_DOWN": "closing",
    "CLOSINGD_SIGEXCHANGE": "closing",
    "CLOSINGD_COMPLETE": "closing",
    "AWAITING_UNILATERAL": "closing",
    "FUNDING_SPEND_SEEN": "closing",
    "ONCHAIN": "closed",
    "CLOSED": "closed",
}


def msat(value: Any) -> int:
    """An amount in msat from an int or a legacy '123msat' string."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("msat"):
        return int(value[:-4])
    raise ValueError(f"not an msat amount: {value!r}")


def channel_state(native_state: str) -> str:
    """The normalised state of a Core Lightning channel state name."""
    try:
        return CHANNEL_STATES[native_state]
    except KeyError:
        raise ValueError(f"unknown channel state {native_state!r}") from None


def channel_from_listpeerchannels(entry: dict[str, Any]) -> Channel:
    """A `Channel` from one `listpeerchannels` entry."""
    total = msat(entry["total_msat"])
    ours = msat(entry["to_us_msat"])
    return Channel(
        channel_id=entry["channel_id"],
        short_channel_id=entry.get("short_channel_id"),
        peer_id=entry["peer_id"],
        state=channel_state(entry["state"]),
        capacity_sat=total // 1000,
        local_msat=ours,
        remote_msat=total - ours,
        funding_txid=entry["funding_txid"],
        pending_htlcs=len(entry.get("htlcs", ())),
        htlc_hashes=tuple(htlc["payment_hash"] for htlc in entry.get("htlcs", ())),
        connected=entry.get("peer_connected"),
        native=entry,
    )


def invoice_from_listinvoices(entry: dict[str, Any]) -> Invoice:
    """An `Invoice` from one `listinvoices` entry."""
    amount = entry.get("amount_msat")
    return Invoice(
        bolt11=entry["bolt11"],
        payment_hash=entry["payment_hash"],
        label=entry["label"],
        amount_msat=msat(amount) if amount is not None else None,
        status=entry["status"],
        preimage=entry.get("payment_preimage"),
        native=entry,
    )


def payment_from_pay(result: dict[str, Any]) -> Payment:
    """A `Payment` from a successful `pay` result."""
    amount = msat(result["amount_msat"])
    return Payment(
        payment_hash=result["payment_hash"],
        status="complete" if result["status"] == "complete" else "failed",
        preimage=result.get("payment_preimage") or result.get("preimage"),
        fee_msat=msat(result["amount_sent_msat"]) - amount,
        amount_msat=amount,
        native=result,
        parts=int(result.get("parts") or result.get("number_of_parts") or 1),
    )


PAY_ANSWER_MARGIN_S = 5


class ClnShapedNode(LightningNode):
    """The `LightningNode` operations for an RPC shaped like Core Lightning's.

    Subclasses provide the process (`start`, `stop`, `daemon`, `rpc`, `node_id`, `close`)
    and `call(method, params)`, which raises `RpcError` on an error answer.
    """

    #: `getroute`'s error code when there is no route (Core Lightning's PAY_ROUTE_NOT_FOUND)
    no_route_code: ClassVar[int] = 205

    _daemon: Daemon
    _node_id: str | None = None

    @abstractmethod
    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Call an RPC method with named parameters; raise `RpcError` on an error answer."""

    @property
    def daemon(self) -> Daemon:
        return self._daemon

    @property
    def node_id(self) -> str:
        if self._node_id is None:
            self._node_id = str(self.call("getinfo")["id"])
        return self._node_id

    def _wait_synced(self, timeout: float | None) -> None:
        """Wait until the node has caught up with the chain's tip (a started node is synced)."""
        def synced() -> dict[str, Any] | None:
            info = self.call("getinfo")
            if any(key in info for key in SYNC_WARNINGS):
                return None
            return dict(info) if info["blockheight"] >= self.chain.height() else None
        info = wait_for(synced, timeout, what=f"{self.name} ({self.impl}) to sync with the chain",
                        hint=f"log: {self._daemon.log_path}")
        self._node_id = str(info["id"])

    # -- identity and wallet -----------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return dict(self.call("getinfo"))

    def new_address(self) -> str:
        # Core Lightning's default address type became p2tr; ask for segwit v0 explicitly
        return str(self.call("newaddr", {"addresstype": "bech32"})["bech32"])

    def balance(self) -> Balance:
        funds = self.call("listfunds")
        onchain_msat = sum(msat(o["amount_msat"]) for o in funds["outputs"]
                           if o.get("status") == "confirmed")
        in_channels = sum(c.local_msat for c in self.channels() if c.state == "active")
        return Balance(onchain_sat=onchain_msat // 1000, channels_msat=in_channels)

    # -- peers --------------------------------------------------------------------------
    def _connect(self, other: LightningNode, host: str, port: int) -> None:
        self.call("connect", {"id": other.node_id, "host": host, "port": port})

    def disconnect(self, other: LightningNode) -> None:
        self.call("disconnect", {"id": other.node_id, "force": True})

    def is_connected(self, other: LightningNode) -> bool:
        peers = self.call("listpeers", {"id": other.node_id})["peers"]
        return bool(peers) and bool(peers[0].get("connected"))

    # -- channels -----------------------------------------------------------------------
    def _fund_channel(self, other: LightningNode, amount_sat: int, push_msat: int,
                      announce: bool) -> str:
        result = self.call("fundchannel", {"id": other.node_id, "amount": amount_sat,
                                           "push_msat": push_msat, "announce": announce})
        return str(result["txid"])

    def channels(self, peer: LightningNode | str | None = None) -> list[Channel]:
        params = {}
        if peer is not None:
            params["id"] = peer if isinstance(peer, str) else peer.node_id
        entries = self.call("listpeerchannels", params)["channels"]
        return [channel_from_listpeerchannels(entry) for entry in entries]

    def _close(self, channel: Channel, force: bool) -> str:
        params: dict[str, Any] = {"id": channel.channel_id}
        if force:
            params["unilateraltimeout"] = 1
        result = self.call("close", params)
        # newer Core Lightning answers `txids` (every tx it broadcast), older ones `txid`
        return str(result["txids"][-1] if "txids" in result else result["txid"])

    # -- payments -----------------------------------------------------------------------
    def invoice(self, amount_msat: int | None, *, label: str | None = None,
                description: str = "", expiry: int = 3600) -> Invoice:
        label = label if label is not None else f"lnh-{secrets.token_hex(8)}"
        result = self.call("invoice", {"amount_msat": "any" if amount_msat is None else amount_msat,
                                       "label": label, "description": description,
                                       "expiry": expiry})
        return Invoice(bolt11=result["bolt11"], payment_hash=result["payment_hash"], label=label,
                       amount_msat=amount_msat, native=result)

    def _pay(self, bolt11: str, *, amount_msat: int | None = None,
             timeout: float | None = None) -> Payment:
        budget = default_timeout() if timeout is None else timeout
        deadline = time.monotonic() + budget
        # retry_for: how long `pay` keeps trying; it answers an error when that runs out
        # with the payment still in flight, whose outcome we then wait for. A margin keeps
        # its answer inside the RPC client's own timeout.
        params: dict[str, Any] = {"bolt11": bolt11,
                                  "retry_for": max(1, int(budget) - PAY_ANSWER_MARGIN_S)}
        if amount_msat is not None:
            params["amount_msat"] = amount_msat
        try:
            result = self.call("pay", params)
        except RpcError as exc:
            return self._outcome_after(bolt11, exc, deadline)
        return payment_from_pay(result)

    def _keysend(self, node_id: str, amount_msat: int, *, timeout: float | None = None) -> Payment:
        """`keysend destination amount_msat retry_for` (Core Lightning's; an error answer is
        `PaymentFailed` with its code and message)."""
        budget = default_timeout() if timeout is None else timeout
        try:
            result = self.call("keysend", {"destination": node_id, "amount_msat": amount_msat,
                                           "retry_for": max(1, int(budget) - PAY_ANSWER_MARGIN_S)})
        except RpcError as exc:
            raise PaymentFailed(f"[{exc.code}] {exc.message}", native=exc) from None
        return payment_from_pay(result)

    def _outcome_after(self, bolt11: str, error: RpcError, deadline: float) -> Payment:
        """`pay` answered `error`: the final outcome of the payment per `listpays`, waiting
        (until `deadline`) while it is still pending."""
        reason = f"[{error.code}] {error.message}"
        try:
            payment_hash = self.decode(bolt11)["payment_hash"]
        except RpcError:  # not a payable invoice at all: the pay error says why
            raise PaymentFailed(reason, native=error) from None

        def settled() -> dict[str, Any] | None:
            pays = self.call("listpays", {"payment_hash": payment_hash})["pays"]
            if any(p["status"] == "pending" for p in pays):
                return None
            return next((p for p in pays if p["status"] == "complete"), {"status": "failed"})
        try:
            final = wait_for(settled, max(deadline - time.monotonic(), 0.1),
                             what=f"{self.name}'s payment {payment_hash} to complete or fail")
        except WaitTimeout:
            raise PaymentPending(payment_hash, reason) from None
        if final["status"] == "complete":
            return payment_from_pay(final)
        raise PaymentFailed(reason, payment_hash=payment_hash, native=error)

    def lookup_invoice(self, label_or_hash: str) -> Invoice:
        key = "payment_hash" if _is_hash(label_or_hash) else "label"
        invoices = self.call("listinvoices", {key: label_or_hash})["invoices"]
        if not invoices:
            raise RpcError("listinvoices", None, f"no invoice with {key} {label_or_hash!r}",
                           peer=self.name)
        return invoice_from_listinvoices(invoices[0])

    def decode(self, bolt11: str) -> dict[str, Any]:
        return dict(self.call("decodepay", {"bolt11": bolt11}))

    # -- routing ------------------------------------------------------------------------
    def has_route(self, other: LightningNode, amount_msat: int) -> bool:
        try:
            self.call("getroute", {"id": other.node_id, "amount_msat": amount_msat, "riskfactor": 1})
        except RpcError as exc:
            if exc.code == self.no_route_code:
                return False
            raise
        return True

    def known_channels(self) -> set[str]:
        return {entry["short_channel_id"] for entry in self.call("listchannels")["channels"]
                if entry.get("public", True)}


def _is_hash(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text.lower())
