"""Routed payments across lines of built-in nodes: fees, failures from the right hop, offline
hops and route hints to private channels (real processes on the embedded chain)."""
from __future__ import annotations

import pytest

from harness.node import PaymentFailed
from harness.wait import wait_for

pytestmark = pytest.mark.impls("builtin")

FEE_BASE_MSAT = 1  # the built-in node's default policy
FEE_PPM = 10


def fee_msat(forwarded_msat: int) -> int:
    return FEE_BASE_MSAT + forwarded_msat * FEE_PPM // 1_000_000


def to_us_msat(node) -> int:
    """What `node` owns across its channels (listpeerchannels)."""
    return sum(c["to_us_msat"] for c in node.rpc.listpeerchannels()["channels"])


def no_htlcs(node) -> bool:
    return all(c["htlcs"] == [] for c in node.rpc.listpeerchannels()["channels"])


def test_first_of_five_pays_the_last_and_every_hop_earns_its_fee(node_factory, impl):
    nodes = node_factory.line_graph(5, wait_for_announce=True)
    l1, l5 = nodes[0], nodes[-1]
    before = [to_us_msat(n) for n in nodes]
    amount = 123_456_789
    invoice = l5.invoice(amount, description="four hops")
    payment = l1.pay(invoice.bolt11)
    assert payment.status == "complete"
    assert l5.wait_invoice_paid(invoice.payment_hash).status == "paid"
    for node in nodes:
        wait_for(lambda node=node: no_htlcs(node), what=f"{node.name}'s HTLCs to settle")

    # the amount each intermediate node forwards, from the payee back to the payer
    fees = {}
    forwarded = amount
    for node in reversed(nodes[1:-1]):
        fees[node.name] = fee_msat(forwarded)
        forwarded += fees[node.name]
    assert payment.fee_msat == sum(fees.values())
    after = [to_us_msat(n) for n in nodes]
    assert after[0] == before[0] - forwarded
    assert after[-1] == before[-1] + amount
    for i, node in enumerate(nodes[1:-1], start=1):
        assert after[i] - before[i] == fees[node.name], node.name
        (forward,) = node.rpc.listforwards()["forwards"]
        assert forward["status"] == "settled" and forward["fee_msat"] == fees[node.name]


def test_amount_beyond_one_hops_capacity_fails_at_that_hop(node_factory, impl):
    l1, l2, l3, l4, l5 = node_factory.line_graph(5, wait_for_announce=True)
    # l3 sends most of its l3->l4 balance to l4: that hop can no longer carry 300,000 sat
    drain = l4.invoice(800_000_000, description="drain l3->l4")
    l3.pay(drain.bolt11)
    assert l3.rpc.listpeerchannels(l4.node_id)["channels"][0]["spendable_msat"] < 300_000_000
    before = to_us_msat(l1)
    invoice = l5.invoice(300_000_000, description="too big for l3->l4")
    with pytest.raises(PaymentFailed) as failed:
        l1.pay(invoice.bolt11)
    message = str(failed.value)
    assert "WIRE_TEMPORARY_CHANNEL_FAILURE" in message and l3.node_id in message, message
    (forward,) = [f for f in l3.rpc.listforwards()["forwards"] if f["payment_hash"] == invoice.payment_hash]
    assert forward["status"] == "local_failed" and forward["failreason"] == "WIRE_TEMPORARY_CHANNEL_FAILURE"
    for node in (l1, l2):
        wait_for(lambda node=node: no_htlcs(node), what=f"{node.name}'s failed HTLC to be removed")
    assert to_us_msat(l1) == before  # nothing lost
    assert l5.lookup_invoice(invoice.payment_hash).status == "unpaid"


def test_route_through_an_offline_node_fails_and_the_payer_says_so(node_factory, impl):
    l1, l2, l3, l4, l5 = node_factory.line_graph(5, wait_for_announce=True)
    l4.stop()
    wait_for(lambda: not l3.rpc.listpeerchannels(l4.node_id)["channels"][0]["peer_connected"],
             what="l3 to notice l4 is gone")
    before = to_us_msat(l1)
    invoice = l5.invoice(50_000_000, description="l4 is offline")
    with pytest.raises(PaymentFailed) as failed:
        l1.pay(invoice.bolt11)
    native = failed.value.native
    message = str(failed.value)
    if native.code == 205:  # l3 disabled the channel and l1 heard of it before paying
        assert "No route" in message
    else:
        assert native.code == 204 and "WIRE_TEMPORARY_CHANNEL_FAILURE" in message and l3.node_id in message
    wait_for(lambda: no_htlcs(l1), what="l1's failed HTLC to be removed")
    assert to_us_msat(l1) == before


def test_route_hint_reaches_a_payee_behind_a_private_channel(node_factory, impl):
    l1, l2, l3 = node_factory.line_graph(3, wait_for_announce=True)
    l4 = node_factory.get_node()
    l3.fund_wallet(2_000_000)
    l3.open_channel(l4, 1_000_000, announce=False)
    invoice = l4.invoice(20_000_000, description="private payee")
    hints = l4.decode(invoice.bolt11)["routes"]
    assert hints and hints[0][0]["pubkey"] == l3.node_id
    l1.wait_for_route(l3)
    before = [to_us_msat(n) for n in (l2, l3)]
    payment = l1.pay(invoice.bolt11)
    assert payment.status == "complete"
    assert l4.wait_invoice_paid(invoice.payment_hash).status == "paid"
    for node in (l1, l2, l3, l4):
        wait_for(lambda node=node: no_htlcs(node), what=f"{node.name}'s HTLCs to settle")
    fee3 = fee_msat(20_000_000)
    fee2 = fee_msat(20_000_000 + fee3)
    assert payment.fee_msat == fee2 + fee3
    assert [to_us_msat(n) for n in (l2, l3)] == [before[0] + fee2, before[1] + fee3]
