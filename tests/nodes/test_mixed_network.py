"""A network mixing implementations: a payment routed through Core Lightning.

Skipped (by node_factory, with the reason) where lightningd is not installed.
"""


def test_builtin_pays_builtin_through_lightningd(node_factory):
    l1, l2, l3 = node_factory.line_graph(3, impls=["builtin", "cln", "builtin"],
                                         wait_for_announce=True)
    assert (l1.impl, l2.impl, l3.impl) == ("builtin", "cln", "builtin")
    invoice = l3.invoice(70_000, description="through cln")
    payment = l1.pay(invoice.bolt11)
    assert payment.status == "complete" and payment.fee_msat > 0
    assert l3.wait_invoice_paid(invoice.label).preimage == payment.preimage


def test_lightningd_pays_through_builtin(node_factory):
    l1, l2, l3 = node_factory.line_graph(3, impls=["cln", "builtin", "cln"],
                                         wait_for_announce=True)
    invoice = l3.invoice(70_000, description="through builtin")
    payment = l1.pay(invoice.bolt11)
    assert payment.status == "complete" and payment.fee_msat > 0
    assert l3.wait_invoice_paid(invoice.payment_hash).status == "paid"


def test_builtin_forwards_to_lightningd_behind_a_private_channel_by_its_hint(node_factory):
    """Core Lightning's invoice hints a private channel with the scid alias the built-in node
    sent it in channel_ready; the built-in hop forwards the onion that names that alias."""
    l1, l2 = node_factory.line_graph(2, impls=["builtin", "builtin"], wait_for_announce=True)
    l3 = node_factory.get_node(impl="cln")
    l2.fund_wallet(2_000_000)
    channel = l2.open_channel(l3, 1_000_000, announce=False)
    (ours,) = l2.rpc.listpeerchannels(id=l3.node_id)["channels"]
    (theirs,) = l3.rpc.listpeerchannels(id=l2.node_id)["channels"]
    assert theirs["alias"]["remote"] == ours["alias"]["local"] != channel.short_channel_id
    invoice = l3.invoice(30_000, description="private cln payee")
    hints = l3.decode(invoice.bolt11)["routes"]
    assert [[hop["pubkey"], hop["short_channel_id"]] for hop in hints[0]] == \
        [[l2.node_id, ours["alias"]["local"]]]
    l1.wait_for_route(l2)
    payment = l1.pay(invoice.bolt11)
    assert payment.status == "complete"
    assert l3.wait_invoice_paid(invoice.payment_hash).status == "paid"
    direct = l3.invoice(20_000, description="from the hinted peer")
    assert l2.pay(direct.bolt11).status == "complete"
