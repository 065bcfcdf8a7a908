"""Generated topologies (random_graph, scale_free) and imported channel graphs (Core
Lightning's listchannels, LND's describegraph), on small hand-written graphs."""
import json

import pytest
from lnharness.graph_import import (
    import_channel_graph,
    load_topology,
    scale_capacities,
    select_connected,
)
from lnharness.topology import ChannelSpec, Topology, payable_from, random_graph, scale_free


def _undirected(topology):
    return {frozenset((c.opener, c.peer)) for c in topology.channels}


def _connected(topology):
    seen, todo = {0}, [0]
    pairs = _undirected(topology)
    while todo:
        node = todo.pop()
        for pair in pairs:
            if node in pair:
                (other,) = pair - {node}
                if other not in seen:
                    seen.add(other)
                    todo.append(other)
    return len(seen) == len(topology.nodes)


def test_random_graph_is_seeded_connected_and_has_the_degree():
    graph = random_graph(20, 4, seed=7)
    assert graph == random_graph(20, 4, seed=7)
    assert graph != random_graph(20, 4, seed=8)
    assert [n.name for n in graph.nodes] == [f"n{i}" for i in range(20)]
    assert len(graph.channels) == 40 and len(_undirected(graph)) == 40  # no pair twice
    assert _connected(graph)
    # the shuffled ring inside makes every node able to pay every other one, unbalanced too
    unbalanced = random_graph(20, 2, seed=7, balanced=False)
    assert all(c.push_msat == 0 for c in unbalanced.channels)
    assert all(len(payable_from(unbalanced.channels, s, 20)[0]) == 19 for s in range(20))
    assert all(c.push_msat == c.capacity_sat * 500 for c in graph.channels)
    with pytest.raises(ValueError, match="degree must be between 2 and n - 1"):
        random_graph(5, 5, seed=1)


def test_scale_free_grows_hubs():
    graph = scale_free(60, 2, seed=3)
    assert graph == scale_free(60, 2, seed=3)
    assert len(graph.channels) == 3 + 2 * 57 and _connected(graph)
    degrees = sorted((sum(1 for c in graph.channels if i in (c.opener, c.peer))
                      for i in range(60)), reverse=True)
    assert degrees[-1] == 2 and degrees[0] >= 10  # every newcomer has m channels; hubs appear
    assert all(c.opener > c.peer for c in graph.channels[3:])  # the newcomer opens
    with pytest.raises(ValueError, match="m >= 1"):
        scale_free(5, 0, seed=1)


A, B, C, D, E = (f"0{i}" + "ab" * 32 for i in range(2, 7))

LISTCHANNELS = {"channels": [  # Core Lightning: each channel once per direction
    {"source": A, "destination": B, "short_channel_id": "103x1x0", "amount_msat": 4_000_000_000,
     "public": True, "active": True, "direction": 0},
    {"source": B, "destination": A, "short_channel_id": "103x1x0", "amount_msat": 4_000_000_000,
     "public": True, "active": True, "direction": 1},
    {"source": B, "destination": C, "short_channel_id": "104x2x1", "amount_msat": "500000000msat"},
    {"source": C, "destination": B, "short_channel_id": "104x2x1", "amount_msat": "500000000msat"},
    {"source": A, "destination": C, "short_channel_id": "105x1x0", "amount_msat": 20_000_000},
    {"source": D, "destination": E, "short_channel_id": "106x1x0", "amount_msat": 9_000_000_000},
]}

DESCRIBEGRAPH = {  # LND (lncli / REST JSON: int64 fields as strings)
    "nodes": [{"pub_key": A, "alias": "alpha"}, {"pub_key": B, "alias": "beta"},
              {"pub_key": C, "alias": ""}, {"pub_key": D, "alias": "delta"}],
    "edges": [
        {"channel_id": "113249697726464", "chan_point": "aa:0", "node1_pub": A, "node2_pub": B,
         "capacity": "4000000"},
        {"channel_id": "114349209288705", "chan_point": "bb:1", "node1_pub": B, "node2_pub": C,
         "capacity": "500000"},
        {"channel_id": "115448720916480", "chan_point": "cc:0", "node1_pub": A, "node2_pub": C,
         "capacity": "20000"},
        {"channel_id": "116548232544256", "chan_point": "dd:0", "node1_pub": A, "node2_pub": D,
         "capacity": "1000000"},
    ],
}


def test_listchannels_keeps_each_channel_once_and_the_largest_component():
    graph = import_channel_graph(LISTCHANNELS, min_capacity_sat=10_000, max_capacity_sat=1_000_000)
    assert len(graph.nodes) == 3  # D-E is another component, smaller
    assert graph.origin == {"n0": A, "n1": B, "n2": C}  # hubs first: ties by id
    by_pair = {frozenset((graph.origin[f"n{c.opener}"], graph.origin[f"n{c.peer}"])): c
               for c in graph.channels}
    assert set(by_pair) == {frozenset((A, B)), frozenset((B, C)), frozenset((A, C))}
    assert by_pair[frozenset((A, B))].capacity_sat == 1_000_000  # largest -> max
    assert by_pair[frozenset((A, C))].capacity_sat == 10_000     # smallest -> min
    assert 10_000 < by_pair[frozenset((B, C))].capacity_sat < 1_000_000
    assert all(c.push_msat == c.capacity_sat * 500 for c in graph.channels)


def test_listchannels_private_channels_stay_unannounced():
    own_private = {"source": C, "destination": D, "short_channel_id": "107x1x0",
                   "amount_msat": 1_000_000, "public": False}
    graph = import_channel_graph({"channels": [*LISTCHANNELS["channels"], own_private]})
    assert len(graph.nodes) == 5  # C-D joins D-E to the rest
    private = [c for c in graph.channels if not c.announce]
    assert [(graph.origin[f"n{c.opener}"], graph.origin[f"n{c.peer}"]) for c in private] == [(C, D)]


def test_describegraph_aliases_and_max_nodes():
    graph = import_channel_graph(DESCRIBEGRAPH, max_nodes=3, balanced=False)
    assert graph.origin == {"n0": f"alpha ({A})", "n1": f"beta ({B})", "n2": C}
    assert len(graph.channels) == 3 and all(c.push_msat == 0 for c in graph.channels)
    whole = import_channel_graph(DESCRIBEGRAPH)
    assert len(whole.nodes) == 4 and whole.origin["n3"] == f"delta ({D})"
    # the smaller node id opens: A < B < C < D are n0..n3 here
    assert all(c.opener < c.peer for c in whole.channels)


def test_parallel_channels_merge_into_the_largest():
    doubled = {"nodes": DESCRIBEGRAPH["nodes"], "edges": [
        *DESCRIBEGRAPH["edges"],
        {"channel_id": "999", "node1_pub": A, "node2_pub": B, "capacity": "8000000"}]}
    graph = import_channel_graph(doubled, min_capacity_sat=20_000, max_capacity_sat=8_000_000)
    ab = [c for c in graph.channels if {c.opener, c.peer} == {0, 1}]
    assert len(ab) == 1 and ab[0].capacity_sat == 8_000_000


def test_scaling_keeps_order_within_bounds():
    scaled = scale_capacities([5, 10**9, 3000, 3000, 7], 20_000, 2_000_000)
    assert scaled[0] == 20_000 and scaled[1] == 2_000_000 and scaled[2] == scaled[3]
    assert scaled[0] < scaled[4] < scaled[2] < scaled[1]
    assert scale_capacities([7, 7], 10, 1000) == [100, 100]
    with pytest.raises(ValueError, match="0 < min <= max"):
        scale_capacities([1], 10, 5)


def test_select_connected_grows_from_the_hub():
    graph = import_channel_graph(LISTCHANNELS)
    assert select_connected([], 5) == []
    with pytest.raises(ValueError, match="at least 1"):
        select_connected([], 0)
    assert len(graph.nodes) == 3


@pytest.mark.parametrize("data, complaint", [
    ({"channels": [{"source": A, "destination": B}]}, "missing 'short_channel_id'"),
    ({"channels": [{"source": A, "destination": B, "short_channel_id": "1x1x1",
                    "amount_msat": "12sat"}]}, "not msat"),
    ({"nodes": [], "edges": [{"channel_id": "1", "node1_pub": A, "node2_pub": B,
                              "capacity": "1.5"}]}, "not a number of sat"),
])
def test_bad_channel_graphs_are_named(data, complaint):
    with pytest.raises(ValueError, match=complaint):
        import_channel_graph(data)


def test_load_topology_tells_the_formats_apart(tmp_path):
    spec = {"nodes": [{"name": "a"}, {"name": "b"}], "channels": [{"from": "a", "to": "b"}]}
    assert load_topology(spec, default_capacity_sat=777).channels == (ChannelSpec(0, 1, 777),)
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(DESCRIBEGRAPH))
    assert load_topology(path, default_capacity_sat=1) == import_channel_graph(DESCRIBEGRAPH)
    assert load_topology(LISTCHANNELS, default_capacity_sat=1) == import_channel_graph(LISTCHANNELS)
    generated = random_graph(4, 2, seed=1)
    assert load_topology(generated, default_capacity_sat=1) is generated
    assert isinstance(load_topology(spec, default_capacity_sat=1), Topology)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        load_topology(path, default_capacity_sat=1)
