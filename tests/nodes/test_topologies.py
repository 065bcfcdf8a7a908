"""star_graph, ring_graph and graph(spec): nodes opening several channels at once; generated
and imported topologies."""

from lnharness.topology import random_graph


def test_star_graph_hub_opens_to_every_leaf(node_factory):
    hub, *leaves = node_factory.star_graph(4, wait_for_announce=True)
    assert sorted(c.peer_id for c in hub.channels()) == sorted(leaf.node_id for leaf in leaves)
    invoice = leaves[2].invoice(5_000)
    assert hub.pay(invoice.bolt11).fee_msat == 0


def test_ring_graph_closes_the_loop(node_factory):
    l1, l2, l3 = node_factory.ring_graph(3)
    assert len(l1.channels()) == 2 and len(l2.channels()) == 2 and len(l3.channels()) == 2
    assert l3.channels(l1)[0].state == "active"


def test_graph_spec_names_nodes_and_pushes(node_factory):
    nodes = node_factory.graph({
        "nodes": [{"name": "shop"}, {"name": "alice"}, {"name": "bob"}],
        "channels": [{"from": "alice", "to": "shop", "capacity_sat": 200_000, "push_msat": 1_000},
                     {"from": "alice", "to": "bob", "capacity_sat": 300_000, "announce": False}],
    })
    assert set(nodes) == {"shop", "alice", "bob"}
    shop_side = nodes["shop"].channels(nodes["alice"])[0]
    assert shop_side.capacity_sat == 200_000 and shop_side.local_msat == 1_000
    assert nodes["bob"].channels(nodes["alice"])[0].capacity_sat == 300_000
    assert nodes["bob"].route_node_ids(nodes["shop"]) is None  # nothing announced yet


def test_a_30_node_ring_is_funded_in_batches_and_announced(node_factory):
    """One wallet send per node would stop at the mempool's 25-ancestor chain limit; the
    faucet pays every node in a few sendmany transactions instead. Some nodes are more than
    MAX_ROUTE_HOPS apart, so the gossip wait also waits for every graph to be complete."""
    nodes = node_factory.ring_graph(30, wait_for_announce=True)
    assert all(len(node.known_channels()) == 30 for node in nodes)
    assert nodes[0].route_node_ids(nodes[14]) == [node.node_id for node in nodes[1:15]]  # 14 < 16 hops
    assert nodes[0].pay(nodes[15].invoice(10_000).bolt11).status == "complete"



def _hops_from(channels, start):
    """Hops from `start` to every node, over channels either way."""
    peers = {}
    for c in channels:
        peers.setdefault(c.opener, set()).add(c.peer)
        peers.setdefault(c.peer, set()).add(c.opener)
    hops, frontier = {start: 0}, [start]
    while frontier:
        following = []
        for node in frontier:
            for peer in peers[node] - set(hops):
                hops[peer] = hops[node] + 1
                following.append(peer)
        frontier = following
    return hops


def test_a_random_graph_is_built_and_paid_across(node_factory):
    """graph() takes a generated topology; balanced channels carry payments both ways, so
    the node farthest from n0 can pay n0 and be paid by it."""
    shape = random_graph(7, 3, seed=11)
    nodes = node_factory.graph(shape, wait_for_announce=True)
    assert sorted(nodes) == sorted(spec.name for spec in shape.nodes)
    assert set(node_factory.phase_seconds) == {"fund", "open", "active", "announce"}
    hops = _hops_from(shape.channels, 0)
    farthest = f"n{max(hops, key=hops.get)}"
    assert hops[int(farthest[1:])] >= 2
    payment = nodes["n0"].pay(nodes[farthest].invoice(20_000).bolt11)
    assert payment.status == "complete" and payment.fee_msat > 0
    assert nodes[farthest].pay(nodes["n0"].invoice(10_000).bolt11).status == "complete"
    for name, node in nodes.items():
        expected = sum(1 for c in shape.channels if name in (f"n{c.opener}", f"n{c.peer}"))
        assert len(node.channels()) == expected


def test_graph_rebuilds_an_imported_describegraph(node_factory):
    """LND's describegraph JSON (int64 as strings) rebuilt at regtest amounts."""
    a, b, c = ("02" + f"{i:02x}" * 32 for i in (1, 2, 3))
    describegraph = {
        "nodes": [{"pub_key": a, "alias": "hub"}, {"pub_key": b}, {"pub_key": c}],
        "edges": [{"channel_id": "1", "node1_pub": a, "node2_pub": b, "capacity": "16000000"},
                  {"channel_id": "2", "node1_pub": a, "node2_pub": c, "capacity": "250000"}],
    }
    nodes = node_factory.graph(describegraph, wait_for_announce=True)
    assert sorted(nodes) == ["n0", "n1", "n2"]   # n0: the hub, most peers
    capacities = sorted(ch.capacity_sat for ch in nodes["n0"].channels())
    assert capacities == [100_000, 5_000_000]      # scaled into the default bounds, in order
    assert nodes["n1"].pay(nodes["n2"].invoice(5_000).bolt11).status == "complete"
