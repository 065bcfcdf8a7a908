"""Real networks' channel graphs as topologies: Core Lightning's `listchannels` and LND's
`describegraph` JSON, cut down to a connected piece of at most `max_nodes` nodes and scaled
to regtest amounts; `load_topology` also reads the harness's own graph specs.

The shape is kept, not the identities: nodes are renamed `n0`, `n1`, ... (the `Topology`'s
`origin` says which alias and node id each one stands for) and get fresh keys.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lnharness.topology import ChannelSpec, NodeSpec, Topology, load_graph_spec

DEFAULT_MAX_NODES = 50
DEFAULT_MIN_CAPACITY_SAT = 100_000
DEFAULT_MAX_CAPACITY_SAT = 5_000_000


@dataclass(frozen=True)
class Edge:
    """One channel of an imported graph: its id, its two node ids, its capacity and whether
    it is announced."""
    channel_id: str
    a: str
    b: str
    capacity_sat: int
    public: bool = True


def _msat(value: Any, where: str) -> int:
    """An amount in msat from an int or a Core Lightning "123msat" string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        match = re.fullmatch(r"(\d+)(msat)?", value)
        if match:
            return int(match.group(1))
    raise ValueError(f"{where}: amount {value!r} is not msat (an integer or '<n>msat')")


def _sat(value: Any, where: str) -> int:
    """An amount in sat from an int or a decimal string (LND's JSON writes int64 as strings)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ValueError(f"{where}: capacity {value!r} is not a number of sat")


def _field(entry: Any, key: str, where: str) -> Any:
    if not isinstance(entry, Mapping) or key not in entry:
        raise ValueError(f"{where}: missing {key!r} in {entry!r}"[:300])
    return entry[key]


def listchannels_edges(data: Mapping[str, Any]) -> tuple[list[Edge], dict[str, str]]:
    """The channels of a Core Lightning `listchannels` result (each listed once per
    direction: kept once per short_channel_id; `public: false` ones stay unannounced), and
    no aliases (it has none)."""
    channels = _field(data, "channels", "listchannels")
    edges: dict[str, Edge] = {}
    for i, entry in enumerate(channels):
        where = f"listchannels: channel #{i}"
        scid = str(_field(entry, "short_channel_id", where))
        if "amount_msat" in entry:
            capacity = _msat(entry["amount_msat"], where) // 1000
        else:  # Core Lightning before 23.05 also wrote `satoshis`
            capacity = _sat(_field(entry, "satoshis", where), where)
        a, b = str(_field(entry, "source", where)), str(_field(entry, "destination", where))
        if scid not in edges:
            edges[scid] = Edge(scid, a, b, capacity, public=entry.get("public", True) is not False)
    return list(edges.values()), {}


def describegraph_edges(data: Mapping[str, Any]) -> tuple[list[Edge], dict[str, str]]:
    """The channels of an LND `describegraph` result (lncli's or REST's JSON, where int64
    fields are strings) and the nodes' aliases."""
    aliases = {str(_field(node, "pub_key", f"describegraph: node #{i}")): str(node.get("alias", ""))
               for i, node in enumerate(_field(data, "nodes", "describegraph"))}
    edges: dict[str, Edge] = {}
    for i, entry in enumerate(_field(data, "edges", "describegraph")):
        where = f"describegraph: edge #{i}"
        channel_id = str(_field(entry, "channel_id", where))
        if channel_id not in edges:
            edges[channel_id] = Edge(channel_id, str(_field(entry, "node1_pub", where)),
                                     str(_field(entry, "node2_pub", where)),
                                     _sat(_field(entry, "capacity", where), where))
    return list(edges.values()), aliases


def select_connected(edges: Iterable[Edge], max_nodes: int) -> list[str]:
    """At most `max_nodes` node ids forming a connected piece of the graph, hubs first: start
    at the node with the most distinct peers, then keep adding the neighbour with the most
    (ties: the smaller id). The piece is that node's component when it is small enough."""
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1, got {max_nodes}")
    peers: dict[str, set[str]] = {}
    for e in edges:
        if e.a != e.b:
            peers.setdefault(e.a, set()).add(e.b)
            peers.setdefault(e.b, set()).add(e.a)
    if not peers:
        return []
    rank = {node: (-len(p), node) for node, p in peers.items()}
    start = min(peers, key=rank.__getitem__)
    chosen, members, frontier = [start], {start}, set(peers[start])
    while frontier and len(chosen) < max_nodes:
        node = min(frontier, key=rank.__getitem__)
        frontier.discard(node)
        chosen.append(node)
        members.add(node)
        frontier |= peers[node] - members
    return chosen


def scale_capacities(capacities: list[int], min_sat: int, max_sat: int) -> list[int]:
    """Capacities mapped into [min_sat, max_sat] on a log scale: the smallest becomes
    `min_sat`, the largest `max_sat`, and their order (ties included) is kept."""
    if not 0 < min_sat <= max_sat:
        raise ValueError(f"capacity bounds must satisfy 0 < min <= max, got [{min_sat}, {max_sat}]")
    if not capacities:
        return []
    logs = [math.log(max(c, 1)) for c in capacities]
    low, high = min(logs), max(logs)
    if high == low:
        return [max_sat if min_sat == max_sat else round(math.sqrt(min_sat * max_sat))] * len(logs)
    ratio = max_sat / min_sat
    return [round(min_sat * ratio ** ((x - low) / (high - low))) for x in logs]


def import_channel_graph(source: Mapping[str, Any] | str | Path, *,
                         max_nodes: int = DEFAULT_MAX_NODES,
                         min_capacity_sat: int = DEFAULT_MIN_CAPACITY_SAT,
                         max_capacity_sat: int = DEFAULT_MAX_CAPACITY_SAT,
                         balanced: bool = True) -> Topology:
    """A topology rebuilding the shape of a real network's channel graph: a Core Lightning
    `listchannels` or LND `describegraph` result (a dict or a .json file; which one is told
    by its keys).

    Keeps a connected piece of at most `max_nodes` nodes, hubs first (`select_connected`),
    and the channels among them, one per pair of nodes (the largest: parallel channels are
    merged); capacities are scaled into [`min_capacity_sat`, `max_capacity_sat`] keeping their
    order (`scale_capacities`). The node with the smaller id opens; with `balanced` it pushes
    half the channel to its peer, so payments can go either way.
    """
    data = _read_json(source)
    kind = graph_kind(data)
    if kind == "listchannels":
        edges, aliases = listchannels_edges(data)
    elif kind == "describegraph":
        edges, aliases = describegraph_edges(data)
    else:
        raise ValueError("not a channel graph: expected Core Lightning's listchannels "
                         "({'channels': [{'source', 'destination', ...}]}) or LND's "
                         "describegraph ({'nodes': [...], 'edges': [...]})")
    chosen = select_connected(edges, max_nodes)
    index = {node: i for i, node in enumerate(chosen)}
    largest: dict[frozenset[str], Edge] = {}
    for e in edges:
        pair = frozenset((e.a, e.b))
        if len(pair) == 2 and e.a in index and e.b in index:
            if pair not in largest or e.capacity_sat > largest[pair].capacity_sat:
                largest[pair] = e
    kept = sorted(largest.values(), key=lambda e: (index[e.a] + index[e.b], e.channel_id))
    scaled = scale_capacities([e.capacity_sat for e in kept], min_capacity_sat, max_capacity_sat)
    channels = []
    for e, capacity in zip(kept, scaled, strict=True):
        opener, peer = sorted((e.a, e.b))
        channels.append(ChannelSpec(index[opener], index[peer], capacity,
                                    capacity * 1000 // 2 if balanced else 0, announce=e.public))
    names = [f"n{i}" for i in range(len(chosen))]
    origin = {name: f"{aliases[node]} ({node})" if aliases.get(node) else node
              for name, node in zip(names, chosen, strict=True)}
    return Topology(tuple(NodeSpec(name) for name in names), tuple(channels), origin)


def graph_kind(data: Mapping[str, Any]) -> str:
    """'listchannels', 'describegraph' or 'spec' (the harness's own graph spec), by the keys."""
    channels = data.get("channels")
    if isinstance(channels, list) and channels and isinstance(channels[0], Mapping) \
            and "source" in channels[0]:
        return "listchannels"
    if "edges" in data and "nodes" in data:
        return "describegraph"
    return "spec"


def load_topology(spec: Topology | Mapping[str, Any] | str | Path, *,
                  default_capacity_sat: int) -> Topology:
    """A topology as given, or read from a dict or file: a harness graph spec (.json/.toml,
    see `topology.load_graph_spec`), or a channel graph imported with `import_channel_graph`'s
    defaults."""
    if isinstance(spec, Topology):
        return spec
    if isinstance(spec, Mapping) or Path(spec).suffix == ".json":
        data = _read_json(spec)
        if graph_kind(data) != "spec":
            return import_channel_graph(data)
        spec = dict(data)
    nodes, channels = load_graph_spec(spec, default_capacity_sat)
    return Topology(tuple(nodes), tuple(channels))


def _read_json(source: Mapping[str, Any] | str | Path) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        return source
    path = Path(source)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data
