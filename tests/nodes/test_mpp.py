"""Multi-part payments (BOLT 4 basic_mpp) into and out of the built-in node, through real
processes: parts held until the total arrives, the MPP timeout, and payments split across
two channels when no single route can carry them."""
from __future__ import annotations

import os

import pytest
from lnharness.node import LightningNode, PaymentFailed
from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpcError
from lnharness.node_impl.builtin.payments import onion
from lnharness.wait import wait_for

FINAL_DELAY = 30  # blocks the part's HTLC leaves the payee


def send_part(payer: LightningNode, payee: LightningNode, bolt11: str, *, part_msat: int,
              total_msat: int) -> str:
    """Offer one part of a multi-part payment of payee's invoice straight over payer's
    channel with payee (sendonion with an onion we build: total_msat above the part)."""
    decoded = payee.rpc.decodepay(bolt11)
    payment_hash = bytes.fromhex(decoded["payment_hash"])
    height = payer.rpc.getinfo()["blockheight"]
    payload = onion.HopPayload(part_msat, height + 1 + FINAL_DELAY,
                               payment_secret=bytes.fromhex(decoded["payment_secret"]),
                               total_msat=total_msat)
    session_key = os.urandom(32)
    payee_key = bytes.fromhex(payee.node_id)
    packet = onion.construct_onion(session_key, [onion.OnionHop(payee_key, payload.encode())], payment_hash)
    secrets = onion.hop_shared_secrets(session_key, [payee_key])
    payer.rpc.sendonion(onion=packet.hex(), payment_hash=payment_hash.hex(),
                        first_hop={"id": payee.node_id, "amount_msat": part_msat, "delay": FINAL_DELAY},
                        shared_secrets=[s.hex() for s in secrets])
    return payment_hash.hex()


def _htlc_hashes(node: LightningNode) -> list[str]:
    return [h for c in node.channels() if c.state == "active" for h in (c.htlc_hashes or ())]


def test_parts_from_two_payers_are_held_until_the_total_arrives(node_factory):
    """BOLT 4 allows independent payers to pay one invoice together (splitting a bill)."""
    alice, bob, carol = node_factory.get_nodes(3, impls=["builtin"] * 3)
    for payer in (alice, carol):
        payer.fund_wallet(1_000_000)
        payer.open_channel(bob, 500_000)
    invoice = bob.invoice(100_000, description="a bill for two")
    payment_hash = send_part(alice, bob, invoice.bolt11, part_msat=60_000, total_msat=100_000)
    bob.daemon.wait_for_log(r"holding part \d+ .*\(60000 of 100000 msat in 1 parts\)")
    assert _htlc_hashes(bob) == [payment_hash] and bob.lookup_invoice(invoice.label).status == "unpaid"

    send_part(carol, bob, invoice.bolt11, part_msat=40_000, total_msat=100_000)
    paid = bob.wait_invoice_paid(invoice.label)
    assert paid.status == "paid" and paid.native["amount_received_msat"] == 100_000
    for payer in (alice, carol):
        assert payer.rpc.waitsendpay(payment_hash)["payment_preimage"] == paid.preimage
    wait_for(lambda: not _htlc_hashes(bob), what="both parts to leave bob's channels")
    assert sum(c.local_msat for c in bob.channels()) == 100_000


def test_a_part_held_across_a_restart_of_the_payee_is_collected_again(node_factory):
    alice, bob, carol = node_factory.get_nodes(3, impls=["builtin"] * 3)
    for payer in (alice, carol):
        payer.fund_wallet(1_000_000)
        payer.open_channel(bob, 500_000)
    invoice = bob.invoice(100_000, description="held over a restart")
    payment_hash = send_part(alice, bob, invoice.bolt11, part_msat=70_000, total_msat=100_000)
    bob.daemon.wait_for_log(r"holding part")
    bob.restart()
    for payer in (alice, carol):
        payer.connect(bob)
        payer.wait_channel_active(bob)
    bob.daemon.wait_for_log(r"holding part \d+ .*\(70000 of 100000 msat in 1 parts\)")
    send_part(carol, bob, invoice.bolt11, part_msat=30_000, total_msat=100_000)
    assert bob.wait_invoice_paid(invoice.label).native["amount_received_msat"] == 100_000
    assert alice.rpc.waitsendpay(payment_hash)["status"] == "complete"


def test_an_incomplete_set_fails_with_mpp_timeout(node_factory):
    alice, bob = node_factory.get_nodes(2, impls=["builtin"] * 2, opts=[{}, {"mpp-timeout": 3}])
    alice.fund_wallet(1_000_000)
    alice.open_channel(bob, 500_000)
    before = alice.channels(bob)[0].local_msat
    invoice = bob.invoice(100_000, description="never completed")
    payment_hash = send_part(alice, bob, invoice.bolt11, part_msat=60_000, total_msat=100_000)
    bob.daemon.wait_for_log(r"holding part")
    with pytest.raises(BuiltinRpcError) as err:
        alice.rpc.waitsendpay(payment_hash, timeout=30)
    assert "WIRE_MPP_TIMEOUT" in err.value.message
    assert bob.daemon.is_in_log(r"only 60000 of 100000 msat arrived within 3 s \(mpp_timeout\)")
    wait_for(lambda: not _htlc_hashes(alice) and alice.channels(bob)[0].local_msat == before,
             what="the failed part to leave alice's channel, her balance untouched")
    assert bob.lookup_invoice(invoice.label).status == "unpaid"
    # the invoice can still be paid in one part afterwards
    assert alice.pay(invoice.bolt11).status == "complete"


def _two_channels(payer: LightningNode, payee: LightningNode, *, capacity_sat: int) -> None:
    payer.fund_wallet(3 * capacity_sat)
    for _ in range(2):
        payer.open_channel(payee, capacity_sat)
    wait_for(lambda: len([c for c in payee.channels(payer) if c.state == "active"]) == 2,
             what=f"{payee.name} to list both channels with {payer.name} active")


def _pay_in_two_parts(payer: LightningNode, payee: LightningNode, amount_msat: int) -> None:
    """A payment larger than either channel can carry: it completes in parts (the built-in end
    shows it: its pay result's parts, or the set it received) and the payee gets it all."""
    invoice = payee.invoice(amount_msat, description="a big cat")
    payment = payer.pay(invoice.bolt11)
    assert payment.status == "complete" and payment.amount_msat == amount_msat
    if payer.impl == "builtin":
        assert payment.parts >= 2
    if payee.impl == "builtin":
        assert payee.daemon.is_in_log(rf"payment {payment.payment_hash}: multi-part set complete: [2-9] parts")
    paid = payee.wait_invoice_paid(invoice.label)
    assert paid.status == "paid" and paid.preimage == payment.preimage
    wait_for(lambda: sum(c.local_msat for c in payee.channels(payer) if c.state == "active") == amount_msat,
             what=f"{payee.name}'s channels to hold the {amount_msat} msat")


def test_a_payment_too_large_for_one_channel_is_split_between_builtin_nodes(node_factory):
    l1, l2 = node_factory.get_nodes(2, impls=["builtin"] * 2)
    _two_channels(l1, l2, capacity_sat=500_000)
    assert max(c.local_msat for c in l1.channels(l2)) < 700_000_000
    _pay_in_two_parts(l1, l2, 700_000_000)
    pay = l1.rpc.listpays()["pays"][0]
    assert pay["status"] == "complete" and pay["amount_msat"] == 700_000_000 and pay["number_of_parts"] >= 2
    # and back with xpay: l2's 700,000 sat lie in two channels, neither holding 600,000
    back = l1.rpc.invoice(amount_msat=600_000_000, label="back", description="change")
    result = l2.rpc.xpay(invstring=back["bolt11"])
    assert result["successful_parts"] == 2 and result["failed_parts"] == 0
    assert l1.wait_invoice_paid("back").native["amount_received_msat"] == 600_000_000


@pytest.mark.parametrize("direction", ["into-builtin", "out-of-builtin"])
@pytest.mark.parametrize("other", ["lnd", "cln", "ldk"])
def test_a_payment_split_across_two_channels_with_another_implementation(node_factory, other, direction):
    builtin, peer = node_factory.get_nodes(2, impls=["builtin", other])
    payer, payee = (peer, builtin) if direction == "into-builtin" else (builtin, peer)
    _two_channels(payer, payee, capacity_sat=500_000)
    # LDK lets at most 10% of a channel's capacity be in flight towards it (its default
    # max_inbound_htlc_value_in_flight_percent_of_channel): 80,000 sat need both channels
    _pay_in_two_parts(payer, payee, 80_000_000 if payee.impl == "ldk" else 700_000_000)


def test_a_payment_no_split_can_carry_fails_naming_the_reason(node_factory):
    l1, l2 = node_factory.get_nodes(2, impls=["builtin"] * 2)
    _two_channels(l1, l2, capacity_sat=300_000)
    invoice = l2.invoice(700_000_000, description="too big for both")
    with pytest.raises(PaymentFailed, match="nor split across our 2 channels"):
        l1.pay(invoice.bolt11)


def test_a_part_failing_inside_the_network_is_sent_again_another_way(node_factory):
    """l1 -2 channels-> l2 -2 channels-> l3, l2's second channel to l3 dearer: both parts of
    l1's payment take the cheap one, which cannot carry both; l2 fails one part, and l1 sends
    its amount again without that channel (through the dear one) while l3 holds the other."""
    l1, l2, l3 = node_factory.get_nodes(3, impls=["builtin"] * 3)
    _two_channels(l1, l2, capacity_sat=500_000)
    _two_channels(l2, l3, capacity_sat=500_000)
    cheap, dear = (c.short_channel_id for c in l2.channels(l3))
    l2.rpc.setchannel(dear, feebase=20_000, enforcedelay=0)
    node_factory.chain.generate_block(6)  # announce the channels
    node_factory.settle([l1, l2, l3])  # l1 prices the final CLTV from its own height: at the tip

    def l1_knows_the_dear_fee() -> bool:
        return any(c["source"] == l2.node_id and c["base_fee_millisatoshi"] == 20_000
                   for c in l1.rpc.listchannels(short_channel_id=dear)["channels"])
    wait_for(lambda: l1_knows_the_dear_fee() and cheap in l1.known_channels(),
             what="l1's graph to hold l2's channels to l3 and the dear one's fee")

    invoice = l3.invoice(700_000_000, description="cheap channel too small")
    result = l1.rpc.pay(invoice.bolt11)
    assert result["status"] == "complete" and result["parts"] == 2
    assert l1.daemon.is_in_log(r"part \d \(\d+ msat\) failed: WIRE_TEMPORARY_CHANNEL_FAILURE")

    def l2_forwards() -> list[dict]:
        return l2.rpc.listforwards(out_channel=cheap)["forwards"] + l2.rpc.listforwards(out_channel=dear)["forwards"]

    # pay returns once the preimage is back; l3's fulfil of the other part may still be on its way to l2
    wait_for(lambda: "offered" not in {f["status"] for f in l2_forwards()}, what="l2's forwards to resolve")
    forwards = l2_forwards()
    assert sorted(f["status"] for f in forwards) == ["local_failed", "settled", "settled"]
    assert {f["out_channel"] for f in forwards if f["status"] == "settled"} == {cheap, dear}
    assert l3.wait_invoice_paid(invoice.label).native["amount_received_msat"] == 700_000_000
