"""Fixtures for the built-in node's tests: the embedded regtest chain and built-in nodes, each a
real process on real sockets (started through lnharness.proc.Daemon)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lnharness.bitcoin_rpc import BitcoinRpc, rpc_url
from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpc
from lnharness.ports import release_port, reserve_port
from lnharness.proc import Daemon
from lnharness.wait import wait_for

READY_NODE = r"Server started with public key [0-9a-f]{66}"
READY_CHAIN = r"init message: Done loading"
START_TIMEOUT_S = 30


@dataclass
class Chain:
    daemon: Daemon
    rpc: BitcoinRpc
    url: str

    def mine(self, blocks: int = 1) -> list[str]:
        address = self.rpc.getnewaddress()
        return self.rpc.generatetoaddress(blocks, address)


@dataclass
class BuiltinNode:
    """One built-in node process and its RPC client."""

    name: str
    lightning_dir: Path
    daemon: Daemon
    rpc_port: int
    peer_port: int
    extra_args: list[str] = field(default_factory=list)
    _rpc: BuiltinRpc | None = None

    @property
    def rpc(self) -> BuiltinRpc:
        if self._rpc is None:
            self._rpc = BuiltinRpc.for_node(self.lightning_dir, self.rpc_port, timeout=30)
        return self._rpc

    @property
    def node_id(self) -> str:
        return self.rpc.getinfo()["id"]

    def start(self) -> None:
        self.daemon.start(timeout=START_TIMEOUT_S)

    def stop(self) -> int | None:
        return self.daemon.stop(timeout=10, graceful=lambda: self.rpc.stop())

    def connect_to(self, other: BuiltinNode) -> dict[str, Any]:
        return self.rpc.connect(f"{other.node_id}@127.0.0.1:{other.peer_port}")

    def wait_synced(self, chain: Chain) -> None:
        height = chain.rpc.getblockcount()
        wait_for(lambda: self.rpc.getinfo()["blockheight"] >= height
                 and "warning_lightningd_sync" not in self.rpc.getinfo(),
                 what=f"{self.name} to process block {height}")


class BuiltinNodes:
    """Starts built-in nodes in their own directories under the test's tmp_path."""

    def __init__(self, base: Path, chain_url: str | None) -> None:
        self.base = base
        self.chain_url = chain_url
        self.nodes: list[BuiltinNode] = []
        self.ports: list[int] = []

    def get_node(self, *, seed: str | None = None, extra_args: list[str] | None = None,
                 start: bool = True) -> BuiltinNode:
        name = f"node{len(self.nodes) + 1}"
        lightning_dir = self.base / name
        lightning_dir.mkdir(mode=0o700, parents=True)
        rpc_port, peer_port = reserve_port(), reserve_port()
        self.ports += [rpc_port, peer_port]
        cmd = [sys.executable, "-m", "lnharness.node_impl.builtin", f"--lightning-dir={lightning_dir}",
               f"--addr=127.0.0.1:{peer_port}", f"--rpc-port={rpc_port}", "--log-file=-",
               "--log-level=debug", f"--alias={name}"]
        if self.chain_url:
            cmd.append(f"--bitcoin-rpcurl={self.chain_url}")
        if seed:  # through the file the daemon reads, never on the command line (ps)
            fd = os.open(lightning_dir / "seed", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(seed)
        cmd += extra_args or []
        daemon = Daemon(name, cmd, log_path=lightning_dir / "log", ready_regex=READY_NODE)
        node = BuiltinNode(name, lightning_dir, daemon, rpc_port, peer_port, extra_args or [])
        self.nodes.append(node)
        if start:
            node.start()
        return node

    def close(self) -> list[str]:
        """Stop every node; returns the names of those that did not exit 0 (or crashed)."""
        failures = []
        for node in self.nodes:
            if node.daemon.proc is None:
                continue
            crashed = node.daemon.returncode not in (None, 0)
            code = node.stop() if node.daemon.is_running() else node.daemon.returncode
            if crashed or code != 0:
                failures.append(f"{node.name} exited with {code}; log: {node.daemon.log_path}")
        for port in self.ports:
            release_port(port)
        return failures


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    """The embedded regtest chain (lnharness.node_impl.bitcoin.regtestd), 101 blocks mined."""
    datadir = tmp_path / "chain"
    datadir.mkdir()
    port = reserve_port()
    cmd = [sys.executable, "-m", "lnharness.node_impl.bitcoin.regtestd", f"-datadir={datadir}",
           f"-rpcport={port}", "-rpcuser=u", "-rpcpassword=p", "-printtoconsole",
           "-fallbackfee=0.0002"]
    daemon = Daemon("regtestd", cmd, log_path=datadir / "regtestd.log", ready_regex=READY_CHAIN)
    daemon.start(timeout=START_TIMEOUT_S)
    url = rpc_url("127.0.0.1", port, "u", "p")
    chain = Chain(daemon, BitcoinRpc(url), url)
    chain.mine(101)
    yield chain
    daemon.stop(timeout=10)
    release_port(port)


@pytest.fixture
def builtin_nodes(tmp_path: Path) -> Iterator[BuiltinNodes]:
    """Built-in nodes without a chain backend (peer and RPC tests)."""
    factory = BuiltinNodes(tmp_path, None)
    yield factory
    failures = factory.close()
    assert not failures, failures


@pytest.fixture
def chained_builtin_nodes(tmp_path: Path, chain: Chain) -> Iterator[BuiltinNodes]:
    """Built-in nodes following the embedded chain."""
    factory = BuiltinNodes(tmp_path, chain.url)
    yield factory
    failures = factory.close()
    assert not failures, failures
