"""Pathfinding over the network graph (BOLT 4/7 amounts and CLTVs per hop).

Dijkstra runs from the payee back to the payer so that each hop's amount (what must
arrive at that node, its own forwarding fee included) and CLTV are known exactly when an
edge is relaxed. Route hints from an invoice add private edges for that search only.

Layer: gossip. Imports wire (features) and the gossip graph.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..wire.features import Feature
from .graph import ChannelPolicy, Graph, format_scid

DEFAULT_MAX_HOPS = 20
"""Hops an onion of TLV payloads carries comfortably (Core Lightning's getroute default)."""

BLOCKS_PER_YEAR = 52_596


class NoRouteError(Exception):
    """No path satisfies the amount, limits and exclusions."""


@dataclass(frozen=True)
class RouteHop:
    """One hop: the HTLC over short_channel_id to node_id carries amount_msat and
    cltv_expiry (absolute); delay is cltv_expiry minus the block height used."""

    node_id: bytes
    short_channel_id: int
    direction: int
    amount_msat: int
    cltv_expiry: int
    delay: int


@dataclass(frozen=True)
class RouteHintHop:
    """A BOLT 11 `r` field entry: the channel from node_id towards the next hint hop
    (or the payee, for the last one) and node_id's forwarding policy on it."""

    node_id: bytes
    short_channel_id: int
    fee_base_msat: int
    fee_proportional_millionths: int
    cltv_expiry_delta: int
    htlc_minimum_msat: int = 0
    htlc_maximum_msat: int | None = None


@dataclass(frozen=True)
class _Edge:
    source: bytes
    short_channel_id: int
    direction: int
    policy: ChannelPolicy | None
    capacity_msat: int | None


@dataclass(frozen=True)
class _Label:
    cost: float
    hops: int
    amount_msat: int
    delay: int
    next_node: bytes | None
    edge: _Edge | None


def route_hint_hops(hint: Iterable[Any]) -> list[RouteHintHop]:
    """Convert any objects with RouteHintHop's attribute names (e.g. a decoded invoice's
    route hint entries; `pubkey`, bytes or hex, accepted for node_id) into RouteHintHops."""
    hops = []
    for entry in hint:
        if isinstance(entry, RouteHintHop):
            hops.append(entry)
            continue
        node_id = getattr(entry, "node_id", None) or getattr(entry, "pubkey", None)
        if node_id is None:
            raise ValueError(f"route hint entry has no node_id/pubkey: {entry!r}")
        if isinstance(node_id, str):
            node_id = bytes.fromhex(node_id)
        hops.append(RouteHintHop(
            node_id=bytes(node_id), short_channel_id=int(entry.short_channel_id),
            fee_base_msat=int(entry.fee_base_msat),
            fee_proportional_millionths=int(entry.fee_proportional_millionths),
            cltv_expiry_delta=int(entry.cltv_expiry_delta)))
    return hops


def find_route(graph: Graph, source: bytes, destination: bytes, amount_msat: int, *,
               final_cltv_delta: int, block_height: int = 0,
               route_hints: Sequence[Sequence[Any]] = (),
               exclude_channels: Collection[int | tuple[int, int]] = (),
               exclude_nodes: Collection[bytes] = (),
               max_hops: int = DEFAULT_MAX_HOPS, max_fee_msat: int | None = None,
               max_delay: int | None = None, riskfactor: float = 0.0,
               local_spendable_msat: Mapping[int, int] | None = None,
               policy_overrides: Mapping[tuple[int, int], ChannelPolicy] | None = None,
               ) -> list[RouteHop]:
    """Cheapest route from source to destination delivering amount_msat.

    route_hints are invoice `r` fields (RouteHintHop or objects route_hint_hops accepts).
    Cost is the total fee plus, with riskfactor > 0, Core Lightning's risk of locking the
    amount for the delay (amount * delay * riskfactor / (100 * blocks per year)).
    exclude_channels holds short_channel_ids (both directions) or (scid, direction) pairs.
    local_spendable_msat, if given, lists source's usable channels and what each can send;
    other channels of source are not used as the first hop.
    policy_overrides maps (short_channel_id, direction) to a policy used instead of the
    graph's when newer, and instead of a route hint's (BOLT 4: channel_updates from the
    failures of one payment, considered for its retries only).
    Raises NoRouteError naming the reason when there is none.
    """
    if amount_msat <= 0:
        raise ValueError(f"amount_msat must be positive, got {amount_msat}")
    if source == destination:
        raise NoRouteError("source and destination are the same node")
    if destination in exclude_nodes:
        raise NoRouteError("destination is excluded")
    incoming = _incoming_edges(graph, destination, route_hints, policy_overrides or {})
    excluded_pairs = {e for e in exclude_channels if isinstance(e, tuple)}
    excluded_scids = {e for e in exclude_channels if isinstance(e, int)}

    best: dict[bytes, _Label] = {
        destination: _Label(0.0, 0, amount_msat, final_cltv_delta, None, None)}
    settled: set[bytes] = set()
    queue: list[tuple[float, int, bytes]] = [(0.0, 0, destination)]
    while queue:
        cost, hops, node = heapq.heappop(queue)
        if node in settled:
            continue
        settled.add(node)
        if node == source:
            break
        label = best[node]
        if label.hops >= max_hops:
            continue
        for edge in incoming.get(node, ()):
            prev = edge.source
            if prev in settled or (prev in exclude_nodes and prev != source):
                continue
            if prev != source and not _node_is_usable(graph, prev):
                continue
            if edge.short_channel_id in excluded_scids or (
                    (edge.short_channel_id, edge.direction) in excluded_pairs):
                continue
            candidate = _relax(edge, label, node, source, riskfactor, local_spendable_msat)
            if candidate is None:
                continue
            if max_fee_msat is not None and candidate.amount_msat - amount_msat > max_fee_msat:
                continue
            if max_delay is not None and candidate.delay > max_delay:
                continue
            known = best.get(prev)
            if known is None or (candidate.cost, candidate.hops) < (known.cost, known.hops):
                best[prev] = candidate
                heapq.heappush(queue, (candidate.cost, candidate.hops, prev))

    if source not in settled:
        raise NoRouteError(
            f"no route from {source.hex()} to {destination.hex()} for {amount_msat} msat")
    route = []
    label = best[source]
    while label.next_node is not None and label.edge is not None:
        edge, node = label.edge, label.next_node
        label = best[node]
        route.append(RouteHop(node_id=node, short_channel_id=edge.short_channel_id,
                              direction=edge.direction, amount_msat=label.amount_msat,
                              cltv_expiry=block_height + label.delay, delay=label.delay))
    return route


def _relax(edge: _Edge, label: _Label, node: bytes, source: bytes, riskfactor: float,
           local_spendable_msat: Mapping[int, int] | None) -> _Label | None:
    """The label of edge.source if the HTLC of label.amount_msat can cross edge, else None."""
    amount = label.amount_msat
    if edge.capacity_msat is not None and amount > edge.capacity_msat:
        return None
    if edge.source == source:
        if local_spendable_msat is not None:
            spendable = local_spendable_msat.get(edge.short_channel_id)
            if spendable is None or amount > spendable:
                return None
        elif edge.policy is not None and edge.policy.disabled:
            return None
        return _Label(label.cost, label.hops + 1, amount, label.delay, node, edge)
    policy = edge.policy
    if policy is None or policy.disabled:
        return None
    if policy.htlc_maximum_msat < policy.htlc_minimum_msat:
        return None
    if edge.capacity_msat is not None and policy.htlc_maximum_msat > edge.capacity_msat:
        return None
    if not policy.htlc_minimum_msat <= amount <= policy.htlc_maximum_msat:
        return None
    fee = policy.fee_msat(amount)
    risk = amount * policy.cltv_expiry_delta * riskfactor / (100 * BLOCKS_PER_YEAR)
    return _Label(label.cost + fee + risk, label.hops + 1, amount + fee,
                  label.delay + policy.cltv_expiry_delta, node, edge)


def _incoming_edges(graph: Graph, destination: bytes, route_hints: Sequence[Sequence[Any]],
                    overrides: Mapping[tuple[int, int], ChannelPolicy]) -> dict[bytes, list[_Edge]]:
    """For every node, the usable directed edges that end at it."""
    incoming: dict[bytes, list[_Edge]] = {}
    for channel in graph.channels():
        if channel.spent_height is not None or _unknown_even_bits(channel.features, ()):
            continue  # BOLT 7: no route through a channel with unknown even features
        for direction in (0, 1):
            src = channel.node_id(direction)
            dst = channel.node_id(1 - direction)
            policy = channel.policies[direction]
            override = overrides.get((channel.short_channel_id, direction))
            if override is not None and (policy is None or override.timestamp > policy.timestamp):
                policy = override
            incoming.setdefault(dst, []).append(_Edge(
                src, channel.short_channel_id, direction, policy, channel.capacity_msat))
    for hint in route_hints:
        hops = route_hint_hops(hint)
        for i, hop in enumerate(hops):
            dst = hops[i + 1].node_id if i + 1 < len(hops) else destination
            maximum = hop.htlc_maximum_msat if hop.htlc_maximum_msat is not None else 2**64 - 1
            policy = ChannelPolicy(
                fee_base_msat=hop.fee_base_msat,
                fee_proportional_millionths=hop.fee_proportional_millionths,
                cltv_expiry_delta=hop.cltv_expiry_delta,
                htlc_minimum_msat=hop.htlc_minimum_msat, htlc_maximum_msat=maximum)
            direction = 0 if hop.node_id < dst else 1
            policy = overrides.get((hop.short_channel_id, direction), policy)
            edges = incoming.setdefault(dst, [])
            # A hint describes a channel better than a graph without its policy.
            edges[:] = [e for e in edges if not (
                e.short_channel_id == hop.short_channel_id and e.source == hop.node_id)]
            edges.append(_Edge(hop.node_id, hop.short_channel_id, direction, policy, None))
    return incoming


def _unknown_even_bits(features: bytes, known: Collection[int]) -> list[int]:
    """Even (compulsory) bits of a feature field whose pair is not in known."""
    value = int.from_bytes(features, "big")
    return [bit for bit in range(0, value.bit_length(), 2)
            if value >> bit & 1 and bit not in known]


def _node_is_usable(graph: Graph, node_id: bytes) -> bool:
    """False for a node that announced a compulsory feature BOLT 9 does not define."""
    node = graph.get_node(node_id)
    return node is None or not _unknown_even_bits(node.features, _KNOWN_NODE_EVEN_BITS)


_KNOWN_NODE_EVEN_BITS = frozenset(int(f) for f in Feature)


def describe_route(route: Sequence[RouteHop]) -> str:
    """Short text for logs: `node@scid:amount/cltv -> ...`."""
    return " -> ".join(f"{h.node_id.hex()[:8]}@{format_scid(h.short_channel_id)}:"
                       f"{h.amount_msat}/{h.cltv_expiry}" for h in route)
