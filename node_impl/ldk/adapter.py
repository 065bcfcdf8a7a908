"""`LightningNode` adapter for LDK (`ldk`): our `lnh-ldkd` daemon on the ldk-node crate.

The daemon is found through `LNH_LDK`, the tool directory of `lnharness install ldk`, or
PATH. Its JSON-RPC is shaped like Core Lightning's, so the shared Core Lightning-shaped
operations apply; this adapter adds what differs:

- ldk-node polls the chain every 2 s; waiting for a height asks it to poll now (`sync`).
- ldk-node accepts a channel after 6 confirmations (LDK's `minimum_depth`), so the harness
  mines 6 blocks to confirm a channel an ldk node accepts (`accept_depth`).
- ldk-node does not tell a close's txid: the adapter finds the transaction spending the
  funding output in the chain's mempool.
- ldk-node does not list a channel's HTLCs: `Channel.pending_htlcs` is None, and
  `htlcs_in_flight` counts the node's own payments still pending (not HTLCs it forwards).
- ldk-node redials the peers of its channels by itself (at start and every 60 s); it
  cannot be turned off, so `may_reconnect=False` does not stop it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from lnharness.dirs import write_private
from lnharness.errors import ProcessError, RpcError
from lnharness.node import LightningNode
from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpc, BuiltinRpcError
from lnharness.node_impl.cln_shapes import ClnShapedNode
from lnharness.ports import release_port, reserve_port
from lnharness.results import Availability, Balance, Channel
from lnharness.wait import wait_for

from .install import BINARY, INSTALL_HINT, installed_binary
from .logs import BROKEN_LOG_REGEX, is_benign

if TYPE_CHECKING:
    from lnharness.chain import Chain
    from lnharness.runtime import NodeRuntime

READY_REGEX = r"lnh-ldkd ready: node [0-9a-f]{66}"
#: options the adapter sets itself; a test cannot pass them through `options`
MANAGED_OPTIONS = frozenset({"lightning-dir", "addr", "rpc-port", "bitcoin-rpc",
                             "bitcoin-rpccookie"})
#: the daemon's own options a test may pass, and whether each takes a value
DAEMON_OPTIONS = {"alias": True, "log-level": True, "anchor-reserve-sats": True}


def find_daemon() -> tuple[str, str] | None:
    """(path, how it was found) of `lnh-ldkd`: LNH_LDK, the tool directory, or PATH."""
    configured = os.environ.get("LNH_LDK")
    if configured:
        return configured, "LNH_LDK"
    installed = installed_binary()
    if installed is not None:
        return str(installed), "lnharness install ldk"
    on_path = shutil.which(BINARY)
    return (on_path, "PATH") if on_path else None


def option_args(options: dict[str, Any]) -> list[str]:
    """Command-line arguments for `options`; an unknown or managed option is a TypeError."""
    args = []
    for key, value in options.items():
        name = key.replace("_", "-")
        if name in MANAGED_OPTIONS:
            raise TypeError(f"ldk node option {key!r} is set by the harness and cannot be overridden")
        if name not in DAEMON_OPTIONS:
            raise TypeError(f"unknown ldk node option {key!r}; known: {', '.join(sorted(DAEMON_OPTIONS))}")
        args.append(f"--{name}={value}")
    return args


class LdkNode(ClnShapedNode):
    """An ldk node (`lnh-ldkd`), started as its own process with its own directory and ports."""

    impl = "ldk"
    broken_log_regex: ClassVar[str] = BROKEN_LOG_REGEX
    accept_depth: ClassVar[int] = 6
    derives_identity: ClassVar[bool] = True
    #: ldk-node keeps everything in its storage directory, given on the command line at every
    #: start with the ports and the chain; nothing stored names a path
    restore_unsupported: ClassVar[str | None] = None
    saved_excludes: ClassVar[tuple[str, ...]] = ("log", "bitcoin_rpc_credentials")

    container_image: ClassVar[str | None] = "ldk"

    def __init__(self, name: str, *, directory: Path, chain: Chain,
                 options: dict[str, Any] | None = None, may_reconnect: bool = False,
                 identity: str | None = None, runtime: NodeRuntime | None = None):
        super().__init__(name, directory=directory, chain=chain, options=options,
                         may_reconnect=may_reconnect, identity=identity, runtime=runtime)
        found = find_daemon()
        if found is None:
            raise ProcessError(f"ldk: lnh-ldkd not found; {INSTALL_HINT}")
        self.binary = found[0]
        extra = option_args({"alias": name[:32], **self.options})
        self.lightning_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        seed = self.lightning_dir / "keys_seed"
        if not seed.exists():
            # reproducible node ids: the same identity (under pytest the test id and the
            # node's name, else the name) gives the same id in every run
            write_private(seed, hashlib.sha512(f"lnharness:{self.identity}".encode()).digest())
        credentials = self.lightning_dir / "bitcoin_rpc_credentials"
        write_private(credentials, f"{chain.rpcuser}:{chain.rpcpassword}".encode())
        self.port = reserve_port()
        self.rpc_port = reserve_port()
        runtime = self.runtime
        chain_host, chain_port = runtime.chain_address(chain)
        # --rpc-bind only where it differs from the default: an lnh-ldkd built before the
        # option existed still runs as a process
        bind = [] if runtime.bind_host == "127.0.0.1" else [f"--rpc-bind={runtime.bind_host}"]
        command = [runtime.program(self.binary, BINARY), f"--lightning-dir={self.lightning_dir}",
                   f"--addr={runtime.bind_host}:{self.port}", f"--rpc-port={self.rpc_port}",
                   *bind, f"--bitcoin-rpc={chain_host}:{chain_port}",
                   f"--bitcoin-rpccookie={credentials}", *extra]
        self._daemon = runtime.daemon(
            name, command, image=self.container_image, log_path=self.lightning_dir / "log",
            cwd=self.lightning_dir, ready_regex=READY_REGEX, ports=[self.port, self.rpc_port],
            mounts=[self.lightning_dir])
        self._rpc: BuiltinRpc | None = None

    @classmethod
    def availability(cls) -> Availability:
        found = find_daemon()
        if found is None:
            return Availability(cls.impl, False, reason=f"lnh-ldkd not found; {INSTALL_HINT}")
        path, how = found
        try:
            done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        except OSError as exc:
            return Availability(cls.impl, False, reason=f"{path} ({how}) does not run: {exc}; "
                                f"{INSTALL_HINT}")
        if done.returncode != 0 or not done.stdout.startswith("lnh-ldkd"):
            return Availability(cls.impl, False, reason=f"{path} ({how}) is not lnh-ldkd; {INSTALL_HINT}")
        return Availability(cls.impl, True, version=f"{done.stdout.strip()} ({path}, {how})")

    # -- lifecycle --------------------------------------------------------------------
    @property
    def rpc(self) -> BuiltinRpc:
        """The daemon's JSON-RPC: `rpc.call("getinfo")`, `rpc.call("pay", {"bolt11": ...})`."""
        if self._rpc is None:
            self._rpc = BuiltinRpc.for_node(self.lightning_dir, self.rpc_port,
                                            host=self.runtime.reach_host)
        return self._rpc

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Call an RPC method; errors become `RpcError` naming the node."""
        try:
            return self.rpc.call(method, params or {})
        except BuiltinRpcError as exc:
            raise RpcError(method, exc.code, exc.message, peer=self.name) from None

    def start(self, timeout: float | None = None) -> None:
        self._daemon.start(timeout)
        self._rpc = None  # the secret is created at first start
        self._node_id = str(self.call("getinfo")["id"])
        self.wait_for_blockheight(self.chain.height(), timeout)

    def stop(self, timeout: float = 30.0) -> int | None:
        def graceful() -> None:
            self.rpc.call("stop", timeout=timeout)
        return self._daemon.stop(timeout, graceful=graceful if self._daemon.is_running() else None)

    def close(self) -> None:
        for port in (self.port, self.rpc_port):
            release_port(port)

    def connection_info(self) -> dict[str, str]:
        secret = (self.lightning_dir / "rpc_secret").read_text().strip()
        return {**super().connection_info(),
                "rpc_url": f"http://rpc:{secret}@{self.runtime.reach_host}:{self.rpc_port}/"}

    def wait_for_blockheight(self, height: int, timeout: float | None = None) -> int:
        """Wait until the node has processed `height`, asking it to poll the chain each time
        (it would otherwise look only every 2 s)."""
        def reached() -> int | None:
            current = int(self.call("sync")["blockheight"])
            return current if current >= height else None
        return wait_for(reached, timeout, what=f"{self.name} to reach block height {height}")

    # -- wallet, peers, channels ---------------------------------------------------------
    def balance(self) -> Balance:
        funds = self.call("listfunds")
        onchain = funds["onchain"]
        in_channels = sum(c.local_msat for c in self.channels() if c.state == "active")
        return Balance(onchain_sat=int(onchain["spendable_sat"]) + int(onchain["anchor_reserve_sat"]),
                       channels_msat=in_channels)

    def _connect(self, other: LightningNode, host: str, port: int) -> None:
        self.call("connect", {"id": other.node_id, "host": host, "port": port,
                              "persist": self.may_reconnect})

    def channels(self, peer: LightningNode | str | None = None) -> list[Channel]:
        # the daemon cannot see a channel's HTLCs: say so rather than report none
        return [dataclasses.replace(c, pending_htlcs=None, htlc_hashes=None)
                for c in super().channels(peer)]

    def htlcs_in_flight(self) -> int:
        """Our own payments still pending (ldk-node does not list the HTLCs it forwards)."""
        return sum(1 for p in self.call("listpays")["pays"] if p["status"] == "pending")

    def _close(self, channel: Channel, force: bool) -> str:
        params: dict[str, Any] = {"id": channel.channel_id}
        if force:
            params["unilateraltimeout"] = 1
        answer = self.call("close", params)
        outpoint = {"txid": answer["funding_txid"], "vout": answer["funding_outnum"]}

        def spending_txid() -> str | None:
            spent = self.chain.rpc.call("gettxspendingprevout", [outpoint])
            return spent[0].get("spendingtxid") if spent else None
        return str(wait_for(spending_txid, what=f"{self.name}'s closing transaction of "
                            f"channel {channel.channel_id} in the mempool",
                            hint=f"log: {self._daemon.log_path}"))

    # -- teardown -------------------------------------------------------------------------
    def broken_log_lines(self) -> list[str]:
        return [line for line in super().broken_log_lines() if not is_benign(line)]

