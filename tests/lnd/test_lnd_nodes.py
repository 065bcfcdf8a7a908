"""lnd through the LightningNode interface: lnd<->lnd, invoices, restart. Skips without lnd."""
from __future__ import annotations

import base64
import json
import shlex
import subprocess

import pytest
from lnharness.errors import RpcError
from lnharness.node import InvoiceExpired, PaymentFailed
from lnharness.wait import wait_for


def test_lnd_node_starts_synced_and_answers_rest(node_factory):
    node = node_factory.get_node(impl="lnd")
    info = node.info()
    assert info["id"] == node.node_id and len(node.node_id) == 66
    assert info["alias"] == "l1" and info["synced_to_chain"]
    assert info["blockheight"] == node_factory.chain.height()
    assert node.rpc.get("/v1/state")["state"] == "SERVER_ACTIVE"
    with pytest.raises(RpcError) as error:
        node.rpc.get("/v1/invoice/" + "00" * 32)
    assert error.value.code == 5  # gRPC NotFound, LND's own code
    cli = shlex.split(node.connection_info()["cli"]) + ["getinfo"]
    out = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert json.loads(out.stdout)["identity_pubkey"] == node.node_id, out.stderr


def test_rest_stream_reads_an_open_to_its_final_update(node_factory, executor):
    l1, l2 = node_factory.get_nodes(2, impls=["lnd", "lnd"])
    l1.fund_wallet(500_000)
    l1.connect(l2)
    l2.wait_for_blockheight(node_factory.chain.height())
    body = {"node_pubkey": base64.b64encode(bytes.fromhex(l2.node_id)).decode(),
            "local_funding_amount": "200000"}
    opening = executor.submit(l1.rpc.stream, "POST", "/v1/channels/stream", body,
                              until=lambda update: "chan_open" in update)
    node_factory.chain.generate_block(1, wait_for_mempool=1)
    updates = opening.result()
    assert "chan_pending" in updates[0] and "chan_open" in updates[-1]
    assert updates[-1]["chan_open"]["channel_point"]["output_index"] in (0, 1)


def test_options_are_lnds_own_and_managed_ones_are_refused(node_factory):
    with pytest.raises(TypeError, match="'restlisten' is set by the harness"):
        node_factory.get_node(impl="lnd", options={"restlisten": "127.0.0.1:1"})
    with pytest.raises(TypeError, match="unknown lnd option 'colour'"):
        node_factory.get_node(impl="lnd", options={"colour": "red"})
    node = node_factory.get_node(impl="lnd", options={"alias": "shop", "color": "#ff0000"})
    assert node.info()["alias"] == "shop" and node.info()["color"] == "#ff0000"


def test_lnd_pays_lnd(node_factory):
    l1, l2 = node_factory.get_nodes(2, impls=["lnd", "lnd"])
    l1.fund_wallet(2_000_000)
    assert l1.balance().onchain_sat == 2_000_000
    channel = l1.open_channel(l2, 1_000_000, push_msat=50_000_000)
    assert channel.state == "active" and channel.capacity_sat == 1_000_000
    assert channel.remote_msat == 50_000_000
    assert channel.local_msat + channel.remote_msat == 1_000_000_000
    assert l2.channels(l1)[0].local_msat == 50_000_000

    invoice = l2.invoice(123_000, description="direct")
    assert l2.lookup_invoice(invoice.label).status == "unpaid"
    assert l2.decode(invoice.bolt11)["amount_msat"] == 123_000
    payment = l1.pay(invoice.bolt11)
    assert payment.status == "complete" and payment.fee_msat == 0
    assert payment.amount_msat == 123_000
    paid = l2.wait_invoice_paid(invoice.label)
    assert paid.status == "paid" and paid.preimage == payment.preimage
    again = l1.pay(invoice.bolt11)  # the earlier success; nothing is sent twice
    assert again.preimage == payment.preimage
    wait_for(lambda: l2.channels(l1)[0].local_msat == 50_123_000, what="l2's side to settle")


def test_invoices_paid_and_expired(node_factory):
    l1, l2 = node_factory.line_graph(2, impls=["lnd", "lnd"], wait_for_announce=False)
    any_amount = l2.invoice(None, label="tip")
    payment = l1.pay(any_amount.bolt11, amount_msat=7_000)
    assert payment.amount_msat == 7_000
    assert l2.wait_invoice_paid("tip").status == "paid"

    expiring = l2.invoice(5_000, label="soon", expiry=1)
    with pytest.raises(InvoiceExpired):
        l2.wait_invoice_paid("soon")
    assert l2.lookup_invoice(expiring.payment_hash).status == "expired"
    with pytest.raises(PaymentFailed) as failed:
        l1.pay(expiring.bolt11)
    assert "expired" in failed.value.reason


def test_failed_payment_names_the_reason(node_factory):
    l1, l2 = node_factory.line_graph(2, impls=["lnd", "lnd"], fundamount_sat=100_000,
                                     wait_for_announce=False)
    invoice = l2.invoice(200_000_000)  # more than the channel holds
    with pytest.raises(PaymentFailed) as info:
        l1.pay(invoice.bolt11)
    assert info.value.reason
    assert l2.lookup_invoice(invoice.label).status == "unpaid"


def test_restarted_lnd_pays_again(node_factory):
    l1, l2 = node_factory.line_graph(2, impls=["lnd", "lnd"], wait_for_announce=False)
    l1.pay(l2.invoice(10_000).bolt11)
    l1.restart()
    assert l1.info()["synced_to_chain"]
    l1.wait_channel_active(l2)  # both ends usable again after the reestablish
    second = l2.invoice(20_000)
    assert l1.pay(second.bolt11).status == "complete"
    assert l2.wait_invoice_paid(second.label).status == "paid"


def test_a_payment_crosses_a_line_of_four_lnd_nodes(node_factory):
    """Two paid hops: the waits' small probe amount is below their base fees, which LND's
    route query refused without a fee limit (it allows fees up to the amount only)."""
    l1, _, _, l4 = node_factory.line_graph(4, impls=["lnd"] * 4, wait_for_announce=True)
    invoice = l4.invoice(70_000, description="three hops")
    payment = l1.pay(invoice.bolt11)
    assert payment.status == "complete" and payment.fee_msat > 0
    assert l4.wait_invoice_paid(invoice.label).preimage == payment.preimage
