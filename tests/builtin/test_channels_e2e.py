"""Two built-in node processes on the embedded chain: open (with and without push), payments
both ways, restart and kill -9 mid-way, cooperative and unilateral close; every satoshi is
accounted for on chain afterwards."""

from __future__ import annotations

import pytest
from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpcError
from lnharness.wait import wait_for

FUNDING_SAT = 1_000_000
WALLET_SAT = 5_000_000


def fund_wallet(chain, node, amount_sat: int = WALLET_SAT) -> None:
    address = node.rpc.newaddr()["bech32"]
    chain.rpc.sendtoaddress(address, amount_sat / 100_000_000)
    chain.mine(1)
    node.wait_synced(chain)
    wait_for(lambda: sum(o["amount_msat"] for o in node.rpc.listfunds()["outputs"]
                         if o["status"] == "confirmed") >= amount_sat * 1000,
             what=f"{node.name} wallet funded")


def channel_of(node, peer_id: str) -> dict:
    (chan,) = [c for c in node.rpc.listpeerchannels()["channels"] if c["peer_id"] == peer_id]
    return chan


def wait_state(node, peer_id: str, state: str) -> dict:
    return wait_for(lambda: (c := channel_of(node, peer_id))["state"] == state and c,
                    what=f"{node.name}'s channel with {peer_id[:8]} to reach {state}")


def open_channel(chain, opener, acceptor, *, push_msat: int = 0, channel_type: list[int] | None = None) -> dict:
    """`opener` funds a channel to `acceptor` (of `channel_type`, default the node's choice:
    anchors between built-in nodes) and both see it normal."""
    fund_wallet(chain, opener)
    opener.connect_to(acceptor)
    extra = {} if channel_type is None else {"channel_type": channel_type}
    result = opener.rpc.fundchannel(id=acceptor.node_id, amount=FUNDING_SAT, push_msat=push_msat, **extra)
    wait_for(lambda: result["txid"] in chain.rpc.getrawmempool(), what="funding tx in mempool")
    chain.mine(1)
    wait_state(opener, acceptor.node_id, "CHANNELD_NORMAL")
    wait_state(acceptor, opener.node_id, "CHANNELD_NORMAL")
    return result


def htlc_hashes(node, peer_id: str) -> set[str]:
    return {h["payment_hash"] for h in channel_of(node, peer_id)["htlcs"]}


def pay(payer, payee, amount_msat: int, label: str) -> dict:
    """Pay over the direct channel; returns once the HTLC is settled on both sides.

    `pay` returns when the payer receives the fulfill, before the commitment dance that
    removes the HTLC ends: balances (to_us_msat) and each side's latest commitment only
    change once both sides have signed and revoked, which the HTLC leaving both lists shows."""
    invoice = payee.rpc.invoice(amount_msat=amount_msat, label=label, description=label)
    result = payer.rpc.pay(invoice["bolt11"])
    assert result["status"] == "complete"
    assert result["payment_hash"] == invoice["payment_hash"]
    assert payee.rpc.listinvoices(label)["invoices"][0]["status"] == "paid"
    payment_hash = invoice["payment_hash"]
    wait_for(lambda: payment_hash not in htlc_hashes(payer, payee.node_id)
             and payment_hash not in htlc_hashes(payee, payer.node_id),
             what=f"the HTLC of {label} to be removed on both sides")
    return result


def wallet_sat(node) -> int:
    return sum(o["amount_msat"] for o in node.rpc.listfunds()["outputs"]) // 1000


@pytest.fixture
def pair(chain, chained_builtin_nodes):
    alice = chained_builtin_nodes.get_node()
    bob = chained_builtin_nodes.get_node()
    return alice, bob


def test_open_with_push_pay_both_ways_restart_and_mutual_close(chain, chained_builtin_nodes, pair):
    alice, bob = pair
    push = 100_000_000
    funding = open_channel(chain, alice, bob, push_msat=push)
    a_chan = channel_of(alice, bob.node_id)
    b_chan = channel_of(bob, alice.node_id)
    assert a_chan["channel_id"] == b_chan["channel_id"] == funding["channel_id"]
    assert a_chan["to_us_msat"] == FUNDING_SAT * 1000 - push
    assert b_chan["to_us_msat"] == push
    assert a_chan["short_channel_id"] == b_chan["short_channel_id"]

    for i in range(5):
        pay(alice, bob, 1_000_000 + i, f"a2b-{i}")
        pay(bob, alice, 200_000 + i, f"b2a-{i}")
    bob.stop()
    bob.start()
    alice.connect_to(bob)
    wait_state(bob, alice.node_id, "CHANNELD_NORMAL")
    for i in range(5, 10):
        wait_for(lambda: channel_of(alice, bob.node_id)["peer_connected"], what="reconnected")
        pay(alice, bob, 1_000_000 + i, f"a2b-{i}")
        pay(bob, alice, 200_000 + i, f"b2a-{i}")
    sent = sum(1_000_000 + i for i in range(10)) - sum(200_000 + i for i in range(10))
    a_chan = channel_of(alice, bob.node_id)
    assert a_chan["to_us_msat"] == FUNDING_SAT * 1000 - push - sent
    assert channel_of(bob, alice.node_id)["to_us_msat"] == push + sent
    assert a_chan["htlcs"] == []

    alice_before = wallet_sat(alice)
    bob_before = wallet_sat(bob)
    closed = alice.rpc.close(bob.node_id)
    assert closed["type"] == "mutual"
    wait_for(lambda: closed["txid"] in chain.rpc.getrawmempool(), what="closing tx in mempool")
    chain.mine(1)
    alice.wait_synced(chain)
    bob.wait_synced(chain)
    closing = chain.rpc.getrawtransaction(closed["txid"], True)
    fee_sat = FUNDING_SAT - sum(round(o["value"] * 100_000_000) for o in closing["vout"])
    assert fee_sat > 0
    a_final = (FUNDING_SAT * 1000 - push - sent) // 1000 - fee_sat
    b_final = (push + sent) // 1000
    wait_for(lambda: wallet_sat(alice) == alice_before + a_final, what="alice's closing output in wallet")
    wait_for(lambda: wallet_sat(bob) == bob_before + b_final, what="bob's closing output in wallet")
    wait_state(alice, bob.node_id, "ONCHAIN")


@pytest.mark.parametrize("channel_type", [[12], [12, 22]], ids=["static_remotekey", "anchors"])
def test_open_without_push_kill9_and_unilateral_close(chain, chained_builtin_nodes, pair, channel_type):
    alice, bob = pair
    funded = open_channel(chain, alice, bob, channel_type=channel_type)
    anchors_sat = 660 if 22 in channel_type else 0
    assert funded["channel_type"]["bits"] == channel_type
    assert channel_of(bob, alice.node_id)["channel_type"]["bits"] == channel_type
    assert channel_of(bob, alice.node_id)["to_us_msat"] == 0
    for i in range(3):
        pay(alice, bob, 5_000_000, f"a2b-{i}")
    alice.daemon.kill()
    alice.start()
    alice.connect_to(bob)
    wait_for(lambda: channel_of(alice, bob.node_id)["peer_connected"], what="reconnected")
    for i in range(3, 6):
        pay(alice, bob, 5_000_000, f"a2b-{i}")
    pay(bob, alice, 1_000_000, "b2a")
    to_alice_msat = channel_of(alice, bob.node_id)["to_us_msat"]
    assert to_alice_msat == FUNDING_SAT * 1000 - 29_000_000
    alice_before = wallet_sat(alice)
    bob_before = wallet_sat(bob)
    closed = alice.rpc.close(id=bob.node_id, force=True)
    assert closed["type"] == "unilateral"
    wait_for(lambda: closed["txid"] in chain.rpc.getrawmempool(), what="commitment tx in mempool")
    chain.mine(1)
    commitment = chain.rpc.getrawtransaction(closed["txid"], True)
    outputs = sorted(round(o["value"] * 100_000_000) for o in commitment["vout"])
    commit_fee = FUNDING_SAT - sum(outputs)
    to_local_sat = to_alice_msat // 1000 - commit_fee - anchors_sat
    assert outputs == sorted([to_local_sat, 29_000] + ([330, 330] if anchors_sat else []))
    # bob sweeps his to_remote output at once (anchors: one block after the commitment, which is
    # the next one); alice waits to_self_delay (6) blocks
    wait_for(lambda: channel_of(bob, alice.node_id)["onchain"].get("outputs", [{}])[0].get("sweep_txid"),
             what="bob's sweep broadcast")
    chain.mine(5)
    alice.wait_synced(chain)
    wait_for(lambda: channel_of(alice, bob.node_id)["onchain"]["outputs"][0].get("sweep_txid"),
             what="alice's to_local sweep broadcast")
    alice_sweep = channel_of(alice, bob.node_id)["onchain"]["outputs"][0]["sweep_txid"]
    bob_sweep = channel_of(bob, alice.node_id)["onchain"]["outputs"][0]["sweep_txid"]
    wait_for(lambda: alice_sweep in chain.rpc.getrawmempool(), what="alice's sweep in mempool")
    chain.mine(1)
    alice.wait_synced(chain)
    bob.wait_synced(chain)

    def swept(txid: str) -> int:
        return round(chain.rpc.getrawtransaction(txid, True)["vout"][0]["value"] * 100_000_000)

    alice_sweep_fee = to_local_sat - swept(alice_sweep)
    bob_sweep_fee = 29_000 - swept(bob_sweep)
    assert 0 < alice_sweep_fee < 2_000 and 0 < bob_sweep_fee < 2_000
    wait_for(lambda: wallet_sat(alice) == alice_before + to_local_sat - alice_sweep_fee,
             what="alice's swept to_local in wallet")
    wait_for(lambda: wallet_sat(bob) == bob_before + 29_000 - bob_sweep_fee,
             what="bob's swept to_remote in wallet")


def test_pay_errors(chain, chained_builtin_nodes, pair):
    alice, bob = pair
    open_channel(chain, alice, bob)
    too_much = bob.rpc.invoice(amount_msat=FUNDING_SAT * 1000, label="big", description="big")
    with pytest.raises(BuiltinRpcError) as err:
        alice.rpc.pay(too_much["bolt11"])
    assert err.value.code == 205 and "exceeds what the channel" in err.value.message
    expired = bob.rpc.invoice(amount_msat=1000, label="old", description="old", expiry=1)
    wait_for(lambda: bob.rpc.listinvoices("old")["invoices"][0]["status"] == "expired", what="expiry")
    with pytest.raises(BuiltinRpcError) as err:
        alice.rpc.pay(expired["bolt11"])
    assert err.value.code == 207 and "expired" in err.value.message
    # bob paid his own-issued invoice already via alice once: paying it from carol is refused
    paid = pay(alice, bob, 10_000, "once")
    assert alice.rpc.pay(bob.rpc.listinvoices("once")["invoices"][0]["bolt11"])["payment_preimage"] \
        == paid["payment_preimage"]
    assert channel_of(alice, bob.node_id)["htlcs"] == []


def test_wrong_commitment_signature_fails_the_channel(chain, chained_builtin_nodes, pair):
    alice, bob = pair
    open_channel(chain, alice, bob)
    alice.rpc.call("dev-corrupt-next-commitment-sig", {"id": bob.node_id})
    invoice = bob.rpc.invoice(amount_msat=5_000_000, label="never", description="never")
    with pytest.raises(BuiltinRpcError) as err:
        alice.rpc.pay(bolt11=invoice["bolt11"], retry_for=2)
    assert err.value.code == 210
    # bob refused the signature: error sent, channel failed, his commitment broadcast
    bob_chan = wait_state(bob, alice.node_id, "AWAITING_UNILATERAL")
    assert "bad commitment signature" in bob_chan["status"][0]
    wait_for(lambda: channel_of(alice, bob.node_id)["state"] == "AWAITING_UNILATERAL", what="alice fails it too")
    wait_for(lambda: len(chain.rpc.getrawmempool()) >= 1, what="a commitment in the mempool")
    chain.mine(1)
    alice.wait_synced(chain)
    wait_for(lambda: alice.rpc.listpays(payment_hash=invoice["payment_hash"])["pays"][0]["status"] == "failed",
             what="the stranded payment fails")
    failure = alice.rpc.listpays(payment_hash=invoice["payment_hash"])["pays"][0]["failure"]
    assert "no output for the HTLC" in failure
    assert bob.rpc.listinvoices("never")["invoices"][0]["status"] == "unpaid"


def test_acceptors_min_depth_is_honoured(chain, chained_builtin_nodes):
    alice = chained_builtin_nodes.get_node()
    bob = chained_builtin_nodes.get_node(extra_args=["--min-depth=3"])
    fund_wallet(chain, alice)
    alice.connect_to(bob)
    result = alice.rpc.fundchannel(id=bob.node_id, amount=FUNDING_SAT)
    wait_for(lambda: result["txid"] in chain.rpc.getrawmempool(), what="funding tx in mempool")
    chain.mine(2)
    alice.wait_synced(chain)
    bob.wait_synced(chain)
    assert channel_of(alice, bob.node_id)["state"] == "CHANNELD_AWAITING_LOCKIN"
    assert channel_of(bob, alice.node_id)["state"] == "CHANNELD_AWAITING_LOCKIN"
    chain.mine(1)
    wait_state(alice, bob.node_id, "CHANNELD_NORMAL")
    wait_state(bob, alice.node_id, "CHANNELD_NORMAL")


def test_restored_old_backup_does_not_broadcast_and_recovers_from_the_peers_commitment(
        chain, chained_builtin_nodes, pair, tmp_path):
    import shutil

    alice, bob = pair
    open_channel(chain, alice, bob)
    pay(alice, bob, 100_000_000, "before-backup")
    alice.stop()
    backup = tmp_path / "alice-backup"
    backup.mkdir()
    for path in alice.lightning_dir.glob("node.sqlite3*"):
        shutil.copy(path, backup / path.name)
    alice.start()
    alice.connect_to(bob)
    wait_for(lambda: channel_of(alice, bob.node_id)["peer_connected"], what="reconnected")
    pay(alice, bob, 300_000_000, "after-backup")  # alice now holds 600_000 sat
    alice.stop()
    for path in alice.lightning_dir.glob("node.sqlite3*"):
        path.unlink()
    for path in backup.iterdir():
        shutil.copy(path, alice.lightning_dir / path.name)
    alice.start()
    alice.connect_to(bob)
    # alice learns she is behind: she must not broadcast her (revoked) commitment; bob closes with his
    wait_for(lambda: "lost channel state" in " ".join(channel_of(alice, bob.node_id).get("status", [])),
             what="alice notices the data loss")
    commitment = wait_for(lambda: channel_of(bob, alice.node_id).get("status") and chain.rpc.getrawmempool(),
                          what="bob's commitment in the mempool")
    assert len(commitment) == 1
    chain.mine(1)
    alice.wait_synced(chain)
    sweep = wait_for(lambda: (channel_of(alice, bob.node_id)["onchain"].get("outputs") or [{}])[0].get("sweep_txid"),
                     what="alice sweeps her output of bob's commitment")
    chain.mine(1)
    swept = round(chain.rpc.getrawtransaction(sweep, True)["vout"][0]["value"] * 100_000_000)
    # the latest balance (not the backup's) less what alice, the opener, paid for bob's
    # commitment: its fee and its two 330-sat anchors (an anchor channel), less the sweep's fee
    bobs = chain.rpc.getrawtransaction(commitment[0], True)
    commit_fee = FUNDING_SAT - sum(round(o["value"] * 100_000_000) for o in bobs["vout"])
    assert 600_000 - commit_fee - 660 - 2_000 < swept < 600_000 - commit_fee - 660


def test_close_to_address_given_at_open_receives_the_mutual_close(chain, chained_builtin_nodes, pair):
    alice, bob = pair
    fund_wallet(chain, alice)
    alice.connect_to(bob)
    close_to = chain.rpc.getnewaddress()
    result = alice.rpc.fundchannel(id=bob.node_id, amount=FUNDING_SAT, close_to=close_to)
    wait_for(lambda: result["txid"] in chain.rpc.getrawmempool(), what="funding tx in mempool")
    chain.mine(1)
    wait_state(alice, bob.node_id, "CHANNELD_NORMAL")
    closed = alice.rpc.close(bob.node_id)
    tx = chain.rpc.getrawtransaction(closed["txid"], True)
    assert [o["scriptPubKey"]["address"] for o in tx["vout"]] == [close_to]
    with pytest.raises(BuiltinRpcError) as err:
        alice.rpc.fundchannel(id=bob.node_id, amount=FUNDING_SAT, close_to="not-an-address")
    assert err.value.code == -32602 and "close_to" in err.value.message
