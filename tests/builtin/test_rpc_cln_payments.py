"""Core Lightning parity of the payment methods between built-in node processes: xpay, sendpay
with waitsendpay and listsendpays, waitanyinvoice's pay_index, listpeerchannels' filters,
connect's resolved address."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest
from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpcError
from lnharness.wait import wait_for

from tests.builtin.test_channels_e2e import channel_of, open_channel


def error_of(call, *args, **kwargs) -> BuiltinRpcError:
    with pytest.raises(BuiltinRpcError) as err:
        call(*args, **kwargs)
    return err.value


@pytest.fixture
def pair(chain, chained_builtin_nodes):
    alice, bob = chained_builtin_nodes.get_node(), chained_builtin_nodes.get_node()
    open_channel(chain, alice, bob)
    return alice, bob


def test_xpay_pays_and_answers_in_xpays_shape(pair):
    alice, bob = pair
    invoice = bob.rpc.invoice(amount_msat=25_000, label="x", description="xpay")
    result = alice.rpc.xpay(invstring="lightning:" + invoice["bolt11"])
    assert set(result) == {"payment_preimage", "failed_parts", "successful_parts", "amount_msat",
                           "amount_sent_msat"}
    assert hashlib.sha256(bytes.fromhex(result["payment_preimage"])).hexdigest() == invoice["payment_hash"]
    assert result["failed_parts"] == 0 and result["successful_parts"] == 1
    assert result["amount_msat"] == 25_000 and result["amount_sent_msat"] == 25_000
    assert bob.rpc.listinvoices("x")["invoices"][0]["status"] == "paid"
    (sent,) = alice.rpc.listpays(payment_hash=invoice["payment_hash"])["pays"]
    assert sent["bolt11"] == invoice["bolt11"]  # stored without the prefix
    err = error_of(alice.rpc.xpay, invoice["bolt11"])
    assert err.code == 219


def test_xpay_refuses_what_it_cannot_honour(pair):
    alice, bob = pair
    invoice = bob.rpc.invoice(amount_msat=10_000, label="r", description="refusals")
    err = error_of(alice.rpc.xpay, invstring=invoice["bolt11"], layers=["mylayer"])
    assert err.code == -32602 and "layers" in err.message
    err = error_of(alice.rpc.xpay, invstring=invoice["bolt11"], partial_msat=5_000)
    assert err.code == -32602 and "partial_msat" in err.message
    err = error_of(alice.rpc.xpay, invstring=invoice["bolt11"], amount_msat=10_000)
    assert err.code == -32602 and err.message == "amount_msat unnecessary"
    anything = bob.rpc.invoice(amount_msat="any", label="any", description="any")
    err = error_of(alice.rpc.xpay, invstring=anything["bolt11"])
    assert err.code == -32602 and err.message == "amount_msat required"
    err = error_of(alice.rpc.xpay, invstring=invoice["bolt11"], payer_note="hi")
    assert err.code == -32602 and "payer_note" in err.message
    assert bob.rpc.listinvoices("r")["invoices"][0]["status"] == "unpaid"
    # an empty layers list asks for nothing, and the full amount as partial_msat is the payment
    result = alice.rpc.xpay(invstring=invoice["bolt11"], layers=[], partial_msat=10_000)
    assert result["amount_msat"] == 10_000
    result = alice.rpc.xpay(invstring=anything["bolt11"], amount_msat=777)
    assert result["amount_msat"] == 777


def test_sendpay_waitsendpay_listsendpays(chain, pair):
    alice, bob = pair
    invoice = bob.rpc.invoice(amount_msat=30_000, label="s", description="sendpay")
    scid = channel_of(alice, bob.node_id)["short_channel_id"]
    route = [{"id": bob.node_id, "channel": scid, "amount_msat": 30_000, "delay": 20}]
    for bad, field in ((dict(partid=1), "partid"), (dict(route=[]), "route"),
                       (dict(amount_msat=29_000), "final amount")):
        call = {"route": route, "payment_hash": invoice["payment_hash"],
                "payment_secret": bob.rpc.decode(invoice["bolt11"])["payment_secret"], **bad}
        err = error_of(alice.rpc.call, "sendpay", call)
        assert err.code == -32602 and field in err.message
    sent = alice.rpc.sendpay(route=route, payment_hash=invoice["payment_hash"], label="mine",
                             bolt11="LIGHTNING:" + invoice["bolt11"],
                             payment_secret=bob.rpc.decode(invoice["bolt11"])["payment_secret"])
    assert sent["status"] == "pending" and sent["payment_hash"] == invoice["payment_hash"]
    assert sent["id"] == sent["created_index"] and sent["amount_msat"] == 30_000
    done = alice.rpc.waitsendpay(payment_hash=invoice["payment_hash"], timeout=30)
    assert done["status"] == "complete"
    assert hashlib.sha256(bytes.fromhex(done["payment_preimage"])).hexdigest() == invoice["payment_hash"]
    assert bob.rpc.listinvoices("s")["invoices"][0]["status"] == "paid"
    (listed,) = alice.rpc.listsendpays(bolt11=invoice["bolt11"])["payments"]
    assert listed["status"] == "complete" and listed["label"] == "mine" and listed["groupid"] == 1
    assert listed["payment_preimage"] == done["payment_preimage"] and listed["destination"] == bob.node_id
    assert alice.rpc.listsendpays(status="failed")["payments"] == []
    assert alice.rpc.listsendpays(status="complete")["payments"] == [listed]
    err = error_of(alice.rpc.listsendpays, bolt11=invoice["bolt11"], payment_hash=invoice["payment_hash"])
    assert err.code == -32602
    err = error_of(alice.rpc.listsendpays, status="paid")
    assert err.code == -32602
    # a hash nobody issued: the payee fails it, waitsendpay reports the destination's failure
    unknown = hashlib.sha256(os.urandom(32)).hexdigest()
    alice.rpc.sendpay(route=route, payment_hash=unknown, payment_secret="00" * 32)
    err = error_of(alice.rpc.waitsendpay, payment_hash=unknown, timeout=30)
    assert err.code == 203 and "INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS" in err.message
    (failed,) = alice.rpc.listsendpays(payment_hash=unknown)["payments"]
    assert failed["status"] == "failed"
    # the same payment again is its record; another amount for a paid hash is 201
    assert alice.rpc.sendpay(route=route, payment_hash=invoice["payment_hash"])["status"] == "complete"
    more = [dict(route[0], amount_msat=31_000)]
    assert error_of(alice.rpc.sendpay, route=more, payment_hash=invoice["payment_hash"]).code == 201



def test_sendpay_below_the_htlc_minimum_fails_in_waitsendpay(pair):
    """As Core Lightning: sendpay takes a 0 msat route; no HTLC is offered and waitsendpay
    reports WIRE_AMOUNT_BELOW_MINIMUM (code 204); a later right amount still pays."""
    alice, bob = pair
    invoice = bob.rpc.invoice(amount_msat="any", label="zero", description="zero")
    scid = channel_of(alice, bob.node_id)["short_channel_id"]
    route = [{"id": bob.node_id, "channel": scid, "amount_msat": 0, "delay": 20}]
    secret = bob.rpc.decode(invoice["bolt11"])["payment_secret"]
    sent = alice.rpc.sendpay(route=route, payment_hash=invoice["payment_hash"], payment_secret=secret)
    assert sent["amount_msat"] == 0
    err = error_of(alice.rpc.waitsendpay, payment_hash=invoice["payment_hash"], timeout=30)
    assert err.code == 204 and "WIRE_AMOUNT_BELOW_MINIMUM" in err.message
    (failed,) = alice.rpc.listsendpays(payment_hash=invoice["payment_hash"])["payments"]
    assert failed["status"] == "failed"
    assert channel_of(alice, bob.node_id)["htlcs"] == []
    alice.rpc.sendpay(route=[dict(route[0], amount_msat=5_000)], payment_hash=invoice["payment_hash"],
                      payment_secret=secret)
    assert alice.rpc.waitsendpay(payment_hash=invoice["payment_hash"], timeout=30)["status"] == "complete"


def test_pay_keeps_the_checked_description_of_a_description_hash_invoice(pair):
    alice, bob = pair
    text = "one slice of watermelon " * 30  # too long for a `d` field
    invoice = bob.rpc.invoice(amount_msat=4_000, label="hashed", description=text, deschashonly=True)
    err = error_of(alice.rpc.pay, bolt11=invoice["bolt11"], description=text[:-1])
    assert err.code == -32602 and "does not match description" in err.message
    alice.rpc.pay(bolt11=invoice["bolt11"], description=text)
    (sent,) = alice.rpc.listsendpays(payment_hash=invoice["payment_hash"])["payments"]
    assert sent["description"] == text
    (paid,) = alice.rpc.listpays(bolt11=invoice["bolt11"])["pays"]
    assert paid["description"] == text


def test_wait_on_sendpays_indexes(pair):
    """Core Lightning's `wait` for sendpays: at once when the index is there, else the change
    that reaches it; other subsystems are refused."""
    alice, bob = pair
    created = alice.rpc.wait(subsystem="sendpays", indexname="created", nextvalue=0)
    assert created == {"subsystem": "sendpays", "created": 0}
    waited: dict = {}
    waiters = [threading.Thread(target=lambda name=name: waited.update(
        {name: alice.rpc.wait(subsystem="sendpays", indexname=name, nextvalue=1)}))
        for name in ("created", "updated")]
    for waiter in waiters:
        waiter.start()
    wait_for(lambda: all(line in alice.daemon.log_path.read_text() for line in
                         ("waiting on sendpays created 1", "waiting on sendpays updated 1")), 30)
    invoice = bob.rpc.invoice(amount_msat=3_000, label="waited", description="wait")
    scid = channel_of(alice, bob.node_id)["short_channel_id"]
    alice.rpc.sendpay(route=[{"id": bob.node_id, "channel": scid, "amount_msat": 3_000, "delay": 20}],
                      payment_hash=invoice["payment_hash"],
                      payment_secret=bob.rpc.decode(invoice["bolt11"])["payment_secret"])
    for waiter in waiters:
        waiter.join(30)
    details = {"groupid": 1, "partid": 0, "payment_hash": invoice["payment_hash"]}
    assert waited["created"] == {"subsystem": "sendpays", "created": 1,
                                 "sendpays": {**details, "status": "pending"}}
    assert waited["updated"] == {"subsystem": "sendpays", "updated": 1,
                                 "sendpays": {**details, "status": "complete"}}
    err = error_of(alice.rpc.wait, subsystem="invoices", indexname="created", nextvalue=5)
    assert err.code == -32602 and "only sendpays" in err.message

def test_sendpay_logs_core_lightnings_lines_and_sends_a_paid_hash_once(pair):
    """'Sending X over N hops to deliver Y' when an HTLC goes out; a sendpay of a hash already
    paid answers complete with 'Payment: X COMPLETE' and sends nothing again."""
    alice, bob = pair
    invoice = bob.rpc.invoice(amount_msat=4_000, label="repay", description="repay")
    scid = channel_of(alice, bob.node_id)["short_channel_id"]
    route = [{"id": bob.node_id, "channel": scid, "amount_msat": 4_000, "delay": 20}]
    secret = bob.rpc.decode(invoice["bolt11"])["payment_secret"]
    alice.rpc.sendpay(route=route, payment_hash=invoice["payment_hash"], payment_secret=secret)
    alice.rpc.waitsendpay(payment_hash=invoice["payment_hash"], timeout=30)
    sending = "Sending 4000msat over 1 hops to deliver 4000msat"
    wait_for(lambda: sending in alice.daemon.log_path.read_text(), 10)
    assert "Payment: 4000msat COMPLETE" not in alice.daemon.log_path.read_text()
    again = alice.rpc.sendpay(route=route, payment_hash=invoice["payment_hash"], payment_secret=secret)
    assert again["status"] == "complete"
    wait_for(lambda: "Payment: 4000msat COMPLETE" in alice.daemon.log_path.read_text(), 10)
    assert alice.daemon.log_path.read_text().count(sending) == 1


def test_dev_memleak_reports_what_pythons_collector_cannot_free(pair):
    alice, _ = pair
    assert alice.rpc.call("dev-memleak") == {"leaks": []}


def test_waitanyinvoice_follows_pay_index(pair):
    alice, bob = pair
    first = bob.rpc.invoice(amount_msat=1_000, label="first", description="1")
    second = bob.rpc.invoice(amount_msat=2_000, label="second", description="2")
    waited: dict = {}
    waiter = threading.Thread(target=lambda: waited.update(bob.rpc.waitanyinvoice(lastpay_index=0, timeout=60)))
    waiter.start()
    alice.rpc.pay(second["bolt11"])
    waiter.join(60)
    assert waited["label"] == "second" and waited["pay_index"] == 1 and waited["status"] == "paid"
    alice.rpc.pay(first["bolt11"])
    assert bob.rpc.waitanyinvoice(lastpay_index=1)["label"] == "first"
    assert bob.rpc.listinvoices("first")["invoices"][0]["pay_index"] == 2
    assert "pay_index" not in bob.rpc.invoice(amount_msat=1, label="third", description="3")
    assert error_of(bob.rpc.waitanyinvoice, lastpay_index=2, timeout=0).code == 904


def test_listpeerchannels_filters_and_listpeers_id(chain, chained_builtin_nodes, pair):
    alice, bob = pair
    carol = chained_builtin_nodes.get_node()
    open_channel(chain, alice, carol)
    with_bob = channel_of(alice, bob.node_id)
    assert [c["peer_id"] for c in alice.rpc.listpeerchannels(id=carol.node_id)["channels"]] == [carol.node_id]
    by_scid = alice.rpc.listpeerchannels(short_channel_id=with_bob["short_channel_id"])["channels"]
    assert [c["channel_id"] for c in by_scid] == [with_bob["channel_id"]]
    by_cid = alice.rpc.listpeerchannels(channel_id=with_bob["channel_id"])["channels"]
    assert [c["short_channel_id"] for c in by_cid] == [with_bob["short_channel_id"]]
    assert alice.rpc.listpeerchannels(short_channel_id="1x1x1")["channels"] == []
    err = error_of(alice.rpc.listpeerchannels, id=bob.node_id, short_channel_id=with_bob["short_channel_id"])
    assert err.code == -32602 and "Must not specify more than one" in err.message
    assert [p["id"] for p in alice.rpc.listpeers(id=carol.node_id)["peers"]] == [carol.node_id]


def test_connect_answers_the_resolved_address_and_clns_codes(chained_builtin_nodes):
    alice, bob = chained_builtin_nodes.get_node(), chained_builtin_nodes.get_node()
    result = alice.rpc.connect(f"{bob.node_id}@localhost:{bob.peer_port}")
    assert result["address"] == {"type": "ipv4", "address": "127.0.0.1", "port": bob.peer_port}
    assert result["id"] == bob.node_id and result["direction"] == "out"
    stranger = chained_builtin_nodes.get_node()
    stranger_id = stranger.node_id
    assert error_of(alice.rpc.connect, stranger_id).code == 400
    assert error_of(alice.rpc.connect, id=stranger_id, port=1).code == -32602
    # bob's address under the stranger's id: bob drops the handshake (Core Lightning's words)
    err = error_of(alice.rpc.connect, f"{stranger_id}@127.0.0.1:{bob.peer_port}")
    assert err.code == 401 and "Cryptographic handshake: peer closed connection (wrong key?)" in err.message
    stranger.stop()
    err = error_of(alice.rpc.connect, f"{stranger_id}@127.0.0.1:{stranger.peer_port}")
    assert err.code == 401 and "Connection establishment: Connection refused" in err.message
    wait_for(lambda: alice.rpc.listpeers(id=bob.node_id)["peers"], what="bob listed")


def test_pay_stores_an_uppercase_invoice_lowered_and_names_the_expiry(pair):
    alice, bob = pair
    invoice = bob.rpc.invoice(amount_msat=4_000, label="loud", description="upper")["bolt11"]
    assert alice.rpc.pay("lightning:" + invoice.upper())["status"] == "complete"
    assert [p["bolt11"] for p in alice.rpc.listpays()["pays"]] == [invoice]
    stale = bob.rpc.invoice(amount_msat=4_000, label="stale", description="s", expiry=1)["bolt11"]
    wait_for(lambda: bob.rpc.listinvoices("stale")["invoices"][0]["status"] == "expired")
    err = error_of(alice.rpc.xpay, invstring=stale)
    assert err.code == 207 and "Invoice expired" in err.message and "seconds ago" in err.message


def test_pay_our_own_invoice_and_check_a_description(pair):
    alice, bob = pair
    own = alice.rpc.invoice(amount_msat=10_000, label="self", description="to me")
    first = alice.rpc.pay(own["bolt11"])
    assert first["status"] == "complete" and first["payment_preimage"]
    assert alice.rpc.listinvoices("self")["invoices"][0]["status"] == "paid"
    assert alice.rpc.pay(own["bolt11"])["payment_preimage"] == first["payment_preimage"]  # again
    gone = alice.rpc.invoice(amount_msat=10_000, label="gone", description="x")["bolt11"]
    alice.rpc.delinvoice(label="gone", status="unpaid")
    err = error_of(alice.rpc.pay, gone)
    assert err.code == 203 and "Unknown invoice" in err.message
    text = "a description too long to carry " * 3
    hashed = bob.rpc.invoice(amount_msat=1_000, label="h", description=text, deschashonly=True)
    err = error_of(alice.rpc.pay, hashed["bolt11"], description=text[:-1])
    assert err.code == -32602 and "does not match description" in err.message
    assert alice.rpc.pay(hashed["bolt11"], description=text)["status"] == "complete"
