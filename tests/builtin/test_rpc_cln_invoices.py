"""Core Lightning parity of the invoice methods without a chain: decode, delinvoice,
listinvoices' filters, waitanyinvoice's timeout, "lightning:" prefixes, error codes."""

from __future__ import annotations

import pytest
from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpcError


def error_of(call, *args, **kwargs) -> BuiltinRpcError:
    with pytest.raises(BuiltinRpcError) as err:
        call(*args, **kwargs)
    return err.value


def test_decode_bolt11_with_and_without_lightning_prefix(builtin_nodes):
    node = builtin_nodes.get_node()
    created = node.rpc.invoice(amount_msat=42_000, label="d", description="decode me")
    decoded = node.rpc.decode(created["bolt11"])
    assert decoded["type"] == "bolt11 invoice" and decoded["valid"] is True
    assert decoded["payment_hash"] == created["payment_hash"] and decoded["amount_msat"] == 42_000
    assert decoded == {"type": "bolt11 invoice", "valid": True, **node.rpc.decodepay(created["bolt11"])}
    for prefix in ("lightning:", "LIGHTNING:", "LiGhTnInG:"):
        assert node.rpc.decode(prefix + created["bolt11"]) == decoded
        assert node.rpc.decodepay(prefix + created["bolt11"])["payment_hash"] == created["payment_hash"]


def test_decode_refuses_what_it_cannot_read_with_invalid_params(builtin_nodes):
    node = builtin_nodes.get_node()
    node_id = node.node_id  # Core Lightning would read this as a rune: we cannot
    err = error_of(node.rpc.decode, node_id)
    assert err.code == -32602 and "rune" in err.message
    err = error_of(node.rpc.decode, "lno1qgsqvgnwgcg35z6ee2h3yczraddm72xrfua9uve2rlrm9deu7xyfzr")
    assert err.code == -32602 and "BOLT 12 offer" in err.message
    err = error_of(node.rpc.decode, "not an invoice at all!")
    assert err.code == -32602 and "Unparsable string" in err.message
    err = error_of(node.rpc.decode, "lnbcrt1garbage")
    assert err.code == -32602 and "Unparsable string" in err.message


def test_listinvoices_takes_one_filter_at_most(builtin_nodes):
    node = builtin_nodes.get_node()
    created = node.rpc.invoice(amount_msat=1_000, label="one", description="x")
    node.rpc.invoice(amount_msat=2_000, label="two", description="y")
    err = error_of(node.rpc.listinvoices, label="one", payment_hash=created["payment_hash"])
    assert err.code == -32602 and "Can only specify one of" in err.message
    (found,) = node.rpc.listinvoices(invstring="lightning:" + created["bolt11"])["invoices"]
    assert found["label"] == "one"
    paged = node.rpc.listinvoices(index="created", start=2, limit=1)["invoices"]
    assert [i["label"] for i in paged] == ["two"]
    err = error_of(node.rpc.listinvoices, start=1)
    assert err.code == -32602 and "{index}" in err.message


def test_delinvoice_checks_status_and_desconly(builtin_nodes):
    node = builtin_nodes.get_node()
    created = node.rpc.invoice(amount_msat=5_000, label="gone", description="long story")
    err = error_of(node.rpc.delinvoice, label="gone", status="paid")
    assert err.code == 906 and err.message == "Invoice status is unpaid not paid"
    assert err.data == {"current_status": "unpaid", "expected_status": "paid"}
    kept = node.rpc.delinvoice(label="gone", status="unpaid", desconly=True)
    assert "description" not in kept and kept["payment_hash"] == created["payment_hash"]
    assert "description" not in node.rpc.listinvoices("gone")["invoices"][0]
    err = error_of(node.rpc.delinvoice, label="gone", status="unpaid", desconly=True)
    assert err.code == 908
    deleted = node.rpc.delinvoice("gone", "unpaid")
    assert deleted["label"] == "gone" and deleted["status"] == "unpaid"
    assert node.rpc.listinvoices("gone")["invoices"] == []
    err = error_of(node.rpc.delinvoice, label="gone", status="unpaid")
    assert err.code == 905
    # the label is free again
    assert node.rpc.invoice(amount_msat=5_000, label="gone", description="again")["bolt11"]


def test_invoice_error_codes(builtin_nodes):
    node = builtin_nodes.get_node()
    preimage = "11" * 32
    node.rpc.invoice(amount_msat=1_000, label="a", description="a", preimage=preimage)
    assert error_of(node.rpc.invoice, amount_msat=1_000, label="a", description="b").code == 900
    assert error_of(node.rpc.invoice, amount_msat=1_000, label="b", description="b",
                    preimage=preimage).code == 901
    assert error_of(node.rpc.call, "no-such-method", {}).code == -32601


def test_waitanyinvoice_times_out_with_904(builtin_nodes):
    node = builtin_nodes.get_node()
    node.rpc.invoice(amount_msat=1_000, label="never", description="unpaid")
    err = error_of(node.rpc.waitanyinvoice, lastpay_index=0, timeout=0)
    assert err.code == 904
    err = error_of(node.rpc.waitanyinvoice, timeout=1)
    assert err.code == 904


def test_decode_reads_other_networks_and_uppercase_invoices(builtin_nodes):
    node = builtin_nodes.get_node()
    # BOLT 11's first example (mainnet): decode reads it, decodepay (this node's network) not
    mainnet = ("lnbc1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfq"
               "qqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6"
               "rfwvs8qun0dfjkxaq9qrsgq357wnc5r2ueh7ck6q93dj32dlqnls087fxdwk8qakdyafkq3yap9us6v52vj"
               "jsrvywa6rt52cm9r9zqt8r2t7mlcwspyetp5h2tztugp9lfyql")
    decoded = node.rpc.decode(mainnet)
    assert decoded["currency"] == "bc" and decoded["created_at"] == 1496314658
    assert decoded["description"] == "Please consider supporting this project"
    assert error_of(node.rpc.decodepay, mainnet).code == -32602
    created = node.rpc.invoice(amount_msat=7_000, label="up", description="shout")
    assert node.rpc.decode(created["bolt11"].upper())["payment_hash"] == created["payment_hash"]
    mixed = created["bolt11"][:10].upper() + created["bolt11"][10:]
    assert error_of(node.rpc.decode, mixed).code == -32602


def test_invoice_errors_in_core_lightnings_words(builtin_nodes):
    node = builtin_nodes.get_node()
    err = error_of(node.rpc.invoice, amount_msat=0, label="zero", description="z")
    assert err.code == -32602 and "positive msat or 'any': invalid token '0'" in err.message
    node.rpc.invoice(amount_msat=1_000, label="kept", description="k")
    assert node.rpc.listinvoices(offer_id="aa" * 32) == {"invoices": []}
    assert error_of(node.rpc.listinvoices, offer_id="zz").code == -32602


def test_invoice_amounts_in_btc(builtin_nodes):
    node = builtin_nodes.get_node()
    assert node.rpc.decode(node.rpc.invoice(amount_msat="0.00000001btc", label="one-sat",
                                            description="b")["bolt11"])["amount_msat"] == 1000
    assert node.rpc.decode(node.rpc.invoice(amount_msat="0.00000000001btc", label="one-msat",
                                            description="b")["bolt11"])["amount_msat"] == 1
    for zero in ("0.00000000btc", "0btc"):
        err = error_of(node.rpc.invoice, amount_msat=zero, label="z", description="z")
        assert err.code == -32602 and f"invalid token '{zero}'" in err.message
    for bad in ("0.000000000001btc", "1.btc", "btc", "1.2.3btc"):
        assert error_of(node.rpc.invoice, amount_msat=bad, label="bad", description="z").code == -32602
