"""Channels and payments through the LightningNode interface, on any implementation."""
import pytest
from lnharness.node import PaymentFailed, PaymentPending
from lnharness.topology import ChannelSpec
from lnharness.wait import wait_for

pytestmark = pytest.mark.impls("builtin", "cln", "lnd")


def test_open_pay_and_close(node_factory, impl):
    l1, l2 = node_factory.get_nodes(2)
    l1.fund_wallet(2_000_000)
    channel = l1.open_channel(l2, 1_000_000, push_msat=50_000_000)
    assert channel.state == "active" and channel.capacity_sat == 1_000_000
    assert channel.remote_msat == 50_000_000
    assert l2.channels(l1)[0].local_msat == 50_000_000

    invoice = l2.invoice(123_000, description="direct")
    payment = l1.pay(invoice.bolt11)
    assert payment.status == "complete" and payment.fee_msat == 0
    paid = l2.wait_invoice_paid(invoice.label)
    assert paid.status == "paid" and paid.preimage == payment.preimage
    expected = 1_000_000_000 - 50_000_000 - 123_000
    wait_for(lambda: l1.channels(l2)[0].local_msat == expected, what="l1's side to settle")

    txid = l1.close_channel(l2)
    node_factory.chain.generate_block(1, wait_for_mempool=txid)


def test_paying_twice_pays_once(node_factory, impl):
    l1, l2 = node_factory.line_graph(2)
    invoice = l2.invoice(10_000)
    first = l1.pay(invoice.bolt11)
    settled = 10**9 - 10_000
    wait_for(lambda: l1.balance().channels_msat == settled, what="the payment to settle")
    again = l1.pay(invoice.bolt11)  # as Core Lightning: the earlier success, nothing sent
    assert again.preimage == first.preimage
    assert l1.balance().channels_msat == settled


def test_failed_payment_names_the_reason(node_factory, impl):
    l1, l2 = node_factory.line_graph(2, fundamount_sat=100_000)
    invoice = l2.invoice(200_000_000)  # more than the channel holds
    with pytest.raises(PaymentFailed) as info:
        l1.pay(invoice.bolt11)
    assert info.value.reason


def test_line_graph_routes_a_payment(node_factory, impl):
    l1, l2, l3 = node_factory.line_graph(3, wait_for_announce=True)
    invoice = l3.invoice(50_000, description="routed")
    payment = l1.pay(invoice.bolt11)
    assert payment.status == "complete"
    assert payment.fee_msat > 0  # l2 earned its fee
    assert l3.wait_invoice_paid(invoice.payment_hash).status == "paid"


@pytest.mark.line_graph(2, wait_for_announce=False)
def test_line_graph_fixture_marker(line_graph):
    l1, l2 = line_graph
    assert [c.state for c in l1.channels()] == ["active"]
    assert l2.channels()[0].peer_id == l1.node_id


def spends_as_commitment(chain, txid):
    """Whether `txid` is a commitment transaction (BOLT 3: sequence's upper byte 0x80,
    locktime's 0x20), as opposed to a mutual closing transaction."""
    tx = chain.rpc.getrawtransaction(txid, True)
    return tx["vin"][0]["sequence"] >> 24 == 0x80 and tx["locktime"] >> 24 == 0x20


def test_close_mutual_and_forced(node_factory, impl):
    l1, l2, l3 = node_factory.get_nodes(3)
    node_factory.open_channels([l1, l2, l3], [ChannelSpec(0, 1, 200_000), ChannelSpec(0, 2, 200_000)])
    chain = node_factory.chain
    mutual = l1.close_channel(l2)
    forced = l1.close_channel(l3, force=True)
    chain.generate_block(1, wait_for_mempool=[mutual, forced])
    assert not spends_as_commitment(chain, mutual)
    assert spends_as_commitment(chain, forced)
    wait_for(lambda: [c.state for c in l1.channels(l3)] in (["closing"], ["closed"]),
             what="l1 to see its forced close")


def test_wait_for_route_returns_when_both_ends_have_the_tip(node_factory, impl):
    """A route is usable only once payer and payee have processed the chain's tip: the
    payer computes the payment's expiries from its height, the payee checks them against
    its own. Mining right before waiting leaves the nodes behind for a moment."""
    l1, l2, l3 = node_factory.line_graph(3, wait_for_announce=True)
    node_factory.chain.generate_block(5)
    l1.wait_for_route(l3, 100_000)
    tip = node_factory.chain.height()
    assert int(l1.info()["blockheight"]) == tip and int(l3.info()["blockheight"]) == tip
    assert l1.pay(l3.invoice(100_000).bolt11).status == "complete"


def test_wait_channel_active_after_a_restart_means_both_ends_reconnected(node_factory, impl):
    """After the peer restarts, the channel is listed active at once but is not usable until
    both ends are connected again: wait_channel_active must wait for that, on both ends."""
    l1, l2 = node_factory.get_nodes(2, opts={"may_reconnect": True})
    l1.fund_wallet(2_000_000)
    l1.open_channel(l2, 1_000_000, push_msat=100_000_000)
    l2.restart()
    channel = l1.wait_channel_active(l2)
    assert channel.connected is True and l2.channels(l1)[0].connected is True
    assert l2.pay(l1.invoice(10_000).bolt11).status == "complete"


@pytest.mark.impls("builtin")
def test_a_payment_whose_outcome_is_unknown_is_pending_not_failed(node_factory, impl):
    """The payee holds the HTLC: when pay's time is up the outcome is unknown, which is
    `PaymentPending` naming the hash, not `PaymentFailed`; released, the payment completes."""
    l1, l2 = node_factory.line_graph(2)
    invoice = l2.invoice(50_000)
    l2.rpc.call("dev-hold-htlcs", {"hold": True})
    with pytest.raises(PaymentPending) as pending:
        l1.pay(invoice.bolt11, timeout=3)
    assert pending.value.payment_hash == invoice.payment_hash
    assert l1.htlcs_in_flight() == 1
    l2.rpc.call("dev-hold-htlcs", {"hold": False})
    assert l2.wait_invoice_paid(invoice.label).status == "paid"
    assert l1.pay(invoice.bolt11).status == "complete"  # the earlier success, nothing sent
