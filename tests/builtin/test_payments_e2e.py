"""Payment failures between built-in node processes: each error names its reason and leaves the
channel balances untouched."""

from __future__ import annotations

import pytest

from harness.wait import wait_for
from node_impl.builtin.rpc_client import BuiltinRpcError
from tests.builtin.test_channels_e2e import channel_of, open_channel, pay


def test_invoice_already_paid_by_someone_else_is_refused_by_the_payee(chain, chain_node_factory):
    alice, bob, carol = (chain_node_factory.get_node() for _ in range(3))
    open_channel(chain, alice, bob)
    open_channel(chain, carol, bob)
    invoice = bob.rpc.invoice(amount_msat=50_000, label="shared", description="once only")
    carol.rpc.pay(invoice["bolt11"])
    before = channel_of(alice, bob.node_id)["to_us_msat"]
    with pytest.raises(BuiltinRpcError) as err:
        alice.rpc.pay(invoice["bolt11"])
    assert err.value.code == 203
    assert "WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS" in err.value.message
    assert alice.rpc.listpays(payment_hash=invoice["payment_hash"])["pays"][0]["status"] == "failed"
    wait_for(lambda: channel_of(alice, bob.node_id)["htlcs"] == [], what="failed HTLC removed")
    assert channel_of(alice, bob.node_id)["to_us_msat"] == before
    # the channel still works afterwards
    pay(alice, bob, 20_000, "after-failure")


def test_unknown_invoice_and_any_amount_invoice(chain, chain_node_factory):
    alice, bob = chain_node_factory.get_node(), chain_node_factory.get_node()
    open_channel(chain, alice, bob)
    invoice = bob.rpc.invoice(amount_msat="any", label="tip", description="tip jar")
    with pytest.raises(BuiltinRpcError) as err:
        alice.rpc.pay(invoice["bolt11"])
    assert err.value.code == -32602 and "amount_msat" in err.value.message
    result = alice.rpc.pay(bolt11=invoice["bolt11"], amount_msat=12_345)
    assert result["amount_msat"] == 12_345
    assert bob.rpc.listinvoices("tip")["invoices"][0]["amount_received_msat"] == 12_345
    # an invoice of a node we have no channel with
    carol = chain_node_factory.get_node()
    stranger = carol.rpc.invoice(amount_msat=1_000, label="x", description="x")
    with pytest.raises(BuiltinRpcError) as err:
        alice.rpc.pay(stranger["bolt11"])
    assert err.value.code == 205 and carol.node_id in err.value.message
    with pytest.raises(BuiltinRpcError) as err:
        alice.rpc.pay("lnbcrt1garbage")
    assert err.value.code == -32602
    pays = {p["payment_hash"]: p for p in alice.rpc.listpays()["pays"]}
    assert pays[invoice["payment_hash"]]["status"] == "complete"
    assert pays[invoice["payment_hash"]]["preimage"] == result["payment_preimage"]


def test_htlc_to_forward_is_failed_with_unknown_next_peer_until_forwarding_exists(chain, chain_node_factory):
    alice, bob, carol = (chain_node_factory.get_node() for _ in range(3))
    open_channel(chain, alice, bob)
    open_channel(chain, bob, carol)
    invoice = carol.rpc.invoice(amount_msat=30_000, label="via-bob", description="two hops")
    decoded = carol.rpc.decodepay(invoice["bolt11"])
    assert decoded["routes"][0][0]["pubkey"] == bob.node_id  # route hint over the private bob-carol channel
    with pytest.raises(BuiltinRpcError) as err:
        alice.rpc.pay(invoice["bolt11"])
    assert err.value.code == 204
    assert "WIRE_UNKNOWN_NEXT_PEER at hop 0" in err.value.message
    wait_for(lambda: channel_of(alice, bob.node_id)["htlcs"] == [], what="failed HTLC removed")
