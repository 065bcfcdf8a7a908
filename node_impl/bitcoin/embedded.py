"""The embedded chain backend: `python -m lnharness.node_impl.bitcoin.regtestd` under the test's directory."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from lnharness.backend import (
    FALLBACK_FEE_BTC_PER_KVB,
    FEATURE_GENERATEBLOCKFROM,
    FEATURE_KILL_DURABLE,
    FEATURE_PERSISTENT,
    FEATURE_SET_FEERATE,
    MIN_RELAY_FEE_BTC_PER_KVB,
    ChainBackend,
)
from lnharness.proc import python_daemon_env

DAEMON_MODULE = "lnharness.node_impl.bitcoin.regtestd"
# what the daemon imports once configured: the fork server imports them ahead of every start
FORK_PRELOAD = ["pbk", *(f"{DAEMON_MODULE}.{name}" for name in (
    "config", "kernel", "node", "rpc_server", "rpc_chain", "rpc_control", "rpc_mining",
    "rpc_rawtx", "rpc_wallet", "rpc_wallet_send"))]


class EmbeddedBackend(ChainBackend):
    """Our regtest node (consensus by libbitcoinkernel), started with this Python."""

    name = "embedded"
    features = frozenset({FEATURE_GENERATEBLOCKFROM, FEATURE_SET_FEERATE, FEATURE_PERSISTENT,
                          FEATURE_KILL_DURABLE})

    @classmethod
    def available(cls) -> tuple[bool, str]:
        for module, what in (("pbk", "py-bitcoinkernel (import pbk)"),
                             (DAEMON_MODULE + ".__main__", f"the daemon {DAEMON_MODULE}")):
            try:
                found = importlib.util.find_spec(module) is not None
            except ImportError as exc:
                return False, f"{what} cannot be imported: {exc}"
            if not found:
                return False, f"{what} is not found by {sys.executable} (no module {module})"
        return True, f"{sys.executable} -m {DAEMON_MODULE}"

    def _command(self) -> list[str]:
        # rpcuser/rpcpassword are read from the conf file (write_conf): argv is visible in ps
        return [sys.executable, "-m", DAEMON_MODULE, f"-datadir={self.datadir}",
                f"-conf={self.datadir / 'bitcoin.conf'}",
                f"-rpcport={self.rpc_port}", f"-fallbackfee={FALLBACK_FEE_BTC_PER_KVB}",
                f"-minrelaytxfee={MIN_RELAY_FEE_BTC_PER_KVB}",
                "-printtoconsole", "-logtimemicros"]

    def _fork_preload(self) -> list[str] | None:
        return FORK_PRELOAD

    def _env(self) -> dict[str, str] | None:
        return python_daemon_env()  # bytecode cached even under PYTHONDONTWRITEBYTECODE

    def write_conf(self) -> Path:
        """`datadir/bitcoin.conf` with the RPC credentials, readable by this user only (0600,
        datadir 0700): the daemon and the command-line clients read the password from there."""
        self.datadir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.datadir, 0o700)
        path = self.datadir / "bitcoin.conf"
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            os.fchmod(handle.fileno(), 0o600)  # an older tmp file keeps its mode through O_CREAT
            handle.write("\n".join(self._conf_lines()) + "\n")
        os.replace(tmp, path)
        return path

    def replace_blocks(self, height: int, block_txs: list[list[str]], address: str) -> list[str]:
        rpc = self.node_rpc
        parent = str(rpc.getblockhash(height - 1))
        hashes: list[str] = []
        for txs in block_txs:
            result = rpc.generateblockfrom(parent, address, txs)
            parent = str(result["hash"] if isinstance(result, dict) else result)
            hashes.append(parent)
        return hashes
