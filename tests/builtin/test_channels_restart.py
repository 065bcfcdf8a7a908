"""No HTLC is lost across restarts: payments held in flight while a node restarts (gracefully or
with kill -9) complete once the peers reconnect (channel_reestablish)."""

from __future__ import annotations

import pytest
from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpcError
from lnharness.wait import wait_for

from tests.builtin.test_channels_e2e import channel_of, open_channel


def start_stuck_payment(payer, payee, label: str, amount_msat: int = 25_000_000) -> dict:
    payee.rpc.call("dev-hold-htlcs", {"hold": True})
    invoice = payee.rpc.invoice(amount_msat=amount_msat, label=label, description=label)
    with pytest.raises(BuiltinRpcError) as err:
        payer.rpc.pay(bolt11=invoice["bolt11"], retry_for=1)
    assert err.value.code == 210
    return invoice


def reconnect(a, b) -> None:
    a.connect_to(b)
    wait_for(lambda: channel_of(a, b.node_id)["peer_connected"] and channel_of(b, a.node_id)["peer_connected"],
             what=f"{a.name} and {b.name} re-established")


def pay_status(node, payment_hash: str) -> str:
    return node.rpc.listpays(payment_hash=payment_hash)["pays"][0]["status"]


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_payer_restarts_with_an_htlc_in_flight(chain, chained_builtin_nodes, how):
    alice, bob = chained_builtin_nodes.get_node(), chained_builtin_nodes.get_node()
    open_channel(chain, alice, bob)
    invoice = start_stuck_payment(alice, bob, "held")
    wait_for(lambda: [h["state"] for h in channel_of(bob, alice.node_id)["htlcs"]] == ["committed"],
             what="HTLC committed at bob")
    if how == "kill":
        alice.daemon.kill()
    else:
        alice.stop()
    alice.start()
    assert pay_status(alice, invoice["payment_hash"]) == "pending"
    assert len(channel_of(alice, bob.node_id)["htlcs"]) == 1
    reconnect(alice, bob)
    bob.rpc.call("dev-hold-htlcs", {"hold": False})
    wait_for(lambda: pay_status(alice, invoice["payment_hash"]) == "complete", what="payment completes")
    wait_for(lambda: channel_of(alice, bob.node_id)["htlcs"] == [], what="HTLC removed")
    assert channel_of(alice, bob.node_id)["to_us_msat"] == 1_000_000_000 - 25_000_000
    assert channel_of(bob, alice.node_id)["to_us_msat"] == 25_000_000
    assert bob.rpc.listinvoices("held")["invoices"][0]["status"] == "paid"


def test_forwarding_node_killed_mid_forward_settles_after_restart(chain, chained_builtin_nodes):
    alice, bob, carol = (chained_builtin_nodes.get_node() for _ in range(3))
    open_channel(chain, alice, bob)
    open_channel(chain, bob, carol)
    invoice = start_stuck_payment(alice, carol, "held-forward", amount_msat=10_000_000)
    wait_for(lambda: len(channel_of(carol, bob.node_id)["htlcs"]) == 1, what="HTLC reached carol")
    bob.daemon.kill()
    bob.start()
    reconnect(alice, bob)
    reconnect(carol, bob)
    carol.rpc.call("dev-hold-htlcs", {"hold": False})
    wait_for(lambda: pay_status(alice, invoice["payment_hash"]) == "complete", what="payment completes")
    for a, b in ((alice, bob), (bob, alice), (bob, carol), (carol, bob)):
        wait_for(lambda a=a, b=b: channel_of(a, b.node_id)["htlcs"] == [], what=f"{a.name}'s HTLCs settled")
    (forward,) = bob.rpc.listforwards()["forwards"]
    assert forward["status"] == "settled" and forward["fee_msat"] == 1 + 10_000_000 * 10 // 1_000_000
