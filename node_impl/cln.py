"""`LightningNode` adapter for Core Lightning (`lightningd`).

Found through `LNH_LIGHTNINGD` (a path to lightningd) or on PATH. lightningd's bcli plugin
reaches the chain with Bitcoin Core's `bitcoin-cli` (beside `LNH_BITCOIND`'s bitcoind or on
PATH), else with `lnharness-bitcoin-cli`, through the node's own `ChainRpcProxy` in the test
process, where the test's mocks of chain calls are answered (pyln-testing's bitcoind proxy).
Works with every chain backend, the embedded one included. Startup follows pyln-testing's
recipe: regtest, short CLTV deltas, fast gossip and 1 s chain polling on developer builds.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lnharness.backend import UnsupportedFeature
from lnharness.errors import ProcessError, RpcError, UnavailableError
from lnharness.node import LightningNode, PaymentFailed
from lnharness.node_impl.bitcoin.bitcoind import bitcoind_path
from lnharness.node_impl.bitcoin.rpc_proxy import (
    ANY_PARAMS,
    ChainRpcProxy,
    MockFunction,
    params_key,
)
from lnharness.node_impl.cln_rpc import ClnRpc
from lnharness.node_impl.cln_shapes import PAY_ANSWER_MARGIN_S, ClnShapedNode, payment_from_pay
from lnharness.ports import release_port, reserve_port
from lnharness.results import Availability, Channel, Payment
from lnharness.runtime import PROCESS
from lnharness.wait import default_timeout

if TYPE_CHECKING:
    from lnharness.chain import Chain
    from lnharness.runtime import NodeRuntime

READY_REGEX = r"Server started with public key"
SHIM = "lnharness-bitcoin-cli"
#: options the adapter sets itself; a test cannot override them through `options`
MANAGED_OPTIONS = frozenset({"network", "lightning-dir", "addr", "log-file", "bitcoin-cli",
                             "bitcoin-rpcuser", "bitcoin-rpcpassword", "bitcoin-rpcconnect",
                             "bitcoin-rpcport", "bitcoin-datadir"})
#: pyln-testing's settings (its LIGHTNINGD_CONFIG, v26.06) where lightningd's defaults
#: differ; `options` override them (a list value repeats the option, True is a bare flag)
DEFAULT_OPTIONS: dict[str, Any] = {"log-level": "debug", "cltv-delta": 6, "cltv-final": 5,
                                   "watchtime-blocks": 5, "rescan": 1, "disable-dns": True,
                                   "ignore-fee-limits": "false"}
#: the (blocks, mode) pairs lightningd's bcli asks estimatesmartfee for
FEE_TARGETS = ((2, "CONSERVATIVE"), (6, "ECONOMICAL"), (12, "ECONOMICAL"), (100, "ECONOMICAL"))
#: getroutes' errors when no route exists (PAY_ROUTE_NOT_FOUND, PAY_INSUFFICIENT_FUNDS, unknown node)
NO_ROUTE_CODES = frozenset({205, 206, 215, 220})
#: lightningd's start-up error for an option neither it nor a plugin registered
UNKNOWN_OPTION = re.compile(r"--(?P<name>[\w-]+)(=\S*)?: unknown option")
UNKNOWN_COMMAND = -32601


def lightningd_path() -> str | None:
    """lightningd from `LNH_LIGHTNINGD` (read now) or PATH."""
    configured = os.environ.get("LNH_LIGHTNINGD")
    if configured:
        return configured
    return shutil.which("lightningd")


def shim_path() -> str | None:
    """The bitcoin-cli shim installed beside this Python, or on PATH."""
    beside = Path(sys.executable).with_name(SHIM)
    return str(beside) if beside.exists() else shutil.which(SHIM)


def bitcoin_cli_path() -> str | None:
    """Bitcoin Core's bitcoin-cli beside `LNH_BITCOIND`'s bitcoind, or on PATH, else the shim
    (a Python program: about 0.1 s a call, which slows lightningd's block processing)."""
    bitcoind = bitcoind_path()
    beside = Path(bitcoind).with_name("bitcoin-cli") if bitcoind else None
    if beside is not None and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("bitcoin-cli") or shim_path()


@functools.lru_cache(maxsize=8)
def _probe(binary: str) -> tuple[str, str]:
    """`lightningd --version` and `--help` output of `binary`."""
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    helptext = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    if version.returncode != 0:
        raise ProcessError(f"{binary} --version exited with {version.returncode}: "
                           f"{(version.stderr or version.stdout).strip()[:200]}")
    return version.stdout.strip(), helptext.stdout + helptext.stderr


def btc_per_kvb(sat_per_kw: int | Decimal) -> Decimal:
    """A fee rate in sat/kw as bitcoind reports one: BTC per kvB, 8 decimals."""
    return (Decimal(sat_per_kw) * 4 / 10**8).quantize(Decimal("0.00000001"))


def unknown_option(log_lines: list[str]) -> str | None:
    """The option named in lightningd's "--NAME[=VALUE]: unknown option" start-up error."""
    for line in reversed(log_lines):
        found = UNKNOWN_OPTION.search(line)
        if found:
            return found["name"]
    return None


def _check_unmanaged(options: dict[str, Any]) -> None:
    for key in options:
        if key.replace("_", "-") in MANAGED_OPTIONS:
            raise TypeError(f"cln option {key!r} is set by the harness and cannot be overridden")


class ClnNode(ClnShapedNode):
    """A Core Lightning node."""

    impl = "cln"
    #: its state (hsm_secret, lightningd.sqlite3, gossip_store) is in its directory; ports and
    #: the chain come from the command line; the RPC socket is made at start
    restore_unsupported = None
    saved_excludes = ("log", "regtest/lightning-rpc")

    container_image = "cln"

    def __init__(self, name: str, *, directory: Path, chain: Chain,
                 options: dict[str, Any] | None = None, may_reconnect: bool = False,
                 runtime: NodeRuntime | None = None):
        super().__init__(name, directory=directory, chain=chain, options=options,
                         may_reconnect=may_reconnect, runtime=runtime)
        if not self.runtime.on_this_machine:
            raise UnavailableError(f"cln: Core Lightning's RPC is a unix socket in its "
                                   f"directory, unreachable from here when it runs on a remote "
                                   f"engine ({self.runtime.name} runtime): use a local engine")
        binary = lightningd_path()
        bitcoin_cli = bitcoin_cli_path()
        if binary is None or bitcoin_cli is None:
            raise ProcessError(f"cln: {self.availability().reason}")
        self.binary, self.bitcoin_cli = binary, bitcoin_cli
        _check_unmanaged(self.options)
        self.port = reserve_port()
        # a process reaches the chain through its proxy in the test process (the mocks);
        # a container, whose loopback is its own, through the shim in its image, directly
        self._proxy_port: int | None = None
        self.chain_proxy: ChainRpcProxy | None = None
        if self.runtime.name == PROCESS:
            self._proxy_port = reserve_port()
            self.chain_proxy = ChainRpcProxy(chain.rpc_url, name=name, port=self._proxy_port)
        self.lightning_dir.mkdir(parents=True, exist_ok=True)
        # the RPC is a unix socket in the node's directory: reachable through the bind mount
        # from this machine (a local engine only); the bcli shim reads the chain's datadir
        self._daemon = self.runtime.daemon(
            name, self._command(), image=self.container_image,
            log_path=self.lightning_dir / "log", cwd=self.lightning_dir, ready_regex=READY_REGEX,
            env=self._environment(), ports=[self.port], mounts=[self.lightning_dir, chain.datadir])
        self._rpc = ClnRpc(self.lightning_dir / "regtest" / "lightning-rpc", name=name)

    @classmethod
    def availability(cls) -> Availability:
        binary = lightningd_path()
        if binary is None:
            return Availability(cls.impl, False, reason="lightningd not found on PATH and "
                                                        "LNH_LIGHTNINGD is not set")
        if not os.access(binary, os.X_OK):
            return Availability(cls.impl, False, reason=f"{binary} (LNH_LIGHTNINGD) is not executable")
        if bitcoin_cli_path() is None:
            return Availability(cls.impl, False, reason=f"neither bitcoin-cli nor {SHIM} found "
                                                        "(pip install lnharness)")
        try:
            version, _ = _probe(binary)
        except (OSError, subprocess.SubprocessError, ProcessError) as exc:
            return Availability(cls.impl, False, reason=f"{binary} does not run: {exc}")
        return Availability(cls.impl, True, version=f"Core Lightning {version} ({binary})")

    def _command(self) -> list[str]:
        chain, runtime = self.chain, self.runtime
        if self.chain_proxy is not None:
            bitcoin_cli, (chain_host, chain_port) = self.bitcoin_cli, ("127.0.0.1", self.chain_proxy.port)
        else:
            bitcoin_cli = runtime.program(shim_path() or SHIM, SHIM)
            chain_host, chain_port = runtime.chain_address(chain)
        _, helptext = _probe(self.binary)
        args = [runtime.program(self.binary, "lightningd"), "--network=regtest",
                f"--lightning-dir={self.lightning_dir}",
                f"--addr={runtime.bind_host}:{self.port}", "--log-file=-",
                f"--bitcoin-cli={bitcoin_cli}", f"--bitcoin-datadir={chain.datadir}",
                f"--bitcoin-rpcuser={chain.rpcuser}", f"--bitcoin-rpcpassword={chain.rpcpassword}",
                f"--bitcoin-rpcconnect={chain_host}", f"--bitcoin-rpcport={chain_port}"]
        settings: dict[str, Any] = {"alias": self.name, **DEFAULT_OPTIONS}
        if "--autoconnect-seeker-peers" in helptext:
            settings["autoconnect-seeker-peers"] = 0
        if "--developer" in helptext:
            args.append("--developer")
            settings.update({"dev-fast-gossip": True, "dev-bitcoind-poll": 1,
                             "dev-fail-on-subdaemon-fail": True})
            if not self.may_reconnect:
                settings["dev-no-reconnect"] = True
        settings.update({key.replace("_", "-"): value for key, value in self.options.items()})
        for name, value in settings.items():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                text = str(item).lower() if isinstance(item, bool) else item
                args.append(f"--{name}" if item is True else f"--{name}={text}")
        return args

    def _environment(self) -> dict[str, str]:
        """lightningd's environment: ours plus, as pyln-testing sets it, leak detection for
        `dev-memleak`."""
        return {**os.environ, "LIGHTNINGD_DEV_MEMLEAK": "1"}

    def mock_bitcoin_rpc(self, method: str,
                         answers: Mapping[str, Any] | MockFunction | None) -> None:
        """Answer this node's chain calls of `method` in the test process, as pyln-testing's
        bitcoind proxy's `mock_rpc` does: `answers` maps `params_key([...])` (or "*", any
        parameters) to the result, or is a function of the request returning the whole reply
        (None: ask the chain); None sends `method` to the chain again. Applies to the next call."""
        self._proxy(f"mock_bitcoin_rpc({method!r})").mock(method, answers)

    def set_fee_estimates(self, perkw: Sequence[int]) -> None:
        """Fee estimates of this node alone, as pyln-testing's `set_feerates` gives them: sat/kw
        for the four targets lightningd asks `estimatesmartfee` (2 CONSERVATIVE, then 6, 12
        and 100 ECONOMICAL; any other 42 sat/kvB) and, as a fifth entry, the mempool's
        minimum fee. Both are answered by the node's bitcoin-cli (see `mock_bitcoin_rpc`)."""
        if len(perkw) not in (4, 5):
            raise ValueError(f"set_fee_estimates takes 4 or 5 fee rates, got {len(perkw)}")
        estimates: dict[str, Any] = {
            params_key(list(target)): {"feerate": btc_per_kvb(rate), "blocks": target[0]}
            for target, rate in zip(FEE_TARGETS, perkw, strict=False)}
        estimates[ANY_PARAMS] = {"feerate": btc_per_kvb(Decimal(42) / 4), "blocks": 2}
        floor = None
        if len(perkw) == 5:
            rate = btc_per_kvb(perkw[4])
            floor = {ANY_PARAMS: {"mempoolminfee": rate, "minrelaytxfee": rate}}
        self.mock_bitcoin_rpc("getmempoolinfo", floor)
        self.mock_bitcoin_rpc("estimatesmartfee", estimates)

    def mock_rpc_calls(self, method: str) -> int:
        """How many calls of `method` the mocks answered since `mock_bitcoin_rpc` set it."""
        return self._proxy(f"mock_rpc_calls({method!r})").calls(method)

    def _proxy(self, what: str) -> ChainRpcProxy:
        if self.chain_proxy is None:
            raise UnsupportedFeature(f"{what} on {self.name}: the mocks of chain calls live in "
                                     f"the test process, which a node in a container "
                                     f"({self.runtime.name} runtime) does not reach")
        return self.chain_proxy

    def knows_option(self, name: str) -> bool:
        """Does this lightningd (without plugins given at start) take `--name`?"""
        _, helptext = _probe(self.binary)
        return re.search(rf"^\s*--{re.escape(name)}\b", helptext, re.M) is not None

    def set_options(self, options: dict[str, Any]) -> None:
        self._check_stopped_for_options()
        _check_unmanaged(options)
        self.options = dict(options)
        self._daemon.cmd = self._command()

    # -- lifecycle --------------------------------------------------------------------
    @property
    def rpc(self) -> ClnRpc:
        return self._rpc

    def start(self, timeout: float | None = None) -> None:
        """Start lightningd and wait until it has the chain's tip. An option lightningd does
        not know (its own or its plugins') is a TypeError naming it, as with other nodes."""
        try:
            self._daemon.start(timeout)
        except ProcessError as exc:
            unknown = unknown_option(exc.log_tail)
            if unknown is not None:
                self._daemon.forget_failed_start()
                raise TypeError(f"unknown cln option {unknown!r}: lightningd {self.binary} "
                                f"refused it (log: {exc.log_path})") from exc
            raise
        self._wait_synced(timeout)

    def stop(self, timeout: float = 30.0) -> int | None:
        def graceful() -> None:
            self.call("stop")
        return self._daemon.stop(timeout, graceful=graceful if self._daemon.is_running() else None)

    def connection_info(self) -> dict[str, str]:
        return {**super().connection_info(), "rpc_socket": str(self._rpc.socket_path),
                "cli": f"lightning-cli --network=regtest --lightning-dir={self.lightning_dir}"}

    def close(self) -> None:
        if self.chain_proxy is not None:
            self.chain_proxy.close()
        if self._proxy_port is not None:
            release_port(self._proxy_port)
        release_port(self.port)

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return self._rpc.call(method, params or {})

    def _close(self, channel: Channel, force: bool) -> str:
        if not force:
            return super()._close(channel, force)
        # lightningd closes unilaterally only once its peer fails to answer: drop the peer
        self.call("disconnect", {"id": channel.peer_id, "force": True})
        result = self.call("close", {"id": channel.channel_id, "unilateraltimeout": 1})
        return str(result["txids"][-1] if "txids" in result else result["txid"])

    def _keysend(self, node_id: str, amount_msat: int, *, timeout: float | None = None) -> Payment:
        """`xkeysend` (Core Lightning v26.06 deprecated `keysend` for it); `keysend` on a
        lightningd without it."""
        budget = default_timeout() if timeout is None else timeout
        params = {"destination": node_id, "amount_msat": amount_msat,
                  "retry_for": max(1, int(budget) - PAY_ANSWER_MARGIN_S)}
        try:
            result = self.call("xkeysend", params)
        except RpcError as exc:
            if exc.code == UNKNOWN_COMMAND:
                return super()._keysend(node_id, amount_msat, timeout=timeout)
            raise PaymentFailed(f"[{exc.code}] {exc.message}", native=exc) from None
        preimage = str(result["payment_preimage"])
        # xkeysend answers as xpay does: no payment hash or status (it only answers a success)
        return payment_from_pay({**result, "status": "complete",
                                 "payment_hash": hashlib.sha256(bytes.fromhex(preimage)).hexdigest(),
                                 "parts": result.get("successful_parts", 1)})

    def has_route(self, other: LightningNode, amount_msat: int) -> bool:
        # getroute is deprecated in Core Lightning; askrene's getroutes replaces it
        try:
            self.call("getroutes", {"source": self.node_id, "destination": other.node_id,
                                    "amount_msat": amount_msat, "layers": ["auto.localchans"],
                                    "maxfee_msat": max(amount_msat, 1_000_000),
                                    "final_cltv": 18})
        except RpcError as exc:
            if exc.code in NO_ROUTE_CODES:
                return False
            raise
        return True

    def decode(self, bolt11: str) -> dict[str, Any]:
        return dict(self.call("decode", {"string": bolt11}))

