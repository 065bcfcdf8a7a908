"""lnd with the built-in node (and Core Lightning where installed): opens, routing. Skips without lnd."""
from __future__ import annotations

import pytest
from lnharness.wait import wait_for


@pytest.mark.parametrize("opener", ["lnd", "builtin"])
def test_lnd_and_builtin_open_and_pay_both_ways(node_factory, opener):
    other = "builtin" if opener == "lnd" else "lnd"
    funder, fundee = node_factory.get_nodes(2, impls=[opener, other])
    funder.fund_wallet(1_000_000)
    channel = funder.open_channel(fundee, 500_000, push_msat=100_000_000)
    assert channel.state == "active" and channel.remote_msat == 100_000_000
    lnd_node = funder if opener == "lnd" else fundee
    # both offer option_anchors: whichever opens, the channel is an anchor channel
    assert lnd_node.channels()[0].native["commitment_type"] == "ANCHORS"

    there = fundee.invoice(30_000, description="forth")
    assert funder.pay(there.bolt11).preimage == fundee.wait_invoice_paid(there.label).preimage
    back = funder.invoice(20_000, description="back")
    assert fundee.pay(back.bolt11).status == "complete"
    assert funder.wait_invoice_paid(back.payment_hash).status == "paid"
    wait_for(lambda: fundee.channels(funder)[0].local_msat == 100_010_000,
             what="the fundee's side to settle both payments")


def test_builtin_pays_builtin_through_lnd(node_factory):
    l1, l2, l3 = node_factory.line_graph(3, impls=["builtin", "lnd", "builtin"],
                                         wait_for_announce=True)
    invoice = l3.invoice(70_000, description="through lnd")
    payment = l1.pay(invoice.bolt11)
    assert payment.status == "complete" and payment.fee_msat > 0  # lnd earned its fee
    assert l3.wait_invoice_paid(invoice.label).preimage == payment.preimage


def test_lnd_pays_lnd_through_builtin(node_factory):
    l1, l2, l3 = node_factory.line_graph(3, impls=["lnd", "builtin", "lnd"],
                                         wait_for_announce=True)
    invoice = l3.invoice(70_000, description="through builtin")
    payment = l1.pay(invoice.bolt11)
    assert payment.status == "complete" and payment.fee_msat > 0
    assert l3.wait_invoice_paid(invoice.payment_hash).status == "paid"


def test_lnd_and_lightningd(node_factory):
    l1, l2 = node_factory.line_graph(2, impls=["lnd", "cln"], wait_for_announce=False)
    # l2 can send only above the reserve lnd asks of it (1% of the 1M sat channel): pay it more
    invoice = l2.invoice(40_000_000)
    assert l1.pay(invoice.bolt11).status == "complete"
    l2.wait_invoice_paid(invoice.label)  # and its HTLC settled on l2's side
    back = l1.invoice(10_000_000)
    assert l2.pay(back.bolt11).status == "complete"
