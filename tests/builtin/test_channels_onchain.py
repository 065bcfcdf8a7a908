"""BOLT 5 on the embedded chain: a unilateral close with an HTLC in flight is resolved on chain,
by the payee claiming it with the preimage or by the payer taking it back after its expiry."""

from __future__ import annotations

import pytest
from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpcError
from lnharness.wait import wait_for

from tests.builtin.test_channels_e2e import FUNDING_SAT, channel_of, open_channel, pay, wallet_sat

HTLC_MSAT = 40_000_000


@pytest.fixture(params=[[12], [12, 22]], ids=["static_remotekey", "anchors"])
def channel_type(request) -> list[int]:
    """Each test runs on a channel of each type the node makes."""
    return request.param


def tx_fee(chain, txid: str) -> int:
    """What a confirmed tx pays in fee: its inputs' values less its outputs'."""
    tx = chain.rpc.getrawtransaction(txid, True)
    spent = sum(sat_outputs(chain, vin["txid"])[vin["vout"]] for vin in tx["vin"])
    return spent - sum(sat_outputs(chain, txid))


def sat_outputs(chain, txid: str) -> list[int]:
    return [round(o["value"] * 100_000_000) for o in chain.rpc.getrawtransaction(txid, True)["vout"]]


def stuck_payment(alice, bob) -> dict:
    """alice pays bob, who holds the HTLC: pay gives up (210) with the HTLC committed on both sides."""
    bob.rpc.call("dev-hold-htlcs", {"hold": True})
    invoice = bob.rpc.invoice(amount_msat=HTLC_MSAT, label="stuck", description="stuck")
    with pytest.raises(BuiltinRpcError) as err:
        alice.rpc.pay(bolt11=invoice["bolt11"], retry_for=1)
    assert err.value.code == 210
    # bob shows "committed" once he has signed alice's next commitment; the HTLC is on the
    # commitment alice would broadcast only once she has received that signature
    for node, peer in ((bob, alice), (alice, bob)):
        wait_for(lambda node=node, peer=peer: [h["state"] for h in channel_of(node, peer.node_id)["htlcs"]]
                 == ["committed"], what=f"HTLC committed at {node.name}")
    return invoice


def onchain_outputs(node, peer_id: str) -> list[dict]:
    return channel_of(node, peer_id)["onchain"].get("outputs", [])


def mine_until(chain, nodes, predicate, what: str, max_blocks: int = 30):
    for _ in range(max_blocks):
        for node in nodes:
            node.wait_synced(chain)
        if predicate():
            return
        chain.mine(1)
    raise AssertionError(f"{what} not reached within {max_blocks} blocks")


def test_payee_claims_the_htlc_with_the_preimage_on_the_payers_commitment(chain, chained_builtin_nodes,
                                                                          channel_type):
    alice, bob = chained_builtin_nodes.get_node(), chained_builtin_nodes.get_node()
    open_channel(chain, alice, bob, channel_type=channel_type)
    invoice = stuck_payment(alice, bob)
    closed = alice.rpc.close(id=bob.node_id, force=True)
    wait_for(lambda: closed["txid"] in chain.rpc.getrawmempool(), what="commitment in mempool")
    chain.mine(1)
    bob.wait_synced(chain)
    claim = wait_for(lambda: next((o.get("sweep_txid") for o in onchain_outputs(bob, alice.node_id)
                                   if o["kind"] == "remote_htlc_preimage"), None), what="bob's HTLC claim")
    wait_for(lambda: claim in chain.rpc.getrawmempool(), what="claim in mempool")
    chain.mine(1)
    wait_for(lambda: alice.rpc.listpays(payment_hash=invoice["payment_hash"])["pays"][0]["status"] == "complete",
             what="alice learns the preimage from the chain")
    # bob marks the invoice paid while he processes the block with his claim (he may see it after
    # alice does): once his blockheight covers that block, the invoice shows paid
    bob.wait_synced(chain)
    assert bob.rpc.listinvoices("stuck")["invoices"][0]["status"] == "paid"
    pays = alice.rpc.listpays(payment_hash=invoice["payment_hash"])["pays"]
    assert pays[0]["preimage"] == bob.rpc.listinvoices("stuck")["invoices"][0]["payment_preimage"]
    claimed = sat_outputs(chain, claim)[0]
    assert HTLC_MSAT // 1000 - 2_000 < claimed < HTLC_MSAT // 1000


def test_payer_takes_the_htlc_back_after_expiry_through_htlc_timeout(chain, chained_builtin_nodes, channel_type):
    alice, bob = chained_builtin_nodes.get_node(), chained_builtin_nodes.get_node()
    open_channel(chain, alice, bob, channel_type=channel_type)
    anchors = 22 in channel_type
    invoice = stuck_payment(alice, bob)
    bob_id = bob.node_id
    bob.daemon.kill()
    before = wallet_sat(alice)
    closed = alice.rpc.close(id=bob_id, force=True)
    wait_for(lambda: closed["txid"] in chain.rpc.getrawmempool(), what="commitment in mempool")
    chain.mine(1)
    commitment = sorted(sat_outputs(chain, closed["txid"]))
    # to_local + HTLC (bob has nothing), and on an anchor channel both anchors (an HTLC is untrimmed)
    assert HTLC_MSAT // 1000 in commitment and len(commitment) == (4 if anchors else 2)
    to_local = max(commitment)

    def all_swept() -> bool:
        outs = onchain_outputs(alice, bob_id)
        return len(outs) == 3 and all(o["resolved"] for o in outs)

    mine_until(chain, [alice], all_swept, "alice's outputs all swept", max_blocks=40)
    outs = {o["kind"]: o for o in onchain_outputs(alice, bob_id)}
    timeout_tx = outs["local_htlc_timeout"]["resolved_by"]
    assert outs["htlc_delayed"]["txid"] == timeout_tx
    final_sweeps = [outs["to_local"]["resolved_by"], outs["htlc_delayed"]["resolved_by"]]
    swept = sum(sat_outputs(chain, txid)[0] for txid in final_sweeps)
    fees = (to_local + HTLC_MSAT // 1000) - swept
    assert 0 < fees < 5_000
    assert FUNDING_SAT - sum(commitment) > 0  # the commitment fee, paid by alice (the opener)
    # an anchor channel's HTLC-timeout tx carries the whole HTLC to its output: alice's wallet
    # added a coin to pay its fee (and took change back)
    delayed = outs["htlc_delayed"]["amount_sat"]
    wallet_paid = tx_fee(chain, timeout_tx) - (HTLC_MSAT // 1000 - delayed)
    assert (delayed == HTLC_MSAT // 1000 and wallet_paid > 0) if anchors else wallet_paid == 0
    wait_for(lambda: wallet_sat(alice) == before + swept - wallet_paid, what="alice's swept outputs in her wallet")
    pays = alice.rpc.listpays(payment_hash=invoice["payment_hash"])["pays"]
    assert pays[0]["status"] == "failed" and "timed out on chain" in pays[0]["failure"]
    # bob comes back after everything was settled: he sees the channel closed on chain
    bob.start()
    bob.wait_synced(chain)
    wait_for(lambda: channel_of(bob, alice.node_id)["state"] == "ONCHAIN", what="bob sees the close")


def test_revoked_commitment_is_punished_with_the_revocation_key(chain, chained_builtin_nodes, channel_type):
    alice, bob = chained_builtin_nodes.get_node(), chained_builtin_nodes.get_node()
    open_channel(chain, alice, bob, channel_type=channel_type)
    pay(alice, bob, 100_000_000, "first")
    old = alice.rpc.call("dev-sign-last-tx", {"id": bob.node_id})["tx"]  # alice: 900k, bob: 100k
    pay(alice, bob, 300_000_000, "second")  # revokes the old commitment
    before = wallet_sat(bob)
    cheat = chain.rpc.sendrawtransaction(old)
    chain.mine(1)
    bob.wait_synced(chain)
    kinds = wait_for(lambda: {o["kind"]: o for o in onchain_outputs(bob, alice.node_id)
                              if o.get("sweep_txid")} or None, what="bob's penalty and sweep broadcast")
    assert channel_of(bob, alice.node_id)["onchain"]["type"] == "revoked"
    wait_for(lambda: len({o["kind"] for o in onchain_outputs(bob, alice.node_id) if o.get("sweep_txid")}) == 2,
             what="penalty and to_remote sweep both broadcast")
    chain.mine(1)
    bob.wait_synced(chain)
    outs = {o["kind"]: o for o in onchain_outputs(bob, alice.node_id)}
    assert outs["revoked_to_local"]["resolved"] and outs["to_remote"]["resolved"]
    commitment = sat_outputs(chain, cheat)
    swept = sum(sat_outputs(chain, o["resolved_by"])[0] for o in outs.values())
    anchors_sat = 660 if 22 in channel_type else 0  # the anchors are left to their owners
    assert sum(commitment) - anchors_sat - swept < 3_000  # bob took both outputs, minus the sweep fees
    assert outs["revoked_to_local"]["amount_sat"] > 800_000
    wait_for(lambda: wallet_sat(bob) == before + swept, what="everything in bob's wallet")
    assert kinds
