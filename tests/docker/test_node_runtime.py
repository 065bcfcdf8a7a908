"""Lightning nodes in containers (`DockerRuntime`): the same adapters and the same calls as
processes, ports on the loopback, peers and the chain reached over the test's network."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from lnharness.chain import Chain
from lnharness.containers.daemon import ContainerDaemon
from lnharness.containers.runtime import DockerRuntime
from lnharness.errors import UnavailableError
from lnharness.network import NodeFactory
from lnharness.node_impl.bitcoin.embedded import EmbeddedBackend
from lnharness.node_impl.cln import ClnNode
from lnharness.runtime import ProcessRuntime

from tests.docker.conftest import require_image


@pytest.fixture
def factory(docker_chain: Chain, directory, executor, request) -> Iterator[NodeFactory]:
    """Nodes in containers on the docker chain; a teardown problem fails the test."""
    factory = NodeFactory(directory, docker_chain, executor=executor,
                          test_id=request.node.nodeid, runtime=DockerRuntime.for_chain(docker_chain))
    yield factory
    problems = factory.teardown()
    assert not problems, problems


def test_builtin_nodes_in_containers_route_a_payment_and_restart(factory):
    # announced: gossip crossed the test's network; peers redial each other by name there
    l1, l2, l3 = factory.line_graph(3, wait_for_announce=True, opts={"may_reconnect": True})
    scope = factory.runtime.scope
    assert factory.runtime.on_this_machine  # the local engine: unix:// socket
    for node in (l1, l2, l3):
        assert isinstance(node.daemon, ContainerDaemon) and node.daemon.image.startswith("lnharness/python:")
        assert node.host == node.name  # peers dial it by name on the network
        assert node.connection_info()["address"] == f"{node.node_id}@127.0.0.1:{node.port}"
        info = scope.engine.inspect(node.daemon.container_id)
        assert scope.network in info["NetworkSettings"]["Networks"]
        assert all(binding[0]["HostIp"] == "127.0.0.1"
                   for binding in info["HostConfig"]["PortBindings"].values())
    assert f"--bitcoin-rpcurl=http://chain:{factory.chain.rpc_port}" in l1.daemon.cmd
    l1.pay(l3.invoice(50_000).bolt11)
    l2.restart()  # a new container on the same directory
    assert len(l2.daemon.log_path.read_text().split("Server started with public key")) == 3
    l1.wait_channel_active(l2)
    l2.wait_channel_active(l3)
    l1.pay(l3.invoice(60_000).bolt11)
    assert l3.balance().channels_msat >= 110_000


def test_a_link_between_containers_cuts_and_restores(factory):
    l1, l2 = factory.get_nodes(2)
    link = factory.link(l1, l2)
    assert link.a_to_b_address[0] == "fault-proxies"  # the proxies' container on the network
    factory.join_nodes([l1, l2])
    link.cut()
    assert not l1.is_connected(l2) and not l2.is_connected(l1)
    link.restore()
    l1.pay(l2.invoice(20_000).bolt11)
    stats = link.stats()
    assert stats.a_to_b_bytes > 0 and stats.b_to_a_bytes > 0 and stats.connections >= 2


def test_lnd_in_a_container_pays_a_builtin_node_and_back(factory, images):
    require_image(images, "lnd")
    lnd, builtin = factory.get_nodes(2, impls=["lnd", "builtin"])
    assert lnd.daemon.image.startswith("lnharness/lnd:")
    lnd.fund_wallet(2_000_000)
    lnd.open_channel(builtin, 1_000_000, push_msat=100_000_000)
    lnd.pay(builtin.invoice(30_000).bolt11)
    builtin.pay(lnd.invoice(20_000).bolt11)


def test_ldk_in_a_container_pays_a_builtin_node(factory, images):
    require_image(images, "ldk")
    ldk, builtin = factory.get_nodes(2, impls=["ldk", "builtin"])
    assert ldk.daemon.image.startswith("lnharness/ldk:")
    ldk.fund_wallet(2_000_000)
    ldk.open_channel(builtin, 1_000_000)
    ldk.pay(builtin.invoice(30_000).bolt11)


def test_cln_in_a_container_pays_a_builtin_node_over_the_tests_network(factory, images):
    require_image(images, "cln")
    cln, builtin = factory.get_nodes(2, impls=["cln", "builtin"])
    assert cln.daemon.image.startswith("lnharness/cln:")
    # lightningd's bcli plugin reaches the chain by its name on the test's network
    assert "--bitcoin-rpcconnect=chain" in cln.daemon.cmd
    cln.fund_wallet(2_000_000)
    cln.open_channel(builtin, 1_000_000, push_msat=100_000_000)
    cln.pay(builtin.invoice(30_000).bolt11)
    builtin.pay(cln.invoice(20_000).bolt11)


def test_a_container_that_dies_is_reported_at_teardown(docker_chain, directory, executor):
    factory = NodeFactory(directory, docker_chain, executor=executor,
                          runtime=DockerRuntime.for_chain(docker_chain))
    node = factory.get_node()
    docker_chain.backend.scope.engine.kill(node.daemon.container_id)
    problems = factory.teardown()
    assert len(problems) == 1
    assert problems[0].startswith("l1 (builtin) died during the test with code -9; log ")


class _RemoteEngineRuntime(ProcessRuntime):
    """Stands for nodes on a remote engine: their directories are not on this machine."""
    name = "docker"
    on_this_machine = False


def test_cln_refuses_a_remote_engine_whose_unix_socket_it_cannot_reach(tmp_path):
    assert ProcessRuntime().on_this_machine
    with pytest.raises(UnavailableError, match=r"cln: Core Lightning's RPC is a unix socket in "
                                               r"its directory, unreachable from here"):
        ClnNode("l1", directory=tmp_path / "l1", chain=Chain(EmbeddedBackend(tmp_path)),
                runtime=_RemoteEngineRuntime())


def test_nodes_in_containers_need_the_chain_in_one(tmp_path):
    with pytest.raises(UnavailableError, match=r"need the chain in a container too "
                                               r"\(--lnh-chain=docker\), not 'embedded'"):
        DockerRuntime.for_chain(Chain(EmbeddedBackend(tmp_path)))


USER_TEST = """
from lnharness.containers.daemon import ContainerDaemon

def test_in_containers(node_factory, bitcoind):
    l1, l2 = node_factory.line_graph(2, wait_for_announce=False)
    assert bitcoind.name == "docker"
    assert all(isinstance(n.daemon, ContainerDaemon) for n in (l1, l2))
    l1.pay(l2.invoice(10_000).bolt11)
"""


def test_the_option_runs_a_suites_nodes_and_chain_in_containers(pytester, images, tmp_path):
    require_image(images, "python")
    pytester.makepyfile(USER_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--lnh-node-runtime=docker",
                                           f"--lnh-test-dir={tmp_path / 'base'}")
    result.assert_outcomes(passed=1)


def test_the_option_refuses_a_chain_outside_containers(pytester, monkeypatch):
    monkeypatch.setenv("LNH_NODE_RUNTIME", "docker")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--lnh-chain=embedded")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*--lnh-chain=embedded with --lnh-node-runtime=docker: nodes in "
                                 "containers need the chain in a container*"])
