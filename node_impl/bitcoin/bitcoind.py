"""The Bitcoin Core backend: `bitcoind` from `LNH_BITCOIND` or PATH, on regtest."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

from lnharness.backend import (
    FALLBACK_FEE_BTC_PER_KVB,
    FEATURE_INVALIDATEBLOCK,
    FEATURE_PERSISTENT,
    FEATURE_ZMQ,
    MIN_RELAY_FEE_BTC_PER_KVB,
    WALLET_NAME,
    ChainBackend,
)
from lnharness.bitcoin_rpc import BitcoinRpc

MIN_VERSION = 220000  # Core Lightning refuses older servers; generateblock needs >= 0.21


def bitcoind_path() -> str | None:
    """`LNH_BITCOIND` if set (read now), else `bitcoind` on PATH, else None."""
    configured = os.environ.get("LNH_BITCOIND")
    if configured:
        return configured
    return shutil.which("bitcoind")


@functools.lru_cache(maxsize=8)
def _probe(path: str) -> tuple[bool, str]:
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return False, f"{path} does not exist or is not executable"
    try:
        out = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{path} -version failed: {exc}"
    first = (out.stdout or out.stderr).strip().splitlines()[:1]
    if out.returncode != 0 or not first:
        return False, f"{path} -version exited with {out.returncode}: {out.stderr.strip()[:200]}"
    return True, f"{path} ({first[0]})"


class BitcoindBackend(ChainBackend):
    """Bitcoin Core on regtest: -txindex, -fallbackfee, RPC user/password, harness wallet."""

    name = "bitcoind"
    features = frozenset({FEATURE_INVALIDATEBLOCK, FEATURE_ZMQ, FEATURE_PERSISTENT})

    def __init__(self, directory: Path | str, *, rpcuser: str = "lnh",
                 rpcpassword: str | None = None, wallet: str = WALLET_NAME,
                 zmq: bool = False, extra_args: tuple[str, ...] = ()):
        super().__init__(directory, rpcuser=rpcuser, rpcpassword=rpcpassword, wallet=wallet)
        self.zmq_endpoints: dict[str, str] = {}
        if zmq:
            for topic in ("zmqpubrawblock", "zmqpubrawtx", "zmqpubhashblock"):
                self.zmq_endpoints[topic] = f"tcp://127.0.0.1:{self._reserve_port()}"
        self.extra_args = tuple(extra_args)

    @classmethod
    def available(cls) -> tuple[bool, str]:
        path = bitcoind_path()
        if path is None:
            return False, "bitcoind not found on PATH and LNH_BITCOIND is not set"
        return _probe(path)

    def _command(self) -> list[str]:
        path = bitcoind_path()
        if path is None:
            raise FileNotFoundError("bitcoind not found on PATH and LNH_BITCOIND is not set")
        cmd = [path, *bitcoind_args(self)]
        cmd += [f"-{topic}={endpoint}" for topic, endpoint in self.zmq_endpoints.items()]
        return cmd + list(self.extra_args)

    def replace_blocks(self, height: int, block_txs: list[list[str]], address: str) -> list[str]:
        return replace_by_invalidating(self.node_rpc, height, block_txs, address)


def bitcoind_args(backend: ChainBackend, *, rpcbind: str = "127.0.0.1",
                  rpcallowip: str = "127.0.0.1") -> list[str]:
    """bitcoind's options (after the program) for `backend`'s datadir, port and credentials."""
    return ["-regtest", f"-datadir={backend.datadir}", "-server", "-txindex",
            f"-fallbackfee={FALLBACK_FEE_BTC_PER_KVB}", f"-rpcport={backend.rpc_port}",
            f"-minrelaytxfee={MIN_RELAY_FEE_BTC_PER_KVB}",
            f"-incrementalrelayfee={MIN_RELAY_FEE_BTC_PER_KVB}",
            f"-rpcuser={backend.rpcuser}", f"-rpcpassword={backend.rpcpassword}",
            f"-rpcbind={rpcbind}", f"-rpcallowip={rpcallowip}", "-rpcthreads=16",
            "-rpcworkqueue=128", "-listen=0", "-dnsseed=0", "-fixedseeds=0", "-discover=0",
            "-printtoconsole", "-logtimestamps", "-logtimemicros"]


def replace_by_invalidating(rpc: BitcoinRpc, height: int, block_txs: list[list[str]],
                            address: str) -> list[str]:
    """`ChainBackend.replace_blocks` on Bitcoin Core: invalidateblock, then generateblock."""
    rpc.invalidateblock(rpc.getblockhash(height))
    return [str(rpc.generateblock(address, txs)["hash"]) for txs in block_txs]
