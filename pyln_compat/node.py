"""`LightningNode`: pyln-testing's node API over an lnharness `LightningNode`.

The node objects `node_factory` hands out. Everything goes through the node's JSON-RPC
(`rpc`, Core Lightning's method names: the built-in node's and lightningd's), the chain
through `bitcoin` (a `BitcoinD`), and the process through the lnharness node (`lnh`).
"""
from __future__ import annotations

import os
import re
import secrets
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from lnharness.backend import UnsupportedFeature
from lnharness.pyln import client, db
from lnharness.pyln.chain import BitcoinD
from lnharness.pyln.logs import LogView
from lnharness.pyln.rpc import NodeRpc
from lnharness.pyln.waits import only_one, wait_for

FUNDAMOUNT = 10**6
#: channel states in which a channel carries payments
NORMAL_STATES = ("CHANNELD_NORMAL", "CHANNELD_AWAITING_SPLICE")
#: pyln-testing node arguments that mean nothing here; accepted with no effect
IGNORED_ARGS = ("executable", "db", "port", "grpc_port", "jsonschemas", "valgrind_plugins",
                "bad_notifications", "allow_bad_gossip")
#: pyln-testing node arguments lnharness cannot honour: an error when given
UNSUPPORTED_ARGS = {
    "disconnect": "dev-disconnect scripts are Core Lightning's (cln nodes take them); use "
                  "node_factory.link(a, b) faults",
    "random_hsm": "node keys come from the test id and the node's name (reproducible ids)",
    "old_hsmsecret": "no hsm_secret migration",
}


def daemon_options(options: dict[str, Any] | None, impl: str = "builtin") -> dict[str, Any]:
    """pyln's options (a value of None means a flag without value) as lnharness's (True).
    For Core Lightning a bool is a value, written as pyln-testing writes it (`--name=true`)."""
    def value(v: Any) -> Any:
        if v is None:
            return True
        if impl == "cln" and isinstance(v, bool):
            return str(v).lower()
        return v
    return {k: value(v) for k, v in (options or {}).items()}


def drop_none(params: dict[str, Any]) -> dict[str, Any]:
    """`params` without the ones left at None (not given)."""
    return {k: v for k, v in params.items() if v is not None}


def check_executable(executable: str | None, node: Any) -> None:
    """pyln's `executable` names a lightningd; a Core Lightning node runs the one lnharness
    found (`LNH_LIGHTNINGD` or PATH, which wins, so a suite's build-tree path such as
    "lightningd/lightningd" may stay). A Core Lightning node raises when `executable` exists
    and is a different binary; nodes of other implementations run their own daemon."""
    if executable is None or node.impl != "cln" or not os.path.exists(executable):
        return
    if os.path.realpath(executable) != os.path.realpath(node.binary):
        raise UnsupportedFeature(f"LightningNode(executable={executable!r}): this node runs "
                                 f"{node.binary}; set LNH_LIGHTNINGD={os.path.abspath(executable)} "
                                 "to run that lightningd")


def make_rpc(node: Any) -> Any:
    """pyln-client's `LightningRpc` on a Core Lightning node's socket where pyln-client is
    installed; otherwise (and for the built-in node) a `NodeRpc` over the node's `call`."""
    if node.impl == "cln" and client.LightningRpc is not None:
        socket_path = getattr(node.rpc, "socket_path", None)
        if socket_path is not None:
            return client.LightningRpc(str(socket_path))
    return NodeRpc(node.call, name=node.name)


class LightningNode:
    """A pyln-style node. Constructed by the factory with pyln-testing's arguments (so a
    `node_cls` subclass that adds options keeps working) plus `lnh_node`, the lnharness node."""

    def __init__(self, node_id: int, lightning_dir: Any, bitcoind: BitcoinD, executor: Executor,
                 may_fail: bool = False, may_reconnect: bool = False, broken_log: str | None = None,
                 allow_warning: bool = False, options: dict[str, Any] | None = None, *,
                 lnh_node: Any, allow_broken_log: bool = False, **kwargs: Any):
        for name in kwargs:
            if name == "disconnect" and lnh_node.impl == "cln":
                continue
            if name in UNSUPPORTED_ARGS and kwargs[name] not in (None, False):
                raise UnsupportedFeature(f"LightningNode({name}=...) is not supported by "
                                         f"lnharness.pyln: {UNSUPPORTED_ARGS[name]}")
            if name not in IGNORED_ARGS and name not in UNSUPPORTED_ARGS:
                raise TypeError(f"LightningNode() got an unexpected keyword argument {name!r}")
        check_executable(kwargs.get("executable"), lnh_node)
        self.lnh = lnh_node
        self.node_id = node_id
        self.lightning_dir = lnh_node.lightning_dir
        self.bitcoin = bitcoind
        self.executor = executor
        self.may_fail = may_fail
        self.may_reconnect = may_reconnect
        self.broken_log = broken_log
        self.allow_broken_log = allow_broken_log
        self.allow_warning = allow_warning
        self.allow_bad_gossip = bool(kwargs.get("allow_bad_gossip", False))
        self.daemon = LogView(lnh_node, options or {})
        self._applied_opts = dict(self.daemon.opts)
        if lnh_node.impl == "cln" and lnh_node.knows_option("dev-save-plugin-io"):
            # as pyln-testing (v25.09+) does; suites delete it from opts to turn it off
            self.daemon.opts["dev-save-plugin-io"] = str(self.lightning_dir / "plugin-io")
        self.disconnect = kwargs.get("disconnect")
        if self.disconnect:  # Core Lightning's dev-disconnect script, written at each start
            self.daemon.opts["dev-disconnect"] = str(self.lightning_dir / "regtest" / "dev-disconnect")
        self.rpc = make_rpc(lnh_node)
        self.info: dict[str, Any] = {}
        self.port = lnh_node.port
        self.rc: int | None = 0

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, wait_for_bitcoind_sync: bool = True, stderr_redir: bool = False) -> None:
        """Start the node and cache its `getinfo` in `info`. lnharness always waits until the
        node has caught up with the chain (`wait_for_bitcoind_sync` cannot turn that off)."""
        if self.daemon.cmd_prefix:
            raise UnsupportedFeature(f"{self.lnh.name}: daemon.cmd_prefix "
                                     f"{self.daemon.cmd_prefix!r}: lnharness runs no wrapper")
        if self.daemon.opts != self._applied_opts:  # changed since the last start: apply
            self.lnh.set_options(daemon_options(self.daemon.opts, self.lnh.impl))
            self._applied_opts = dict(self.daemon.opts)
        if "dev-save-plugin-io" in self.daemon.opts:
            Path(self.daemon.opts["dev-save-plugin-io"]).mkdir(parents=True, exist_ok=True)
        if "dev-disconnect" in self.daemon.opts:
            script = Path(self.daemon.opts["dev-disconnect"])
            script.parent.mkdir(parents=True, exist_ok=True)
            script.write_text("\n".join(self.disconnect or []))
        self.lnh.start()
        self.info = self.rpc.getinfo()
        self.port = self.lnh.port

    def stop(self, timeout: float = 10) -> int | None:
        """Stop the node (RPC `stop`, then kill after `timeout`); a non-zero exit code raises
        ValueError unless the node `may_fail`."""
        self.rc = self.lnh.stop(timeout)
        if self.rc not in (0, None) and not self.may_fail:
            raise ValueError(f"{self.lnh.name} did not exit cleanly: exit code {self.rc}")
        return self.rc

    def restart(self, timeout: float = 10, clean: bool = True) -> None:
        """Stop (with the RPC `stop`, or with SIGTERM when not `clean`) and start again."""
        if clean:
            self.stop(timeout)
        else:
            self.lnh.daemon.stop(timeout)
        self.start()

    def set_feerates(self, feerates: Sequence[int], wait_for_effect: bool = True) -> None:
        """pyln-testing's fee estimates of this node (sat/kw for 2, 6, 12 and 100 blocks, and
        optionally the minimum fee): a Core Lightning node's bitcoin-cli answers them. With
        `wait_for_effect`, wait until lightningd has asked for all four (and seen the floor)."""
        if self.lnh.impl != "cln":
            raise UnsupportedFeature(f"set_feerates on {self.lnh.impl} node {self.lnh.name}: "
                                     "its fee estimates are the chain's; use "
                                     "bitcoind.set_feerate()")
        if len(feerates) not in (4, 5):
            raise ValueError(f"set_feerates takes 4 or 5 fee rates, got {len(feerates)}")
        self.lnh.set_fee_estimates(feerates)
        if not wait_for_effect:
            return
        if len(feerates) > 4:
            wait_for(lambda: self.rpc.feerates("perkb")["perkb"]["floor"] == feerates[4] * 4)
        wait_for(lambda: self.lnh.mock_rpc_calls("estimatesmartfee") >= 4)

    def force_feerates(self, rate: int) -> None:
        """pyln-testing's: the same fee rate for every target, applied by a restart (the node
        must be `may_reconnect`), then wait for the peer's update_fee."""
        assert self.may_reconnect
        self.set_feerates([rate] * 4, False)
        self.restart()
        self.daemon.wait_for_log("peer_out WIRE_UPDATE_FEE")
        assert self.rpc.feerates("perkw")["perkw"]["opening"] == rate

    # -- peers and wallet ---------------------------------------------------------------------
    def connect(self, remote_node: LightningNode) -> None:
        self.lnh.connect(remote_node.lnh)

    def is_connected(self, remote_node: LightningNode) -> bool:
        return remote_node.info["id"] in [p["id"] for p in self.rpc.listpeers()["peers"]]

    def is_synced_with_bitcoin(self, info: dict[str, Any] | None = None) -> bool:
        info = info if info is not None else self.rpc.getinfo()
        return "warning_bitcoind_sync" not in info and "warning_lightningd_sync" not in info

    def fundwallet(self, sats: int, addrtype: str = "bech32",
                   mine_block: bool = True) -> tuple[str, str]:
        """Send `sats` to a new address of ours; with `mine_block`, mine it and wait until our
        wallet lists it. Returns (address, txid)."""
        addr = self.rpc.newaddr(addrtype)[addrtype]
        if not mine_block:
            return addr, self.bitcoin.chain.faucet(addr, int(sats))
        txid = self.bitcoin.send_and_mine_block(addr, sats)
        wait_for(lambda: any(o["txid"] == txid for o in self.rpc.listfunds()["outputs"]))
        return addr, txid

    # -- channels ---------------------------------------------------------------------------
    def fundchannel(self, l2: LightningNode, amount: int = FUNDAMOUNT, wait_for_active: bool = True,
                    announce_channel: bool = True, **kwargs: Any) -> tuple[str, dict[str, Any]]:
        """Fund our wallet, connect, open a channel of `amount` sat to `l2` (extra `kwargs` go
        to `fundchannel`), mine it; return (short channel id, fundchannel's result)."""
        self.fundwallet(int(amount) + 1_000_000)
        if not self.is_connected(l2):
            self.connect(l2)
        sync_to_tip(self.bitcoin, [self, l2])
        res = self.rpc.fundchannel(l2.info["id"], amount, announce=announce_channel, **kwargs)
        block = self.bitcoin.generate_block(1, wait_for_mempool=res["txid"])[0]
        txs = self.bitcoin.rpc.getblock(block)["tx"]
        scid = f"{self.bitcoin.rpc.getblockcount()}x{txs.index(res['txid'])}x{res['outnum']}"
        if wait_for_active:
            self.wait_local_channel_active(scid)
            l2.wait_local_channel_active(scid)
        return scid, res

    def openchannel(self, remote_node: LightningNode, capacity: int = FUNDAMOUNT,
                    addrtype: str = "bech32", confirm: bool = True, wait_for_announce: bool = True,
                    connect: bool = True) -> dict[str, Any]:
        """Fund our wallet with 10x `capacity`, open a channel, confirm it and (by default)
        mine until it is announced; returns address, wallettxid and fundingtx."""
        addr, wallettxid = self.fundwallet(10 * int(capacity), addrtype)
        if connect and not self.is_connected(remote_node):
            self.connect(remote_node)
        sync_to_tip(self.bitcoin, [self, remote_node])
        res = self.rpc.fundchannel(remote_node.info["id"], capacity)
        if confirm or wait_for_announce:
            self.bitcoin.generate_block(1, wait_for_mempool=res["txid"])
        if wait_for_announce:
            self.bitcoin.generate_block(5)
            wait_for(lambda: ["alias" in n for n in
                              self.rpc.listnodes(remote_node.info["id"])["nodes"]] == [True])
        return {"address": addr, "wallettxid": wallettxid, "fundingtx": res["tx"]}

    def _peer_channels(self, other: LightningNode) -> list[dict[str, Any]]:
        return list(self.rpc.listpeerchannels(other.info["id"])["channels"])

    def channel_state(self, other: LightningNode) -> str | None:
        channels = self._peer_channels(other)
        return channels[0]["state"] if channels else None

    def get_channel_scid(self, other: LightningNode) -> str | None:
        channels = self._peer_channels(other)
        return channels[0].get("short_channel_id") if channels else None

    def get_channel_id(self, other: LightningNode) -> str | None:
        channels = self._peer_channels(other)
        return channels[0]["channel_id"] if channels else None

    def is_local_channel_active(self, scid: str) -> bool:
        """Our channel `scid` is normal and its peer connected (and, where the node reports
        `updates`, the peer's channel_update has arrived)."""
        channel = next((c for c in self.rpc.listpeerchannels()["channels"]
                        if c.get("short_channel_id") == scid), None)
        if channel is None or channel["state"] not in NORMAL_STATES:
            return False
        if channel.get("peer_connected") is False:
            return False
        return "updates" not in channel or "remote" in channel["updates"]

    def wait_local_channel_active(self, scid: str) -> None:
        wait_for(lambda: self.is_local_channel_active(scid))

    def is_channel_active(self, chanid: str) -> bool:
        """Does our gossip show channel `chanid` enabled in both directions?"""
        channels = self.rpc.listchannels(chanid)["channels"]
        active = {(c["short_channel_id"], c["channel_flags"] & 1) for c in channels if c["active"]}
        return {(chanid, 0), (chanid, 1)} <= active

    def wait_channel_active(self, scid: str) -> None:
        wait_for(lambda: self.is_channel_active(scid))

    def wait_for_channel_onchain(self, peerid: str) -> None:
        """Wait until the transaction closing our channel with `peerid` is in the mempool
        (Core Lightning's `scratch_txid`; the built-in node's closing txid)."""
        def onchain() -> bool:
            channel = only_one(self.rpc.listpeerchannels(peerid)["channels"])
            txid = channel.get("scratch_txid") or channel.get("close_txid") \
                or channel.get("closing_txid")
            if txid is None:
                raise UnsupportedFeature(f"{self.lnh.name}: listpeerchannels names no closing "
                                         "transaction (scratch_txid)")
            return txid in self.bitcoin.rpc.getrawmempool()
        wait_for(onchain)

    def wait_for_route(self, destination: LightningNode, timeout: float | None = None) -> bool:
        self.lnh.wait_for_route(destination.lnh, timeout=timeout)
        return True

    def wait_for_htlcs(self, scids: list[str] | None = None) -> None:
        """Wait until our channels (those in `scids`, default all) carry no HTLC."""
        def settled() -> bool:
            return all(not c.get("htlcs") for c in self.rpc.listpeerchannels()["channels"]
                       if scids is None or c.get("short_channel_id") in scids)
        wait_for(settled)

    # -- payments ---------------------------------------------------------------------------
    def pay(self, dst: LightningNode, amt: int, label: str | None = None) -> None:
        """Pay `amt` msat to `dst`, a peer we have a normal channel with, through an invoice
        of `dst`'s (`label`, default random); waits until the HTLCs are settled on `dst`."""
        label = label or secrets.token_hex(10)
        if len(self.rpc.listpeers(dst.info["id"])["peers"]) != 1:
            raise ValueError(f"{self.lnh.name} is not connected to {dst.lnh.name}")
        inv = dst.rpc.invoice(amt, label, label)
        result = self.rpc.pay(inv["bolt11"])
        if result.get("status") != "complete":
            raise ValueError(f"payment to {dst.lnh.name} did not complete: {result}")
        dst.wait_for_htlcs()

    def dev_pay(self, bolt11: str, amount_msat: Any = None, label: str | None = None,
                riskfactor: Any = None, maxfeepercent: Any = None, retry_for: Any = None,
                maxdelay: Any = None, exemptfee: Any = None, dev_use_shadow: bool = True,
                exclude: list[str] | None = None) -> dict[str, Any]:
        """pyln's wrapper of pyln-client's `dev_pay`: Core Lightning's `pay` with its developer
        parameter `dev_use_shadow`. Other nodes run `pay` with the same arguments: they add no
        shadow route, so `dev_use_shadow` changes nothing there; a `riskfactor` or `exclude`
        raises."""
        params = {"bolt11": bolt11, "amount_msat": amount_msat, "label": label,
                  "maxfeepercent": maxfeepercent, "retry_for": retry_for, "maxdelay": maxdelay,
                  "exemptfee": exemptfee}
        if self.lnh.impl == "cln":
            params.update(riskfactor=riskfactor, dev_use_shadow=dev_use_shadow,
                          exclude=exclude or None)
            return dict(self.rpc.call("pay", drop_none(params)))
        for name, value in (("riskfactor", riskfactor), ("exclude", exclude or None)):
            if value is not None:
                raise UnsupportedFeature(f"dev_pay({name}=...) on {self.lnh.impl} node "
                                         f"{self.lnh.name}: its pay has no {name}")
        return dict(self.rpc.call("pay", drop_none(params)))

    def dev_invoice(self, amount_msat: Any, label: str, description: str, expiry: Any = None,
                    fallbacks: Any = None, preimage: Any = None, exposeprivatechannels: Any = None,
                    cltv: Any = None, dev_routes: Any = None) -> dict[str, Any]:
        """pyln's `invoice` with Core Lightning's `dev-routes` (a node without it refuses the
        parameter with its own RPC error)."""
        return dict(self.rpc.call("invoice", drop_none({
            "amount_msat": amount_msat, "label": label, "description": description,
            "expiry": expiry, "fallbacks": fallbacks, "preimage": preimage,
            "exposeprivatechannels": exposeprivatechannels, "cltv": cltv,
            "dev-routes": dev_routes})))

    # -- Core Lightning's database ------------------------------------------------------------
    def _database(self, what: str) -> Path:
        if self.lnh.impl != "cln":
            raise UnsupportedFeature(f"{what} on {self.lnh.impl} node {self.lnh.name}: only Core "
                                     "Lightning nodes have lightningd's database")
        return Path(self.lightning_dir) / "regtest" / "lightningd.sqlite3"

    def db_query(self, query: str) -> list[dict[str, Any]]:
        """pyln-testing's: rows of `query` on a copy of lightningd's sqlite database."""
        return db.query(self._database("db_query"), query)

    def db_manip(self, query: str) -> None:
        """pyln-testing's: run `query` on lightningd's database itself (stop the node first)."""
        db.manipulate(self._database("db_manip"), query)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(f"lnharness.pyln's LightningNode has no {name!r} (see the README's "
                             "'Coming from pyln-testing'); the lnharness node is `.lnh`")

    def __repr__(self) -> str:
        return f"<pyln LightningNode {self.lnh.name} {self.lnh.impl}>"


def sync_to_tip(bitcoind: BitcoinD, nodes: list[LightningNode]) -> None:
    """Wait until every node has processed the chain's tip (a lagging peer refuses channels)."""
    height = bitcoind.chain.height()
    for node in nodes:
        node.lnh.wait_for_blockheight(height)


def broken_lines(node: LightningNode) -> list[str]:
    """The node's broken log lines that its `broken_log` regex does not allow."""
    lines = node.lnh.broken_log_lines()
    if node.broken_log is None:
        return lines
    allowed = re.compile(node.broken_log)
    return [line for line in lines if not allowed.search(line)]
