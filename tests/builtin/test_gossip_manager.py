"""GossipManager inside a real (not running) built-in Node: our own channels' updates,
route hints, failure updates, local policy and persistence across a new Node."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from coincurve import PrivateKey
from lnharness.node_impl.builtin.channel.events import ChannelNormal, ChannelStoppedForwarding
from lnharness.node_impl.builtin.core.config import parse_config
from lnharness.node_impl.builtin.core.jsonrpc import RpcError
from lnharness.node_impl.builtin.gossip.announce import GossipError, make_channel_update
from lnharness.node_impl.builtin.gossip.graph import format_scid, scid_from_parts
from lnharness.node_impl.builtin.gossip.pathfind import NoRouteError
from lnharness.node_impl.builtin.node import Node
from lnharness.node_impl.builtin.wire.messages import decode

PEER_KEY = (77).to_bytes(32, "big")
PEER_ID = PrivateKey(PEER_KEY).public_key.format()
SCID = scid_from_parts(120, 3, 1)
CAPACITY_SAT = 200_000
FUNDING_TXID = "11" * 32


def make_node(path: Path) -> Node:
    return Node(parse_config([f"--lightning-dir={path}", "--seed=" + "42" * 32,
                              "--fee-base-msat=1000", "--fee-ppm=200", "--cltv-delta=12"]))


async def register(node: Node, *, announce: bool = False) -> None:
    await node.gossip.add_local_channel(
        channel_id=bytes(32), short_channel_id=SCID, remote_node_id=PEER_ID,
        capacity_sat=CAPACITY_SAT, local_funding_privkey=(5).to_bytes(32, "big"),
        remote_funding_pubkey=PrivateKey((6).to_bytes(32, "big")).public_key.format(),
        funding_txid=FUNDING_TXID, funding_outnum=1, announce=announce,
        htlc_minimum_msat=10, htlc_maximum_msat=150_000_000)


def peer_update(node: Node, timestamp: int, fee_base_msat: int) -> bytes:
    direction = node.gossip.graph.get_channel(SCID).direction_from(PEER_ID)
    return make_channel_update(
        PEER_KEY, short_channel_id=SCID, timestamp=timestamp, direction=direction,
        cltv_expiry_delta=40, htlc_minimum_msat=0, htlc_maximum_msat=100_000_000,
        fee_base_msat=fee_base_msat, fee_proportional_millionths=7, dont_forward=True).encode()


def test_local_channel_gets_our_policy_and_the_peers_via_updates(tmp_path: Path) -> None:
    async def scenario() -> None:
        node = make_node(tmp_path)
        await register(node)
        (ours,) = (await node.rpc.dispatch("listchannels", {}))["channels"]
        assert ours["source"] == node.node_id.hex() and ours["destination"] == PEER_ID.hex()
        assert ours["short_channel_id"] == format_scid(SCID) and ours["public"] is False
        assert (ours["base_fee_millisatoshi"], ours["fee_per_millionth"], ours["delay"],
                ours["htlc_minimum_msat"], ours["htlc_maximum_msat"]) == (
            1000, 200, 12, 10, 150_000_000)
        assert ours["message_flags"] == 3  # dont_forward: the channel is private
        assert node.gossip.local_policy(SCID) == (1000, 200, 12)
        update = node.gossip.local_channel_update(SCID)
        assert update[:2] == b"\x01\x02"
        assert not node.gossip.ingest.channel_update(decode(update))  # ours, already known
        assert node.gossip.local_channel_update(SCID + 1) == b""

        # The peer's update for the private channel (sent to us directly) applies once.
        raw = peer_update(node, 100, 5)
        assert node.gossip.ingest.channel_update(decode(raw))
        assert not node.gossip.ingest.channel_update(decode(raw))  # same timestamp: stale
        assert node.gossip.ingest.channel_update(decode(peer_update(node, 101, 6)))
        forged = bytearray(peer_update(node, 102, 9))
        forged[10] ^= 1  # inside the signature
        with pytest.raises(GossipError):
            node.gossip.ingest.channel_update(decode(bytes(forged)))
        (hint,) = node.gossip.private_route_hints()
        assert [(h.pubkey, h.short_channel_id, h.fee_base_msat, h.fee_proportional_millionths,
                 h.cltv_expiry_delta) for h in hint] == [(PEER_ID.hex(), SCID, 6, 7, 40)]
        node.chain.close()
        node.db.close()

    asyncio.run(scenario())


def test_routes_over_our_channel_and_spendable_limits(tmp_path: Path) -> None:
    async def scenario() -> None:
        node = make_node(tmp_path)
        await register(node)
        (hop,) = node.gossip.find_route(PEER_ID, 50_000, final_cltv_delta=18)
        assert (hop.node_id, hop.short_channel_id, hop.amount_msat, hop.delay) == (
            PEER_ID, SCID, 50_000, 18)
        assert hop.cltv_expiry == node.blockheight + 18
        with pytest.raises(NoRouteError):
            node.gossip.find_route(PEER_ID, 50_000, final_cltv_delta=18,
                                   local_spendable_msat={SCID: 49_999})
        route = (await node.rpc.dispatch("getroute", {"id": PEER_ID.hex(),
                                                      "amount_msat": "50000msat",
                                                      "riskfactor": 10}))["route"]
        assert route == [{"id": PEER_ID.hex(), "channel": format_scid(SCID), "direction":
                          hop.direction, "amount_msat": 50_000, "delay": 9, "style": "tlv"}]
        with pytest.raises(RpcError, match="Could not find a route"):
            await node.rpc.dispatch("getroute", {"id": PEER_ID.hex(), "amount_msat": 50_000,
                                                 "riskfactor": 1,
                                                 "exclude": [f"{format_scid(SCID)}/{hop.direction}"]})
        node.chain.close()
        node.db.close()

    asyncio.run(scenario())


def test_closing_disables_and_state_survives_a_new_node(tmp_path: Path) -> None:
    async def scenario() -> None:
        node = make_node(tmp_path)
        await register(node, announce=True)
        await node.gossip.local_channel_closed(SCID)
        (ours,) = (await node.rpc.dispatch("listchannels", {}))["channels"]
        assert ours["active"] is False and ours["channel_flags"] & 2
        assert node.gossip.private_route_hints() == []
        node.chain.close()
        node.db.close()

        again = make_node(tmp_path)
        (local,) = again.gossip.local_channels()
        assert (local.short_channel_id, local.closed, local.announce) == (SCID, True, True)
        assert local.local_node_signature is not None  # signed once, at registration
        assert (await again.rpc.dispatch("listchannels", {}))["channels"] == [ours]
        again.chain.close()
        again.db.close()

    asyncio.run(scenario())


def test_channel_events_register_and_disable_our_channel(tmp_path: Path) -> None:
    """The channel layer's events on the node's bus do what add_local_channel and
    local_channel_closed do; the gossip manager is the handler of the BOLT 7 messages."""
    async def scenario() -> None:
        node = make_node(tmp_path)
        assert node.gossip.message_types == frozenset(range(256, 266))
        await node.events.publish(ChannelNormal(
            channel_id=bytes(32), short_channel_id=SCID, remote_node_id=PEER_ID,
            capacity_sat=CAPACITY_SAT, local_funding_privkey=(5).to_bytes(32, "big"),
            remote_funding_pubkey=PrivateKey((6).to_bytes(32, "big")).public_key.format(),
            funding_txid=FUNDING_TXID, funding_outnum=1, announce=False,
            htlc_minimum_msat=10, htlc_maximum_msat=150_000_000))
        assert node.gossip.local_policy(SCID) == (1000, 200, 12)
        (ours,) = (await node.rpc.dispatch("listchannels", {}))["channels"]
        assert ours["active"] is True and ours["htlc_minimum_msat"] == 10
        await node.events.publish(ChannelStoppedForwarding(short_channel_id=SCID))
        (ours,) = (await node.rpc.dispatch("listchannels", {}))["channels"]
        assert ours["active"] is False
        (local,) = node.gossip.local_channels()
        assert local.closed
        node.chain.close()
        node.db.close()

    asyncio.run(scenario())


def test_one_node_announcement_serves_every_channel_until_it_changes(tmp_path: Path) -> None:
    """Each node_announcement floods the whole network: a node announcing its second channel
    sends the one it signed for the first, and signs anew only when it says something new."""
    node = make_node(tmp_path)
    local = node.gossip.local
    first = local.own_node_announcement()
    assert local.own_node_announcement() == first  # same alias, colour, addresses, features
    moved = local._listen_address
    local._listen_address = lambda: ("127.0.0.1", 19735)
    try:
        relocated = decode(local.own_node_announcement())
        assert relocated.timestamp > decode(first).timestamp
        assert local.own_node_announcement() == relocated.encode()
    finally:
        local._listen_address = moved
    restarted = decode(local.refresh_own_node_announcement())  # at start: always anew
    assert restarted.timestamp > relocated.timestamp
    node.chain.close()
    node.db.close()
