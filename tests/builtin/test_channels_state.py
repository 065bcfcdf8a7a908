"""Two channel.Channel state machines talking to each other in memory: open, payments both
ways (real BOLT 3 commitments and signatures), bad signatures, reestablish, mutual close."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from bitcoin.core import CTransaction, x
from lnharness.node_impl.builtin.channel.machine import (
    AWAITING_LOCKIN,
    CHANNEL_TYPE_ANCHORS,
    CHANNEL_TYPE_STATIC_REMOTEKEY,
    CLOSING_COMPLETE,
    NORMAL,
    Channel,
    ChannelError,
    LocalRequestError,
    SideConfig,
)
from lnharness.node_impl.builtin.channel.updates import LOCAL, REMOTE
from lnharness.node_impl.builtin.keys import derivation as keys
from lnharness.node_impl.builtin.wire import messages

CHAIN = bytes(32)
CONFIG = SideConfig(dust_limit_sat=546, max_htlc_value_in_flight_msat=2**63, channel_reserve_sat=1_000,
                    htlc_minimum_msat=0, to_self_delay=6, max_accepted_htlcs=483)
FUNDING_SAT = 1_000_000
FUNDING_TXID = hashlib.sha256(b"funding").digest()
P2WPKH_A = bytes.fromhex("0014") + bytes(20)
P2WPKH_B = bytes.fromhex("0014") + b"\x01" * 20


def make(index_seed: bytes, opener: str) -> Channel:
    return Channel(index=0, peer_id=keys.node_id(bytes(32)), keys=keys.channel_keys(index_seed, 0),
                   opener=opener, local_config=CONFIG, chain_hash=CHAIN)


def deliver(receiver: Channel, batch: list[messages.Message], other: Channel) -> None:
    """Feed messages to `receiver`, and whatever it answers back to `other`, until quiet."""
    queue = [(receiver, m, other) for m in batch]
    while queue:
        target, m, peer = queue.pop(0)
        out = dispatch(target, m)
        queue += [(peer, reply, target) for reply in out]


def dispatch(chan: Channel, m: messages.Message) -> list[messages.Message]:
    m = messages.decode(m.encode())  # through the wire, as between two nodes
    kind = m.NAME
    if kind in ("update_add_htlc", "update_fulfill_htlc", "update_fail_htlc", "update_fee",
                "update_fail_malformed_htlc"):
        getattr(chan, f"handle_{kind}")(m)
        return []
    if kind == "shutdown":
        return chan.handle_shutdown(m, P2WPKH_B if chan.opener == REMOTE else P2WPKH_A)
    return getattr(chan, f"handle_{kind}")(m)


def open_pair(*, push_msat: int = 100_000_000, feerate_per_kw: int = 253,
              channel_type: int = CHANNEL_TYPE_STATIC_REMOTEKEY) -> tuple[Channel, Channel]:
    """alice opens a channel to bob (pushing `push_msat`); both normal, events drained."""
    alice = make(b"a" * 32, LOCAL)
    bob = make(b"b" * 32, REMOTE)
    open_msg = alice.make_open_channel(funding_sat=FUNDING_SAT, push_msat=push_msat, feerate_per_kw=feerate_per_kw,
                                       announce=False, channel_type=channel_type)
    accept = bob.handle_open_channel(open_msg, min_depth=1)
    alice.handle_accept_channel(accept)
    created = alice.make_funding_created(FUNDING_TXID, 0, "00")
    signed = bob.handle_funding_created(created)
    alice.handle_funding_signed(signed)
    assert alice.state == bob.state == AWAITING_LOCKIN
    assert alice.drain_events() == [("funding_ready_to_broadcast", "00")]
    ready_a = alice.funding_confirmed(101, 1, 1)
    ready_b = bob.funding_confirmed(101, 1, 1)
    bob.handle_channel_ready(ready_a[0])
    alice.handle_channel_ready(ready_b[0])
    assert alice.state == bob.state == NORMAL
    alice.drain_events()
    bob.drain_events()
    return alice, bob


@pytest.fixture(params=[CHANNEL_TYPE_STATIC_REMOTEKEY, CHANNEL_TYPE_ANCHORS], ids=["static_remotekey", "anchors"])
def pair(request) -> tuple[Channel, Channel]:
    """A normal channel of each type the node makes."""
    return open_pair(channel_type=request.param)


def pay(sender: Channel, receiver: Channel, amount_msat: int, preimage: bytes) -> None:
    payment_hash = hashlib.sha256(preimage).digest()
    sender.add_htlc(amount_msat, payment_hash, 500, bytes(1366))
    deliver(receiver, sender.sign_if_needed(), sender)
    incoming = [h for kind, h in receiver.drain_events() if kind == "incoming_htlc"]
    assert len(incoming) == 1
    receiver.fulfill_htlc(incoming[0].htlc_id, preimage)
    deliver(sender, receiver.sign_if_needed(), receiver)
    kinds = [kind for kind, _ in sender.drain_events()]
    assert "htlc_fulfilled" in kinds and "htlc_resolved" in kinds


def test_open_pay_both_ways_and_close(pair):
    alice, bob = pair
    assert alice.log.view(LOCAL).local_msat == 900_000_000
    for i in range(3):
        pay(alice, bob, 10_000_000, bytes([i]) * 32)
        pay(bob, alice, 1_000_000, bytes([100 + i]) * 32)
    for chan in (alice, bob):
        assert not chan.log.htlcs
    assert alice.log.view(LOCAL).local_msat == 900_000_000 - 27_000_000
    assert bob.log.view(REMOTE).remote_msat == alice.log.view(LOCAL).local_msat
    out = alice.start_shutdown(P2WPKH_A)
    deliver(bob, out, alice)
    assert alice.state == bob.state == CLOSING_COMPLETE
    assert alice.closing_txid == bob.closing_txid
    closing = CTransaction.deserialize(x(alice.closing_tx_hex))
    values = sorted(o.nValue for o in closing.vout)
    fee = FUNDING_SAT - sum(values)
    assert values == sorted([873_000 - fee, 127_000])


def test_htlc_outputs_above_dust_carry_htlc_signatures(pair):
    alice, bob = pair
    alice.add_htlc(50_000_000, hashlib.sha256(b"p" * 32).digest(), 500, bytes(1366))
    batch = alice.sign_if_needed()
    commit = batch[-1]
    assert commit.NAME == "commitment_signed" and len(commit.htlc_signatures) == 1
    deliver(bob, batch, alice)
    assert len(alice.log.view(LOCAL).htlcs) == 1


def test_bad_commitment_signature_is_a_channel_error(pair):
    alice, bob = pair
    alice.add_htlc(5_000_000, bytes(32), 500, bytes(1366))
    batch = alice.sign_if_needed()
    for m in batch[:-1]:
        dispatch(bob, m)
    bad = dataclasses.replace(batch[-1], signature=bytes(64))
    with pytest.raises(ChannelError, match="bad commitment signature"):
        bob.handle_commitment_signed(bad)
    assert bob.log.ctn[LOCAL] == 0  # rolled back


def test_amount_above_spendable_is_refused_before_anything_is_sent(pair):
    alice, _bob = pair
    with pytest.raises(LocalRequestError, match="exceeds what the channel can send"):
        alice.add_htlc(950_000_000, bytes(32), 500, bytes(1366))
    assert alice.sign_if_needed() == []


def test_reestablish_retransmits_a_lost_commitment_signed(pair):
    alice, bob = pair
    alice.add_htlc(5_000_000, hashlib.sha256(b"q" * 32).digest(), 500, bytes(1366))
    alice.sign_if_needed()  # lost on the wire
    restored = Channel.from_json(alice.to_json(), alice.keys)
    bob.on_disconnect()
    restored.on_disconnect()
    re_a = restored.make_reestablish()
    re_b = bob.make_reestablish()
    resend = restored.handle_reestablish(re_b)
    # no commitment was ever completed, so channel_ready is retransmitted too (BOLT 2)
    assert [m.NAME for m in resend] == ["channel_ready", "update_add_htlc", "commitment_signed"]
    assert [m.NAME for m in bob.handle_reestablish(re_a)] == ["channel_ready"]
    deliver(bob, resend, restored)
    assert len(bob.log.view(LOCAL).htlcs) == 1 and len(restored.log.view(LOCAL).htlcs) == 1


def test_reestablish_retransmits_a_lost_revoke_and_ack(pair):
    alice, bob = pair
    alice.add_htlc(5_000_000, hashlib.sha256(b"r" * 32).digest(), 500, bytes(1366))
    batch = alice.sign_if_needed()
    for m in batch[:-1]:
        dispatch(bob, m)
    bob.handle_commitment_signed(batch[-1])  # revoke_and_ack + commitment_signed lost
    alice.on_disconnect()
    bob.on_disconnect()
    resend_b = bob.handle_reestablish(alice.make_reestablish())
    assert [m.NAME for m in resend_b] == ["revoke_and_ack", "commitment_signed"]
    deliver(alice, resend_b, bob)
    assert not alice.log.awaiting_revoke and not bob.log.awaiting_revoke
    assert len(alice.log.view(LOCAL).htlcs) == 1


def test_update_fee_from_the_opener_changes_both_commitments(pair):
    alice, bob = pair
    alice.log.update_fee(LOCAL, 5000)
    batch = alice.sign_if_needed()
    assert [m.NAME for m in batch] == ["update_fee", "commitment_signed"]
    deliver(bob, batch, alice)
    assert bob.log.view(LOCAL).feerate_per_kw == bob.log.view(REMOTE).feerate_per_kw == 5000
    assert alice.log.view(LOCAL).feerate_per_kw == 5000
    pay(alice, bob, 1_000_000, b"f" * 32)


def test_update_fee_from_the_non_opener_is_a_channel_error(pair):
    alice, bob = pair
    with pytest.raises(ChannelError, match="non-opener"):
        alice.handle_update_fee(messages.UpdateFee(channel_id=alice.channel_id, feerate_per_kw=1000))


def test_wrong_revocation_secret_is_a_channel_error(pair):
    alice, bob = pair
    alice.add_htlc(5_000_000, bytes(32), 500, bytes(1366))
    batch = alice.sign_if_needed()
    for m in batch[:-1]:
        dispatch(bob, m)
    revoke = bob.handle_commitment_signed(batch[-1])[0]
    with pytest.raises(ChannelError, match="secret does not match"):
        alice.handle_revoke_and_ack(dataclasses.replace(revoke, per_commitment_secret=b"\x01" * 32))


def test_shutdown_waits_for_htlcs_then_closes(pair):
    alice, bob = pair
    preimage = b"s" * 32
    alice.add_htlc(5_000_000, hashlib.sha256(preimage).digest(), 500, bytes(1366))
    deliver(bob, alice.sign_if_needed(), alice)
    (htlc,) = [h for kind, h in bob.drain_events() if kind == "incoming_htlc"]
    deliver(alice, bob.start_shutdown(P2WPKH_B), bob)
    assert alice.state == bob.state == "CHANNELD_SHUTTING_DOWN"
    with pytest.raises(LocalRequestError, match="SHUTTING_DOWN"):
        alice.add_htlc(1_000, bytes(32), 500, bytes(1366))
    bob.fulfill_htlc(htlc.htlc_id, preimage)
    deliver(alice, bob.sign_if_needed(), bob)
    assert alice.state == bob.state == CLOSING_COMPLETE
    closing = CTransaction.deserialize(x(bob.closing_tx_hex))
    assert sum(o.nValue for o in closing.vout) == FUNDING_SAT - alice.closing_last_sent_fee


def test_non_opener_choosing_another_fee_in_range_is_echoed_by_the_opener(pair):
    alice, bob = pair
    out = alice.start_shutdown(P2WPKH_A)
    bob_out = bob.handle_shutdown(out[0], P2WPKH_B)
    alice_out = alice.handle_shutdown(bob_out[0], P2WPKH_A)
    (proposal,) = alice_out
    lo, hi = proposal.fee_range.min_fee_satoshis, proposal.fee_range.max_fee_satoshis
    bob.closing_fee_range = (lo, hi)
    counter = bob._closing_signed(lo + 1, with_range=True)
    bob.closing_last_sent_fee = lo + 1
    echo = alice.handle_closing_signed(counter)
    assert echo[0].fee_satoshis == lo + 1
    bob.handle_closing_signed(echo[0])
    assert alice.closing_txid == bob.closing_txid


@pytest.mark.parametrize(("change", "error"), [
    ({"channel_type": None}, "Did not set channel_type"),
    ({"channel_type": bytes([0x10, 0x00]) + bytes(1)}, "channel_type"),
    ({"chain_hash": b"\x01" * 32}, "unknown chain_hash"),
    ({"push_msat": FUNDING_SAT * 1000 + 1}, "push_msat"),
    ({"dust_limit_satoshis": 2_000}, "greater than channel_reserve_satoshis"),
    ({"max_accepted_htlcs": 484}, "max_accepted_htlcs"),
    ({"to_self_delay": 5_000}, "to_self_delay"),
    ({"feerate_per_kw": 100}, "feerate_per_kw"),
    ({"funding_pubkey": b"\x02" + bytes(32)}, "invalid basepoint"),
])
def test_bad_open_channel_is_refused(change, error):
    alice = make(b"a" * 32, LOCAL)
    bob = make(b"b" * 32, REMOTE)
    open_msg = alice.make_open_channel(funding_sat=FUNDING_SAT, push_msat=0, feerate_per_kw=253, announce=False)
    with pytest.raises(ChannelError, match=error):
        bob.handle_open_channel(dataclasses.replace(open_msg, **change), min_depth=1)


def test_state_survives_json_round_trip_mid_payment(pair):
    alice, bob = pair
    preimage = b"j" * 32
    alice.add_htlc(7_000_000, hashlib.sha256(preimage).digest(), 500, bytes(1366))
    batch = alice.sign_if_needed()
    alice = Channel.from_json(alice.to_json(), alice.keys)
    deliver(bob, batch, alice)
    bob = Channel.from_json(bob.to_json(), bob.keys)
    (htlc,) = [h for h in bob.log.htlcs.values()]
    bob.fulfill_htlc(htlc.htlc_id, preimage)
    deliver(alice, bob.sign_if_needed(), bob)
    assert alice.log.view(LOCAL).local_msat == 900_000_000 - 7_000_000
    assert bob.log.view(LOCAL).local_msat == 100_000_000 + 7_000_000


def test_fail_malformed_returns_the_htlc_and_reports_its_code(pair):
    alice, bob = pair
    alice.add_htlc(3_000_000, bytes(32), 500, bytes(1366))
    deliver(bob, alice.sign_if_needed(), alice)
    (htlc,) = [h for kind, h in bob.drain_events() if kind == "incoming_htlc"]
    bob.fail_malformed_htlc(htlc.htlc_id, hashlib.sha256(bytes(1366)).digest(), 0x8000 | 0x4000 | 5)
    batch = bob.sign_if_needed()
    assert batch[0].NAME == "update_fail_malformed_htlc" and batch[0].failure_code == 0xC005
    deliver(alice, batch, bob)
    (resolved,) = [h for kind, h in alice.drain_events() if kind == "htlc_resolved"]
    assert resolved.removal == "fail_malformed" and resolved.removal_data["failure_code"] == 0xC005
    assert alice.log.view(LOCAL).local_msat == 900_000_000


def test_fail_malformed_without_badonion_bit_is_a_channel_error(pair):
    alice, bob = pair
    alice.add_htlc(3_000_000, bytes(32), 500, bytes(1366))
    deliver(bob, alice.sign_if_needed(), alice)
    with pytest.raises(ChannelError, match="BADONION"):
        alice.handle_update_fail_malformed_htlc(messages.UpdateFailMalformedHtlc(
            channel_id=alice.channel_id, id=0, sha256_of_onion=bytes(32), failure_code=0x4005))


def test_update_add_above_the_peers_balance_is_a_channel_error(pair):
    alice, bob = pair
    with pytest.raises(ChannelError, match="cannot afford"):
        alice.handle_update_add_htlc(messages.UpdateAddHtlc(
            channel_id=alice.channel_id, id=0, amount_msat=200_000_000, payment_hash=bytes(32), cltv_expiry=500,
            onion_routing_packet=bytes(1366)))


def test_shutdown_waits_for_an_add_queued_behind_a_revocation(pair):
    alice, bob = pair
    alice.add_htlc(1_000_000, bytes(32), 500, bytes(1366))
    first = alice.sign_if_needed()  # now awaiting bob's revoke_and_ack
    alice.add_htlc(2_000_000, bytes(32), 500, bytes(1366))  # queued
    assert alice.start_shutdown(P2WPKH_A) == []  # no shutdown before the queued add is sent
    for m in first[:-1]:
        dispatch(bob, m)
    revoke, bob_commit = bob.handle_commitment_signed(first[-1])
    batch = alice.handle_revoke_and_ack(revoke)
    assert [m.NAME for m in batch] == ["update_add_htlc", "commitment_signed", "shutdown"]
    assert alice.last_commit_batch[-1].NAME == "commitment_signed"
    assert bob_commit.NAME == "commitment_signed"


def test_anchor_channel_commitments_carry_anchors_and_zero_fee_htlc_signatures():
    alice, bob = open_pair(channel_type=CHANNEL_TYPE_ANCHORS)
    assert alice.anchors and bob.anchors
    alice.add_htlc(50_000_000, hashlib.sha256(b"q" * 32).digest(), 500, bytes(1366))
    deliver(bob, alice.sign_if_needed(), alice)  # bob checked alice's SIGHASH_SINGLE|ANYONECANPAY signature
    built = bob._commitment(LOCAL, bob.log.ctn[LOCAL]).built
    kinds = sorted(o.kind.value for o in built.outputs)
    assert kinds == ["local_anchor", "received_htlc", "remote_anchor", "to_local", "to_remote"]
    assert {o.amount_sat for o in built.outputs if o.kind.value.endswith("anchor")} == {330}
    # the opener (alice, bob's remote) paid the fee and both anchors out of her side
    to_alice = next(o for o in built.outputs if o.kind.value == "to_remote").amount_sat
    assert to_alice == 900_000 - 50_000 - 253 * (1124 + 172) // 1000 - 660


def test_acceptor_without_anchors_refuses_an_anchor_channel():
    alice = make(b"a" * 32, LOCAL)
    bob = make(b"b" * 32, REMOTE)
    open_msg = alice.make_open_channel(funding_sat=FUNDING_SAT, push_msat=0, feerate_per_kw=253, announce=False,
                                       channel_type=CHANNEL_TYPE_ANCHORS)
    with pytest.raises(ChannelError, match="channel_type 401000 is not supported .*static_remotekey 1000"):
        bob.handle_open_channel(open_msg, min_depth=1, accept_anchors=False)


def test_accept_channel_must_echo_the_channel_type():
    alice = make(b"a" * 32, LOCAL)
    bob = make(b"b" * 32, REMOTE)
    open_msg = alice.make_open_channel(funding_sat=FUNDING_SAT, push_msat=0, feerate_per_kw=253, announce=False,
                                       channel_type=CHANNEL_TYPE_ANCHORS)
    accept = bob.handle_open_channel(open_msg, min_depth=1)
    assert accept.channel_type == bytes.fromhex("401000")
    with pytest.raises(ChannelError, match="not the one of open_channel"):
        alice.handle_accept_channel(dataclasses.replace(accept, channel_type=bytes.fromhex("1000")))
