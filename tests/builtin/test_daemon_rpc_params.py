"""Every RPC parameter is bounded before it reaches the node's internals (issue 12, defects 4
and 6): out-of-range values are -32602 errors naming the parameter, never -32603, and no
input is large enough to keep the node's event loop busy. Tested over real HTTP against a
node process, each bound at its edge."""

from __future__ import annotations

import hashlib
import time

import pytest
from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpcError
from lnharness.node_impl.builtin.rpc.params import (
    MAX_BOLT11_CHARS,
    MAX_DESCRIPTION_BYTES,
    MAX_HASHED_DESCRIPTION_BYTES,
    MAX_MSAT,
    MAX_STRING_BYTES,
)


@pytest.fixture
def node(builtin_nodes):
    return builtin_nodes.get_node()


def refused(node, method: str, **params: object) -> str:
    """The -32602 message of a call that must be refused."""
    with pytest.raises(BuiltinRpcError) as err:
        node.rpc.call(method, params)
    assert err.value.code == -32602, err.value
    return err.value.message


def test_invoice_amount_above_21_million_bitcoin_is_refused(node):
    assert node.rpc.invoice(amount_msat=MAX_MSAT, label="max", description="d")["bolt11"]
    for amount in (MAX_MSAT + 1, 2**63, 2**64, f"{2**63}msat"):
        message = refused(node, "invoice", amount_msat=amount, label="x", description="d")
        assert message.startswith("amount_msat:"), message


def test_pay_getroute_and_setchannel_amounts_are_bounded(node):
    invoice = node.rpc.invoice(amount_msat="any", label="any", description="d")["bolt11"]
    assert refused(node, "pay", bolt11=invoice, amount_msat=MAX_MSAT + 1).startswith("amount_msat:")
    assert refused(node, "getroute", id=node.node_id, amount_msat=2**63,
                   riskfactor=1).startswith("amount_msat:")
    assert refused(node, "pay", bolt11=invoice, amount_msat=1000,
                   maxfeepercent=101).startswith("maxfeepercent:")


def test_connect_port_must_be_a_tcp_port(node):
    peer = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"  # G
    for port in (99999, 65536):
        assert refused(node, "connect", id=peer, host="127.0.0.1", port=port).startswith("port:")
    assert refused(node, "connect", id=f"{peer}@127.0.0.1:99999").startswith("port:")
    with pytest.raises(BuiltinRpcError) as err:  # 65535 is a port: refused by the network
        node.rpc.connect(id=peer, host="127.0.0.1", port=65535)
    assert err.value.code != -32603


def test_description_that_fits_a_d_field_is_accepted_one_byte_more_is_refused(node):
    text = "é" * (MAX_DESCRIPTION_BYTES // 2) + "a"  # 639 bytes of UTF-8
    assert len(text.encode()) == MAX_DESCRIPTION_BYTES
    made = node.rpc.invoice(amount_msat=1000, label="fits", description=text)
    assert node.rpc.decodepay(made["bolt11"])["description"] == text
    message = refused(node, "invoice", amount_msat=1000, label="big", description=text + "a")
    assert message.startswith("description:") and "deschashonly" in message


def test_long_description_goes_in_as_its_hash_with_deschashonly(node):
    text = "x" * MAX_HASHED_DESCRIPTION_BYTES
    started = time.monotonic()
    made = node.rpc.invoice(amount_msat=1000, label="hashed", description=text, deschashonly=True)
    assert time.monotonic() - started < 10
    decoded = node.rpc.decodepay(made["bolt11"])
    assert decoded["description_hash"] == hashlib.sha256(text.encode()).hexdigest()
    assert "description" not in decoded
    assert node.rpc.decodepay(made["bolt11"], text)["description"] == text
    assert refused(node, "invoice", amount_msat=1000, label="huge", description=text + "x",
                   deschashonly=True).startswith("description:")


def test_a_megabyte_description_is_refused_at_once(node):
    started = time.monotonic()
    refused(node, "invoice", amount_msat=1000, label="mb", description="x" * 1_000_000)
    assert time.monotonic() - started < 5
    assert node.rpc.getinfo()["id"]


def test_labels_are_bounded(node):
    label = "l" * MAX_STRING_BYTES
    assert node.rpc.invoice(amount_msat=1000, label=label, description="d")["bolt11"]
    assert refused(node, "invoice", amount_msat=1000, label=label + "l",
                   description="d").startswith("label:")


def test_bolt11_strings_are_bounded(node):
    too_long = "lnbcrt1" + "q" * MAX_BOLT11_CHARS
    for method in ("decodepay", "pay"):
        assert refused(node, method, bolt11=too_long).startswith("bolt11:")
    assert refused(node, "listinvoices", invstring=too_long).startswith("invstring:")
    at_limit = "lnbcrt1" + "q" * (MAX_BOLT11_CHARS - 7)  # as long as allowed: decoded, invalid
    assert "Invalid bolt11" in refused(node, "decodepay", bolt11=at_limit)


def test_hex_and_integer_params_are_bounded(node):
    assert refused(node, "listinvoices", payment_hash="00" * 1_000_000).startswith("payment_hash:")
    assert refused(node, "invoice", amount_msat=1000, label="e", description="d",
                   expiry=2**32).startswith("expiry:")
    assert node.rpc.invoice(amount_msat=1000, label="e", description="d", expiry=2**32 - 1)
    assert refused(node, "invoice", amount_msat="9" * 5000, label="z",
                   description="d").startswith("amount_msat:")
    assert refused(node, "invoice", amount_msat=1000, label="\ud800",
                   description="d").startswith("label:")
