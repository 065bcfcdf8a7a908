"""Keysend (spontaneous payments, preimage in onion TLV 5482373484) through the LightningNode
interface: the built-in node both ways with itself and with every other implementation here."""
from __future__ import annotations

import hashlib

import pytest
from lnharness.backend import UnsupportedFeature
from lnharness.node import LightningNode
from lnharness.wait import wait_for


def _local_msat(node: LightningNode, peer: LightningNode) -> int:
    return sum(c.local_msat for c in node.channels(peer) if c.state == "active")


def _keysend_and_check(payer: LightningNode, payee: LightningNode, amount_msat: int) -> None:
    """payer keysends amount_msat to payee: complete, the preimage proves it, and the payee's
    side of the channel grows by the amount."""
    before = _local_msat(payee, payer)
    payment = payer.keysend(payee, amount_msat)
    assert payment.status == "complete" and payment.amount_msat == amount_msat
    assert payment.preimage is not None
    assert hashlib.sha256(bytes.fromhex(payment.preimage)).hexdigest() == payment.payment_hash
    wait_for(lambda: _local_msat(payee, payer) == before + amount_msat,
             what=f"{payee.name}'s side to grow by the keysend's {amount_msat} msat")


def test_keysend_between_builtin_nodes_both_ways(node_factory):
    l1, l2 = node_factory.get_nodes(2, impls=["builtin", "builtin"])
    l1.fund_wallet(2_000_000)
    l1.open_channel(l2, 1_000_000, push_msat=100_000_000)
    _keysend_and_check(l1, l2, 42_000)
    _keysend_and_check(l2, l1, 17_000)
    # the payee records it as Core Lightning does: a paid invoice labelled keysend-...
    received = [i for i in l2.rpc.listinvoices()["invoices"] if i["label"].startswith("keysend-")]
    assert len(received) == 1 and received[0]["status"] == "paid"
    assert received[0]["amount_received_msat"] == 42_000
    pays = [p for p in l1.rpc.listpays()["pays"] if p["status"] == "complete"]
    assert len(pays) == 1 and "bolt11" not in pays[0]


def test_keysend_routed_through_a_forwarding_node(node_factory):
    l1, l2, l3 = node_factory.line_graph(3, wait_for_announce=True)
    payment = l1.keysend(l3, 25_000)
    assert payment.status == "complete" and payment.fee_msat > 0  # l2 earned its fee
    wait_for(lambda: _local_msat(l3, l2) == 25_000, what="l3 to hold the keysend's amount")


@pytest.mark.parametrize("other", ["lnd", "cln", "ldk"])
def test_keysend_between_builtin_and_another_implementation(node_factory, other):
    builtin, peer = node_factory.get_nodes(2, impls=["builtin", other])
    builtin.fund_wallet(2_000_000)
    builtin.open_channel(peer, 1_000_000, push_msat=200_000_000)
    _keysend_and_check(builtin, peer, 33_000)
    _keysend_and_check(peer, builtin, 21_000)


def test_an_adapter_without_keysend_raises_unsupported_feature_naming_it(node_factory):
    l1 = node_factory.get_node(impl="builtin")

    class NoKeysend(type(l1)):  # an adapter that does not override _keysend
        impl = "nokeysend"
        _keysend = LightningNode._keysend

    builtin_class, l1.__class__ = l1.__class__, NoKeysend
    try:
        with pytest.raises(UnsupportedFeature, match=r"nokeysend \(l1\): .*keysend"):
            l1.keysend("02" + "11" * 32, 1_000)
    finally:
        l1.__class__ = builtin_class


def test_keysend_rpc_is_shaped_like_core_lightnings(node_factory):
    from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpcError

    l1, l2 = node_factory.line_graph(2, impls=["builtin", "builtin"])
    text = "thanks for the cat"
    result = l1.rpc.keysend(destination=l2.node_id, amount_msat="5sat", label="tip",
                            extratlvs={"34349335": text.encode().hex()})
    assert result["status"] == "complete" and result["amount_msat"] == 5_000
    assert result["destination"] == l2.node_id and result["parts"] == 1
    assert {"payment_preimage", "payment_hash", "created_at", "amount_sent_msat"} <= result.keys()
    # the payee's invoice for it carries the longest text record as its description
    invoice = l2.rpc.listinvoices(payment_hash=result["payment_hash"])["invoices"][0]
    assert invoice["label"].startswith("keysend-") and invoice["description"] == text
    assert invoice["status"] == "paid" and invoice["amount_received_msat"] == 5_000
    assert l1.rpc.listpays(payment_hash=result["payment_hash"])["pays"][0]["label"] == "tip"

    for params, named in (
        ({"extratlvs": {"8": "00"}}, "extratlvs"),  # a BOLT 4 type: not a custom record
        ({"extratlvs": {"5482373484": "00" * 32}}, "extratlvs"),  # the preimage's own type
        ({"extratlvs": {"65537": "zz"}}, "extratlvs.65537"),
        ({"routehints": [[{"id": l2.node_id}]]}, "routehints"),
        ({"maxfee": 10, "maxfeepercent": 1}, "maxfee"),
    ):
        with pytest.raises(BuiltinRpcError) as err:
            l1.rpc.call("keysend", {"destination": l2.node_id, "amount_msat": 1_000, **params})
        assert err.value.code == -32602 and named in err.value.message, params
    stranger = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"  # G: nobody here
    with pytest.raises(BuiltinRpcError) as err:
        l1.rpc.keysend(destination=stranger, amount_msat=1_000)
    assert err.value.code == 205 and stranger in err.value.message
