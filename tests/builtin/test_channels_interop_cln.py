"""The built-in node against Core Lightning (skipped when lightningd is not available): channel
opened by either side, payments both ways, a restart, mutual and unilateral closes."""

from __future__ import annotations

import pytest
from lnharness.wait import wait_for

FUNDING_SAT = 1_000_000


def fund(chain, node, amount_sat: int = 3_000_000) -> None:
    address = node.call("newaddr", {"addresstype": "bech32"})["bech32"]
    txid = chain.faucet(address, amount_sat)
    chain.generate_block(1, wait_for_mempool=txid)
    wait_for(lambda: sum(o["amount_msat"] for o in node.call("listfunds")["outputs"]
                         if o.get("status") == "confirmed") >= amount_sat * 1000,
             what=f"{node.name} funded")


def channel(node, peer) -> dict:
    (chan,) = [c for c in node.call("listpeerchannels", {"id": peer.node_id})["channels"]]
    return chan


def wait_normal(a, b) -> None:
    for x, y in ((a, b), (b, a)):
        wait_for(lambda x=x, y=y: channel(x, y)["state"] == "CHANNELD_NORMAL" and channel(x, y)["peer_connected"],
                 what=f"{x.name}'s channel with {y.name} normal")


def open_between(chain, opener, acceptor, push_msat: int = 0, announce: bool = False) -> dict:
    fund(chain, opener)
    opener.connect(acceptor)
    result = opener.call("fundchannel", {"id": acceptor.node_id, "amount": FUNDING_SAT, "push_msat": push_msat,
                                         "announce": announce})
    chain.generate_block(1, wait_for_mempool=result["txid"])
    wait_normal(opener, acceptor)
    return result


def pay(payer, payee, amount_msat: int, label: str) -> dict:
    invoice = payee.call("invoice", {"amount_msat": amount_msat, "label": label, "description": label})
    result = payer.call("pay", {"bolt11": invoice["bolt11"]})
    assert result["status"] == "complete"
    wait_for(lambda: payee.call("listinvoices", {"label": label})["invoices"][0]["status"] == "paid",
             what=f"{label} paid")
    return result


def settled(node, peer) -> bool:
    return channel(node, peer)["htlcs"] == []


def test_builtin_opens_to_cln_pays_both_ways_restarts_and_closes(bitcoind, mixed):
    ours = mixed.get_node("builtin")
    cln = mixed.get_node("cln")
    open_between(bitcoind, ours, cln, push_msat=50_000_000)
    for i in range(3):
        pay(ours, cln, 2_000_000 + i, f"to-cln-{i}")
        pay(cln, ours, 500_000 + i, f"to-us-{i}")
    ours.restart()
    ours.connect(cln)
    wait_normal(ours, cln)
    pay(ours, cln, 3_000_000, "after-restart")
    pay(cln, ours, 700_000, "after-restart-back")
    wait_for(lambda: settled(ours, cln) and settled(cln, ours), what="HTLCs settled")
    sent = sum(2_000_000 + i for i in range(3)) + 3_000_000 - sum(500_000 + i for i in range(3)) - 700_000
    assert channel(ours, cln)["to_us_msat"] == FUNDING_SAT * 1000 - 50_000_000 - sent
    assert channel(cln, ours)["to_us_msat"] == 50_000_000 + sent
    closed = ours.call("close", {"id": cln.node_id})
    assert closed["type"] == "mutual"
    bitcoind.generate_block(1, wait_for_mempool=closed["txid"])
    outputs = sorted(round(o["value"] * 100_000_000)
                     for o in bitcoind.rpc.getrawtransaction(closed["txid"], True)["vout"])
    fee = FUNDING_SAT - sum(outputs)
    assert outputs == sorted([(FUNDING_SAT * 1000 - 50_000_000 - sent) // 1000 - fee, (50_000_000 + sent) // 1000])


def test_cln_opens_to_builtin_pays_both_ways_and_closes(bitcoind, mixed):
    ours = mixed.get_node("builtin")
    cln = mixed.get_node("cln")
    open_between(bitcoind, cln, ours, push_msat=100_000_000)
    for i in range(3):
        pay(cln, ours, 1_000_000 + i, f"to-us-{i}")
        pay(ours, cln, 300_000 + i, f"to-cln-{i}")
    wait_for(lambda: settled(ours, cln) and settled(cln, ours), what="HTLCs settled")
    received = sum(1_000_000 + i for i in range(3)) - sum(300_000 + i for i in range(3))
    assert channel(ours, cln)["to_us_msat"] == 100_000_000 + received
    closed = cln.call("close", {"id": ours.node_id})
    assert closed["type"] == "mutual"
    txid = closed.get("txid") or closed["txids"][0]  # newer Core Lightning answers a list
    bitcoind.generate_block(1, wait_for_mempool=txid)
    wait_for(lambda: channel(ours, cln)["state"] in ("ONCHAIN", "FUNDING_SPEND_SEEN"), what="we see the close")


def test_unilateral_close_against_cln(bitcoind, mixed):
    ours = mixed.get_node("builtin")
    cln = mixed.get_node("cln")
    open_between(bitcoind, ours, cln)
    pay(ours, cln, 100_000_000, "before-close")
    wait_for(lambda: settled(ours, cln) and settled(cln, ours), what="HTLC settled")
    closed = ours.call("close", {"id": cln.node_id, "force": True})
    assert closed["type"] == "unilateral"
    bitcoind.generate_block(1, wait_for_mempool=closed["txid"])
    wait_for(lambda: channel(cln, ours)["state"] in ("ONCHAIN", "FUNDING_SPEND_SEEN", "AWAITING_UNILATERAL"),
             what="cln sees our commitment")
    bitcoind.generate_block(6)
    wait_for(lambda: (channel(ours, cln)["onchain"].get("outputs") or [{}])[0].get("sweep_txid"),
             what="our to_local sweep")


def test_cln_force_closes_while_we_are_down_and_we_sweep_our_output(bitcoind, mixed):
    ours = mixed.get_node("builtin")
    cln = mixed.get_node("cln")
    open_between(bitcoind, cln, ours, push_msat=200_000_000)
    ours.stop()
    closed = cln.call("close", {"id": ours.node_id, "unilateraltimeout": 1})
    assert closed["type"] == "unilateral"
    txid = closed.get("txid") or closed["txids"][0]
    bitcoind.generate_block(1, wait_for_mempool=txid)
    ours.start()
    wait_for(lambda: channel(ours, cln)["onchain"].get("type") == "remote", what="we see CLN's commitment")
    sweep = wait_for(lambda: channel(ours, cln)["onchain"]["outputs"][0].get("sweep_txid"), what="our sweep")
    bitcoind.generate_block(1, wait_for_mempool=sweep)
    swept = round(bitcoind.rpc.getrawtransaction(sweep, True)["vout"][0]["value"] * 100_000_000)
    assert 200_000 - 2_000 < swept < 200_000
    wait_for(lambda: any(o["txid"] == sweep for o in ours.call("listfunds")["outputs"]), what="sweep in our wallet")


def test_payment_from_builtin_through_cln_to_builtin(bitcoind, mixed):
    alice = mixed.get_node("builtin")
    bob = mixed.get_node("cln")
    carol = mixed.get_node("builtin")
    open_between(bitcoind, alice, bob)
    open_between(bitcoind, bob, carol)
    invoice = wait_for(lambda: (inv := carol.call("invoice", {"amount_msat": 20_000_000, "label": "via-cln",
                                                               "description": "via cln"}))
                       and carol.call("decodepay", {"bolt11": inv["bolt11"]}).get("routes") and inv,
                       what="carol's invoice with a route hint through CLN")
    result = alice.call("pay", {"bolt11": invoice["bolt11"]})
    assert result["status"] == "complete" and result["amount_sent_msat"] > 20_000_000
    wait_for(lambda: carol.call("listinvoices", {"label": "via-cln"})["invoices"][0]["status"] == "paid",
             what="carol paid")


def test_payment_from_cln_through_builtin_to_cln(bitcoind, mixed):
    alice = mixed.get_node("cln")
    bob = mixed.get_node("builtin")
    carol = mixed.get_node("cln")
    # Core Lightning hints a private channel only towards a peer with public capacity: alice-bob is
    # announced (6 confirmations, announcement_signatures with CLN, relayed to carol by bob)
    open_between(bitcoind, alice, bob, announce=True)
    open_between(bitcoind, bob, carol)
    bitcoind.generate_block(6)
    labels = iter(range(1000))

    def invoice_with_hint() -> dict | None:
        inv = carol.call("invoice", {"amount_msat": 20_000_000, "label": f"via-builtin-{next(labels)}",
                                     "description": "x"})
        return inv if carol.call("decode", {"string": inv["bolt11"]}).get("routes") else None

    # Core Lightning adds the route hint once it holds our channel_update for the private channel
    invoice = wait_for(invoice_with_hint, what="carol's invoice with a route hint through us")
    result = alice.call("pay", {"bolt11": invoice["bolt11"]})
    assert result["status"] == "complete"
    (forward,) = bob.call("listforwards")["forwards"]
    assert forward["status"] == "settled" and forward["fee_msat"] == result["amount_sent_msat"] - 20_000_000


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_htlc_from_cln_survives_our_restart(bitcoind, mixed, how):
    ours = mixed.get_node("builtin")
    cln = mixed.get_node("cln")
    open_between(bitcoind, cln, ours)
    ours.call("dev-hold-htlcs", {"hold": True})
    invoice = ours.call("invoice", {"amount_msat": 30_000_000, "label": "held", "description": "held"})
    scid = channel(cln, ours)["short_channel_id"]
    route = [{"id": ours.node_id, "channel": scid, "amount_msat": 30_000_000, "delay": 15}]
    cln.call("sendpay", {"route": route, "payment_hash": invoice["payment_hash"],
                         "payment_secret": invoice["payment_secret"]})
    wait_for(lambda: [h["state"] for h in channel(ours, cln)["htlcs"]] == ["committed"],
             what="CLN's HTLC committed at our node")
    if how == "kill":
        ours.kill()
    else:
        ours.stop()
    ours.start()  # holding is not persisted: the HTLC is settled after the reestablish
    ours.connect(cln)
    result = cln.call("waitsendpay", {"payment_hash": invoice["payment_hash"], "timeout": 60})
    assert result["status"] == "complete"
    wait_for(lambda: settled(ours, cln) and settled(cln, ours), what="HTLC removed on both sides")
    assert channel(ours, cln)["to_us_msat"] == 30_000_000
    assert ours.call("listinvoices", {"label": "held"})["invoices"][0]["status"] == "paid"


def test_update_fee_from_cln_is_applied(bitcoind, mixed):
    ours = mixed.get_node("builtin")
    cln = mixed.get_node("cln")
    open_between(bitcoind, cln, ours, push_msat=100_000_000)
    pay(cln, ours, 1_000_000, "first")  # CLN sends no update_fee before the first commitment update
    before = channel(ours, cln)["feerate"]["perkw"]
    # an error here fails the test: only an absent lightningd skips (the `mixed` fixture), and
    # the adapter starts every lightningd that has --developer in developer mode
    cln.call("dev-feerate", {"id": ours.node_id, "feerate": before * 2})
    wait_for(lambda: channel(ours, cln)["feerate"]["perkw"] == before * 2, what="CLN's update_fee applied")
    pay(cln, ours, 5_000_000, "after-fee-change")
    pay(ours, cln, 1_000_000, "after-fee-change-back")
    wait_for(lambda: settled(ours, cln) and settled(cln, ours), what="HTLCs settled")
    assert channel(cln, ours)["feerate"]["perkw"] == before * 2


@pytest.mark.parametrize("point", ["-WIRE_COMMITMENT_SIGNED", "+WIRE_COMMITMENT_SIGNED",
                                   "-WIRE_REVOKE_AND_ACK", "+WIRE_REVOKE_AND_ACK",
                                   "-WIRE_UPDATE_FULFILL_HTLC"])
def test_payments_survive_cln_disconnecting_mid_update(bitcoind, mixed, tmp_path, point):
    """Core Lightning drops the connection at one point of the commitment dance (dev-disconnect) and
    reconnects: the reestablish must retransmit exactly what was missed, both directions."""
    script = tmp_path / "dev-disconnect"
    script.write_text(f"{point}\n")
    ours = mixed.get_node("builtin")
    cln = mixed.get_node("cln", {"dev-disconnect": str(script)}, may_reconnect=True)
    open_between(bitcoind, cln, ours, push_msat=200_000_000)
    invoice = ours.call("invoice", {"amount_msat": 7_000_000, "label": "to-us", "description": "x"})
    result = cln.call("pay", {"bolt11": invoice["bolt11"], "retry_for": 60})
    assert result["status"] == "complete"
    wait_normal(ours, cln)
    pay(ours, cln, 3_000_000, "to-cln")
    wait_for(lambda: settled(ours, cln) and settled(cln, ours), what="HTLCs settled")
    assert channel(ours, cln)["to_us_msat"] == 200_000_000 + 7_000_000 - 3_000_000
    assert channel(cln, ours)["to_us_msat"] == FUNDING_SAT * 1000 - 200_000_000 - 7_000_000 + 3_000_000


def test_open_interrupted_before_funding_signed_releases_the_funds(bitcoind, mixed, tmp_path):
    script = tmp_path / "dev-disconnect"
    script.write_text("-WIRE_FUNDING_SIGNED\n")
    ours = mixed.get_node("builtin")
    cln = mixed.get_node("cln", {"dev-disconnect": str(script)}, may_reconnect=True)
    fund(bitcoind, ours)
    ours.connect(cln)
    before = ours.call("listfunds")["outputs"]
    with pytest.raises(Exception, match="disconnected"):
        ours.call("fundchannel", {"id": cln.node_id, "amount": FUNDING_SAT})
    assert ours.call("listfunds")["outputs"] == before  # nothing broadcast, inputs released
    assert ours.call("listpeerchannels")["channels"] == []
    ours.connect(cln)
    result = ours.call("fundchannel", {"id": cln.node_id, "amount": FUNDING_SAT})
    bitcoind.generate_block(1, wait_for_mempool=result["txid"])
    wait_normal(ours, cln)


@pytest.mark.parametrize("point", ["-WIRE_SHUTDOWN", "-WIRE_CLOSING_SIGNED"])
def test_mutual_close_restarts_after_cln_disconnects(bitcoind, mixed, tmp_path, point):
    script = tmp_path / "dev-disconnect"
    script.write_text(f"{point}\n")
    ours = mixed.get_node("builtin", {"log-level": "debug"})
    cln = mixed.get_node("cln", {"dev-disconnect": str(script)}, may_reconnect=True)
    fund(bitcoind, cln)
    cln.connect(ours)  # CLN dials, so CLN reconnects after its disconnect
    result = cln.call("fundchannel", {"id": ours.node_id, "amount": FUNDING_SAT, "push_msat": 300_000_000,
                                      "announce": False})
    bitcoind.generate_block(1, wait_for_mempool=result["txid"])
    wait_normal(ours, cln)
    closed = ours.call("close", {"id": cln.node_id, "unilateraltimeout": 60})
    assert closed["type"] == "mutual"
    bitcoind.generate_block(1, wait_for_mempool=closed["txid"])
    outputs = sorted(round(o["value"] * 100_000_000)
                     for o in bitcoind.rpc.getrawtransaction(closed["txid"], True)["vout"])
    assert outputs[0] == 300_000  # ours: CLN opened, so CLN paid the closing fee


@pytest.mark.parametrize("point", ["-WIRE_CHANNEL_READY", "+WIRE_CHANNEL_READY", "-WIRE_FUNDING_CREATED"])
def test_lock_in_survives_cln_disconnecting_while_opening(bitcoind, mixed, tmp_path, point):
    script = tmp_path / "dev-disconnect"
    script.write_text(f"{point}\n")
    ours = mixed.get_node("builtin")
    cln = mixed.get_node("cln", {"dev-disconnect": str(script)}, may_reconnect=True)
    fund(bitcoind, cln)
    cln.connect(ours)
    try:
        result = cln.call("fundchannel", {"id": ours.node_id, "amount": FUNDING_SAT, "announce": False})
    except Exception:
        assert point == "-WIRE_FUNDING_CREATED"  # the open itself was cut: nothing is left on our side
        wait_for(lambda: ours.call("listpeerchannels")["channels"] == [], what="no channel on our side")
        cln.connect(ours)
        result = cln.call("fundchannel", {"id": ours.node_id, "amount": FUNDING_SAT, "announce": False})
    bitcoind.generate_block(1, wait_for_mempool=result["txid"])
    wait_normal(ours, cln)
    pay(cln, ours, 1_000_000, "after-lock-in")


def test_concurrent_payments_both_ways_with_cln(bitcoind, mixed):
    from concurrent.futures import ThreadPoolExecutor

    ours = mixed.get_node("builtin")
    cln = mixed.get_node("cln")
    open_between(bitcoind, ours, cln, push_msat=300_000_000)
    to_cln = [cln.call("invoice", {"amount_msat": 1_000_000 + i, "label": f"c{i}", "description": "x"})["bolt11"]
              for i in range(10)]
    to_us = [ours.call("invoice", {"amount_msat": 2_000_000 + i, "label": f"u{i}", "description": "x"})["bolt11"]
             for i in range(10)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        jobs = [pool.submit(ours.call, "pay", {"bolt11": b}) for b in to_cln]
        jobs += [pool.submit(cln.call, "pay", {"bolt11": b}) for b in to_us]
        assert [job.result()["status"] for job in jobs] == ["complete"] * 20
    wait_for(lambda: settled(ours, cln) and settled(cln, ours), what="all HTLCs settled")
    sent = sum(1_000_000 + i for i in range(10)) - sum(2_000_000 + i for i in range(10))
    assert channel(ours, cln)["to_us_msat"] == 700_000_000 - sent
    assert channel(cln, ours)["to_us_msat"] == 300_000_000 + sent


@pytest.mark.parametrize("drop", ["cln-disconnects", "cln-restarts"])
def test_builtin_redials_cln_after_a_drop(bitcoind, mixed, drop):
    """A built-in node that may reconnect redials its channel peer after any drop, as Core
    Lightning does (which runs with --dev-no-reconnect here, so only we dial)."""
    ours = mixed.get_node("builtin", may_reconnect=True)
    cln = mixed.get_node("cln")
    open_between(bitcoind, ours, cln, push_msat=100_000_000)
    pay(ours, cln, 1_000_000, "before")
    if drop == "cln-disconnects":
        cln.call("disconnect", {"id": ours.node_id, "force": True})
    else:
        cln.restart()
    ours.daemon.wait_for_log(f"reconnecting to {cln.node_id}")
    wait_normal(ours, cln)
    pay(ours, cln, 2_000_000, "after")
    pay(cln, ours, 3_000_000, "after-back")
    wait_for(lambda: settled(ours, cln) and settled(cln, ours), what="HTLCs settled")


def test_builtin_and_cln_both_redialling_converge(bitcoind, mixed):
    """Both know the other's address and may reconnect: after each drop both redial (each
    after its own pause with some fuzz), crossing dials included; the channel comes back."""
    ours = mixed.get_node("builtin", may_reconnect=True)
    cln = mixed.get_node("cln", may_reconnect=True)
    fund(bitcoind, cln)
    cln.connect(ours)  # Core Lightning learns our address
    result = cln.call("fundchannel", {"id": ours.node_id, "amount": FUNDING_SAT, "push_msat": 300_000_000,
                                      "announce": False})
    bitcoind.generate_block(1, wait_for_mempool=result["txid"])
    wait_normal(ours, cln)
    ours.call("disconnect", {"id": cln.node_id, "force": True})
    ours.connect(cln)  # and we learn Core Lightning's (dialling before its own redial)
    for round_number in range(3):
        wait_normal(ours, cln)
        pay(cln, ours, 1_000_000 + round_number, f"to-us-{round_number}")
        pay(ours, cln, 500_000 + round_number, f"to-cln-{round_number}")
        dropped_at = ours.daemon.log_path.stat().st_size
        cln.call("disconnect", {"id": ours.node_id, "force": True})
        wait_for(lambda at=dropped_at: ours.daemon.is_in_log(f"peer {cln.node_id} disconnected", start=at),
                 what="us to see the drop")  # then whoever redials first, the channel comes back
    wait_normal(ours, cln)
    pay(ours, cln, 700_000, "last")
    wait_for(lambda: settled(ours, cln) and settled(cln, ours), what="HTLCs settled")
