"""star_graph, ring_graph and graph(spec): nodes opening several channels at once."""


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


def test_a_30_node_ring_is_funded_in_batches_and_announced(node_factory):
    """One wallet send per node would stop at the mempool's 25-ancestor chain limit; the
    faucet pays every node in a few sendmany transactions instead. Some nodes are more than
    MAX_ROUTE_HOPS apart, so the gossip wait also waits for every graph to be complete."""
    nodes = node_factory.ring_graph(30, wait_for_announce=True)
    assert all(len(node.known_channels()) == 30 for node in nodes)
    assert nodes[0].pay(nodes[15].invoice(10_000).bolt11).status == "complete"

