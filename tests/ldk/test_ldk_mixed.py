"""ldk with the built-in node, lnd and Core Lightning (each where present): opens both ways,
routing through an ldk node. Skips without the ldk daemon."""
from __future__ import annotations

import pytest
from lnharness.wait import wait_for


@pytest.mark.parametrize("other", ["builtin", "lnd", "cln"])
@pytest.mark.parametrize("ldk_opens", [True, False], ids=["ldk-opens", "ldk-accepts"])
def test_ldk_opens_and_accepts_and_pays_both_ways(node_factory, other, ldk_opens):
    impls = ["ldk", other] if ldk_opens else [other, "ldk"]
    funder, fundee = node_factory.get_nodes(2, impls=impls)
    funder.fund_wallet(1_000_000)
    channel = funder.open_channel(fundee, 500_000, push_msat=100_000_000)
    assert channel.state == "active" and channel.connected
    assert fundee.channels(funder)[0].local_msat == 100_000_000

    there = fundee.invoice(30_000, description="forth")
    assert funder.pay(there.bolt11).preimage == fundee.wait_invoice_paid(there.label).preimage
    back = funder.invoice(20_000, description="back")
    assert fundee.pay(back.bolt11).status == "complete"
    assert funder.wait_invoice_paid(back.payment_hash).status == "paid"
    wait_for(lambda: fundee.channels(funder)[0].local_msat == 100_010_000,
             what="the fundee's side to settle both payments")


def test_builtin_pays_builtin_through_ldk(node_factory):
    l1, l2, l3 = node_factory.line_graph(3, impls=["builtin", "ldk", "builtin"],
                                         wait_for_announce=True)
    invoice = l3.invoice(70_000, description="through ldk")
    payment = l1.pay(invoice.bolt11)
    assert payment.status == "complete" and payment.fee_msat > 0  # ldk earned its fee
    assert l3.wait_invoice_paid(invoice.label).preimage == payment.preimage
    assert l2.known_channels() == l1.known_channels() == l3.known_channels()


def test_ldk_pays_ldk_through_builtin(node_factory):
    l1, l2, l3 = node_factory.line_graph(3, impls=["ldk", "builtin", "ldk"],
                                         wait_for_announce=True)
    invoice = l3.invoice(70_000, description="through builtin")
    payment = l1.pay(invoice.bolt11)
    assert payment.status == "complete" and payment.fee_msat > 0
    assert l3.wait_invoice_paid(invoice.payment_hash).status == "paid"
    node_factory.settle()
