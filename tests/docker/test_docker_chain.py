"""The `docker` chain backend beyond the conformance tests (tests/chain): where it runs,
what it publishes, what it leaves behind."""
from __future__ import annotations

import os
import socket
import socketserver
import threading

import pytest
from lnharness.backend import FEATURE_GENERATEBLOCKFROM, FEATURE_INVALIDATEBLOCK
from lnharness.chain import start_chain
from lnharness.containers.daemon import ContainerDaemon
from lnharness.node_impl.bitcoin.docker import DockerBackend, inner_chain

from tests.docker.conftest import require_image


def test_the_inner_chain_is_bitcoind_when_one_is_found(monkeypatch, tmp_path):
    monkeypatch.delenv("LNH_BITCOIND", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert inner_chain() == "embedded"
    monkeypatch.setenv("LNH_BITCOIND", "/opt/bitcoin/bin/bitcoind")
    assert inner_chain() == "bitcoind"


def test_the_chain_runs_in_a_container_publishing_its_rpc_on_the_loopback(docker_chain, directory):
    backend = docker_chain.backend
    assert isinstance(backend.daemon, ContainerDaemon)
    assert docker_chain.height() == 101 and backend.rpchost == "127.0.0.1"
    info = backend.scope.engine.inspect(backend.daemon.container_id)
    assert info["HostConfig"]["PortBindings"] == {
        f"{backend.rpc_port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(backend.rpc_port)}]}
    assert info["NetworkSettings"]["Networks"][backend.scope.network]["Aliases"][0] == "chain"
    assert backend.container_address() == ("chain", backend.rpc_port)
    # its files are in the test's directory, as any backend's
    assert (backend.datadir / "regtest").is_dir() and backend.log_path.parent == directory
    expected = FEATURE_INVALIDATEBLOCK if backend.inner == "bitcoind" else FEATURE_GENERATEBLOCKFROM
    assert docker_chain.supports(expected)


def test_closing_the_chain_removes_its_container_and_network(images, directory):
    if inner_chain() == "embedded":
        require_image(images, "python")
    chain = start_chain(directory, DockerBackend)
    scope = chain.backend.scope
    assert scope.engine.containers(f"lnharness.scope={scope.id}")
    chain.backend.close()
    assert scope.engine.containers(f"lnharness.scope={scope.id}") == []
    assert scope.engine.networks(f"lnharness.scope={scope.id}") == []


def test_docker_is_unavailable_without_a_base_image(monkeypatch, engine):
    monkeypatch.setenv("LNH_DOCKER_BASE", "lnharness/no-such-base:0")
    ok, reason = DockerBackend.available()
    assert not ok
    assert reason == (f"docker backend: the engine at {engine.host} has no base image "
                      "lnharness/no-such-base:0: run `lnharness images build`")


class _TcpToEngine(socketserver.ThreadingTCPServer):
    """Serves the local engine's unix socket on a TCP port of the loopback, as a remote
    engine's `tcp://host:2375` would be served (without TLS)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, engine_socket: str):
        self.engine_socket = engine_socket
        super().__init__(("127.0.0.1", 0), _Relay)


class _Relay(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: _TcpToEngine = self.server  # type: ignore[assignment]
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as upstream:
            upstream.connect(server.engine_socket)
            back = threading.Thread(target=_pump, args=(upstream, self.request), daemon=True)
            back.start()
            _pump(self.request, upstream)
            back.join()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def test_an_engine_reached_over_tcp_runs_the_chain(images, directory, monkeypatch):
    """DOCKER_HOST=tcp://... (the way to a remote engine) drives a real engine: the chain
    starts, mines and is removed, every call going over TCP."""
    if not images.engine.host.startswith("unix://"):
        pytest.skip(f"the relay serves a local engine's unix socket, not {images.engine.host}")
    require_image(images, "bitcoind" if inner_chain() == "bitcoind" else "python")
    relay = _TcpToEngine(images.engine.host[len("unix://"):])
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{relay.server_address[1]}")
        chain = start_chain(directory, DockerBackend)
        scope = chain.backend.scope
        try:
            assert scope.engine.host == os.environ["DOCKER_HOST"]
            assert chain.height() == 101
            chain.generate_block(1)
            assert chain.height() == 102
        finally:
            chain.backend.close()
        assert images.engine.containers(f"lnharness.scope={scope.id}") == []
    finally:
        relay.shutdown()
        relay.server_close()
