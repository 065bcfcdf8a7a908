"""Network shapes: which nodes exist and which channels join them.

A topology is a list of `NodeSpec` and a list of `ChannelSpec`; `line`, `star` and `ring`
build common ones, `random_graph` and `scale_free` generate seeded ones (a `Topology`),
`load_graph_spec` reads one from a dict or a JSON/TOML file. Real networks' channel graphs
are imported by `lnharness.graph_import`.
"""
from __future__ import annotations

import json
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class NodeSpec:
    """One node: its name, implementation (None: the default) and options."""
    name: str
    impl: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelSpec:
    """A channel opened by `opener` to `peer` (indexes into the node list)."""
    opener: int
    peer: int
    capacity_sat: int
    push_msat: int = 0
    announce: bool = True


@dataclass(frozen=True)
class Topology:
    """Nodes and the channels between them, ready for `NodeFactory.graph`; `origin` maps a
    node's name to what it stands for in an imported graph (alias and node id)."""
    nodes: tuple[NodeSpec, ...]
    channels: tuple[ChannelSpec, ...]
    origin: dict[str, str] = field(default_factory=dict)


def funded_directions(channels: Sequence[ChannelSpec]) -> dict[int, set[int]]:
    """For each node, the nodes it can pay directly over announced channels: the opener's
    funds go to the peer, and a peer given `push_msat` can pay the opener back."""
    onward: dict[int, set[int]] = {}
    for c in channels:
        if c.announce:
            onward.setdefault(c.opener, set()).add(c.peer)
            if c.push_msat > 0:
                onward.setdefault(c.peer, set()).add(c.opener)
    return onward


def payable_from(channels: Sequence[ChannelSpec], start: int,
                 max_hops: int) -> tuple[list[int], list[int]]:
    """Nodes a payment from `start` can reach over the announced channels, in the directions
    funds sit (`funded_directions`): those within `max_hops` hops, and those only farther
    away; each list sorted."""
    onward = funded_directions(channels)
    distance = {start: 0}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in onward.get(node, ()):
                if nxt not in distance:
                    distance[nxt] = distance[node] + 1
                    following.append(nxt)
        frontier = following
    near = sorted(n for n, d in distance.items() if 0 < d <= max_hops)
    far = sorted(n for n, d in distance.items() if d > max_hops)
    return near, far


def line(n: int, capacity_sat: int, announce: bool = True) -> list[ChannelSpec]:
    """Channels 0->1->...->n-1."""
    return [ChannelSpec(i, i + 1, capacity_sat, announce=announce) for i in range(n - 1)]


def star(n: int, capacity_sat: int, announce: bool = True) -> list[ChannelSpec]:
    """Channels from node 0 (the hub) to every other node."""
    return [ChannelSpec(0, i, capacity_sat, announce=announce) for i in range(1, n)]


def ring(n: int, capacity_sat: int, announce: bool = True) -> list[ChannelSpec]:
    """A line closed by a channel from the last node back to the first."""
    if n < 3:
        raise ValueError(f"a ring needs at least 3 nodes, got {n}")
    return [*line(n, capacity_sat, announce), ChannelSpec(n - 1, 0, capacity_sat, announce=announce)]


def random_graph(n: int, degree: float, *, seed: int, capacity_sat: int = 10**6,
                 balanced: bool = True) -> Topology:
    """A connected random network of `n` nodes `n0`..: a ring through the nodes in a seeded
    random order (so every node can pay every other one), plus random channels between
    random pairs until nodes have `degree` channels on average (2 <= degree <= n - 1).

    `balanced`: the opener pushes half of each channel to its peer, so payments can go
    either way. The same arguments give the same topology.
    """
    if n < 3:
        raise ValueError(f"random_graph needs at least 3 nodes, got {n}")
    if not 2 <= degree <= n - 1:
        raise ValueError(f"random_graph: degree must be between 2 and n - 1 = {n - 1}, got {degree}")
    rng = random.Random(seed)
    order = list(range(n))
    rng.shuffle(order)
    pairs = [(order[i], order[(i + 1) % n]) for i in range(n)]
    linked = {frozenset(p) for p in pairs}
    wanted = round(n * degree / 2)
    while len(pairs) < wanted:
        a, b = rng.sample(range(n), 2)
        if frozenset((a, b)) not in linked:
            linked.add(frozenset((a, b)))
            pairs.append((a, b))
    return _topology(n, pairs, capacity_sat, balanced)


def scale_free(n: int, m: int, *, seed: int, capacity_sat: int = 10**6,
               balanced: bool = True) -> Topology:
    """A Barabási–Albert network of `n` nodes `n0`..: the first `m + 1` nodes are all linked,
    then each new node opens channels to `m` distinct earlier nodes picked with probability
    proportional to their channel count (a few hubs, many small nodes, like the Lightning
    Network). `balanced` as in `random_graph` (without it, nobody can pay a newcomer).
    """
    if m < 1 or n < m + 1:
        raise ValueError(f"scale_free needs m >= 1 and n >= m + 1, got n={n}, m={m}")
    rng = random.Random(seed)
    pairs = [(b, a) for a in range(m + 1) for b in range(a + 1, m + 1)]
    ends = [end for pair in pairs for end in pair]  # each node once per channel it has
    for newcomer in range(m + 1, n):
        chosen: set[int] = set()
        while len(chosen) < m:
            chosen.add(rng.choice(ends))
        for peer in sorted(chosen):
            pairs.append((newcomer, peer))
            ends.extend((newcomer, peer))
    return _topology(n, pairs, capacity_sat, balanced)


def _topology(n: int, pairs: Sequence[tuple[int, int]], capacity_sat: int,
              balanced: bool) -> Topology:
    push = capacity_sat * 1000 // 2 if balanced else 0
    return Topology(tuple(NodeSpec(f"n{i}") for i in range(n)),
                    tuple(ChannelSpec(a, b, capacity_sat, push) for a, b in pairs))


_NODE_KEYS = {"name", "impl", "options"}
_CHANNEL_KEYS = {"from", "to", "capacity_sat", "push_msat", "announce"}


def load_graph_spec(spec: dict[str, Any] | str | Path,
                    default_capacity_sat: int) -> tuple[list[NodeSpec], list[ChannelSpec]]:
    """Nodes and channels from a dict or a .json/.toml file.

    Format: `{"nodes": [{"name": "shop", "impl": "builtin", "options": {}}, ...],
    "channels": [{"from": "buyer", "to": "shop", "capacity_sat": 100000, "push_msat": 0,
    "announce": true}, ...]}`. Unknown keys and unknown node names are errors.
    """
    if not isinstance(spec, dict):
        spec = _read_spec_file(Path(spec))
    unknown = set(spec) - {"nodes", "channels"}
    if unknown:
        raise ValueError(f"graph spec: unknown keys {sorted(unknown)}; expected 'nodes' and 'channels'")
    nodes: list[NodeSpec] = []
    for i, entry in enumerate(spec.get("nodes", [])):
        bad = set(entry) - _NODE_KEYS
        if bad or "name" not in entry:
            raise ValueError(f"graph spec: node #{i} {entry!r}: needs 'name', "
                             f"may have 'impl' and 'options'; unknown keys {sorted(bad)}")
        nodes.append(NodeSpec(str(entry["name"]), entry.get("impl"), dict(entry.get("options", {}))))
    index = {node.name: i for i, node in enumerate(nodes)}
    if len(index) != len(nodes):
        raise ValueError("graph spec: node names must be unique")
    channels: list[ChannelSpec] = []
    for i, entry in enumerate(spec.get("channels", [])):
        bad = set(entry) - _CHANNEL_KEYS
        if bad or "from" not in entry or "to" not in entry:
            raise ValueError(f"graph spec: channel #{i} {entry!r}: needs 'from' and 'to', may have "
                             f"'capacity_sat', 'push_msat', 'announce'; unknown keys {sorted(bad)}")
        for end in ("from", "to"):
            if entry[end] not in index:
                raise ValueError(f"graph spec: channel #{i}: unknown node {entry[end]!r}")
        channels.append(ChannelSpec(index[entry["from"]], index[entry["to"]],
                                    int(entry.get("capacity_sat", default_capacity_sat)),
                                    int(entry.get("push_msat", 0)), bool(entry.get("announce", True))))
    return nodes, channels


def _read_spec_file(path: Path) -> dict[str, Any]:
    if path.suffix == ".json":
        return dict(json.loads(path.read_text()))
    if path.suffix == ".toml":
        if sys.version_info < (3, 11):  # pragma: no cover - Python 3.10 has no tomllib
            raise ValueError(f"{path}: TOML graph specs need Python 3.11+ (tomllib); use JSON")
        import tomllib
        return dict(tomllib.loads(path.read_text()))
    raise ValueError(f"{path}: graph spec must be a .json or .toml file")


def impls_for(n: int, impls: Sequence[str | None] | None) -> list[str | None]:
    """Per-node implementation names (None: the default); the list must have n entries."""
    if impls is None:
        return [None] * n
    if len(impls) != n:
        raise ValueError(f"impls has {len(impls)} entries for {n} nodes")
    return list(impls)
