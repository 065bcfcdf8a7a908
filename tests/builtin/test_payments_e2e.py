"""Payment failures between built-in node processes: each error names its reason and leaves the
channel balances untouched."""

from __future__ import annotations

import pytest
from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpcError
from lnharness.wait import wait_for

from tests.builtin.test_channels_e2e import channel_of, open_channel, pay


def test_invoice_already_paid_by_someone_else_is_refused_by_the_payee(chain, chained_builtin_nodes):
    alice, bob, carol = (chained_builtin_nodes.get_node() for _ in range(3))
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


def test_unknown_invoice_and_any_amount_invoice(chain, chained_builtin_nodes):
    alice, bob = chained_builtin_nodes.get_node(), chained_builtin_nodes.get_node()
    open_channel(chain, alice, bob)
    invoice = bob.rpc.invoice(amount_msat="any", label="tip", description="tip jar")
    with pytest.raises(BuiltinRpcError) as err:
        alice.rpc.pay(invoice["bolt11"])
    assert err.value.code == -32602 and "amount_msat" in err.value.message
    result = alice.rpc.pay(bolt11=invoice["bolt11"], amount_msat=12_345)
    assert result["amount_msat"] == 12_345
    assert bob.rpc.listinvoices("tip")["invoices"][0]["amount_received_msat"] == 12_345
    # an invoice of a node we have no channel with
    carol = chained_builtin_nodes.get_node()
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


def test_payment_through_a_forwarding_node_and_a_failure_relayed_back(chan_line):
    alice, bob, carol = chan_line
    # carol's route hints list the channels registered with her gossip subsystem, which happens
    # just after listpeerchannels shows CHANNELD_NORMAL
    scid = channel_of(carol, bob.node_id)["short_channel_id"]
    wait_for(lambda: carol.rpc.listchannels(short_channel_id=scid)["channels"],
             what="carol's channel with bob registered for route hints")
    invoice = carol.rpc.invoice(amount_msat=30_000_000, label="via-bob", description="two hops")
    decoded = carol.rpc.decodepay(invoice["bolt11"])
    assert decoded["routes"][0][0]["pubkey"] == bob.node_id  # route hint over the private bob-carol channel
    alice_before = channel_of(alice, bob.node_id)["to_us_msat"]
    bob_in_before = channel_of(bob, alice.node_id)["to_us_msat"]
    bob_out_before = channel_of(bob, carol.node_id)["to_us_msat"]
    result = alice.rpc.pay(invoice["bolt11"])
    assert result["status"] == "complete" and result["destination"] == carol.node_id
    fee = result["amount_sent_msat"] - 30_000_000
    assert fee == 1 + 30_000_000 * 10 // 1_000_000  # bob's policy: 1 msat + 10 ppm
    assert carol.rpc.listinvoices("via-bob")["invoices"][0]["status"] == "paid"
    wait_for(lambda: channel_of(bob, carol.node_id)["htlcs"] == [] and channel_of(bob, alice.node_id)["htlcs"] == [],
             what="forward settled on both of bob's channels")
    assert channel_of(alice, bob.node_id)["to_us_msat"] == alice_before - 30_000_000 - fee
    assert channel_of(bob, alice.node_id)["to_us_msat"] == bob_in_before + 30_000_000 + fee
    assert channel_of(bob, carol.node_id)["to_us_msat"] == bob_out_before - 30_000_000
    (forward,) = bob.rpc.listforwards()["forwards"]
    assert forward["status"] == "settled" and forward["fee_msat"] == fee

    # an invoice bob already paid directly: carol refuses alice's payment, bob relays the failure
    # back and alice reads carol's reason from the failure onion
    paid = carol.rpc.invoice(amount_msat=20_000, label="paid-by-bob", description="once")
    bob.rpc.pay(paid["bolt11"])
    with pytest.raises(BuiltinRpcError) as err:
        alice.rpc.pay(paid["bolt11"])
    assert err.value.code == 203
    assert "WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS" in err.value.message
    wait_for(lambda: channel_of(alice, bob.node_id)["htlcs"] == [], what="failed HTLC removed")
    forwards = bob.rpc.listforwards()["forwards"]
    assert [f["status"] for f in forwards] == ["settled", "failed"]


@pytest.fixture
def chan_line(chain, chained_builtin_nodes):
    alice, bob, carol = (chained_builtin_nodes.get_node() for _ in range(3))
    open_channel(chain, alice, bob)
    open_channel(chain, bob, carol, push_msat=100_000_000)
    return alice, bob, carol


def test_concurrent_payments_both_ways_keep_both_sides_in_agreement(chain, chained_builtin_nodes):
    from concurrent.futures import ThreadPoolExecutor

    from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpc

    alice, bob = chained_builtin_nodes.get_node(), chained_builtin_nodes.get_node()
    open_channel(chain, alice, bob, push_msat=300_000_000)
    a_invoices = [bob.rpc.invoice(amount_msat=1_000_000 + i, label=f"a{i}", description="x")["bolt11"]
                  for i in range(15)]
    b_invoices = [alice.rpc.invoice(amount_msat=2_000_000 + i, label=f"b{i}", description="x")["bolt11"]
                  for i in range(15)]

    def pay_from(node, bolt11: str) -> str:
        rpc = BuiltinRpc.for_node(node.lightning_dir, node.rpc_port, timeout=60)  # one client per thread
        return rpc.pay(bolt11)["status"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        jobs = [pool.submit(pay_from, alice, inv) for inv in a_invoices]
        jobs += [pool.submit(pay_from, bob, inv) for inv in b_invoices]
        assert [job.result() for job in jobs] == ["complete"] * 30
    wait_for(lambda: channel_of(alice, bob.node_id)["htlcs"] == [] and channel_of(bob, alice.node_id)["htlcs"] == [],
             what="all HTLCs settled")
    sent = sum(1_000_000 + i for i in range(15)) - sum(2_000_000 + i for i in range(15))
    assert channel_of(alice, bob.node_id)["to_us_msat"] == 700_000_000 - sent
    assert channel_of(bob, alice.node_id)["to_us_msat"] == 300_000_000 + sent
