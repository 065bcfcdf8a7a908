import json

import pytest
from lnharness.topology import (
    ChannelSpec,
    NodeSpec,
    impls_for,
    line,
    load_graph_spec,
    payable_from,
    ring,
    star,
)


def test_line_star_ring_shapes():
    assert [(c.opener, c.peer) for c in line(4, 10)] == [(0, 1), (1, 2), (2, 3)]
    assert [(c.opener, c.peer) for c in star(4, 10)] == [(0, 1), (0, 2), (0, 3)]
    assert [(c.opener, c.peer) for c in ring(3, 10)] == [(0, 1), (1, 2), (2, 0)]
    assert all(not c.announce for c in line(3, 10, announce=False))
    with pytest.raises(ValueError, match="at least 3"):
        ring(2, 10)


SPEC = {
    "nodes": [{"name": "shop"}, {"name": "buyer", "impl": "cln", "options": {"alias": "b"}}],
    "channels": [{"from": "buyer", "to": "shop", "capacity_sat": 50_000, "push_msat": 1000,
                  "announce": False}],
}


def test_graph_spec_from_dict_and_files(tmp_path):
    nodes, channels = load_graph_spec(SPEC, 10**6)
    assert nodes == [NodeSpec("shop"), NodeSpec("buyer", "cln", {"alias": "b"})]
    assert channels == [ChannelSpec(1, 0, 50_000, 1000, False)]
    as_json = tmp_path / "g.json"
    as_json.write_text(json.dumps(SPEC))
    assert load_graph_spec(as_json, 10**6) == (nodes, channels)
    as_toml = tmp_path / "g.toml"
    as_toml.write_text('[[nodes]]\nname = "a"\n[[nodes]]\nname = "b"\n'
                       '[[channels]]\nfrom = "a"\nto = "b"\n')
    assert load_graph_spec(as_toml, 777)[1] == [ChannelSpec(0, 1, 777)]


@pytest.mark.parametrize("spec, complaint", [
    ({"nodes": [], "edges": []}, "unknown keys \\['edges'\\]"),
    ({"nodes": [{"name": "a", "colour": "red"}]}, "unknown keys \\['colour'\\]"),
    ({"nodes": [{"name": "a"}], "channels": [{"from": "a", "to": "z"}]}, "unknown node 'z'"),
    ({"nodes": [{"name": "a"}, {"name": "a"}]}, "unique"),
    ({"nodes": [{"name": "a"}], "channels": [{"from": "a", "to": "a", "size": 1}]}, "\\['size'\\]"),
])
def test_bad_graph_specs_are_named(spec, complaint):
    with pytest.raises(ValueError, match=complaint):
        load_graph_spec(spec, 1)


def test_bad_spec_file_type(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("x")
    with pytest.raises(ValueError, match="must be a .json or .toml"):
        load_graph_spec(path, 1)


def test_impls_for():
    assert impls_for(2, None) == [None, None]
    assert impls_for(2, ["builtin", "cln"]) == ["builtin", "cln"]
    with pytest.raises(ValueError, match="2 entries for 3 nodes"):
        impls_for(3, ["a", "b"])


def test_payable_from_splits_targets_at_the_hop_limit():
    six = ring(6, 1000)
    assert payable_from(six, 0, 3) == ([1, 2, 3], [4, 5])
    assert payable_from(six, 4, 20) == ([0, 1, 2, 3, 5], [])
    private = [ChannelSpec(0, 1, 1000, announce=False), ChannelSpec(1, 2, 1000)]
    assert payable_from(private, 0, 20) == ([], [])
    assert payable_from(private, 1, 20) == ([2], [])
