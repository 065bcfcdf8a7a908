"""Built-in node invoices: invoice/listinvoices/decodepay roundtrip, expiry, bad input."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpcError
from lnharness.node_impl.builtin.wire import bolt11
from lnharness.wait import wait_for


def test_invoice_listinvoices_decodepay_roundtrip(builtin_nodes):
    node = builtin_nodes.get_node()
    created = node.rpc.invoice(amount_msat=100_000, label="cat", description="a cat", expiry=600)
    assert created["bolt11"].startswith("lnbcrt1u1")
    (listed,) = node.rpc.listinvoices("cat")["invoices"]
    assert listed["label"] == "cat" and listed["status"] == "unpaid"
    assert listed["amount_msat"] == 100_000 and listed["description"] == "a cat"
    assert listed["payment_hash"] == created["payment_hash"]
    assert listed["expires_at"] == created["expires_at"]
    decoded = node.rpc.decodepay(created["bolt11"])
    assert decoded["payee"] == node.node_id
    assert decoded["amount_msat"] == 100_000 and decoded["description"] == "a cat"
    assert decoded["payment_hash"] == created["payment_hash"]
    assert decoded["payment_secret"] == created["payment_secret"]
    assert decoded["expiry"] == 600 and decoded["currency"] == "bcrt"
    assert decoded["created_at"] + 600 == created["expires_at"]
    assert decoded["min_final_cltv_expiry"] == 10
    assert node.rpc.listinvoices(payment_hash=created["payment_hash"])["invoices"] == [listed]
    with pytest.raises(BuiltinRpcError) as err:
        node.rpc.decodepay(created["bolt11"], "another description")
    assert err.value.code == -32602 and "description hash" in err.value.message
    assert node.rpc.listinvoices(invstring=created["bolt11"])["invoices"] == [listed]


def test_any_amount_invoice_and_own_preimage(builtin_nodes):
    node = builtin_nodes.get_node()
    preimage = "42" * 32
    created = node.rpc.invoice(amount_msat="any", label="anything", description="pay what you want",
                               preimage=preimage)
    decoded = node.rpc.decodepay(created["bolt11"])
    assert "amount_msat" not in decoded
    assert created["payment_hash"] == hashlib.sha256(bytes.fromhex(preimage)).hexdigest()


def test_duplicate_label_is_error_900(builtin_nodes):
    node = builtin_nodes.get_node()
    node.rpc.invoice(1000, "same", "one")
    with pytest.raises(BuiltinRpcError) as err:
        node.rpc.invoice(amount_msat=1000, label="same", description="two")
    assert err.value.code == 900 and "Duplicate label" in err.value.message


def test_waitinvoice_on_expired_invoice_is_error_903(builtin_nodes):
    node = builtin_nodes.get_node()
    node.rpc.invoice(amount_msat=1000, label="short", description="short-lived", expiry=1)
    with pytest.raises(BuiltinRpcError) as err:
        node.rpc.waitinvoice("short")
    assert err.value.code == 903
    assert node.rpc.listinvoices("short")["invoices"][0]["status"] == "expired"


def test_decodepay_rejects_other_network_and_garbage(builtin_nodes):
    node = builtin_nodes.get_node()
    mainnet = bolt11.create_invoice(private_key=os.urandom(32), network="bitcoin",
                                    payment_hash=os.urandom(32), payment_secret=os.urandom(32),
                                    amount_msat=1000, description="mainnet")
    with pytest.raises(BuiltinRpcError) as err:
        node.rpc.decodepay(mainnet)
    assert err.value.code == -32602
    assert "'bitcoin'" in err.value.message and "regtest" in err.value.message
    with pytest.raises(BuiltinRpcError) as err:
        node.rpc.decodepay("lnbcrt1garbage")
    assert err.value.code == -32602 and "Invalid bolt11" in err.value.message


def test_invoices_survive_restart(builtin_nodes):
    node = builtin_nodes.get_node()
    node_id = node.node_id
    created = node.rpc.invoice(5000, "kept", "kept across restart")
    node.stop()
    node.start()
    assert node.node_id == node_id
    (listed,) = node.rpc.listinvoices("kept")["invoices"]
    assert listed["bolt11"] == created["bolt11"] and listed["status"] == "unpaid"


def test_waitinvoice_returns_when_paid_and_paid_state_survives_restart(chain, chained_builtin_nodes):
    alice, bob = chained_builtin_nodes.get_node(), chained_builtin_nodes.get_node()
    chain.rpc.sendtoaddress(alice.rpc.newaddr()["bech32"], Decimal("0.05"))
    chain.mine(1)
    alice.wait_synced(chain)
    wait_for(lambda: alice.rpc.listfunds()["outputs"], what="alice funded")
    alice.connect_to(bob)
    funding = alice.rpc.fundchannel(id=bob.node_id, amount=1_000_000)
    wait_for(lambda: funding["txid"] in chain.rpc.getrawmempool(), what="funding tx in mempool")
    chain.mine(1)
    wait_for(lambda: [c for c in alice.rpc.listpeerchannels()["channels"]
                      if c["state"] == "CHANNELD_NORMAL"], what="channel to be normal")
    created = bob.rpc.invoice(amount_msat=50_000, label="cat", description="a cat")
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(bob.rpc.waitinvoice, "cat")
        bob.daemon.wait_for_log("call waitinvoice")
        assert not waiting.done()
        alice.rpc.pay(created["bolt11"])
        paid = waiting.result(timeout=30)
    assert paid["status"] == "paid" and paid["amount_received_msat"] == 50_000
    assert hashlib.sha256(bytes.fromhex(paid["payment_preimage"])).hexdigest() == created["payment_hash"]
    bob.stop()
    bob.start()
    (listed,) = bob.rpc.listinvoices("cat")["invoices"]
    assert listed["status"] == "paid" and listed["paid_at"] == paid["paid_at"]
    assert listed["payment_preimage"] == paid["payment_preimage"]
