"""ldk through the LightningNode interface and its own RPC: ldk<->ldk, invoices, closes,
restart and kill -9. Skips without the ldk daemon."""
from __future__ import annotations

import http.client
import json

import pytest
from lnharness.errors import RpcError
from lnharness.node import InvoiceExpired, PaymentFailed
from lnharness.wait import wait_for


def raw_post(node, body: bytes, auth: bool = True) -> tuple[int, bytes]:
    """POST `body` to the node's RPC as is; (HTTP status, answer)."""
    conn = http.client.HTTPConnection("127.0.0.1", node.rpc_port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = node.rpc._auth
    try:
        conn.request("POST", "/", body, headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_ldk_node_starts_synced_and_refuses_bad_requests(node_factory):
    node = node_factory.get_node(impl="ldk")
    info = node.info()
    assert info["id"] == node.node_id and len(node.node_id) == 66
    assert info["alias"] == "l1" and info["network"] == "regtest"
    assert info["blockheight"] == node_factory.chain.height()
    assert info["binding"] == [{"type": "ipv4", "address": "127.0.0.1", "port": node.port}]
    with pytest.raises(RpcError) as unknown:
        node.call("fundpsbt")
    assert unknown.value.code == -32601 and "fundpsbt" in unknown.value.message
    with pytest.raises(RpcError) as bad:
        node.call("invoice", {"amount_msat": "lots", "label": "x"})
    assert bad.value.code == -32602 and '"amount_msat"' in bad.value.message
    with pytest.raises(RpcError) as bad_invoice:
        node.call("pay", {"bolt11": "lnbcrt1notaninvoice"})
    assert bad_invoice.value.code == -32602 and "not a valid bolt11 invoice" in bad_invoice.value.message
    assert raw_post(node, b"{}", auth=False)[0] == 401
    status, body = raw_post(node, b"x" * (2 << 20))
    assert status == 413 and b"larger than" in body
    nested = b'{"id":1,"method":"getinfo","params":' + b"[" * 100 + b"]" * 100 + b"}"
    status, body = raw_post(node, nested)
    assert status == 200 and json.loads(body)["error"]["code"] == -32600
    status, body = raw_post(node, b'{"id":2,"method":')
    assert json.loads(body)["error"]["code"] == -32700
    assert node.info()["id"] == node.node_id  # still up


def test_options_are_the_daemons_and_managed_ones_are_refused(node_factory):
    with pytest.raises(TypeError, match="'rpc-port' is set by the harness"):
        node_factory.get_node(impl="ldk", options={"rpc-port": 1})
    with pytest.raises(TypeError, match="unknown ldk node option 'colour'"):
        node_factory.get_node(impl="ldk", options={"colour": "red"})
    node = node_factory.get_node(impl="ldk", options={"alias": "shop", "log_level": "info"})
    assert node.info()["alias"] == "shop"


def test_ldk_pays_ldk(node_factory):
    l1, l2 = node_factory.get_nodes(2, impls=["ldk", "ldk"])
    l1.fund_wallet(2_000_000)
    assert l1.balance().onchain_sat == 2_000_000
    channel = l1.open_channel(l2, 1_000_000, push_msat=50_000_000)
    assert channel.state == "active" and channel.capacity_sat == 1_000_000 and channel.connected
    assert channel.remote_msat >= 50_000_000
    assert l2.channels(l1)[0].local_msat == 50_000_000
    assert channel.pending_htlcs is None  # ldk-node does not list a channel's HTLCs

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
    assert l1.htlcs_in_flight() == 0


def test_invoices_any_amount_and_expired(node_factory):
    l1, l2 = node_factory.get_nodes(2, impls=["ldk", "ldk"])
    l1.fund_wallet(1_000_000)
    l1.open_channel(l2, 500_000)
    any_amount = l2.invoice(None, label="tip")
    assert l1.pay(any_amount.bolt11, amount_msat=7_000).amount_msat == 7_000
    assert l2.wait_invoice_paid("tip").native["amount_received_msat"] == 7_000
    with pytest.raises(RpcError) as duplicate:
        l2.invoice(1_000, label="tip")
    assert duplicate.value.code == 900
    short = l2.invoice(5_000, label="short", expiry=1)
    with pytest.raises(InvoiceExpired):
        l2.wait_invoice_paid("short", timeout=30)
    with pytest.raises(PaymentFailed):
        l1.pay(short.bolt11)
    assert l2.lookup_invoice("short").status == "expired"


def test_coop_and_force_close_return_the_funds(node_factory):
    l1, l2, l3 = node_factory.get_nodes(3, impls=["ldk", "ldk", "ldk"])
    chain = node_factory.chain
    l1.fund_wallet(3_000_000)
    l1.open_channel(l2, 1_000_000, push_msat=100_000_000)
    l1.open_channel(l3, 1_000_000, push_msat=200_000_000)
    before = l2.balance().onchain_sat

    txid = l1.close_channel(l2)
    chain.generate_block(1, wait_for_mempool=txid)
    l2.wait_onchain_balance(before + 100_000)  # all of its side: the opener pays the fee
    wait_for(lambda: [c.state for c in l1.channels(l2)] == ["closed"],
             what="l1 to list the closed channel")

    force = l3.close_channel(l1, force=True)
    chain.generate_block(1, wait_for_mempool=force)
    # l1's side comes back at once (to_remote); l3's own after its to_self_delay, swept
    l1.wait_onchain_balance(1_000_000)
    assert l3.balance().onchain_sat < 200_000
    chain.generate_block(144)  # the to_self_delay l1 asked of l3 (LDK's default)
    l3.wait_for_blockheight(chain.height())

    def swept() -> bool:
        chain.generate_block(1)
        l3.wait_for_blockheight(chain.height())
        return l3.balance().onchain_sat > 190_000
    wait_for(swept, what="l3 to sweep its to_local output")


def test_restart_and_kill_keep_the_channel(node_factory):
    l1, l2 = node_factory.get_nodes(2, impls=["ldk", "ldk"])
    l1.fund_wallet(1_000_000)
    l1.open_channel(l2, 500_000)
    l1.pay(l2.invoice(10_000).bolt11)
    l2.restart()
    l1.wait_channel_active(l2)
    l1.pay(l2.invoice(20_000).bolt11)
    l2.kill()
    l2.start()
    l1.wait_channel_active(l2)
    l1.pay(l2.invoice(30_000).bolt11)
    wait_for(lambda: l2.channels(l1)[0].local_msat == 60_000, what="l2 to hold all three payments")
