"""update_fee between two channel.Channel state machines in memory: the opener follows the
chain's fee estimate within what it can afford (BOLT 2), the receiver refuses a rate the
opener cannot pay."""

from __future__ import annotations

import pytest
from lnharness.node_impl.builtin.channel.machine import CHANNEL_TYPE_ANCHORS, ChannelWarning
from lnharness.node_impl.builtin.channel.updates import LOCAL, REMOTE
from lnharness.node_impl.builtin.wire import messages

from tests.builtin.test_channels_state import FUNDING_SAT, deliver, open_pair, pay

RESERVE_SAT = 1_000  # CONFIG.channel_reserve_sat, asked of each side


def feerates(alice, bob) -> set[int]:
    """The fee rate of every latest commitment on both sides."""
    return {chan.log.view(side).feerate_per_kw for chan in (alice, bob) for side in (LOCAL, REMOTE)}


def test_opener_follows_a_higher_estimate_and_payments_still_work():
    alice, bob = open_pair()
    assert alice.propose_feerate(5_000) == 5_000
    batch = alice.sign_if_needed()
    assert [m.NAME for m in batch] == ["update_fee", "commitment_signed"]
    assert batch[0].feerate_per_kw == 5_000
    deliver(bob, batch, alice)
    assert feerates(alice, bob) == {5_000}
    pay(alice, bob, 2_000_000, b"a" * 32)
    pay(bob, alice, 1_000_000, b"b" * 32)


def test_opener_follows_a_lower_estimate_down_to_the_floor():
    alice, bob = open_pair(feerate_per_kw=10_000)
    assert alice.propose_feerate(100) == 253  # BOLT 2's floor
    deliver(bob, alice.sign_if_needed(), alice)
    assert feerates(alice, bob) == {253}


def test_small_moves_and_the_non_opener_send_nothing():
    alice, bob = open_pair(feerate_per_kw=1_000)
    assert alice.propose_feerate(1_050) is None  # under 10%: not worth a signature round trip
    assert bob.propose_feerate(5_000) is None  # only the opener pays the fee
    assert alice.sign_if_needed() == [] and bob.sign_if_needed() == []


def test_opener_asks_only_what_it_can_pay_keeping_its_reserve():
    # alice keeps 10,000 sat: 1,000 reserve, so at most 9,000 sat of fee (724 weight, no HTLC)
    alice, bob = open_pair(push_msat=(FUNDING_SAT - 10_000) * 1000)
    rate = alice.propose_feerate(50_000)
    assert rate is not None
    assert rate * 724 // 1000 <= 10_000 - RESERVE_SAT < (rate + 2) * 724 // 1000
    deliver(bob, alice.sign_if_needed(), alice)
    assert feerates(alice, bob) == {rate}


def test_opener_that_cannot_pay_more_never_lowers_the_rate_instead():
    # opened at 13,000 sat/kw: 9,412 sat of fee, which alice's 10,000 sat pay but not with her reserve
    alice, bob = open_pair(push_msat=(FUNDING_SAT - 10_000) * 1000, feerate_per_kw=13_000)
    assert alice.propose_feerate(20_000) is None
    assert alice.sign_if_needed() == []
    assert alice.propose_feerate(5_000) == 5_000  # a lower estimate is followed
    deliver(bob, alice.sign_if_needed(), alice)
    assert feerates(alice, bob) == {5_000}


def test_receiver_refuses_a_rate_the_opener_cannot_pay():
    alice, bob = open_pair(push_msat=(FUNDING_SAT - 10_000) * 1000)
    too_high = messages.UpdateFee(channel_id=bob.channel_id, feerate_per_kw=20_000)  # 14,480 sat of fee
    with pytest.raises(ChannelWarning, match="cannot afford"):
        bob.handle_update_fee(too_high)
    assert not bob.log.fee_updates
    bob.handle_update_fee(messages.UpdateFee(channel_id=bob.channel_id, feerate_per_kw=10_000))
    assert [f.feerate_per_kw for f in bob.log.fee_updates] == [10_000]


@pytest.mark.parametrize("rate", [252, 1_000_001])
def test_receiver_refuses_rates_outside_the_bounds(rate):
    alice, bob = open_pair()
    with pytest.raises(ChannelWarning, match="outside 253..1000000"):
        bob.handle_update_fee(messages.UpdateFee(channel_id=bob.channel_id, feerate_per_kw=rate))


def test_anchor_channel_opener_caps_its_rate_the_anchor_pays_the_rest():
    alice, bob = open_pair(channel_type=CHANNEL_TYPE_ANCHORS)
    assert alice.propose_feerate(10_000) == 2_500  # 10 sat/vbyte; a force close adds CPFP
    deliver(bob, alice.sign_if_needed(), alice)
    assert feerates(alice, bob) == {2_500}
    assert alice.propose_feerate(20_000) is None
    pay(alice, bob, 2_000_000, b"d" * 32)
