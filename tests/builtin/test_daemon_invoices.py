"""Built-in node invoices: invoice/listinvoices/decodepay roundtrip, expiry, bad input."""

from __future__ import annotations

import hashlib
import os

import pytest

from node_impl.builtin import bolt11
from node_impl.builtin.rpc_client import BuiltinRpcError


def test_invoice_listinvoices_decodepay_roundtrip(node_factory):
    node = node_factory.get_node()
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
    assert node.rpc.listinvoices(invstring=created["bolt11"])["invoices"] == [listed]


def test_any_amount_invoice_and_own_preimage(node_factory):
    node = node_factory.get_node()
    preimage = "42" * 32
    created = node.rpc.invoice(amount_msat="any", label="anything", description="pay what you want",
                               preimage=preimage)
    decoded = node.rpc.decodepay(created["bolt11"])
    assert "amount_msat" not in decoded
    assert created["payment_hash"] == hashlib.sha256(bytes.fromhex(preimage)).hexdigest()


def test_duplicate_label_is_error_900(node_factory):
    node = node_factory.get_node()
    node.rpc.invoice(1000, "same", "one")
    with pytest.raises(BuiltinRpcError) as err:
        node.rpc.invoice(amount_msat=1000, label="same", description="two")
    assert err.value.code == 900 and "Duplicate label" in err.value.message


def test_waitinvoice_on_expired_invoice_is_error_903(node_factory):
    node = node_factory.get_node()
    node.rpc.invoice(amount_msat=1000, label="short", description="short-lived", expiry=1)
    with pytest.raises(BuiltinRpcError) as err:
        node.rpc.waitinvoice("short")
    assert err.value.code == 903
    assert node.rpc.listinvoices("short")["invoices"][0]["status"] == "expired"


def test_decodepay_rejects_other_network_and_garbage(node_factory):
    node = node_factory.get_node()
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


def test_invoices_survive_restart(node_factory):
    node = node_factory.get_node()
    node_id = node.node_id
    created = node.rpc.invoice(5000, "kept", "kept across restart")
    node.stop()
    node.start()
    assert node.node_id == node_id
    (listed,) = node.rpc.listinvoices("kept")["invoices"]
    assert listed["bolt11"] == created["bolt11"] and listed["status"] == "unpaid"
