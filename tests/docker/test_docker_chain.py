"""The `docker` chain backend beyond the conformance tests (tests/chain): where it runs,
what it publishes, what it leaves behind."""
from __future__ import annotations

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
