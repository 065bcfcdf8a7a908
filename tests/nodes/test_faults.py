"""Faults on demand (`node_factory.link`) and the `settle()` barrier, end to end."""
from __future__ import annotations

import pytest
from lnharness.faults import LinkError
from lnharness.wait import wait_for


def test_link_carries_the_connection_and_counts_bytes(node_factory):
    l1, l2 = node_factory.get_nodes(2)
    link = node_factory.link(l1, l2)
    assert l1.dial_address(l2) == link.a_to_b_address  # a dials b through the proxy ...
    assert link.a_to_b_address != (l2.host, l2.port)    # ... not at b's own address
    assert link.a_to_b_address[1] == link.a_to_b_port
    node_factory.join_nodes([l1, l2])          # connects through the link
    stats = link.stats()
    assert stats.connections == 1 and stats.open_connections == 1
    assert stats.a_to_b_bytes > 0 and stats.b_to_a_bytes > 0 and stats.dropped_bytes == 0
    l1.pay(l2.invoice(10_000).bolt11)
    after = link.stats()
    assert after.a_to_b_bytes > stats.a_to_b_bytes and after.b_to_a_bytes > stats.b_to_a_bytes


def test_link_reroutes_connected_nodes(node_factory):
    l1, l2 = node_factory.line_graph(2)
    link = node_factory.link(l1, l2)           # they were connected directly: now through the link
    assert link.stats().open_connections == 1
    l1.pay(l2.invoice(5_000).bolt11)
    link.cut()
    assert not l1.is_connected(l2) and not l2.is_connected(l1)


def test_payment_stuck_on_a_cut_link_completes_after_restore(node_factory, executor):
    l1, l2, l3 = node_factory.line_graph(3)
    link = node_factory.link(l2, l3)
    invoice = l3.invoice(20_000)
    link.blackhole()                            # l2's HTLC to l3 leaves l2 but never arrives
    paying = executor.submit(l1.pay, invoice.bolt11)
    wait_for(lambda: l2.htlcs_in_flight() == 2, what="l2 to hold the HTLC in and offer it out")
    link.cut()                                  # the connection drops mid-payment
    assert not paying.done()
    link.restore()                              # l2 redials l3 through the link; reestablish
    payment = paying.result(timeout=120)
    assert payment.status == "complete"
    assert l3.wait_invoice_paid(invoice.label).status == "paid"
    node_factory.settle()


def test_delayed_link_slows_but_does_not_break_payments(node_factory):
    l1, l2, l3 = node_factory.line_graph(3)
    link = node_factory.link(l1, l2)
    link.delay(150)
    for i in range(3):
        payment = l1.pay(l3.invoice(1_000 + i).bolt11)
        assert payment.status == "complete"
    link.delay(0)
    l1.pay(l3.invoice(4_000).bolt11)
    node_factory.settle()


def test_blackhole_then_restore(node_factory, executor):
    l1, l2 = node_factory.line_graph(2)
    link = node_factory.link(l1, l2)
    invoice = l2.invoice(30_000)
    link.blackhole()                            # accepted, never delivered: the connection stays up
    paying = executor.submit(l1.pay, invoice.bolt11)
    wait_for(lambda: l1.htlcs_in_flight() == 1 and link.stats().dropped_bytes > 0,
             what="l1's HTLC to vanish into the blackhole")
    assert l1.is_connected(l2) and link.stats().open_connections == 1
    link.restore()                              # the broken stream is dropped, l1 redials
    assert paying.result(timeout=120).status == "complete"
    assert l2.wait_invoice_paid(invoice.label).status == "paid"
    node_factory.settle([l1, l2])


def test_settle_after_a_burst_leaves_no_htlc_pending(node_factory, executor):
    nodes = node_factory.line_graph(5, wait_for_announce=True)
    first, last = nodes[0], nodes[-1]
    invoices = [last.invoice(1_000 + i) for i in range(6)]
    for future in [executor.submit(first.pay, inv.bolt11) for inv in invoices]:
        future.result(timeout=120)
    node_factory.settle()
    assert [node.htlcs_in_flight() for node in nodes] == [0] * 5
    assert len({frozenset(node.known_channels()) for node in nodes}) == 1
    assert len(first.known_channels()) == 4


def test_link_errors_are_clear(node_factory):
    l1, l2 = node_factory.get_nodes(2)
    with pytest.raises(LinkError, match="two different nodes, got l1 twice"):
        node_factory.link(l1, l1)
    stranger = type("Stranger", (), {"name": "x9", "__repr__": lambda self: "<x9>"})()
    with pytest.raises(LinkError, match="<x9> is not a node of this factory; its nodes: l1, l2"):
        node_factory.link(l1, stranger)
    link = node_factory.link(l1, l2)
    with pytest.raises(LinkError, match="l2 and l1 already have a link"):
        node_factory.link(l2, l1)
    with pytest.raises(ValueError, match="milliseconds"):
        link.delay(-1)
    link.close()
    assert l1.dial_address(l2) == (l2.host, l2.port)
    with pytest.raises(LinkError, match=r"cannot cut link l1<->l2: it is closed"):
        link.cut()


@pytest.mark.impls("builtin", "cln", "lnd")
def test_pay_and_wait_invoice_paid_return_with_the_balances_moved(node_factory, impl):
    """The preimage reaches the payer before the commitment dance that removes the HTLC
    ends, so on a slow link both balances lag the payment by round trips: `pay` returns
    only once the payer's side shows it, `wait_invoice_paid` once the payee's does."""
    l1, l2 = node_factory.line_graph(2)
    link = node_factory.link(l1, l2)
    link.delay(300)
    before1, before2 = l1.channels(l2)[0].local_msat, l2.channels(l1)[0].local_msat
    invoice = l2.invoice(50_000)
    l1.pay(invoice.bolt11)
    assert l1.payment_htlcs(invoice.payment_hash) == 0
    assert l1.channels(l2)[0].local_msat == before1 - 50_000
    l2.wait_invoice_paid(invoice.label)
    assert l2.payment_htlcs(invoice.payment_hash) == 0
    assert l2.channels(l1)[0].local_msat == before2 + 50_000


def test_wait_channel_closed_returns_when_both_ends_call_it_closed(node_factory, impl):
    l1, l2 = node_factory.line_graph(2)
    funding = l1.channels(l2)[0].funding_txid
    txid = l1.close_channel(l2)
    node_factory.chain.generate_block(1, wait_for_mempool=txid)
    ours = l1.wait_channel_closed(l2, funding)
    assert ours is None or ours.state == "closed"
    theirs = l2.channels(l1)
    assert all(c.state == "closed" for c in theirs if c.funding_txid == funding)
