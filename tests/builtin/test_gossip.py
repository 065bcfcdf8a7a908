"""BOLT 7 gossip: signing and verifying announcements and updates, forged and stale
messages ignored, and the bolt07/extended-queries.json vectors (the zlib ones skipped)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from coincurve import PrivateKey
from lnharness.node_impl.builtin.gossip.announce import (
    GossipError,
    alias_text,
    announced_addresses,
    check_funding_output,
    funding_script_pubkey,
    make_announcement_signatures,
    make_channel_update,
    make_node_announcement,
    message_digest,
    policy_from_update,
    unsigned_channel_announcement,
    verify_announcement_signatures,
    verify_channel_announcement,
    verify_channel_update,
    verify_digest,
    verify_node_announcement,
    with_signatures,
)
from lnharness.node_impl.builtin.gossip.graph import Graph, NodeAddress, scid_from_parts
from lnharness.node_impl.builtin.gossip.ingest import GossipIngest
from lnharness.node_impl.builtin.wire.codec import REGTEST_CHAIN_HASH, ShortChannelId
from lnharness.node_impl.builtin.wire.messages import (
    ChannelAnnouncement,
    ChannelUpdate,
    NodeAnnouncement,
    QueryChannelRange,
    QueryShortChannelIds,
    ReplyChannelRange,
    decode,
    decode_short_channel_ids,
    decode_timestamps,
    encode,
)

CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def secret(n: int) -> bytes:
    return n.to_bytes(32, "big")


def pub(privkey: bytes) -> bytes:
    return PrivateKey(privkey).public_key.format()


ALICE, BOB, MALLORY = secret(11), secret(22), secret(33)
ALICE_FUNDING, BOB_FUNDING = secret(111), secret(222)
SCID = scid_from_parts(103, 1, 0)
CHANNEL_ID = bytes(range(32))
CAPACITY_SAT = 1_000_000


def signed_announcement() -> ChannelAnnouncement:
    """Both ends sign through announcement_signatures, as two nodes would."""
    base = unsigned_channel_announcement(SCID, pub(ALICE), pub(BOB), pub(ALICE_FUNDING),
                                         pub(BOB_FUNDING))
    from_alice = make_announcement_signatures(base, CHANNEL_ID, ALICE, ALICE_FUNDING)
    # Bob builds the same unsigned announcement from his side and checks Alice's signatures.
    bobs_view = unsigned_channel_announcement(SCID, pub(BOB), pub(ALICE), pub(BOB_FUNDING),
                                              pub(ALICE_FUNDING))
    assert bobs_view == base
    verify_announcement_signatures(bobs_view, from_alice, pub(ALICE))
    from_bob = make_announcement_signatures(base, CHANNEL_ID, BOB, BOB_FUNDING)
    ann = with_signatures(base, pub(ALICE), from_alice.node_signature,
                          from_alice.bitcoin_signature)
    return with_signatures(ann, pub(BOB), from_bob.node_signature, from_bob.bitcoin_signature)


def funding_txout(ann: ChannelAnnouncement) -> tuple[int, bytes]:
    return CAPACITY_SAT, funding_script_pubkey(ann)


# ---- channel_announcement -------------------------------------------------------------

def test_channel_announcement_roundtrip_and_verify() -> None:
    ann = signed_announcement()
    assert ann.node_id_1 < ann.node_id_2
    assert ann.chain_hash == REGTEST_CHAIN_HASH
    decoded = decode(ann.encode())
    assert decoded == ann
    verify_channel_announcement(decoded)
    assert check_funding_output(decoded, funding_txout(decoded)) == CAPACITY_SAT


def test_funding_output_must_be_the_2_of_2_p2wsh_and_unspent() -> None:
    ann = signed_announcement()
    # BOLT 3 funding script: 2 <key1> <key2> 2 OP_CHECKMULTISIG, P2WSH-wrapped.
    spk = funding_script_pubkey(ann)
    assert spk[:2] == b"\x00\x20" and len(spk) == 34
    with pytest.raises(GossipError, match="missing or spent"):
        check_funding_output(ann, None)
    with pytest.raises(GossipError, match="2-of-2 P2WSH"):
        check_funding_output(ann, (CAPACITY_SAT, b"\x00\x14" + bytes(20)))
    other = unsigned_channel_announcement(SCID, pub(ALICE), pub(BOB), pub(ALICE_FUNDING),
                                          pub(MALLORY))
    with pytest.raises(GossipError, match="2-of-2 P2WSH"):
        check_funding_output(ann, (CAPACITY_SAT, funding_script_pubkey(other)))


@pytest.mark.parametrize("field", ["node_signature_1", "node_signature_2",
                                   "bitcoin_signature_1", "bitcoin_signature_2"])
def test_each_forged_signature_is_detected(field: str) -> None:
    ann = signed_announcement()
    forged = replace(ann, **{field: make_announcement_signatures(
        ann, CHANNEL_ID, MALLORY, MALLORY).node_signature})
    with pytest.raises(GossipError, match=f"bad {field}"):
        verify_channel_announcement(forged)


def test_tampered_fields_break_the_signatures() -> None:
    ann = signed_announcement()
    for forged in (replace(ann, short_channel_id=ShortChannelId(103, 1, 1)),
                   replace(ann, features=b"\x01"),
                   replace(ann, extra=b"\x00\x01")):
        with pytest.raises(GossipError, match="bad node_signature_1"):
            verify_channel_announcement(forged)


def test_unknown_chain_and_misordered_nodes_rejected() -> None:
    ann = signed_announcement()
    with pytest.raises(GossipError, match="unknown chain"):
        verify_channel_announcement(replace(ann, chain_hash=bytes(32)))
    swapped = replace(ann, node_id_1=ann.node_id_2, node_id_2=ann.node_id_1)
    with pytest.raises(GossipError, match="lesser"):
        verify_channel_announcement(swapped)


def test_trailing_fields_are_signed_and_kept() -> None:
    base = unsigned_channel_announcement(SCID, pub(ALICE), pub(BOB), pub(ALICE_FUNDING),
                                         pub(BOB_FUNDING))
    base = replace(base, extra=b"\xfe\xed")
    for priv, fund in ((ALICE, ALICE_FUNDING), (BOB, BOB_FUNDING)):
        sigs = make_announcement_signatures(base, CHANNEL_ID, priv, fund)
        base = with_signatures(base, pub(priv), sigs.node_signature, sigs.bitcoin_signature)
    decoded = decode(base.encode())
    assert decoded.extra == b"\xfe\xed"
    verify_channel_announcement(decoded)


def test_high_s_signature_is_accepted() -> None:
    ann = signed_announcement()
    sig = ann.node_signature_1
    s = int.from_bytes(sig[32:], "big")
    malleated = sig[:32] + (CURVE_ORDER - s).to_bytes(32, "big")
    assert verify_digest(ann.node_id_1, message_digest(ann), malleated)
    verify_channel_announcement(replace(ann, node_signature_1=malleated))


# ---- announcement_signatures ----------------------------------------------------------

def test_announcement_signatures_checked_against_expected_announcement() -> None:
    base = unsigned_channel_announcement(SCID, pub(ALICE), pub(BOB), pub(ALICE_FUNDING),
                                         pub(BOB_FUNDING))
    good = make_announcement_signatures(base, CHANNEL_ID, BOB, BOB_FUNDING)
    assert decode(good.encode()) == good
    verify_announcement_signatures(base, good, pub(BOB))
    with pytest.raises(GossipError, match="expected 103x1x0"):
        verify_announcement_signatures(
            base, replace(good, short_channel_id=ShortChannelId(104, 1, 0)), pub(BOB))
    wrong_funding = make_announcement_signatures(base, CHANNEL_ID, BOB, MALLORY)
    with pytest.raises(GossipError, match="bad bitcoin_signature"):
        verify_announcement_signatures(base, wrong_funding, pub(BOB))
    wrong_node = make_announcement_signatures(base, CHANNEL_ID, MALLORY, BOB_FUNDING)
    with pytest.raises(GossipError, match="bad node_signature"):
        verify_announcement_signatures(base, wrong_node, pub(BOB))
    with pytest.raises(GossipError, match="not an end"):
        verify_announcement_signatures(base, good, pub(MALLORY))


# ---- node_announcement -----------------------------------------------------------------

def test_node_announcement_roundtrip_and_forgery() -> None:
    addresses = [NodeAddress("ipv6", "::1", 9736), NodeAddress("ipv4", "127.0.0.1", 9735)]
    na = make_node_announcement(ALICE, timestamp=1_700_000_000, alias="alice",
                                rgb_color=b"\x01\x02\x03", addresses=addresses,
                                features=b"\x02\x00")
    decoded = decode(na.encode())
    assert isinstance(decoded, NodeAnnouncement) and decoded == na
    verify_node_announcement(decoded)
    assert alias_text(decoded) == "alice"
    # Address descriptors are placed in ascending type order.
    assert announced_addresses(decoded) == (NodeAddress("ipv4", "127.0.0.1", 9735),
                                            NodeAddress("ipv6", "::1", 9736))
    with pytest.raises(GossipError, match="bad signature"):
        verify_node_announcement(replace(na, timestamp=na.timestamp + 1))
    with pytest.raises(GossipError, match="bad signature"):
        verify_node_announcement(replace(na, node_id=pub(BOB)))


def test_node_announcement_alias_limits() -> None:
    with pytest.raises(ValueError, match="longer than 32 bytes"):
        make_node_announcement(ALICE, timestamp=1, alias="x" * 33, rgb_color=b"\0\0\0")


# ---- channel_update --------------------------------------------------------------------

def update(privkey: bytes, direction: int, timestamp: int, **kw: int) -> ChannelUpdate:
    params = dict(cltv_expiry_delta=6, htlc_minimum_msat=0, htlc_maximum_msat=990_000_000,
                  fee_base_msat=1, fee_proportional_millionths=10)
    params.update(kw)
    return make_channel_update(privkey, short_channel_id=SCID, timestamp=timestamp,
                               direction=direction, **params)


def test_channel_update_roundtrip_flags_and_signature() -> None:
    node1 = min(pub(ALICE), pub(BOB))
    key1 = ALICE if pub(ALICE) == node1 else BOB
    cu = make_channel_update(key1, short_channel_id=SCID, timestamp=1000, direction=0,
                             cltv_expiry_delta=40, htlc_minimum_msat=1, htlc_maximum_msat=5000,
                             fee_base_msat=1000, fee_proportional_millionths=100,
                             disabled=True, dont_forward=True)
    assert (cu.message_flags, cu.channel_flags) == (0b11, 0b10)
    assert decode(cu.encode()) == cu
    verify_channel_update(cu, node1)
    policy = policy_from_update(cu)
    assert (policy.fee_base_msat, policy.fee_proportional_millionths, policy.cltv_expiry_delta,
            policy.htlc_minimum_msat, policy.htlc_maximum_msat, policy.disabled,
            policy.timestamp) == (1000, 100, 40, 1, 5000, True, 1000)
    assert policy.raw_update == cu.encode()
    with pytest.raises(GossipError, match="bad signature"):
        verify_channel_update(replace(cu, fee_base_msat=0), node1)
    with pytest.raises(GossipError, match="unknown chain"):
        verify_channel_update(replace(cu, chain_hash=bytes(32)), node1)


def test_channel_update_parameters_validated_when_built() -> None:
    with pytest.raises(ValueError, match="timestamp"):
        update(ALICE, 0, 0)
    with pytest.raises(ValueError, match="htlc_maximum_msat"):
        update(ALICE, 0, 1, htlc_minimum_msat=10, htlc_maximum_msat=9)


# ---- receiving: GossipIngest ----------------------------------------------------------

class Chain:
    """The txouts a test chain holds, by short_channel_id (what the daemon looks up)."""

    def __init__(self) -> None:
        self.txouts: dict[int, tuple[int, bytes]] = {}
        self.lookups: list[int] = []

    async def lookup(self, scid: int) -> tuple[int, bytes] | None:
        self.lookups.append(scid)
        return self.txouts.get(scid)


def run(coro):  # noqa: ANN001, ANN201
    return asyncio.run(coro)


def ends() -> tuple[bytes, bytes]:
    """(privkey of node_id_1, privkey of node_id_2)."""
    return (ALICE, BOB) if pub(ALICE) < pub(BOB) else (BOB, ALICE)


def test_ingest_accepts_valid_channel_and_rejects_forged_one() -> None:
    chain, graph = Chain(), Graph()
    ingest = GossipIngest(graph, chain.lookup, clock=lambda: 10_000)
    ann = signed_announcement()
    forged = replace(ann, bitcoin_signature_2=ann.bitcoin_signature_1)
    with pytest.raises(GossipError, match="bad bitcoin_signature_2"):
        run(ingest.channel_announcement(forged))
    assert graph.get_channel(SCID) is None and chain.lookups == []  # no chain lookup needed
    with pytest.raises(GossipError, match="missing or spent"):
        run(ingest.channel_announcement(ann))
    chain.txouts[SCID] = funding_txout(ann)
    accepted = run(ingest.channel_announcement(ann))
    assert accepted.announced_channels == [SCID]
    channel = graph.get_channel(SCID)
    assert channel.public and channel.capacity_sat == CAPACITY_SAT
    assert channel.announcement == ann.encode()
    assert not run(ingest.channel_announcement(ann))  # duplicate: nothing new


def test_ingest_channel_update_by_direction_and_staleness() -> None:
    chain, graph = Chain(), Graph()
    ingest = GossipIngest(graph, chain.lookup, clock=lambda: 10_000)
    ann = signed_announcement()
    chain.txouts[SCID] = funding_txout(ann)
    run(ingest.channel_announcement(ann))
    key1, key2 = ends()
    assert ingest.channel_update(update(key1, 0, 100)).updated_channels == [(SCID, 0)]
    assert ingest.channel_update(update(key2, 1, 100)).updated_channels == [(SCID, 1)]
    # Signed by the wrong end for its direction bit: forged.
    with pytest.raises(GossipError, match="bad signature"):
        ingest.channel_update(update(key2, 0, 200))
    with pytest.raises(GossipError, match="bad signature"):
        ingest.channel_update(update(MALLORY, 1, 200))
    # Same or older timestamps are ignored; newer ones replace.
    assert not ingest.channel_update(update(key1, 0, 100, fee_base_msat=999))
    assert not ingest.channel_update(update(key1, 0, 99, fee_base_msat=999))
    # ...before their signature is checked (copies from other peers cost no verification)
    assert not ingest.channel_update(update(MALLORY, 1, 100, fee_base_msat=999))
    assert graph.get_channel(SCID).policies[0].fee_base_msat == 1
    assert graph.get_channel(SCID).policies[1].fee_base_msat == 1
    assert ingest.channel_update(update(key1, 0, 101, fee_base_msat=999))
    assert graph.get_channel(SCID).policies[0].fee_base_msat == 999
    # Too far in the future: discarded.
    assert not ingest.channel_update(update(key1, 0, 10_000 + 2 * 86_400))


def test_ingest_holds_updates_and_node_announcements_until_their_channel() -> None:
    chain, graph = Chain(), Graph()
    ingest = GossipIngest(graph, chain.lookup, clock=lambda: 10_000)
    ann = signed_announcement()
    chain.txouts[SCID] = funding_txout(ann)
    key1, _ = ends()
    na = make_node_announcement(key1, timestamp=50, alias="one", rgb_color=b"\0\0\0")
    assert not ingest.channel_update(update(key1, 0, 100))
    assert not ingest.node_announcement(na)
    assert graph.get_node(pub(key1)) is None
    accepted = run(ingest.channel_announcement(ann))
    assert accepted.updated_channels == [(SCID, 0)]
    assert accepted.updated_nodes == [pub(key1)]
    assert graph.get_node(pub(key1)).alias == "one"
    # A node announcement is only replaced by a newer one.
    assert not ingest.node_announcement(
        make_node_announcement(key1, timestamp=50, alias="two", rgb_color=b"\0\0\0"))
    assert ingest.node_announcement(
        make_node_announcement(key1, timestamp=51, alias="two", rgb_color=b"\0\0\0"))
    forged = replace(make_node_announcement(MALLORY, timestamp=60, alias="x",
                                            rgb_color=b"\0\0\0"), node_id=pub(key1))
    with pytest.raises(GossipError, match="bad signature"):
        ingest.node_announcement(forged)
    assert not ingest.node_announcement(replace(forged, timestamp=51))  # stale: not even checked
    assert graph.get_node(pub(key1)).alias == "two"


def test_ingest_spent_channel_only_takes_disabling_updates() -> None:
    chain, graph = Chain(), Graph()
    ingest = GossipIngest(graph, chain.lookup, clock=lambda: 10_000)
    ann = signed_announcement()
    chain.txouts[SCID] = funding_txout(ann)
    run(ingest.channel_announcement(ann))
    graph.mark_spent(SCID, 200)
    key1, _ = ends()
    assert not ingest.channel_update(update(key1, 0, 100))
    assert ingest.channel_update(make_channel_update(
        key1, short_channel_id=SCID, timestamp=101, direction=0, cltv_expiry_delta=6,
        htlc_minimum_msat=0, htlc_maximum_msat=1000, fee_base_msat=0,
        fee_proportional_millionths=0, disabled=True))


def test_ingest_accepts_updates_for_our_private_channel() -> None:
    graph = Graph()
    graph.add_local_channel(SCID, pub(ALICE), pub(BOB), capacity_sat=CAPACITY_SAT)
    ingest = GossipIngest(graph, Chain().lookup, clock=lambda: 10_000)
    direction = graph.get_channel(SCID).direction_from(pub(BOB))
    cu = make_channel_update(BOB, short_channel_id=SCID, timestamp=5, direction=direction,
                             cltv_expiry_delta=6, htlc_minimum_msat=0, htlc_maximum_msat=1000,
                             fee_base_msat=0, fee_proportional_millionths=0, dont_forward=True)
    assert ingest.channel_update(cu).updated_channels == [(SCID, direction)]


# ---- bolt07/extended-queries.json (non-zlib entries) ----------------------------------

VECTOR_CHAIN = bytes.fromhex("0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206")


def scids(*texts: str) -> list[ShortChannelId]:
    return [ShortChannelId.parse(t) for t in texts]


def test_extended_queries_query_channel_range() -> None:
    plain = "01070f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206000186a0000005dc"
    msg = decode(bytes.fromhex(plain))
    assert isinstance(msg, QueryChannelRange)
    assert (msg.chain_hash, msg.first_blocknum, msg.number_of_blocks, msg.query_option) == (
        VECTOR_CHAIN, 100000, 1500, None)
    assert encode(msg).hex() == plain
    with_option = ("01070f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
                   "000088b800000064010103")
    msg = decode(bytes.fromhex(with_option))
    assert (msg.first_blocknum, msg.number_of_blocks, msg.query_option) == (35000, 100, 3)
    assert encode(QueryChannelRange(chain_hash=VECTOR_CHAIN, first_blocknum=35000,
                                    number_of_blocks=100, query_option=3)).hex() == with_option


def test_extended_queries_reply_channel_range() -> None:
    simple = ("01080f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206000b8a06"
              "000005dc01001900000000000000008e0000000000003c69000000000045a6c4")
    msg = decode(bytes.fromhex(simple))
    assert isinstance(msg, ReplyChannelRange)
    assert (msg.first_blocknum, msg.number_of_blocks, msg.sync_complete) == (756230, 1500, 1)
    assert decode_short_channel_ids(msg.encoded_short_ids) == scids(
        "0x0x142", "0x0x15465", "0x69x42692")
    assert encode(msg).hex() == simple
    extended = ("01080f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e22060001ddde"
                "000005dc01001900000000000000304300000000000778d6000000000046e1c1011900000282"
                "c1000e77c5000778ad00490ab00000b57800955bff031800000457000008ae00000d05000011"
                "5c000015b300001a0a")
    msg = decode(bytes.fromhex(extended))
    assert (msg.first_blocknum, msg.number_of_blocks, msg.sync_complete) == (122334, 1500, 1)
    assert decode_short_channel_ids(msg.encoded_short_ids) == scids(
        "0x0x12355", "0x7x30934", "0x70x57793")
    assert decode_timestamps(msg.timestamps) == [(164545, 948165), (489645, 4786864),
                                                 (46456, 9788415)]
    assert msg.checksums == ((1111, 2222), (3333, 4444), (5555, 6666))
    assert encode(msg).hex() == extended


def test_extended_queries_query_short_channel_ids() -> None:
    vector = ("01050f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206001900000000"
              "000000008e0000000000003c69000000000045a6c4")
    msg = decode(bytes.fromhex(vector))
    assert isinstance(msg, QueryShortChannelIds)
    assert msg.query_flags is None
    assert decode_short_channel_ids(msg.encoded_short_ids) == scids(
        "0x0x142", "0x0x15465", "0x69x42692")
    assert encode(msg).hex() == vector


def test_ingest_retries_an_announcement_whose_output_appears_later() -> None:
    chain, graph = Chain(), Graph()
    ingest = GossipIngest(graph, chain.lookup, clock=lambda: 10_000)
    ann = signed_announcement()
    key1, _ = ends()
    with pytest.raises(GossipError, match="missing or spent"):
        run(ingest.channel_announcement(ann))
    assert not ingest.channel_update(update(key1, 0, 100))  # held until the channel is known
    assert not run(ingest.retry_unconfirmed())
    chain.txouts[SCID] = funding_txout(ann)  # the block with the funding tx arrives
    accepted = run(ingest.retry_unconfirmed())
    assert accepted.announced_channels == [SCID]
    assert accepted.updated_channels == [(SCID, 0)]
    assert not run(ingest.retry_unconfirmed())  # nothing left to retry


def test_ingest_gives_up_retrying_after_some_blocks() -> None:
    chain, graph = Chain(), Graph()
    ingest = GossipIngest(graph, chain.lookup, clock=lambda: 10_000)
    with pytest.raises(GossipError):
        run(ingest.channel_announcement(signed_announcement()))
    for _ in range(10):
        run(ingest.retry_unconfirmed())
    lookups = len(chain.lookups)
    run(ingest.retry_unconfirmed())
    assert len(chain.lookups) == lookups


def test_channel_range_replies_split_in_order_and_cover_the_query() -> None:
    from lnharness.node_impl.builtin.gossip.manager import channel_range_replies

    found = [scid_from_parts(h, t, 0) for h, t in ((110, 1), (110, 2), (120, 1), (130, 5))]
    stamps = [(1, 2), (3, 4), (5, 6), (7, 8)]
    replies = channel_range_replies(REGTEST_CHAIN_HASH, 100, 50, found, stamps, chunk_size=3)
    assert [(r.first_blocknum, r.number_of_blocks, r.sync_complete) for r in replies] == [
        (100, 21, 0), (130, 20, 1)]
    assert [decode_short_channel_ids(r.encoded_short_ids) for r in replies] == [
        [ShortChannelId.from_int(s) for s in found[:3]], [ShortChannelId.from_int(found[3])]]
    assert [decode_timestamps(r.timestamps) for r in replies] == [stamps[:3], stamps[3:]]
    (empty,) = channel_range_replies(REGTEST_CHAIN_HASH, 100, 50, [])
    assert (empty.first_blocknum, empty.number_of_blocks, empty.sync_complete) == (100, 50, 1)
    assert empty.timestamps is None and decode_short_channel_ids(empty.encoded_short_ids) == []


def test_ingest_applies_a_peer_update_that_came_before_our_channel_was_registered() -> None:
    graph = Graph()
    ingest = GossipIngest(graph, Chain().lookup, clock=lambda: 10_000)
    direction = 0 if pub(BOB) < pub(ALICE) else 1
    cu = make_channel_update(BOB, short_channel_id=SCID, timestamp=5, direction=direction,
                             cltv_expiry_delta=6, htlc_minimum_msat=0, htlc_maximum_msat=1000,
                             fee_base_msat=3, fee_proportional_millionths=0, dont_forward=True)
    assert not ingest.channel_update(cu)  # our channel manager has not registered it yet
    graph.add_local_channel(SCID, pub(ALICE), pub(BOB), capacity_sat=CAPACITY_SAT)
    assert ingest.apply_held_updates(SCID).updated_channels == [(SCID, direction)]
    assert graph.get_channel(SCID).policies[direction].fee_base_msat == 3
