"""`LightningNode` adapter for Core Lightning (`lightningd`).

Found through `LNH_LIGHTNINGD` (a path to lightningd) or on PATH. The chain is reached
through `lnharness-bitcoin-cli`, a bitcoin-cli for lightningd's bcli plugin that works with
every chain backend, the embedded one included. Startup follows pyln-testing's recipe:
regtest, short CLTV deltas, fast gossip and 1 s chain polling on developer builds.
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lnharness.errors import ProcessError, RpcError
from lnharness.node import LightningNode, PaymentFailed
from lnharness.node_impl.cln_rpc import ClnRpc
from lnharness.node_impl.cln_shapes import PAY_ANSWER_MARGIN_S, ClnShapedNode, payment_from_pay
from lnharness.ports import release_port, reserve_port
from lnharness.proc import Daemon
from lnharness.results import Availability, Channel, Payment
from lnharness.wait import default_timeout

if TYPE_CHECKING:
    from lnharness.chain import Chain

READY_REGEX = r"Server started with public key"
SHIM = "lnharness-bitcoin-cli"
#: options the adapter sets itself; a test cannot override them through `options`
MANAGED_OPTIONS = frozenset({"network", "lightning-dir", "addr", "log-file", "bitcoin-cli",
                             "bitcoin-rpcuser", "bitcoin-rpcpassword", "bitcoin-rpcconnect",
                             "bitcoin-rpcport", "bitcoin-datadir"})
#: getroutes' errors when no route exists (PAY_ROUTE_NOT_FOUND, PAY_INSUFFICIENT_FUNDS, unknown node)
NO_ROUTE_CODES = frozenset({205, 206, 215, 220})
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


@functools.lru_cache(maxsize=8)
def _probe(binary: str) -> tuple[str, str]:
    """`lightningd --version` and `--help` output of `binary`."""
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    helptext = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    if version.returncode != 0:
        raise ProcessError(f"{binary} --version exited with {version.returncode}: "
                           f"{(version.stderr or version.stdout).strip()[:200]}")
    return version.stdout.strip(), helptext.stdout + helptext.stderr


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

    def __init__(self, name: str, *, directory: Path, chain: Chain,
                 options: dict[str, Any] | None = None, may_reconnect: bool = False):
        super().__init__(name, directory=directory, chain=chain, options=options,
                         may_reconnect=may_reconnect)
        binary = lightningd_path()
        shim = shim_path()
        if binary is None or shim is None:
            raise ProcessError(f"cln: {self.availability().reason}")
        self.binary, self.shim = binary, shim
        _check_unmanaged(self.options)
        self.port = reserve_port()
        self.lightning_dir.mkdir(parents=True, exist_ok=True)
        self._daemon = Daemon(name, self._command(), log_path=self.lightning_dir / "log",
                              cwd=self.lightning_dir, ready_regex=READY_REGEX)
        self._rpc = ClnRpc(self.lightning_dir / "regtest" / "lightning-rpc", name=name)

    @classmethod
    def availability(cls) -> Availability:
        binary = lightningd_path()
        if binary is None:
            return Availability(cls.impl, False, reason="lightningd not found on PATH and "
                                                        "LNH_LIGHTNINGD is not set")
        if not os.access(binary, os.X_OK):
            return Availability(cls.impl, False, reason=f"{binary} (LNH_LIGHTNINGD) is not executable")
        if shim_path() is None:
            return Availability(cls.impl, False, reason=f"{SHIM} is not installed (pip install lnharness)")
        try:
            version, _ = _probe(binary)
        except (OSError, subprocess.SubprocessError, ProcessError) as exc:
            return Availability(cls.impl, False, reason=f"{binary} does not run: {exc}")
        return Availability(cls.impl, True, version=f"Core Lightning {version} ({binary})")

    def _command(self) -> list[str]:
        chain = self.chain
        _, helptext = _probe(self.binary)
        args = [self.binary, "--network=regtest", f"--lightning-dir={self.lightning_dir}",
                f"--addr={self.host}:{self.port}", f"--alias={self.name}",
                "--log-level=debug", "--log-file=-",
                f"--bitcoin-cli={self.shim}", f"--bitcoin-datadir={chain.datadir}",
                f"--bitcoin-rpcuser={chain.rpcuser}", f"--bitcoin-rpcpassword={chain.rpcpassword}",
                f"--bitcoin-rpcconnect={chain.rpchost}", f"--bitcoin-rpcport={chain.rpc_port}",
                "--cltv-delta=6", "--cltv-final=5", "--watchtime-blocks=5", "--rescan=1",
                "--disable-dns", "--ignore-fee-limits=false"]
        if "--autoconnect-seeker-peers" in helptext:
            args.append("--autoconnect-seeker-peers=0")
        if "--developer" in helptext:
            args += ["--developer", "--dev-fast-gossip", "--dev-bitcoind-poll=1",
                     "--dev-fail-on-subdaemon-fail"]
            if not self.may_reconnect:
                args.append("--dev-no-reconnect")
        for key, value in self.options.items():
            name = key.replace("_", "-")
            args.append(f"--{name}" if value is True else f"--{name}={value}")
        return args

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
        self._daemon.start(timeout)
        self._wait_synced(timeout)

    def stop(self, timeout: float = 30.0) -> int | None:
        def graceful() -> None:
            self.call("stop")
        return self._daemon.stop(timeout, graceful=graceful if self._daemon.is_running() else None)

    def connection_info(self) -> dict[str, str]:
        return {**super().connection_info(), "rpc_socket": str(self._rpc.socket_path),
                "cli": f"lightning-cli --network=regtest --lightning-dir={self.lightning_dir}"}

    def close(self) -> None:
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

