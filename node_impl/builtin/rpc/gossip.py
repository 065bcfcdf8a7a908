"""RPC methods over the network graph, shaped like Core Lightning's: getroute,
listchannels, listnodes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.jsonrpc import RpcError, param_error
from ..gossip.graph import GraphChannel, format_scid, parse_scid
from ..gossip.pathfind import DEFAULT_MAX_HOPS, NoRouteError, find_route
from .params import integer as parse_int
from .params import msat as parse_msat
from .params import node_id as parse_node_id

if TYPE_CHECKING:
    from ..gossip.manager import GossipManager

ROUTE_NOT_FOUND = 205
"""Core Lightning's PAY_ROUTE_NOT_FOUND."""


def register(manager: GossipManager) -> None:
    """Add getroute, listchannels and listnodes to the node's RPC registry."""
    graph = manager.graph
    node = manager.node

    async def listchannels(short_channel_id: Any = None, source: Any = None,
                           destination: Any = None) -> dict[str, Any]:
        """Known channels, one entry per direction with a channel_update."""
        scid = _parse_scid(short_channel_id) if short_channel_id is not None else None
        src = parse_node_id(source, "source") if source is not None else None
        dst = parse_node_id(destination, "destination") if destination is not None else None
        if scid is not None:
            found = graph.get_channel(scid)
            channels = [found] if found is not None else []
        elif src is not None:
            channels = graph.channels_of(src)
        elif dst is not None:
            channels = graph.channels_of(dst)
        else:
            channels = list(graph.channels())
        entries = []
        for channel in channels:
            if channel.spent_height is not None:
                continue
            for direction in (0, 1):
                entry = _channel_entry(channel, direction)
                if entry is None:
                    continue
                if src is not None and entry["source"] != src.hex():
                    continue
                if dst is not None and entry["destination"] != dst.hex():
                    continue
                entries.append(entry)
        return {"channels": entries}

    async def listnodes(id: Any = None) -> dict[str, Any]:  # noqa: A002 (CLN's name)
        """Nodes known from channels and node_announcements."""
        node_ids = [parse_node_id(id, "id")] if id is not None else graph.known_node_ids()
        nodes: list[dict[str, Any]] = []
        for node_id in node_ids:
            announced = graph.get_node(node_id)
            if announced is None:
                if graph.channels_of(node_id):
                    nodes.append({"nodeid": node_id.hex()})
                continue
            nodes.append({
                "nodeid": node_id.hex(), "alias": announced.alias,
                "color": announced.rgb_color.hex(), "last_timestamp": announced.timestamp,
                "features": announced.features.hex(),
                "addresses": [{"type": a.type, "address": a.address, "port": a.port}
                              for a in announced.addresses]})
        return {"nodes": nodes}

    async def getroute(id: Any, amount_msat: Any, riskfactor: Any, cltv: Any = 9,  # noqa: A002
                       fromid: Any = None, fuzzpercent: Any = None, exclude: Any = None,
                       maxhops: Any = None) -> dict[str, Any]:
        """Cheapest route to node id for amount_msat (Core Lightning's getroute)."""
        destination = parse_node_id(id, "id")
        amount = parse_msat(amount_msat, "amount_msat")
        if amount is None or amount == 0:
            raise param_error("amount_msat", "must be positive")
        if isinstance(riskfactor, bool) or not isinstance(riskfactor, (int, float)):
            raise param_error("riskfactor", f"expected a number, got {riskfactor!r}")
        final_cltv = parse_int(cltv, "cltv")
        source = parse_node_id(fromid, "fromid") if fromid is not None else node.node_id
        hops_limit = parse_int(maxhops, "maxhops", minimum=1) if maxhops is not None \
            else DEFAULT_MAX_HOPS
        exclude_channels: set[int | tuple[int, int]] = set()
        exclude_nodes: set[bytes] = set()
        for item in exclude or []:
            if not isinstance(item, str):
                raise param_error("exclude", f"expected scid/direction or node id, got {item!r}")
            if "/" in item:
                text, direction = item.split("/", 1)
                if direction not in ("0", "1"):
                    raise param_error("exclude", f"bad direction in {item!r}")
                exclude_channels.add((_parse_scid(text, "exclude"), int(direction)))
            elif "x" in item:
                exclude_channels.add(_parse_scid(item, "exclude"))
            else:
                exclude_nodes.add(parse_node_id(item, "exclude"))
        try:
            route = find_route(graph, source, destination, amount,
                               final_cltv_delta=final_cltv, block_height=0,
                               exclude_channels=exclude_channels, exclude_nodes=exclude_nodes,
                               max_hops=hops_limit, riskfactor=float(riskfactor))
        except NoRouteError as exc:
            raise RpcError(ROUTE_NOT_FOUND, f"Could not find a route: {exc}") from None
        return {"route": [{"id": hop.node_id.hex(), "channel": format_scid(hop.short_channel_id),
                           "direction": hop.direction, "amount_msat": hop.amount_msat,
                           "delay": hop.delay, "style": "tlv"} for hop in route]}

    node.rpc.register("listchannels", listchannels)
    node.rpc.register("listnodes", listnodes)
    node.rpc.register("getroute", getroute)


def _channel_entry(channel: GraphChannel, direction: int) -> dict[str, Any] | None:
    policy = channel.policies[direction]
    if policy is None:
        return None
    return {
        "source": channel.node_id(direction).hex(),
        "destination": channel.node_id(1 - direction).hex(),
        "short_channel_id": format_scid(channel.short_channel_id),
        "direction": direction,
        "public": channel.public,
        "amount_msat": channel.capacity_msat if channel.capacity_msat is not None else 0,
        "message_flags": policy.message_flags,
        "channel_flags": policy.channel_flags,
        "active": not policy.disabled,
        "last_update": policy.timestamp,
        "base_fee_millisatoshi": policy.fee_base_msat,
        "fee_per_millionth": policy.fee_proportional_millionths,
        "delay": policy.cltv_expiry_delta,
        "htlc_minimum_msat": policy.htlc_minimum_msat,
        "htlc_maximum_msat": policy.htlc_maximum_msat,
        "features": channel.features.hex(),
    }


def _parse_scid(value: Any, name: str = "short_channel_id") -> int:
    if not isinstance(value, str):
        raise param_error(name, f"expected BLOCKxTXxOUT, got {value!r}")
    try:
        return parse_scid(value)
    except ValueError as exc:
        raise param_error(name, str(exc)) from None
