"""Gossip between real built-in nodes: announced channels on a line A-B-C become known to
every node (channels, both directions' updates, node announcements), routes across the line
are found, and a closed channel disappears from every node's view."""

from __future__ import annotations

import pytest
from lnharness.wait import wait_for

FUNDING_SAT = 1_000_000
WALLET_SAT = 3_000_000
ANNOUNCE_DEPTH = 6


def fund_wallet(chain, node) -> None:
    address = node.rpc.newaddr()["bech32"]
    chain.rpc.sendtoaddress(address, WALLET_SAT / 100_000_000)
    chain.mine(1)
    wait_for(lambda: sum(o["amount_msat"] for o in node.rpc.listfunds()["outputs"]
                         if o["status"] == "confirmed") >= WALLET_SAT * 1000,
             what=f"{node.name} wallet funded")


def normal_channel(node, peer_id: str) -> dict | None:
    for chan in node.rpc.listpeerchannels()["channels"]:
        if chan["peer_id"] == peer_id and chan["state"] == "CHANNELD_NORMAL":
            return chan
    return None


def open_announced(chain, opener, acceptor) -> str:
    """Open an announced channel, confirm it; returns its short_channel_id."""
    opener.connect_to(acceptor)
    result = opener.rpc.fundchannel(id=acceptor.node_id, amount=FUNDING_SAT)
    wait_for(lambda: result["txid"] in chain.rpc.getrawmempool(), what="funding tx in mempool")
    chain.mine(1)
    chan = wait_for(lambda: normal_channel(opener, acceptor.node_id),
                    what=f"{opener.name}-{acceptor.name} channel normal")
    wait_for(lambda: normal_channel(acceptor, opener.node_id),
             what=f"{acceptor.name}-{opener.name} channel normal")
    return chan["short_channel_id"]


def public_directions(node) -> set[tuple[str, int]]:
    return {(c["short_channel_id"], c["direction"]) for c in node.rpc.listchannels()["channels"]
            if c["public"] and c["active"]}


@pytest.fixture
def line(chain, chained_builtin_nodes):
    a, b, c = (chained_builtin_nodes.get_node() for _ in range(3))
    fund_wallet(chain, a)
    fund_wallet(chain, b)
    scid_ab = open_announced(chain, a, b)
    scid_bc = open_announced(chain, b, c)
    chain.mine(ANNOUNCE_DEPTH)
    return a, b, c, scid_ab, scid_bc


def test_three_node_line_learns_the_whole_graph(chain, line):
    a, b, c, scid_ab, scid_bc = line
    expected = {(scid_ab, 0), (scid_ab, 1), (scid_bc, 0), (scid_bc, 1)}
    for node in (a, b, c):
        wait_for(lambda node=node: public_directions(node) == expected,
                 what=f"{node.name} to list both announced channels in both directions")
    ids = {a.node_id: a.name, b.node_id: b.name, c.node_id: c.name}
    for node in (a, b, c):
        wait_for(lambda node=node: {n["nodeid"]: n.get("alias")
                                    for n in node.rpc.listnodes()["nodes"]} == ids,
                 what=f"{node.name} to know every node's announcement")
        # The capacity comes from the funding output on chain.
        assert {ch["amount_msat"] for ch in node.rpc.listchannels()["channels"]} == {
            FUNDING_SAT * 1000}

    route = a.rpc.getroute(id=c.node_id, amount_msat=100_000, riskfactor=1)["route"]
    assert [(h["id"], h["channel"]) for h in route] == [(b.node_id, scid_ab), (c.node_id, scid_bc)]
    (b_to_c,) = [ch for ch in a.rpc.listchannels(scid_bc)["channels"]
                 if ch["source"] == b.node_id]
    fee = b_to_c["base_fee_millisatoshi"] + 100_000 * b_to_c["fee_per_millionth"] // 1_000_000
    assert [h["amount_msat"] for h in route] == [100_000 + fee, 100_000]
    assert [h["delay"] for h in route] == [9 + b_to_c["delay"], 9]
    invoice = c.rpc.invoice(amount_msat=100_000, label="across", description="across")
    paid = a.rpc.pay(invoice["bolt11"])
    assert paid["status"] == "complete" and paid["amount_sent_msat"] == 100_000 + fee

    # After a restart the middle node still knows the graph and re-announces itself.
    stamp = c.rpc.listnodes(b.node_id)["nodes"][0]["last_timestamp"]
    b.stop()
    b.start()
    assert public_directions(b) == expected
    b.connect_to(a)
    b.connect_to(c)
    wait_for(lambda: c.rpc.listnodes(b.node_id)["nodes"][0]["last_timestamp"] > stamp,
             what="c to receive b's fresh node_announcement after b restarts")
    assert public_directions(c) == expected


def test_closed_channel_leaves_every_view(chain, line):
    a, b, c, scid_ab, scid_bc = line
    for node in (a, b, c):
        wait_for(lambda node=node: len(public_directions(node)) == 4,
                 what=f"{node.name} to list both channels")
    close = a.rpc.close(b.node_id)
    wait_for(lambda: close["txid"] in chain.rpc.getrawmempool(), what="closing tx in mempool")
    chain.mine(1)
    for node in (a, b, c):
        wait_for(lambda node=node: {ch["short_channel_id"] for ch
                                    in node.rpc.listchannels()["channels"]} == {scid_bc},
                 what=f"{node.name} to drop the closed channel {scid_ab}")
        node.daemon.wait_for_log(f"channel {scid_ab} closed: funding spent")


def test_private_channel_stays_between_its_two_ends(chain, chained_builtin_nodes):
    a, b, c = (chained_builtin_nodes.get_node() for _ in range(3))
    fund_wallet(chain, a)
    fund_wallet(chain, b)
    a.connect_to(b)
    result = a.rpc.fundchannel(id=b.node_id, amount=FUNDING_SAT, announce=False)
    wait_for(lambda: result["txid"] in chain.rpc.getrawmempool(), what="funding tx in mempool")
    scid_bc = open_announced(chain, b, c)  # mines the private channel's funding too
    private_scid = wait_for(lambda: normal_channel(a, b.node_id),
                            what="private channel normal")["short_channel_id"]
    chain.mine(ANNOUNCE_DEPTH)
    for node in (a, b, c):
        wait_for(lambda node=node: {s for s, _ in public_directions(node)} == {scid_bc},
                 what=f"{node.name} to learn the public channel")
    for node in (a, b):
        # Both ends know the private channel and each other's policy on it.
        wait_for(lambda node=node: {(ch["direction"], ch["public"]) for ch
                                    in node.rpc.listchannels(private_scid)["channels"]}
                 == {(0, False), (1, False)},
                 what=f"{node.name} to hold both policies of the private channel")
    assert c.rpc.listchannels(private_scid)["channels"] == []
    assert a.node_id not in {n["nodeid"] for n in c.rpc.listnodes()["nodes"]}


def test_payment_to_a_private_payee_follows_the_invoice_route_hint(chain, chained_builtin_nodes):
    a, b, c = (chained_builtin_nodes.get_node() for _ in range(3))
    fund_wallet(chain, a)
    fund_wallet(chain, b)
    scid_ab = open_announced(chain, a, b)
    b.connect_to(c)
    result = b.rpc.fundchannel(id=c.node_id, amount=FUNDING_SAT, announce=False)
    wait_for(lambda: result["txid"] in chain.rpc.getrawmempool(), what="funding tx in mempool")
    chain.mine(1)
    private_scid = wait_for(lambda: normal_channel(c, b.node_id),
                            what="private channel normal")["short_channel_id"]
    chain.mine(ANNOUNCE_DEPTH)
    wait_for(lambda: public_directions(a) == {(scid_ab, 0), (scid_ab, 1)},
             what="a to know its announced channel")
    # c's invoice carries b's policy towards c on the private channel.
    (b_to_c,) = wait_for(lambda: [ch for ch in c.rpc.listchannels(private_scid)["channels"]
                                  if ch["source"] == b.node_id],
                         what="c to hold b's policy on the private channel")
    invoice = c.rpc.invoice(amount_msat=250_000, label="hinted", description="hinted")
    decoded = a.rpc.decodepay(invoice["bolt11"])
    assert decoded["routes"] == [[{
        "pubkey": b.node_id, "short_channel_id": private_scid,
        "fee_base_msat": b_to_c["base_fee_millisatoshi"],
        "fee_proportional_millionths": b_to_c["fee_per_millionth"],
        "cltv_expiry_delta": b_to_c["delay"]}]]
    paid = a.rpc.pay(invoice["bolt11"])
    assert paid["status"] == "complete"
    fee = b_to_c["base_fee_millisatoshi"] + 250_000 * b_to_c["fee_per_millionth"] // 1_000_000
    assert paid["amount_sent_msat"] == 250_000 + fee
    assert c.rpc.listinvoices("hinted")["invoices"][0]["status"] == "paid"
