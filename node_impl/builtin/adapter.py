"""`LightningNode` adapter for the built-in node (`python -m lnharness.node_impl.builtin`).

Layer: adapter, outside the daemon (the harness side). Imports lnharness's engine,
core.config (the daemon's options) and core.jsonrpc_client.

No secret goes on the daemon's command line (every user sees it in `ps`): the node's seed is
written to DIR/seed and the chain's credentials to DIR/bitcoin_rpc_credentials, both 0600,
and the daemon reads them.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lnharness.dirs import write_private
from lnharness.errors import RpcError
from lnharness.node_impl.cln_shapes import ClnShapedNode
from lnharness.ports import release_port, reserve_port
from lnharness.proc import Daemon, python_daemon_env
from lnharness.results import Availability, Channel

from .core.config import build_parser
from .core.jsonrpc_client import BuiltinRpc, BuiltinRpcError

if TYPE_CHECKING:
    from lnharness.chain import Chain
    from lnharness.node import LightningNode

# what `python -m lnharness.node_impl.builtin` imports: the fork server imports it ahead
FORK_PRELOAD = ["lnharness.node_impl.builtin.core.config", "lnharness.node_impl.builtin.node"]
READY_REGEX = r"Server started with public key [0-9a-f]{66}"
#: options the adapter sets itself; a test cannot override them through `options`
MANAGED_OPTIONS = frozenset({"lightning-dir", "addr", "rpc-port", "bitcoin-rpcurl",
                             "bitcoin-rpccookie", "log-file"})


def _known_options() -> dict[str, bool]:
    """The daemon's long options, mapped to whether they take a value."""
    known = {}
    for action in build_parser()._actions:
        for flag in action.option_strings:
            if flag.startswith("--"):
                known[flag[2:]] = action.nargs != 0
    return known


#: Core Lightning options that pyln-testing suites set and that mean nothing for the built-in
#: node: accepted and dropped (README, "Core Lightning options"). Name -> why.
CLN_NOOP_OPTIONS = {
    "allow-deprecated-apis": "the built-in node has no deprecated APIs to allow or hide",
    "dev-allow-localhost": "the node only listens on 127.0.0.1 and announces and dials it as is",
    "dev-fast-gossip": "gossip is sent as soon as it is made: there are no timers to shorten",
    "dev-bitcoind-poll": "the chain is polled every --chain-poll seconds (0.1 by default)",
    "dev-fail-on-subdaemon-fail": "one process: there are no subdaemons",
    "dev-no-version-checks": "one process: there are no subdaemons to check",
    "dev-no-plugin-checksum": "there are no plugins",
    "xpay-handle-pay": "pay and xpay are one payer here: pay already runs xpay's code",
    "dev-crash-after": "the harness's timeouts bound a test; the node keeps no crash timer",
}
#: Core Lightning's log levels -> the built-in node's (`log-level=LEVEL:SUBSYSTEM` is dropped:
#: the node has one level for all its loggers).
CLN_LOG_LEVELS = {"io": "debug", "trace": "debug", "debug": "debug", "info": "info",
                  "unusual": "warning", "broken": "error"}


def _cln_option(name: str, value: Any) -> tuple[str, Any] | None:
    """A Core Lightning option as the built-in node's (name, value); None when it is dropped;
    (name, value) unchanged when it is not one of Core Lightning's."""
    if name in CLN_NOOP_OPTIONS:
        return None
    if name == "dev-no-reconnect":
        return "no-reconnect", value
    if name == "log-level" and isinstance(value, str):
        level, _, subsystem = value.partition(":")
        if subsystem:
            return None
        if level not in CLN_LOG_LEVELS.values():
            if level not in CLN_LOG_LEVELS:
                raise TypeError(f"builtin node option 'log-level': unknown level {value!r}; known: "
                                f"{', '.join(sorted(set(CLN_LOG_LEVELS) | set(CLN_LOG_LEVELS.values())))}")
            return name, CLN_LOG_LEVELS[level]
    return name, value


def _option_args(options: dict[str, Any]) -> list[str]:
    """Command-line arguments for `options`; an unknown or managed option is a TypeError. A
    flag is set by a true value or by None (pyln-testing's way of writing a bare flag)."""
    known = _known_options()
    args = []
    for key, given in options.items():
        translated = _cln_option(key.replace("_", "-"), given)
        if translated is None:
            continue
        name, value = translated
        if name in MANAGED_OPTIONS:
            raise TypeError(f"builtin node option {key!r} is set by the harness and cannot be overridden")
        if name not in known or name == "help":
            raise TypeError(f"unknown builtin node option {key!r}; known: "
                            f"{', '.join(sorted(set(known) - MANAGED_OPTIONS - {'help'}))}; "
                            f"Core Lightning's accepted as no-ops: {', '.join(sorted(CLN_NOOP_OPTIONS))}")
        if known[name]:
            if value is None:
                raise TypeError(f"builtin node option {key!r} takes a value")
            args.append(f"--{name}={value}")
        elif value or value is None:
            args.append(f"--{name}")
    return args


class BuiltinNode(ClnShapedNode):
    """The built-in Python node, started as its own process."""

    impl = "builtin"
    derives_identity = True
    #: everything is in its directory (sqlite, seed, rpc secret); ports and the chain's address
    #: come from the command line at every start, and it redials peers only when told
    restore_unsupported = None
    saved_excludes = ("log", "bitcoin_rpc_credentials")
    starts_before_chain = True  # its chain watcher dials the chain every 5 ms until it answers

    def __init__(self, name: str, *, directory: Path, chain: Chain,
                 options: dict[str, Any] | None = None, may_reconnect: bool = False,
                 identity: str | None = None):
        super().__init__(name, directory=directory, chain=chain, options=options,
                         may_reconnect=may_reconnect, identity=identity)
        self.lightning_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        seed = self.options.pop("seed", None)
        if seed is not None or not ({"seed_file", "seed-file"} & set(self.options)
                                    or (self.lightning_dir / "seed").exists()):
            # a directory that has a seed keeps it (a restored snapshot's node, a replay);
            # reproducible node ids: the same identity (under pytest the test id and the
            # node's name, else the name) gives the same id in every run
            write_private(self.lightning_dir / "seed", str(
                seed if seed is not None
                else hashlib.sha256(f"lnharness:{self.identity}".encode()).hexdigest()))
        self._extra_args = _option_args(self.options)
        self.port = reserve_port()
        self.rpc_port = reserve_port()
        self._daemon = Daemon(name, self._command(), log_path=self.lightning_dir / "log",
                              cwd=self.lightning_dir, env=python_daemon_env(),
                              ready_regex=READY_REGEX, fork_preload=FORK_PRELOAD)
        self._rpc: BuiltinRpc | None = None

    @classmethod
    def availability(cls) -> Availability:
        return Availability(cls.impl, True, version=f"lnharness built-in (Python {sys.version.split()[0]})")

    def _command(self) -> list[str]:
        chain = self.chain
        credentials = self.lightning_dir / "bitcoin_rpc_credentials"
        write_private(credentials, f"{chain.rpcuser}:{chain.rpcpassword}")
        return [sys.executable, "-m", "lnharness.node_impl.builtin",
                f"--lightning-dir={self.lightning_dir}",
                f"--addr={self.host}:{self.port}",
                f"--rpc-port={self.rpc_port}",
                f"--bitcoin-rpcurl=http://{chain.rpchost}:{chain.rpc_port}",
                f"--bitcoin-rpccookie={credentials}",
                "--log-file=-",
                f"--alias={self.name}",
                # as the cln adapter's --dev-no-reconnect (pyln-testing): redial only if allowed
                *([] if self.may_reconnect else ["--no-reconnect"]),
                *self._extra_args]

    def set_options(self, options: dict[str, Any]) -> None:
        self._check_stopped_for_options()
        if {"seed", "seed_file", "seed-file"} & set(options):
            raise TypeError(f"{self.name}: the seed is fixed when the node is made")
        self._extra_args = _option_args(options)  # raises before anything changes
        self.options = dict(options)
        self._daemon.cmd = self._command()

    # -- lifecycle --------------------------------------------------------------------
    @property
    def rpc(self) -> BuiltinRpc:
        if self._rpc is None:
            self._rpc = BuiltinRpc.for_node(self.lightning_dir, self.rpc_port)
        return self._rpc

    def launch(self, timeout: float | None = None) -> None:
        self._daemon.start(timeout)  # ready once its RPC and peer ports listen
        self._rpc = None  # the secret is created at first start

    def start(self, timeout: float | None = None) -> None:
        if not self._daemon.is_running():
            self.launch(timeout)
        self._wait_synced(timeout)

    def stop(self, timeout: float = 30.0) -> int | None:
        def graceful() -> None:
            self.rpc.call("stop", timeout=timeout)
        return self._daemon.stop(timeout, graceful=graceful if self._daemon.is_running() else None)

    def _close(self, channel: Channel, force: bool) -> str:
        params: dict[str, Any] = {"id": channel.channel_id}
        if force:
            params["force"] = True  # the built-in node's own option: broadcast at once
        return str(self.call("close", params)["txid"])

    def connection_info(self) -> dict[str, str]:
        secret = (self.lightning_dir / "rpc_secret").read_text().strip()
        return {**super().connection_info(),
                "rpc_url": f"http://rpc:{secret}@127.0.0.1:{self.rpc_port}/"}

    def close(self) -> None:
        for port in (self.port, self.rpc_port):
            release_port(port)

    def route_node_ids(self, other: LightningNode, amount_msat: int = 1000) -> list[str] | None:
        try:
            route = self.call("getroute", {"id": other.node_id, "amount_msat": amount_msat,
                                           "riskfactor": 1})["route"]
        except RpcError as exc:
            if exc.code == self.no_route_code:
                return None
            raise
        return [str(hop["id"]) for hop in route]

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Call an RPC method; errors become `RpcError` naming the node."""
        try:
            return self.rpc.call(method, params or {})
        except BuiltinRpcError as exc:
            raise RpcError(method, exc.code, exc.message, peer=self.name) from None

