"""RPC methods over the network graph and our channels' gossip, shaped like Core Lightning's:
getroute, listchannels, listnodes, setchannel.

Layer: rpc (top). Imports gossip (the manager's typed methods, graph records, pathfinding
errors), core.jsonrpc and rpc.params (every parameter is parsed there). Registered by the
composition root: `register(node.rpc, node.gossip)`.
"""

from __future__ import annotations

from typing import Any

from ..core.jsonrpc import RpcError, RpcRegistry, param_error
from ..gossip.graph import GraphChannel, format_scid
from ..gossip.local import LocalChannel, PolicyError, PolicyRequest
from ..gossip.manager import GossipManager
from ..gossip.pathfind import DEFAULT_MAX_HOPS, NoRouteError
from . import params

ROUTE_NOT_FOUND = 205
"""Core Lightning's PAY_ROUTE_NOT_FOUND."""
U32_LIMIT = 1 << 32


def register(registry: RpcRegistry, gossip: GossipManager) -> None:
    """Add getroute, listchannels, listnodes and setchannel to the RPC registry."""
    graph = gossip.graph

    async def listchannels(short_channel_id: Any = None, source: Any = None,
                           destination: Any = None) -> dict[str, Any]:
        """Known channels, one entry per direction with a channel_update."""
        scid = (params.short_channel_id(short_channel_id, "short_channel_id")
                if short_channel_id is not None else None)
        src = params.node_id(source, "source") if source is not None else None
        dst = params.node_id(destination, "destination") if destination is not None else None
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
        node_ids = [params.node_id(id, "id")] if id is not None else graph.known_node_ids()
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
        destination = params.node_id(id, "id")
        amount = params.msat(amount_msat, "amount_msat")
        if amount == 0:
            raise param_error("amount_msat", "must be positive")
        risk = params.number(riskfactor, "riskfactor", allow_zero=True)
        final_cltv = params.integer(cltv, "cltv")
        source = params.node_id(fromid, "fromid") if fromid is not None else gossip.node_id
        hops_limit = (params.integer(maxhops, "maxhops", minimum=1) if maxhops is not None
                      else DEFAULT_MAX_HOPS)
        exclude_channels: set[int | tuple[int, int]] = set()
        exclude_nodes: set[bytes] = set()
        for item in exclude or []:
            if not isinstance(item, str):
                raise param_error("exclude", f"expected scid/direction or node id, got {item!r}")
            if "/" in item:
                text, direction = item.split("/", 1)
                if direction not in ("0", "1"):
                    raise param_error("exclude", f"bad direction in {item!r}")
                exclude_channels.add((params.short_channel_id(text, "exclude"), int(direction)))
            elif "x" in item:
                exclude_channels.add(params.short_channel_id(item, "exclude"))
            else:
                exclude_nodes.add(params.node_id(item, "exclude"))
        try:
            route = gossip.find_route_from(source, destination, amount,
                                           final_cltv_delta=final_cltv,
                                           exclude_channels=exclude_channels,
                                           exclude_nodes=exclude_nodes, max_hops=hops_limit,
                                           riskfactor=risk)
        except NoRouteError as exc:
            raise RpcError(ROUTE_NOT_FOUND, f"Could not find a route: {exc}") from None
        return {"route": [{"id": hop.node_id.hex(), "channel": format_scid(hop.short_channel_id),
                           "direction": hop.direction, "amount_msat": hop.amount_msat,
                           "delay": hop.delay, "style": "tlv"} for hop in route]}

    async def setchannel(id: Any, feebase: Any = None, feeppm: Any = None,  # noqa: A002
                         htlcmin: Any = None, htlcmax: Any = None, enforcedelay: Any = 600,
                         ignorefeelimits: Any = None) -> dict[str, Any]:
        """Set the forwarding fees / HTLC range we advertise for channels (Core Lightning's
        setchannel): id is a short_channel_id, channel_id, peer id or "all"; omitted values
        stay. The previous fee and HTLC range are still accepted for enforcedelay seconds."""
        targets = gossip.local.select(_channel_selector(id))
        if not targets:
            raise param_error("id", f"no open channel matches {id}")
        fee_base = params.msat(feebase, "feebase") if feebase is not None else None
        fee_ppm = (params.integer(feeppm, "feeppm", maximum=U32_LIMIT - 1) if feeppm is not None
                   else None)
        if fee_base is not None and fee_base >= U32_LIMIT:
            raise param_error("feebase", f"{fee_base} msat does not fit a channel_update (u32)")
        request = PolicyRequest(
            fee_base_msat=fee_base, fee_proportional_millionths=fee_ppm,
            htlc_minimum_msat=params.msat(htlcmin, "htlcmin") if htlcmin is not None else None,
            htlc_maximum_msat=params.msat(htlcmax, "htlcmax") if htlcmax is not None else None)
        delay = params.integer(enforcedelay, "enforcedelay")
        if ignorefeelimits is not None and ignorefeelimits is not True:
            raise param_error("ignorefeelimits", "this node always accepts the peer's update_fee "
                                                 "within 253..1000000 sat/kw (as "
                                                 "ignorefeelimits=true)")
        try:
            results = await gossip.local.set_policy(targets, request, delay)
        except PolicyError as exc:
            raise param_error(exc.param, str(exc)) from None
        entries = []
        for result in results:
            entry = _setchannel_entry(result.channel, *gossip.local.fees(result.channel))
            if result.htlc_minimum_raised:
                entry["warning_htlcmin_too_low"] = ("Set minimum_htlc_out_msat to minimum "
                                                    "allowed by peer")
            if result.htlc_maximum_lowered:
                entry["warning_htlcmax_too_high"] = ("Set maximum_htlc_out_msat to maximum "
                                                     "possible in channel")
            entries.append(entry)
        return {"channels": entries}

    registry.register("listchannels", listchannels)
    registry.register("listnodes", listnodes)
    registry.register("getroute", getroute)
    registry.register("setchannel", setchannel)


def _channel_selector(value: Any) -> str | int | bytes:
    """setchannel's id: "all", a short_channel_id, or a channel_id / peer id in hex."""
    if not isinstance(value, str):
        raise param_error("id", "expected a short_channel_id, channel_id, peer id or 'all'")
    if value == "all":
        return value
    if "x" in value:
        return params.short_channel_id(value, "id")
    return params.hex_bytes(value, "id")


def _setchannel_entry(lc: LocalChannel, fee_base_msat: int,
                      fee_proportional_millionths: int) -> dict[str, Any]:
    return {"peer_id": lc.remote_node_id.hex(), "channel_id": lc.channel_id.hex(),
            "short_channel_id": format_scid(lc.short_channel_id),
            "fee_base_msat": fee_base_msat,
            "fee_proportional_millionths": fee_proportional_millionths,
            "minimum_htlc_out_msat": lc.htlc_minimum_msat,
            "maximum_htlc_out_msat": lc.htlc_maximum_msat, "ignore_fee_limits": True}


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
