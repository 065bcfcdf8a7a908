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
