"""The chain backend interface and the registry that finds backends.

A backend is one regtest chain process speaking bitcoind's JSON-RPC (Bitcoin Core, the
embedded chain, Core in Docker). Backends register in the entry-point group
`lnharness.chains`; the registered object is the `ChainBackend` subclass itself, which is
its own factory: `cls.available()` says whether it can run here and why not,
`cls(directory, ...)` makes an unstarted instance.
"""
from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from lnharness import registry
from lnharness.bitcoin_rpc import BitcoinRpc, rpc_url
from lnharness.errors import LnhError, RpcError, UnavailableError
from lnharness.ports import release_port, reserve_port
from lnharness.proc import Daemon
from lnharness.wait import wait_for

CHAINS_GROUP = registry.CHAINS_GROUP
AUTO = "auto"
WALLET_NAME = "lnh"
#: relay policy every backend is started with, so results do not depend on the backend or
#: on its version (Bitcoin Core 30 lowered its defaults tenfold)
FALLBACK_FEE_BTC_PER_KVB = "0.00001"
MIN_RELAY_FEE_BTC_PER_KVB = "0.00001"
RPC_IN_WARMUP = -28

# Features a backend may support (see `ChainBackend.supports`).
FEATURE_INVALIDATEBLOCK = "invalidateblock"      # bitcoind's invalidateblock/reconsiderblock
FEATURE_GENERATEBLOCKFROM = "generateblockfrom"  # mine on any block (embedded chain)
FEATURE_SET_FEERATE = "set_feerate"              # fee estimates can be set (setfeeestimate)
FEATURE_ZMQ = "zmq"                              # ZMQ block/tx notifications
FEATURE_PERSISTENT = "persistent"                # state survives stop and start
FEATURE_KILL_DURABLE = "kill_durable"            # every accepted block survives a SIGKILL


class UnsupportedFeature(LnhError):
    """The backend cannot do what was asked; the message names the backend and the feature."""


class UnknownChainBackend(LnhError, KeyError):
    """No backend of that name is registered; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ChainBackend(ABC):
    """One regtest chain process with a wallet, reached through `rpc`.

    Subclasses set `name` and `features`, implement `available`, `_command`,
    `_ready_regex`, `version` and `replace_blocks`, and may extend `_after_start`.
    The instance owns its datadir (`directory/<name>`), its log and its reserved RPC port.
    """

    name: ClassVar[str]
    features: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, directory: Path | str, *, rpcuser: str = "lnh",
                 rpcpassword: str | None = None, wallet: str = WALLET_NAME):
        self.directory = Path(directory)
        self.datadir = self.directory / self.name
        self.rpcuser = rpcuser
        self.rpcpassword = rpcpassword if rpcpassword is not None else secrets.token_hex(16)
        self.rpchost = "127.0.0.1"
        self.wallet_name = wallet
        self._ports: list[int] = []
        self.rpc_port = self._reserve_port()
        self._daemon: Daemon | None = None

    # -- availability ------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def available(cls) -> tuple[bool, str]:
        """(True, description) if this backend can run here, else (False, the reason)."""

    @classmethod
    def require_available(cls) -> None:
        """Raise `UnavailableError` with the reason if this backend cannot run here."""
        ok, reason = cls.available()
        if not ok:
            raise UnavailableError(f"chain backend {cls.name!r} is unavailable: {reason}")

    # -- what subclasses provide ---------------------------------------------------------
    @abstractmethod
    def _command(self) -> list[str]:
        """The command line that starts the chain process."""

    def _ready_regex(self) -> str:
        """A log line that means the process finished starting (bitcoind's, by default)."""
        return r"init message: Done loading"

    def _fork_preload(self) -> list[str] | None:
        """For a chain run as `python -m MODULE`: the modules to fork it with (`Daemon`)."""
        return None

    def version(self) -> int:
        """The server version as `getnetworkinfo` reports it (e.g. 310000)."""
        return int(self.node_rpc.getnetworkinfo()["version"])

    @abstractmethod
    def replace_blocks(self, height: int, block_txs: list[list[str]], address: str) -> list[str]:
        """Replace the active chain from `height` on by `len(block_txs)` new blocks.

        The new blocks are built on the block at `height - 1`; the i-th contains the raw
        transactions `block_txs[i]` (hex) after its coinbase, which pays `address`. The
        branch becomes active once it is longer than the old one (callers make it so).
        Returns the new block hashes, lowest first.
        """

    def _conf_lines(self) -> list[str]:
        """Lines of `datadir/bitcoin.conf`, read by bitcoin-cli and lnharness-bitcoin-cli."""
        return ["regtest=1", "[regtest]", f"rpcport={self.rpc_port}", f"rpcuser={self.rpcuser}",
                f"rpcpassword={self.rpcpassword}"]

    def write_conf(self) -> Path:
        """(Re)write `datadir/bitcoin.conf` so command-line clients find the RPC settings."""
        self.datadir.mkdir(parents=True, exist_ok=True)
        path = self.datadir / "bitcoin.conf"
        path.write_text("\n".join(self._conf_lines()) + "\n")
        return path

    def _env(self) -> dict[str, str] | None:
        """Environment of the chain process (None: inherit)."""
        return None

    def _after_start(self) -> None:
        """Called once RPC answers: load or create the wallet."""
        self.ensure_wallet()

    # -- derived properties --------------------------------------------------------------
    def _reserve_port(self) -> int:
        port = reserve_port()
        self._ports.append(port)
        return port

    @property
    def log_path(self) -> Path:
        """Where the process's stdout and stderr go."""
        return self.directory / f"{self.name}.log"

    def log_files(self) -> list[Path]:
        """Every log this backend writes (console output, then the node's debug.log)."""
        return [self.log_path, self.datadir / "regtest" / "debug.log"]

    @property
    def daemon(self) -> Daemon:
        """The supervised process (created on first use)."""
        if self._daemon is None:
            self._daemon = Daemon(f"chain-{self.name}", self._command(), log_path=self.log_path,
                                  cwd=self.directory, env=self._env(),
                                  ready_regex=self._ready_regex(),
                                  fork_preload=self._fork_preload())
        return self._daemon

    @property
    def rpc_url(self) -> str:
        """URL of the node-level RPC endpoint (no wallet)."""
        return rpc_url(self.rpchost, self.rpc_port, self.rpcuser, self.rpcpassword)

    @property
    def wallet_rpc_url(self) -> str:
        """URL of the harness wallet's RPC endpoint."""
        return rpc_url(self.rpchost, self.rpc_port, self.rpcuser, self.rpcpassword,
                       self.wallet_name)

    @property
    def rpc(self) -> BitcoinRpc:
        """A client for the harness wallet's endpoint (node RPCs work there too)."""
        return BitcoinRpc(self.wallet_rpc_url, peer=f"{self.name}@{self.rpchost}:{self.rpc_port}")

    @property
    def node_rpc(self) -> BitcoinRpc:
        """A client for the node-level endpoint (no wallet in the URL)."""
        return BitcoinRpc(self.rpc_url, peer=f"{self.name}@{self.rpchost}:{self.rpc_port}")

    def supports(self, feature: str) -> bool:
        """Whether this backend offers `feature` (one of the FEATURE_* names)."""
        return feature in self.features

    def require(self, feature: str, what: str) -> None:
        """Raise `UnsupportedFeature` naming `what` unless `feature` is supported."""
        if not self.supports(feature):
            raise UnsupportedFeature(f"{what} is not available on the {self.name!r} chain "
                                     f"backend (it lacks {feature!r})")

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, timeout: float | None = None) -> None:
        """Start the process, wait until RPC answers, then load or create the wallet."""
        self.require_available()
        self.write_conf()
        self.daemon.start(timeout)
        self.wait_rpc_ready(timeout)
        self._after_start()

    def wait_rpc_ready(self, timeout: float | None = None) -> None:
        """Wait until `getnetworkinfo` answers (not in warm-up); fail early if the process died."""
        node = self.node_rpc

        def answered() -> bool:
            self.daemon.check_alive()
            try:
                node.getnetworkinfo()
            except RpcError as exc:
                if exc.code is None or exc.code == RPC_IN_WARMUP:
                    return False
                raise
            return True

        wait_for(answered, timeout, what=f"{self.name} RPC on port {self.rpc_port} to answer",
                 hint=f"log: {self.log_path}")

    def ensure_wallet(self) -> None:
        """Load the harness wallet, creating it on the first start."""
        node = self.node_rpc
        if self.wallet_name in node.listwallets():
            return
        try:
            node.loadwallet(self.wallet_name)
        except RpcError as exc:
            if exc.code == -18:  # RPC_WALLET_NOT_FOUND: first start
                node.createwallet(self.wallet_name)
            elif exc.code != -35:  # RPC_WALLET_ALREADY_LOADED: raced with another caller
                raise

    def stop(self, timeout: float = 30.0) -> int | None:
        """Stop gracefully (RPC `stop`, SIGKILL after `timeout`); return the exit code."""
        if self._daemon is None:
            return None
        node = self.node_rpc.with_timeout(min(timeout, 10.0))
        return self._daemon.stop(timeout, graceful=node.stop)

    def kill(self) -> int | None:
        """SIGKILL the process; return its exit status."""
        return self._daemon.kill() if self._daemon is not None else None

    def restart(self, timeout: float | None = None) -> None:
        """Stop, then start again on the same datadir and port."""
        self.stop()
        self.start(timeout)

    def is_running(self) -> bool:
        return self._daemon is not None and self._daemon.is_running()

    def close(self) -> None:
        """Stop the process if it runs and give back the reserved ports."""
        try:
            self.stop()
        finally:
            for port in self._ports:
                release_port(port)
            self._ports.clear()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<{type(self).__name__} {self.datadir} rpc={self.rpc_port} {state}>"


# -- registry -------------------------------------------------------------------------------
@dataclass(frozen=True)
class BackendAvailability:
    """Whether the backend `name` can run here, and the reason when it cannot."""
    name: str
    available: bool
    reason: str


def chain_backend_names() -> list[str]:
    """Names of every registered chain backend, sorted."""
    return registry.names(CHAINS_GROUP)


def chain_backend_class(name: str) -> type[ChainBackend]:
    """The backend class registered as `name`; `UnknownChainBackend` lists the valid names."""
    known = chain_backend_names()
    if name not in known:
        raise UnknownChainBackend(f"unknown chain backend {name!r}; valid: "
                                  f"{', '.join([AUTO, *known])}")
    cls = registry.load(CHAINS_GROUP, name)
    if not (isinstance(cls, type) and issubclass(cls, ChainBackend)):
        raise TypeError(f"entry point {CHAINS_GROUP}:{name} is {cls!r}, not a ChainBackend class")
    return cls


def chain_availability() -> list[BackendAvailability]:
    """Availability of every registered backend."""
    result = []
    for name in chain_backend_names():
        try:
            ok, reason = chain_backend_class(name).available()
        except Exception as exc:  # a broken third-party backend is reported, not fatal
            ok, reason = False, f"cannot load: {exc!r}"
        result.append(BackendAvailability(name, ok, reason))
    return result


def select_chain_backend(choice: str = AUTO) -> type[ChainBackend]:
    """The backend class for `choice`: a name, or `auto` (bitcoind if found, else embedded).

    Raises `UnknownChainBackend` for an unknown name and `UnavailableError` (with the
    reason) when the named backend cannot run here.
    """
    if choice == AUTO:
        bitcoind = chain_backend_class("bitcoind")
        if bitcoind.available()[0]:
            return bitcoind
        return chain_backend_class("embedded")
    cls = chain_backend_class(choice)
    cls.require_available()
    return cls
