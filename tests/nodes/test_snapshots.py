"""snapshot=True: a topology built once, saved, and restored on fresh ports by later calls."""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from lnharness.chain import start_chain
from lnharness.network import NodeFactory
from lnharness.node_impl.builtin.adapter import BuiltinNode
from lnharness.ports import lock_dir
from lnharness.snapshot import MAX_AGE_S, SnapshotError, SnapshotWarning, list_snapshots

LNHARNESS = str(Path(sys.executable).with_name("lnharness"))


@pytest.fixture
def snapshot_dir(tmp_path, monkeypatch) -> Path:
    """An empty snapshot directory of this test's own (LNH_SNAPSHOT_DIR); ask for it before
    any fixture that makes a snapshot."""
    path = tmp_path / "snapshots"
    monkeypatch.setenv("LNH_SNAPSHOT_DIR", str(path))
    return path


@pytest.fixture
def second_network(directory, bitcoind, executor, impl):
    """Makes a second fresh chain and factory in the test's directory (as a later test or
    xdist worker would have); torn down after the test, problems fail it."""
    made = []

    def make() -> NodeFactory:
        where = directory / f"second-{len(made)}"
        where.mkdir()
        chain = start_chain(where, type(bitcoind.backend))
        factory = NodeFactory(where, chain, default_impl=impl, executor=executor)
        made.append((factory, chain))
        return factory
    yield make
    problems = []
    for factory, chain in made:
        problems += factory.teardown()
        chain.close()
    assert not problems, problems


def _state(nodes):
    return [(node.node_id, node.balance(),
             sorted((c.funding_txid, c.short_channel_id, c.capacity_sat, c.local_msat, c.state)
                    for c in node.channels()))
            for node in nodes]


def test_second_call_restores_the_same_network_on_fresh_ports(node_factory, snapshot_dir,
                                                                second_network):
    built = node_factory.line_graph(3, wait_for_announce=True, snapshot=True)
    assert node_factory.last_snapshot.action == "built"  # and back on fresh ports
    key = node_factory.last_snapshot.key
    saved = json.loads((snapshot_dir / key / "manifest.json").read_text())
    assert [n["node_id"] for n in saved["nodes"]] == [n.node_id for n in built]
    assert [(c["a"], c["b"]) for c in saved["channels"]] == [("l1", "l2"), ("l2", "l3")]
    before = _state(built)
    height = node_factory.chain.height()

    factory = second_network()
    restored = factory.line_graph(3, wait_for_announce=True, snapshot=True)
    assert factory.last_snapshot.action == "restored"
    assert factory.last_snapshot.key == key
    assert _state(restored) == before  # ids, balances, channels
    assert factory.chain.height() == height
    assert {n.port for n in restored}.isdisjoint(n.port for n in built)  # fresh ports
    assert factory.chain.rpc_port != node_factory.chain.rpc_port
    # usable at once: a routed payment over the restored gossip, no waiting in between
    payment = restored[0].pay(restored[2].invoice(20_000).bolt11)
    assert payment.status == "complete" and payment.fee_msat > 0
    assert len(list_snapshots(snapshot_dir)) == 1  # restored, not built again
    # the ports the nodes had when saved (peers may redial them) stay blocked for every
    # lnharness process while copies run: no other copy of these nodes may listen there
    stale = json.loads((snapshot_dir / key / "ports.json").read_text())
    assert set(stale) == {"l1", "l2", "l3"}
    assert {n.port for n in built + restored}.isdisjoint(stale.values())
    for port in stale.values():
        fd = os.open(lock_dir() / str(port), os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)


def test_a_changed_key_builds_again_and_the_cli_lists_and_clears(node_factory, snapshot_dir,
                                                                  second_network):
    node_factory.line_graph(2, snapshot=True)
    first = node_factory.last_snapshot
    assert first.action == "built"

    factory = second_network()
    factory.line_graph(2, fundamount_sat=500_000, snapshot=True)  # another key
    assert factory.last_snapshot.action == "built"
    assert factory.last_snapshot.key != first.key
    assert {info.key for info in list_snapshots(snapshot_dir)} == {first.key,
                                                                    factory.last_snapshot.key}

    # a snapshot older than a week is built again (gossip may be pruned after two)
    manifest = snapshot_dir / first.key / "manifest.json"
    week_ago = time.time() - MAX_AGE_S - 60
    os.utime(manifest, (week_ago, week_ago))
    third = second_network()
    third.line_graph(2, snapshot=True)
    assert (third.last_snapshot.action, third.last_snapshot.key) == ("built", first.key)
    assert manifest.stat().st_mtime > week_ago + 60

    listed = subprocess.run([LNHARNESS, "snapshots"], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert f"snapshots in {snapshot_dir} (LNH_SNAPSHOT_DIR): 2," in listed.stdout
    assert first.key in listed.stdout and "line_graph(2) of builtin" in listed.stdout
    cleared = subprocess.run([LNHARNESS, "snapshots", "--clear"], capture_output=True, text=True,
                             timeout=60)
    assert cleared.returncode == 0, cleared.stderr
    assert "removed 2 snapshot(s)" in cleared.stdout
    assert list_snapshots(snapshot_dir) == []
    assert not [p for p in snapshot_dir.iterdir() if p.is_dir()]


def test_a_used_chain_is_refused(node_factory, bitcoind, snapshot_dir):
    bitcoind.generate_block(1)
    with pytest.raises(SnapshotError, match=r"snapshot=True needs a fresh chain and no nodes "
                                            r"yet .*: the chain is at height 102, not 101"):
        node_factory.line_graph(2, snapshot=True)
    assert not snapshot_dir.exists() or list_snapshots(snapshot_dir) == []


def test_an_implementation_that_cannot_restore_builds_fresh_and_says_why(node_factory,
                                                                          snapshot_dir,
                                                                          monkeypatch):
    monkeypatch.setattr(BuiltinNode, "restore_unsupported", "pretend: keeps absolute paths")
    with pytest.warns(SnapshotWarning, match="builtin nodes cannot restart from a copy of "
                                             "their directory: pretend: keeps absolute paths"):
        l1, l2 = node_factory.line_graph(2, snapshot=True)
    assert node_factory.last_snapshot.action == "fresh"
    assert l1.channels(l2)[0].state == "active"
    assert not snapshot_dir.exists() or list_snapshots(snapshot_dir) == []


def test_two_workers_asking_at_once_build_once(node_factory, snapshot_dir, second_network):
    """As two xdist workers would: two fresh chains ask for the same topology at the same
    time; the key's file lock lets one build and save while the other waits, then restores."""
    other = second_network()
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda factory: factory.line_graph(2, snapshot=True),
                                [node_factory, other]))
    actions = sorted([node_factory.last_snapshot.action, other.last_snapshot.action])
    assert actions == ["built", "restored"]
    assert [n.node_id for n in results[0]] == [n.node_id for n in results[1]]
    assert len(list_snapshots(snapshot_dir)) == 1


@pytest.mark.impls("cln", "lnd", "ldk")
def test_an_external_implementation_restores_from_its_snapshot(node_factory, snapshot_dir, second_network):
    built = node_factory.line_graph(2, snapshot=True)
    assert node_factory.last_snapshot.action == "built"
    factory = second_network()
    restored = factory.line_graph(2, snapshot=True)
    assert factory.last_snapshot.action == "restored"
    assert [n.node_id for n in restored] == [n.node_id for n in built]
    channel = restored[0].channels(restored[1])[0]
    assert channel.funding_txid == built[0].channels(built[1])[0].funding_txid
    assert restored[0].pay(restored[1].invoice(10_000).bolt11).status == "complete"


@pytest.mark.line_graph(2, snapshot=True)
def test_the_line_graph_marker_takes_snapshot(snapshot_dir, line_graph, node_factory):
    assert node_factory.last_snapshot.action == "built"
    assert [n.name for n in line_graph] == ["l1", "l2"]
    assert len(list_snapshots(snapshot_dir)) == 1
