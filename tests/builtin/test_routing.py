"""Pathfinding on hand-built graphs: fees, CLTVs, limits, exclusions and route hints."""

from __future__ import annotations

import pytest
from coincurve import PrivateKey
from lnharness.node_impl.builtin.gossip.graph import ChannelPolicy, Graph, scid_from_parts
from lnharness.node_impl.builtin.gossip.pathfind import NoRouteError, RouteHintHop, find_route


def node_key(n: int) -> bytes:
    return PrivateKey((n).to_bytes(32, "big")).public_key.format()


A, B, C, D, E = (node_key(n) for n in range(1, 6))
HEIGHT = 500


def policy(base: int, ppm: int, delta: int, *, hmin: int = 0, hmax: int = 10**10,
           disabled: bool = False) -> ChannelPolicy:
    return ChannelPolicy(fee_base_msat=base, fee_proportional_millionths=ppm,
                         cltv_expiry_delta=delta, htlc_minimum_msat=hmin,
                         htlc_maximum_msat=hmax, disabled=disabled, timestamp=1)


def connect(graph: Graph, scid: int, x: bytes, y: bytes, policy_x: ChannelPolicy | None,
            policy_y: ChannelPolicy | None, *, capacity_sat: int = 10_000_000) -> None:
    """Channel x<->y; policy_x is what x charges to forward towards y."""
    first, second = sorted((x, y))
    graph.add_channel(scid, first, second, capacity_sat=capacity_sat, announcement=b"ann")
    for sender, pol in ((x, policy_x), (y, policy_y)):
        if pol is not None:
            graph.update_policy(scid, graph.get_channel(scid).direction_from(sender), pol)


SCID_AB, SCID_AD, SCID_BC, SCID_DC = (scid_from_parts(100, i, 0) for i in range(1, 5))


@pytest.fixture
def bolt7_graph() -> Graph:
    """The four-node example of BOLT 7 "Routing Example" with each node's fees/deltas."""
    fees = {A: (100, 1000, 10), B: (200, 2000, 20), C: (300, 3000, 30), D: (400, 4000, 40)}
    graph = Graph()
    for scid, x, y in ((SCID_AB, A, B), (SCID_AD, A, D), (SCID_BC, B, C), (SCID_DC, D, C)):
        connect(graph, scid, x, y, policy(*fees[x]), policy(*fees[y]))
    return graph


def test_bolt7_example_direct_payment_b_to_c(bolt7_graph: Graph) -> None:
    # BOLT 7: B->C pays no fee; cltv = height + 18 (final) + 42 (shadow route).
    route = find_route(bolt7_graph, B, C, 4_999_999, final_cltv_delta=18 + 42,
                       block_height=HEIGHT)
    assert [(h.node_id, h.short_channel_id, h.amount_msat, h.cltv_expiry) for h in route] == [
        (C, SCID_BC, 4_999_999, HEIGHT + 18 + 42)]


def test_bolt7_example_a_b_c_is_cheapest(bolt7_graph: Graph) -> None:
    # BOLT 7: A->B carries 5010198 msat at height + 20 + 18 + 42.
    route = find_route(bolt7_graph, A, C, 4_999_999, final_cltv_delta=18 + 42,
                       block_height=HEIGHT)
    assert [(h.node_id, h.short_channel_id, h.amount_msat, h.cltv_expiry) for h in route] == [
        (B, SCID_AB, 5_010_198, HEIGHT + 20 + 18 + 42),
        (C, SCID_BC, 4_999_999, HEIGHT + 18 + 42)]
    assert [h.delay for h in route] == [80, 60]


def test_bolt7_example_a_d_c_when_b_excluded(bolt7_graph: Graph) -> None:
    # BOLT 7: A->D carries 5020398 msat at height + 40 + 18 + 42.
    route = find_route(bolt7_graph, A, C, 4_999_999, final_cltv_delta=18 + 42,
                       block_height=HEIGHT, exclude_nodes={B})
    assert [(h.node_id, h.short_channel_id, h.amount_msat, h.cltv_expiry) for h in route] == [
        (D, SCID_AD, 5_020_398, HEIGHT + 40 + 18 + 42),
        (C, SCID_DC, 4_999_999, HEIGHT + 18 + 42)]


def test_excluded_channel_forces_the_other_path(bolt7_graph: Graph) -> None:
    route = find_route(bolt7_graph, A, C, 4_999_999, final_cltv_delta=18,
                       exclude_channels={SCID_BC})
    assert [h.short_channel_id for h in route] == [SCID_AD, SCID_DC]


def test_excluded_direction_only_blocks_that_direction(bolt7_graph: Graph) -> None:
    channel = bolt7_graph.get_channel(SCID_BC)
    b_to_c = (SCID_BC, channel.direction_from(B))
    c_to_b = (SCID_BC, channel.direction_from(C))
    assert [h.short_channel_id for h in find_route(
        bolt7_graph, A, C, 1000, final_cltv_delta=18, exclude_channels={c_to_b})] == [
        SCID_AB, SCID_BC]
    assert [h.short_channel_id for h in find_route(
        bolt7_graph, A, C, 1000, final_cltv_delta=18, exclude_channels={b_to_c})] == [
        SCID_AD, SCID_DC]


def test_cheaper_longer_path_wins_over_expensive_short_one() -> None:
    graph = Graph()
    cheap = policy(1, 1, 6)
    connect(graph, 1, A, B, cheap, cheap)
    connect(graph, 2, B, C, cheap, cheap)
    connect(graph, 3, C, E, cheap, cheap)
    connect(graph, 4, A, D, cheap, cheap)
    connect(graph, 5, D, E, policy(10_000, 0, 6), cheap)
    route = find_route(graph, A, E, 100_000, final_cltv_delta=10)
    assert [h.node_id for h in route] == [B, C, E]
    # C charges 1 + 100000*1/1e6 = 1 for E's 100000; B charges 1 + 100001//1e6 = 1.
    assert [h.amount_msat for h in route] == [100_002, 100_001, 100_000]
    assert [h.delay for h in route] == [22, 16, 10]


def test_fee_rounds_down_per_bolt7() -> None:
    graph = Graph()
    connect(graph, 1, A, B, policy(0, 0, 6), None)
    connect(graph, 2, B, C, policy(0, 999_999, 6), None)
    route = find_route(graph, A, C, 3, final_cltv_delta=9)
    # 3 * 999999 // 1e6 = 2
    assert [h.amount_msat for h in route] == [5, 3]


def test_capacity_is_respected() -> None:
    graph = Graph()
    cheap, dear = policy(0, 0, 6), policy(1000, 0, 6)
    connect(graph, 1, A, B, cheap, cheap)
    small = policy(0, 0, 6, hmax=50_000)
    connect(graph, 2, B, E, small, small, capacity_sat=50)
    connect(graph, 3, A, C, cheap, cheap)
    connect(graph, 4, C, E, dear, dear)
    assert [h.node_id for h in find_route(graph, A, E, 50_000, final_cltv_delta=9)] == [B, E]
    assert [h.node_id for h in find_route(graph, A, E, 50_001, final_cltv_delta=9)] == [C, E]


def test_htlc_maximum_and_minimum_are_respected() -> None:
    graph = Graph()
    connect(graph, 1, A, B, policy(0, 0, 6), None)
    connect(graph, 2, B, E, policy(0, 0, 6, hmin=2_000, hmax=90_000), None)
    connect(graph, 3, A, C, policy(0, 0, 6), None)
    connect(graph, 4, C, E, policy(500, 0, 6), None)
    assert [h.node_id for h in find_route(graph, A, E, 90_000, final_cltv_delta=9)] == [B, E]
    assert [h.node_id for h in find_route(graph, A, E, 90_001, final_cltv_delta=9)] == [C, E]
    assert [h.node_id for h in find_route(graph, A, E, 1_999, final_cltv_delta=9)] == [C, E]


def test_htlc_maximum_above_capacity_makes_channel_unusable() -> None:
    graph = Graph()
    connect(graph, 1, A, B, policy(0, 0, 6), None)
    connect(graph, 2, B, E, policy(0, 0, 6, hmax=2_000_000), None, capacity_sat=1_000)
    with pytest.raises(NoRouteError):
        find_route(graph, A, E, 1_000, final_cltv_delta=9)


def test_disabled_and_missing_policies_are_not_used() -> None:
    graph = Graph()
    connect(graph, 1, A, B, policy(0, 0, 6), None)
    connect(graph, 2, B, E, policy(0, 0, 6, disabled=True), None)
    connect(graph, 3, A, C, policy(0, 0, 6), None)
    connect(graph, 4, C, E, None, policy(0, 0, 6))  # only E -> C is known
    with pytest.raises(NoRouteError, match="no route"):
        find_route(graph, A, E, 1_000, final_cltv_delta=9)


def test_source_channel_needs_no_policy_and_charges_no_fee() -> None:
    graph = Graph()
    connect(graph, 1, A, B, None, None)
    connect(graph, 2, B, C, policy(7, 0, 12), None)
    route = find_route(graph, A, C, 1_000, final_cltv_delta=9, block_height=HEIGHT)
    assert [(h.amount_msat, h.cltv_expiry) for h in route] == [
        (1_007, HEIGHT + 21), (1_000, HEIGHT + 9)]


def test_local_spendable_limits_first_hop() -> None:
    graph = Graph()
    connect(graph, 1, A, B, None, None)
    connect(graph, 2, A, C, None, None)
    connect(graph, 3, B, E, policy(0, 0, 6), None)
    connect(graph, 4, C, E, policy(100, 0, 6), None)
    assert [h.node_id for h in find_route(graph, A, E, 5_000, final_cltv_delta=9,
                                          local_spendable_msat={1: 5_000, 2: 10**9})] == [B, E]
    assert [h.node_id for h in find_route(graph, A, E, 5_001, final_cltv_delta=9,
                                          local_spendable_msat={1: 5_000, 2: 10**9})] == [C, E]
    with pytest.raises(NoRouteError):
        find_route(graph, A, E, 5_000, final_cltv_delta=9, local_spendable_msat={})


def test_spent_channel_is_not_routable() -> None:
    graph = Graph()
    connect(graph, 1, A, B, policy(0, 0, 6), None)
    graph.mark_spent(1, 700)
    with pytest.raises(NoRouteError):
        find_route(graph, A, B, 1_000, final_cltv_delta=9)


def test_max_hops_limits_path_length() -> None:
    graph = Graph()
    free = policy(0, 0, 1)
    connect(graph, 1, A, B, free, free)
    connect(graph, 2, B, C, free, free)
    connect(graph, 3, C, D, free, free)
    assert len(find_route(graph, A, D, 1_000, final_cltv_delta=9, max_hops=3)) == 3
    with pytest.raises(NoRouteError):
        find_route(graph, A, D, 1_000, final_cltv_delta=9, max_hops=2)


def test_max_fee_and_max_delay() -> None:
    graph = Graph()
    connect(graph, 1, A, B, None, None)
    connect(graph, 2, B, C, policy(50, 0, 30), None)
    assert find_route(graph, A, C, 1_000, final_cltv_delta=9, max_fee_msat=50)
    with pytest.raises(NoRouteError):
        find_route(graph, A, C, 1_000, final_cltv_delta=9, max_fee_msat=49)
    with pytest.raises(NoRouteError):
        find_route(graph, A, C, 1_000, final_cltv_delta=9, max_delay=38)


def test_route_hint_adds_private_edges_to_payee() -> None:
    graph = Graph()
    connect(graph, 1, A, B, policy(0, 0, 6), policy(0, 0, 6))
    connect(graph, 2, B, C, policy(10, 100, 14), policy(0, 0, 6))
    private_scid = scid_from_parts(300, 1, 1)
    hint = [RouteHintHop(node_id=C, short_channel_id=private_scid, fee_base_msat=1_000,
                         fee_proportional_millionths=10_000, cltv_expiry_delta=40)]
    with pytest.raises(NoRouteError):
        find_route(graph, A, E, 1_000_000, final_cltv_delta=18)
    route = find_route(graph, A, E, 1_000_000, final_cltv_delta=18, block_height=HEIGHT,
                       route_hints=[hint])
    # C charges 1000 + 1e6*1e4/1e6 = 11000; B charges 10 + 1011000*100//1e6 = 111.
    assert [(h.node_id, h.short_channel_id, h.amount_msat, h.cltv_expiry) for h in route] == [
        (B, 1, 1_011_111, HEIGHT + 18 + 40 + 14),
        (C, 2, 1_011_000, HEIGHT + 18 + 40),
        (E, private_scid, 1_000_000, HEIGHT + 18)]


def test_multi_hop_route_hint_and_hint_objects_with_hex_pubkey() -> None:
    from lnharness.node_impl.builtin.wire.bolt11 import RouteHintHop as InvoiceHop

    graph = Graph()
    connect(graph, 1, A, B, policy(0, 0, 6), None)
    hint = [InvoiceHop(pubkey=B.hex(), short_channel_id=77, fee_base_msat=1,
                       fee_proportional_millionths=0, cltv_expiry_delta=10),
            InvoiceHop(pubkey=C.hex(), short_channel_id=78, fee_base_msat=2,
                       fee_proportional_millionths=0, cltv_expiry_delta=20)]
    route = find_route(graph, A, E, 500, final_cltv_delta=5, route_hints=[hint])
    assert [(h.node_id, h.short_channel_id, h.amount_msat, h.delay) for h in route] == [
        (B, 1, 503, 35), (C, 77, 502, 25), (E, 78, 500, 5)]


def test_same_source_and_destination_or_bad_amount_rejected(bolt7_graph: Graph) -> None:
    with pytest.raises(NoRouteError, match="same node"):
        find_route(bolt7_graph, A, A, 1, final_cltv_delta=9)
    with pytest.raises(ValueError, match="amount_msat"):
        find_route(bolt7_graph, A, C, 0, final_cltv_delta=9)


def test_capacity_limits_our_own_first_hop() -> None:
    graph = Graph()
    connect(graph, 1, A, B, None, None, capacity_sat=1)
    assert find_route(graph, A, B, 1_000, final_cltv_delta=9)
    with pytest.raises(NoRouteError):
        find_route(graph, A, B, 1_001, final_cltv_delta=9)


def test_unknown_compulsory_features_block_channels_and_nodes() -> None:
    from lnharness.node_impl.builtin.gossip.graph import GraphNode

    graph = Graph()
    free = policy(0, 0, 6)
    connect(graph, 1, A, B, free, free)
    connect(graph, 2, B, E, free, free)
    connect(graph, 3, A, C, free, free)
    connect(graph, 4, C, E, policy(10, 0, 6), free)
    assert [h.node_id for h in find_route(graph, A, E, 1000, final_cltv_delta=9)] == [B, E]
    # B announces compulsory bit 100, which BOLT 9 does not define: not a relay any more.
    graph.upsert_node(GraphNode(B, 1, features=(1 << 100).to_bytes(13, "big")))
    assert [h.node_id for h in find_route(graph, A, E, 1000, final_cltv_delta=9)] == [C, E]
    # Known compulsory bits (e.g. var_onion_optin 8) are fine.
    graph.upsert_node(GraphNode(B, 2, features=(1 << 8 | 1 << 101).to_bytes(13, "big")))
    assert [h.node_id for h in find_route(graph, A, E, 1000, final_cltv_delta=9)] == [B, E]
    # A channel_announcement with an even feature bit: the channel is not used.
    first, second = sorted((C, E))
    graph.add_channel(4, first, second, capacity_sat=10_000_000, features=b"\x01",
                      announcement=b"ann")
    graph.upsert_node(GraphNode(B, 3, features=(1 << 100).to_bytes(13, "big")))
    with pytest.raises(NoRouteError):
        find_route(graph, A, E, 1000, final_cltv_delta=9)
