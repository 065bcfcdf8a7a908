"""BOLT 4 checks a forwarding node makes before offering an HTLC onwards (forwarding.check_forward)."""
from __future__ import annotations

from lnharness.node_impl.builtin.payments import onion, onion_failures
from lnharness.node_impl.builtin.payments.forward import (
    MAX_EXPIRY_BLOCKS,
    OutgoingView,
    Policy,
    check_forward,
)

HEIGHT = 500
POLICY = Policy(fee_base_msat=1_000, fee_ppm=100, cltv_expiry_delta=40)
OUT = OutgoingView(normal=True, usable=True, htlc_minimum_msat=1_000, spendable_msat=10_000_000)
UPDATE = bytes.fromhex("0102") + bytes(128)  # stands in for our signed channel_update
SCID = (400 << 40) | (1 << 16)


def payload(amount_msat=1_000_000, cltv=HEIGHT + 100):
    return onion.HopPayload(amt_to_forward_msat=amount_msat, outgoing_cltv_value=cltv, short_channel_id=SCID)


def check(*, incoming_msat=1_001_100, incoming_cltv=HEIGHT + 140, hop=None, outgoing=OUT):
    return check_forward(incoming_msat=incoming_msat, incoming_cltv=incoming_cltv, payload=hop or payload(),
                         outgoing=outgoing, policy=POLICY, blockheight=HEIGHT, channel_update=UPDATE)


def test_exact_fee_and_delta_are_accepted():
    assert POLICY.fee_msat(1_000_000) == 1_100
    assert check() is None


def test_one_msat_short_of_the_fee_is_fee_insufficient_with_our_update():
    message, why = check(incoming_msat=1_001_099)
    assert message.code == onion_failures.FEE_INSUFFICIENT
    assert message.fields == {"htlc_msat": 1_001_099, "channel_update": UPDATE}
    assert "1100" in why


def test_forwarding_more_than_we_received_is_fee_insufficient():
    message, _ = check(incoming_msat=900_000)
    assert message.code == onion_failures.FEE_INSUFFICIENT


def test_cltv_delta_one_short_is_incorrect_cltv_expiry():
    message, _ = check(incoming_cltv=HEIGHT + 139)
    assert message.code == onion_failures.INCORRECT_CLTV_EXPIRY
    assert message.fields == {"cltv_expiry": HEIGHT + 139, "channel_update": UPDATE}


def test_outgoing_expiry_at_the_tip_is_expiry_too_soon():
    message, _ = check(hop=payload(cltv=HEIGHT + 2), incoming_cltv=HEIGHT + 42)
    assert message.code == onion_failures.EXPIRY_TOO_SOON and message.channel_update == UPDATE


def test_expiry_far_in_the_future_is_expiry_too_far():
    far = HEIGHT + MAX_EXPIRY_BLOCKS + 1
    message, _ = check(hop=payload(cltv=far - 40), incoming_cltv=far)
    assert message.code == onion_failures.EXPIRY_TOO_FAR


def test_unknown_or_closed_outgoing_channel_is_unknown_next_peer():
    assert check(outgoing=None)[0].code == onion_failures.UNKNOWN_NEXT_PEER
    closed = OutgoingView(normal=False, usable=False, htlc_minimum_msat=0, spendable_msat=0)
    assert check(outgoing=closed)[0].code == onion_failures.UNKNOWN_NEXT_PEER


def test_disconnected_peer_is_temporary_channel_failure():
    offline = OutgoingView(normal=True, usable=False, htlc_minimum_msat=0, spendable_msat=0)
    message, why = check(outgoing=offline)
    assert message.code == onion_failures.TEMPORARY_CHANNEL_FAILURE and message.channel_update == UPDATE
    assert "not connected" in why


def test_amount_above_spendable_is_temporary_channel_failure():
    poor = OutgoingView(normal=True, usable=True, htlc_minimum_msat=0, spendable_msat=999_999)
    message, _ = check(outgoing=poor)
    assert message.code == onion_failures.TEMPORARY_CHANNEL_FAILURE


def test_amount_below_the_peers_minimum_is_amount_below_minimum():
    picky = OutgoingView(normal=True, usable=True, htlc_minimum_msat=2_000_000, spendable_msat=10_000_000)
    message, _ = check(outgoing=picky)
    assert message.code == onion_failures.AMOUNT_BELOW_MINIMUM
    assert message.fields == {"htlc_msat": 1_001_100, "channel_update": UPDATE}


def test_failures_are_readable_by_the_sender_from_the_hops_failure_onion():
    secret = bytes(range(32))
    message, _ = check(incoming_msat=1)
    reason = onion.create_failure_packet(secret, message)
    decrypted = onion.decrypt_failure_packet([secret], reason)
    assert decrypted.hop_index == 0 and decrypted.decode() == message
