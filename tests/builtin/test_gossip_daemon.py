"""The built-in node's gossip handling, driven by scripted BOLT 8 peers: a channel whose
funding output really is on the embedded chain is announced to the node, which verifies it,
lists it, relays it to another peer that asked for gossip, and answers gossip queries.
Forged and stale messages are ignored."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from coincurve import PrivateKey
from lnharness.node_impl.builtin.chain.wallet import script_to_address
from lnharness.node_impl.builtin.gossip.announce import (
    funding_script_pubkey,
    make_announcement_signatures,
    make_channel_update,
    make_node_announcement,
    unsigned_channel_announcement,
    with_signatures,
)
from lnharness.node_impl.builtin.gossip.graph import NodeAddress, format_scid, scid_from_parts
from lnharness.node_impl.builtin.net import transport
from lnharness.node_impl.builtin.tx.closing import build_closing_tx
from lnharness.node_impl.builtin.tx.signing import (
    finalize_closing_tx,
    sign_tx,
)
from lnharness.node_impl.builtin.tx.transactions import (
    Funding,
    Outpoint,
)
from lnharness.node_impl.builtin.wire import messages
from lnharness.node_impl.builtin.wire.codec import REGTEST_CHAIN_HASH, ShortChannelId
from lnharness.wait import wait_for

TIMEOUT_S = 15
FUNDING_SAT = 500_000
GOSSIP_QUERIES_OPTIONAL = 7


def features(*bits: int) -> bytes:
    value = sum(1 << b for b in bits)
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


OUR_FEATURES = features(0, 8, 12, 14, 44, GOSSIP_QUERIES_OPTIONAL)


def key(n: int) -> bytes:
    return n.to_bytes(32, "big")


def pub(privkey: bytes) -> bytes:
    return PrivateKey(privkey).public_key.format()


class Peer:
    """A scripted BOLT 8 peer run by the test."""

    def __init__(self, conn: transport.PeerConnection) -> None:
        self.conn = conn

    @classmethod
    async def connect(cls, node, privkey: bytes) -> Peer:
        conn = await transport.connect("127.0.0.1", node.peer_port, privkey,
                                       bytes.fromhex(node.node_id), TIMEOUT_S)
        peer = cls(conn)
        await peer.receive()  # the node's init
        await conn.send(messages.Init(globalfeatures=b"", features=OUR_FEATURES,
                                      networks=(REGTEST_CHAIN_HASH,), remote_addr=None,
                                      unknown_tlvs=()).encode())
        return peer

    async def send(self, msg: messages.Message) -> None:
        await self.conn.send(msg.encode())

    async def receive(self) -> bytes:
        return await asyncio.wait_for(self.conn.receive(), TIMEOUT_S)

    async def receive_gossip(self, until_type: int) -> list[messages.Message]:
        """Gossip messages received up to and including the first of until_type."""
        seen = []
        while True:
            msg = messages.decode(await self.receive())
            if 256 <= getattr(msg, "TYPE", 0) <= 265:
                seen.append(msg)
                if msg.TYPE == until_type:
                    return seen


class AnnouncedChannel:
    """A channel between two scripted nodes, funded on the test chain."""

    def __init__(self, chain) -> None:
        self.node_keys = sorted((key(1001), key(1002)), key=pub)
        self.funding_keys = (key(2001), key(2002))
        base = unsigned_channel_announcement(0, pub(self.node_keys[0]), pub(self.node_keys[1]),
                                             pub(self.funding_keys[0]), pub(self.funding_keys[1]))
        spk = funding_script_pubkey(base)
        txid = chain.rpc.sendtoaddress(script_to_address(spk, "regtest"), FUNDING_SAT / 1e8)
        (block_hash,) = chain.mine(1)
        block = chain.rpc.getblock(block_hash)
        tx = chain.rpc.getrawtransaction(txid, True)
        (vout,) = [o["n"] for o in tx["vout"] if o["scriptPubKey"]["hex"] == spk.hex()]
        self.scid = scid_from_parts(block["height"], block["tx"].index(txid), vout)
        self.funding_txid, self.funding_vout = txid, vout
        chain.mine(5)
        ann = replace(base, short_channel_id=ShortChannelId.from_int(self.scid))
        for node_key, funding_key in zip(self.node_keys, self.funding_keys, strict=True):
            sigs = make_announcement_signatures(ann, bytes(32), node_key, funding_key)
            ann = with_signatures(ann, pub(node_key), sigs.node_signature,
                                  sigs.bitcoin_signature)
        self.announcement = ann

    def spend(self, chain) -> str:
        """Close it: both funding keys sign a tx spending the funding output."""
        funding = Funding(Outpoint.from_hex(self.funding_txid, self.funding_vout), FUNDING_SAT,
                          pub(self.funding_keys[0]), pub(self.funding_keys[1]))
        payout = bytes.fromhex(chain.rpc.getaddressinfo(chain.rpc.getnewaddress())[
            "scriptPubKey"])
        closing = build_closing_tx(funding, local_script=payout, remote_script=payout,
                                   to_local_msat=FUNDING_SAT * 1000, to_remote_msat=0,
                                   fee_sat=1000, local_is_opener=True, dust_limit_sat=546)
        tx = finalize_closing_tx(closing, sign_tx(closing, self.funding_keys[0]),
                                 sign_tx(closing, self.funding_keys[1]))
        return chain.rpc.sendrawtransaction(tx.serialize().hex())

    def update(self, direction: int, timestamp: int, *, fee_base_msat: int = 1000,
               signer: bytes | None = None) -> messages.ChannelUpdate:
        return make_channel_update(
            signer or self.node_keys[direction], short_channel_id=self.scid,
            timestamp=timestamp, direction=direction, cltv_expiry_delta=14,
            htlc_minimum_msat=1, htlc_maximum_msat=FUNDING_SAT * 1000,
            fee_base_msat=fee_base_msat, fee_proportional_millionths=100 + direction)


def listed(node, scid: int) -> dict[int, dict]:
    entries = node.rpc.listchannels(short_channel_id=format_scid(scid))["channels"]
    return {e["direction"]: e for e in entries}


@pytest.fixture
def gossip_node(chain, chained_builtin_nodes):
    node = chained_builtin_nodes.get_node()
    node.wait_synced(chain)
    return node


def test_announced_channel_is_verified_listed_relayed_and_queryable(chain, gossip_node):
    node = gossip_node
    channel = AnnouncedChannel(chain)
    node.wait_synced(chain)
    ann = channel.announcement
    scid = channel.scid
    now = 1_700_000_000

    async def scenario() -> dict:
        alice = await Peer.connect(node, channel.node_keys[0])
        # We offered gossip_queries: the node asks for all gossip.
        (flt,) = await alice.receive_gossip(265)
        assert (flt.first_timestamp, flt.timestamp_range) == (0, 0xFFFFFFFF)

        forged = replace(ann, node_signature_2=ann.node_signature_1)
        await alice.send(forged)
        await alice.send(ann)
        await alice.send(channel.update(0, now))
        await alice.send(channel.update(1, now))
        await alice.send(make_node_announcement(
            channel.node_keys[0], timestamp=now, alias="scripted-one", rgb_color=b"\x10\x20\x30",
            addresses=[NodeAddress("ipv4", "127.0.0.1", 9999)]))
        await asyncio.to_thread(wait_for, lambda: len(listed(node, scid)) == 2,
                                what="listchannels to show both directions")

        # Forged (signed by the other end / a stranger) and stale updates change nothing.
        await alice.send(channel.update(0, now + 10, fee_base_msat=7, signer=channel.node_keys[1]))
        await alice.send(channel.update(1, now + 10, fee_base_msat=7, signer=key(666)))
        await alice.send(channel.update(0, now - 10, fee_base_msat=8))

        bob = await Peer.connect(node, key(3003))
        await bob.receive_gossip(265)
        await bob.send(messages.GossipTimestampFilter(
            chain_hash=REGTEST_CHAIN_HASH, first_timestamp=0, timestamp_range=0xFFFFFFFF))
        dump = await bob.receive_gossip(257)

        # A newer genuine update from alice is relayed to bob.
        await alice.send(channel.update(0, now + 20, fee_base_msat=2222))
        (relayed,) = await bob.receive_gossip(258)

        await bob.send(messages.QueryChannelRange(
            chain_hash=REGTEST_CHAIN_HASH, first_blocknum=0, number_of_blocks=1_000_000,
            query_option=1))
        (reply,) = await bob.receive_gossip(264)
        await bob.send(messages.QueryShortChannelIds(
            chain_hash=REGTEST_CHAIN_HASH,
            encoded_short_ids=messages.encode_short_channel_ids([ShortChannelId.from_int(scid)]),
            query_flags=None))
        answer = await bob.receive_gossip(262)
        # With query flags: only node_id_2's channel_update (bit 2).
        await bob.send(messages.QueryShortChannelIds(
            chain_hash=REGTEST_CHAIN_HASH,
            encoded_short_ids=messages.encode_short_channel_ids([ShortChannelId.from_int(scid)]),
            query_flags=messages.encode_query_flags([0b00100])))
        flagged = await bob.receive_gossip(262)
        alice.conn.close()
        bob.conn.close()
        return {"dump": dump, "relayed": relayed, "reply": reply, "answer": answer,
                "flagged": flagged}

    seen = asyncio.run(scenario())

    entries = listed(node, scid)
    assert entries[0]["source"] == pub(channel.node_keys[0]).hex()
    assert entries[0]["destination"] == pub(channel.node_keys[1]).hex()
    assert entries[0]["public"] is True and entries[0]["active"] is True
    assert entries[0]["amount_msat"] == FUNDING_SAT * 1000
    assert (entries[0]["base_fee_millisatoshi"], entries[0]["fee_per_millionth"],
            entries[0]["delay"]) == (2222, 100, 14)
    assert entries[1]["base_fee_millisatoshi"] == 1000  # forged updates ignored
    (listed_node,) = node.rpc.listnodes(pub(channel.node_keys[0]).hex())["nodes"]
    assert listed_node["alias"] == "scripted-one" and listed_node["color"] == "102030"
    assert listed_node["addresses"] == [{"type": "ipv4", "address": "127.0.0.1", "port": 9999}]
    node.daemon.wait_for_log("bad node_signature_2")

    dump_types = [m.TYPE for m in seen["dump"]]
    assert dump_types == [256, 258, 258, 257]
    assert seen["dump"][0] == ann
    assert seen["relayed"].fee_base_msat == 2222

    reply = seen["reply"]
    assert reply.sync_complete == 1
    assert messages.decode_short_channel_ids(reply.encoded_short_ids) == [
        ShortChannelId.from_int(scid)]
    assert messages.decode_timestamps(reply.timestamps) == [(now + 20, now)]
    assert [m.TYPE for m in seen["answer"]] == [256, 258, 258, 257, 262]
    assert seen["answer"][-1].full_information == 1
    assert [m.TYPE for m in seen["flagged"]] == [258, 262]
    assert seen["flagged"][0].channel_flags & 1 == 1

    route = node.rpc.getroute(id=pub(channel.node_keys[1]).hex(), amount_msat=1000,
                              riskfactor=1, fromid=pub(channel.node_keys[0]).hex())["route"]
    assert [(h["channel"], h["amount_msat"], h["delay"]) for h in route] == [
        (format_scid(scid), 1000, 9)]

    # The graph survives a restart.
    before = node.rpc.listchannels()
    node.stop()
    node.start()
    assert node.rpc.listchannels() == before
    assert node.rpc.listnodes(pub(channel.node_keys[0]).hex())["nodes"] == [listed_node]

    # Once the funding output is spent the channel leaves the node's view.
    txid = channel.spend(chain)
    wait_for(lambda: txid in chain.rpc.getrawmempool(), what="closing tx in mempool")
    chain.mine(1)
    wait_for(lambda: node.rpc.listchannels()["channels"] == [],
             what="the spent channel to leave listchannels")
    node.daemon.wait_for_log(f"channel {format_scid(scid)} closed: funding spent")


def test_announcement_for_a_missing_output_is_ignored(chain, gossip_node):
    node = gossip_node
    channel = AnnouncedChannel(chain)
    node.wait_synced(chain)
    wrong_place = replace(channel.announcement,
                          short_channel_id=ShortChannelId.from_int(channel.scid + 1))

    async def scenario() -> None:
        alice = await Peer.connect(node, channel.node_keys[0])
        await alice.send(wrong_place)  # signatures no longer match either
        ann = channel.announcement
        bad_output = unsigned_channel_announcement(
            channel.scid, pub(channel.node_keys[0]), pub(channel.node_keys[1]),
            pub(key(4001)), pub(key(4002)))
        for node_key, funding_key in zip(channel.node_keys, (key(4001), key(4002)), strict=True):
            sigs = make_announcement_signatures(bad_output, bytes(32), node_key, funding_key)
            bad_output = with_signatures(bad_output, pub(node_key), sigs.node_signature,
                                         sigs.bitcoin_signature)
        await alice.send(bad_output)
        await alice.send(channel.update(0, 1_700_000_000))
        await asyncio.to_thread(node.daemon.wait_for_log, "not the 2-of-2 P2WSH")
        assert ann.short_channel_id.to_int() == channel.scid
        alice.conn.close()

    asyncio.run(scenario())
    assert node.rpc.listchannels()["channels"] == []


def test_announcement_of_a_recently_spent_output_is_ignored(chain, gossip_node):
    """The funding block and the spending one are recent: the node tells the output is spent
    from the blocks it processed (no chain call), and ignores the announcement; an
    unspent one funded earlier (its blocks no longer all cached: asked of the chain) is
    accepted."""
    node = gossip_node
    unspent = AnnouncedChannel(chain)
    spent = AnnouncedChannel(chain)  # funding and spend within the node's 8 cached blocks
    txid = spent.spend(chain)
    wait_for(lambda: txid in chain.rpc.getrawmempool(), what="closing tx in mempool")
    chain.mine(1)
    node.wait_synced(chain)

    async def scenario() -> None:
        alice = await Peer.connect(node, spent.node_keys[0])
        await alice.send(spent.announcement)
        await asyncio.to_thread(node.daemon.wait_for_log, "funding output missing or spent")
        await alice.send(unspent.announcement)
        await alice.send(unspent.update(0, 1_700_000_000))
        await asyncio.to_thread(wait_for, lambda: listed(node, unspent.scid),
                                what="the unspent channel to be listed")
        alice.conn.close()

    asyncio.run(scenario())
    assert {e["short_channel_id"] for e in node.rpc.listchannels()["channels"]} == {
        format_scid(unspent.scid)}


def test_graph_rpcs_on_an_empty_graph_and_filter_exchange(builtin_nodes):
    a, b = builtin_nodes.get_node(), builtin_nodes.get_node()
    a.connect_to(b)
    assert a.rpc.listchannels()["channels"] == []
    assert a.rpc.listnodes()["nodes"] == []
    with pytest.raises(Exception, match="Could not find a route"):
        a.rpc.getroute(id=b.node_id, amount_msat=1000, riskfactor=1)
    with pytest.raises(Exception, match="short_channel_id"):
        a.rpc.listchannels(short_channel_id="1:2:3")

    async def scenario() -> list[messages.Message]:
        peer = await Peer.connect(a, key(5005))
        flt = await peer.receive_gossip(265)
        await peer.send(messages.QueryChannelRange(
            chain_hash=REGTEST_CHAIN_HASH, first_blocknum=0, number_of_blocks=100,
            query_option=None))
        reply = await peer.receive_gossip(264)
        peer.conn.close()
        return flt + reply

    flt, reply = asyncio.run(scenario())
    assert isinstance(flt, messages.GossipTimestampFilter)
    assert (reply.first_blocknum, reply.number_of_blocks, reply.sync_complete) == (0, 100, 1)
    assert messages.decode_short_channel_ids(reply.encoded_short_ids) == []
