"""The network graph: policy ordering, pruning, persistence in sqlite."""

from __future__ import annotations

from pathlib import Path

import pytest
from coincurve import PrivateKey
from lnharness.node_impl.builtin.core.storage import Storage
from lnharness.node_impl.builtin.gossip.graph import (
    ChannelPolicy,
    Graph,
    GraphNode,
    NodeAddress,
    format_scid,
    parse_scid,
    scid_from_parts,
    scid_parts,
)


def node_key(n: int) -> bytes:
    return PrivateKey((n).to_bytes(32, "big")).public_key.format()


N1, N2, N3 = sorted(node_key(n) for n in (1, 2, 3))


def policy(timestamp: int, base: int = 1) -> ChannelPolicy:
    return ChannelPolicy(fee_base_msat=base, fee_proportional_millionths=10,
                         cltv_expiry_delta=6, htlc_minimum_msat=0,
                         htlc_maximum_msat=1_000_000, timestamp=timestamp,
                         raw_update=b"upd%d" % timestamp)


def test_scid_text_roundtrip_matches_bolt7_example() -> None:
    scid = parse_scid("539268x845x1")
    assert scid_parts(scid) == (539268, 845, 1)
    assert scid == (539268 << 40) | (845 << 16) | 1
    assert format_scid(scid) == "539268x845x1"
    with pytest.raises(ValueError, match="not a short_channel_id"):
        parse_scid("539268:845:1")
    with pytest.raises(ValueError, match="out of range"):
        scid_from_parts(1 << 24, 0, 0)


def test_add_channel_requires_ordered_node_ids() -> None:
    with pytest.raises(ValueError, match="lesser key"):
        Graph().add_channel(1, N2, N1, capacity_sat=1000)


def test_only_newer_updates_replace_the_policy() -> None:
    graph = Graph()
    graph.add_channel(7, N1, N2, capacity_sat=1000, announcement=b"a")
    assert graph.update_policy(7, 0, policy(100))
    assert not graph.update_policy(7, 0, policy(100, base=5))  # same timestamp
    assert not graph.update_policy(7, 0, policy(99, base=5))   # older
    assert graph.get_channel(7).policies[0].fee_base_msat == 1
    assert graph.update_policy(7, 0, policy(101, base=5))
    assert graph.get_channel(7).policies[0].fee_base_msat == 5
    assert graph.get_channel(7).policies[1] is None
    assert not graph.update_policy(8, 0, policy(1))  # unknown channel


def test_local_channel_becomes_public_keeping_policies() -> None:
    graph = Graph()
    channel = graph.add_local_channel(9, N2, N1, capacity_sat=5000)
    assert (channel.node_id_1, channel.node_id_2, channel.public, channel.local) == (
        N1, N2, False, True)
    graph.update_policy(9, channel.direction_from(N2), policy(10))
    graph.add_channel(9, N1, N2, capacity_sat=5000, announcement=b"ann")
    channel = graph.get_channel(9)
    assert channel.public and channel.local
    assert channel.policies[1] == policy(10)


def test_spent_channels_are_forgotten_after_the_delay_and_orphan_nodes_pruned() -> None:
    graph = Graph(forget_spent_after_blocks=12)
    graph.add_channel(1, N1, N2, capacity_sat=1000, announcement=b"a")
    graph.add_channel(2, N2, N3, capacity_sat=1000, announcement=b"b")
    graph.upsert_node(GraphNode(N1, 5, alias="one"))
    assert graph.mark_spent(1, 100)
    assert graph.prune(block_height=111, now=0) == []
    assert graph.prune(block_height=112, now=0) == [1]
    assert graph.get_channel(1) is None and graph.get_node(N1) is None
    assert [c.short_channel_id for c in graph.channels_of(N2)] == [2]


def test_a_reorganised_spend_can_be_undone(tmp_path: Path) -> None:
    graph = Graph(Storage(tmp_path / "g.sqlite3"))
    graph.add_channel(1, N1, N2, capacity_sat=1000, announcement=b"a")
    graph.mark_spent(1, 100)
    graph.mark_unspent(1)
    assert graph.get_channel(1).spent_height is None
    assert graph.prune(block_height=1000, now=0) == []
    assert Graph(Storage(tmp_path / "g.sqlite3")).get_channel(1).spent_height is None


def test_stale_public_channels_are_pruned_but_not_our_own() -> None:
    graph = Graph(stale_after_secs=1000)
    graph.add_channel(1, N1, N2, capacity_sat=1000, announcement=b"a")
    graph.add_channel(2, N2, N3, capacity_sat=1000, announcement=b"b", local=True)
    for scid in (1, 2):
        graph.update_policy(scid, 0, policy(5000))
        graph.update_policy(scid, 1, policy(9000))
    assert graph.prune(block_height=1, now=5999) == []
    assert graph.prune(block_height=1, now=6001) == [1]
    assert graph.get_channel(2) is not None


def test_node_announcements_only_newer(tmp_path: Path) -> None:
    graph = Graph()
    assert graph.upsert_node(GraphNode(N1, 10, alias="a"))
    assert not graph.upsert_node(GraphNode(N1, 10, alias="b"))
    assert graph.get_node(N1).alias == "a"


def test_graph_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite3"
    graph = Graph(Storage(path))
    graph.add_channel(1, N1, N2, capacity_sat=1000, features=b"\x01", announcement=b"ann",
                      bitcoin_key_1=b"k1", bitcoin_key_2=b"k2", added_at=42)
    graph.update_policy(1, 1, policy(77))
    graph.add_local_channel(2, N3, N2, capacity_sat=2000)
    graph.mark_spent(2, 300)
    node = GraphNode(N1, 12, features=b"\x02", rgb_color=b"\x01\x02\x03", alias="alice",
                     addresses=(NodeAddress("ipv4", "127.0.0.1", 9735),), raw_announcement=b"n")
    graph.upsert_node(node)

    reloaded = Graph(Storage(path))
    assert reloaded.get_channel(1) == graph.get_channel(1)
    assert reloaded.get_channel(2) == graph.get_channel(2)
    assert reloaded.get_channel(2).spent_height == 300 and reloaded.get_channel(2).local
    assert reloaded.get_node(N1) == node
    assert [c.short_channel_id for c in reloaded.channels_of(N2)] == [1, 2]
    reloaded.remove_channel(1)
    assert Graph(Storage(path)).get_channel(1) is None
