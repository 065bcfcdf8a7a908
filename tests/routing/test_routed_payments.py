"""Routed payments across lines of built-in nodes: fees, failures from the right hop, offline
hops and route hints to private channels (real processes on the embedded chain)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from lnharness.node import PaymentFailed
from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpcError
from lnharness.node_impl.builtin.payments.forward import FAIL_BACK_DEPTH
from lnharness.wait import wait_for

pytestmark = pytest.mark.impls("builtin")

FEE_BASE_MSAT = 1  # the built-in node's default policy
FEE_PPM = 10


def fee_msat(forwarded_msat: int) -> int:
    return FEE_BASE_MSAT + forwarded_msat * FEE_PPM // 1_000_000


def to_us_msat(node) -> int:
    """What `node` owns across its channels (listpeerchannels)."""
    return sum(c["to_us_msat"] for c in node.rpc.listpeerchannels()["channels"])


def no_htlcs(node) -> bool:
    return all(c["htlcs"] == [] for c in node.rpc.listpeerchannels()["channels"])


def test_first_of_five_pays_the_last_and_every_hop_earns_its_fee(node_factory, impl):
    nodes = node_factory.line_graph(5, wait_for_announce=True)
    l1, l5 = nodes[0], nodes[-1]
    before = [to_us_msat(n) for n in nodes]
    amount = 123_456_789
    invoice = l5.invoice(amount, description="four hops")
    payment = l1.pay(invoice.bolt11)
    assert payment.status == "complete"
    assert l5.wait_invoice_paid(invoice.payment_hash).status == "paid"
    for node in nodes:
        wait_for(lambda node=node: no_htlcs(node), what=f"{node.name}'s HTLCs to settle")

    # the amount each intermediate node forwards, from the payee back to the payer
    fees = {}
    forwarded = amount
    for node in reversed(nodes[1:-1]):
        fees[node.name] = fee_msat(forwarded)
        forwarded += fees[node.name]
    assert payment.fee_msat == sum(fees.values())
    after = [to_us_msat(n) for n in nodes]
    assert after[0] == before[0] - forwarded
    assert after[-1] == before[-1] + amount
    for i, node in enumerate(nodes[1:-1], start=1):
        assert after[i] - before[i] == fees[node.name], node.name
        (forward,) = node.rpc.listforwards(status="settled")["forwards"]
        assert forward["status"] == "settled" and forward["fee_msat"] == fees[node.name]
        scid_in, scid_out = (node.rpc.listpeerchannels(n.node_id)["channels"][0]["short_channel_id"]
                             for n in (nodes[i - 1], nodes[i + 1]))
        assert (forward["in_channel"], forward["out_channel"]) == (scid_in, scid_out)  # as Core Lightning
        assert node.rpc.listforwards(in_channel=scid_out)["forwards"] == []


def test_amount_beyond_one_hops_capacity_fails_at_that_hop(node_factory, impl):
    l1, l2, l3, l4, l5 = node_factory.line_graph(5, wait_for_announce=True)
    # l3 sends most of its l3->l4 balance to l4: that hop can no longer carry 300,000 sat
    drain = l4.invoice(800_000_000, description="drain l3->l4")
    l3.pay(drain.bolt11)
    assert l3.rpc.listpeerchannels(l4.node_id)["channels"][0]["spendable_msat"] < 300_000_000
    before = to_us_msat(l1)
    invoice = l5.invoice(300_000_000, description="too big for l3->l4")
    with pytest.raises(PaymentFailed) as failed:
        l1.pay(invoice.bolt11)
    message = str(failed.value)
    assert "WIRE_TEMPORARY_CHANNEL_FAILURE" in message and l3.node_id in message, message
    (forward,) = [f for f in l3.rpc.listforwards()["forwards"] if f["payment_hash"] == invoice.payment_hash]
    assert forward["status"] == "local_failed" and forward["failreason"] == "WIRE_TEMPORARY_CHANNEL_FAILURE"
    for node in (l1, l2):
        wait_for(lambda node=node: no_htlcs(node), what=f"{node.name}'s failed HTLC to be removed")
    assert to_us_msat(l1) == before  # nothing lost
    assert l5.lookup_invoice(invoice.payment_hash).status == "unpaid"


def test_route_through_an_offline_node_fails_and_the_payer_says_so(node_factory, impl):
    l1, l2, l3, l4, l5 = node_factory.line_graph(5, wait_for_announce=True)
    l4.stop()
    wait_for(lambda: not l3.rpc.listpeerchannels(l4.node_id)["channels"][0]["peer_connected"],
             what="l3 to notice l4 is gone")
    before = to_us_msat(l1)
    invoice = l5.invoice(50_000_000, description="l4 is offline")
    with pytest.raises(PaymentFailed) as failed:
        l1.pay(invoice.bolt11)
    native = failed.value.native
    message = str(failed.value)
    if native.code == 205:  # l3 disabled the channel and l1 heard of it before paying
        assert "No route" in message
    else:
        assert native.code == 204 and "WIRE_TEMPORARY_CHANNEL_FAILURE" in message and l3.node_id in message
    wait_for(lambda: no_htlcs(l1), what="l1's failed HTLC to be removed")
    assert to_us_msat(l1) == before


def test_route_hint_reaches_a_payee_behind_a_private_channel(node_factory, impl):
    l1, l2, l3 = node_factory.line_graph(3, wait_for_announce=True)
    l4 = node_factory.get_node()
    l3.fund_wallet(2_000_000)
    channel = l3.open_channel(l4, 1_000_000, announce=False)
    # open_channel waits for l3's side; l4's invoices hint the channels its gossip subsystem has
    # registered, which happens once l4's side is active too
    l4.wait_channel_active(l3, funding_txid=channel.funding_txid)
    wait_for(lambda: l4.rpc.listchannels(short_channel_id=channel.short_channel_id)["channels"],
             what="l4's private channel registered for route hints")
    invoice = l4.invoice(20_000_000, description="private payee")
    hints = l4.decode(invoice.bolt11)["routes"]
    assert hints and hints[0][0]["pubkey"] == l3.node_id
    l1.wait_for_route(l3)
    before = [to_us_msat(n) for n in (l2, l3)]
    payment = l1.pay(invoice.bolt11)
    assert payment.status == "complete"
    assert l4.wait_invoice_paid(invoice.payment_hash).status == "paid"
    for node in (l1, l2, l3, l4):
        wait_for(lambda node=node: no_htlcs(node), what=f"{node.name}'s HTLCs to settle")
    fee3 = fee_msat(20_000_000)
    fee2 = fee_msat(20_000_000 + fee3)
    assert payment.fee_msat == fee2 + fee3
    assert [to_us_msat(n) for n in (l2, l3)] == [before[0] + fee2, before[1] + fee3]


def knows_route_avoiding(node, destination, avoided, amount_msat: int) -> bool:
    """Whether `node`'s graph has a route to `destination` that does not go through `avoided`."""
    try:
        node.rpc.getroute(id=destination.node_id, amount_msat=amount_msat, riskfactor=1,
                          exclude=[avoided.node_id])
    except BuiltinRpcError as exc:
        if exc.code == 205:
            return False
        raise
    return True


def test_payer_retries_another_route_after_a_hop_fails(node_factory, impl):
    # a pays d; the cheaper route through b fails at b (b->d drained), the one through c works
    nodes = node_factory.graph({
        "nodes": [{"name": "a"}, {"name": "b"}, {"name": "c", "options": {"fee_base_msat": 5_000}}, {"name": "d"}],
        # one channel per opener (the harness funds each opener with one output); pushes put the
        # balance where a and c need it
        "channels": [{"from": "a", "to": "b"}, {"from": "c", "to": "a", "push_msat": 900_000_000},
                     {"from": "b", "to": "d"}, {"from": "d", "to": "c", "push_msat": 900_000_000}],
    }, wait_for_announce=True)
    a, b, c, d = (nodes[n] for n in "abcd")
    amount = 200_000_000
    # the graph wait covers routes along the openers' directions only: a may not have heard of
    # c's policy towards d (the d-c channel is announced by c and d) yet
    wait_for(lambda: knows_route_avoiding(a, d, b, amount), what="a to know the route to d through c")
    b.pay(d.invoice(900_000_000, description="drain b->d").bolt11)
    invoice = d.invoice(amount, description="retry")
    payment = a.pay(invoice.bolt11)
    assert payment.status == "complete"
    assert payment.fee_msat == 5_000 + amount * FEE_PPM // 1_000_000  # c's fee: the route through c
    (refused,) = [f for f in b.rpc.listforwards()["forwards"] if f["payment_hash"] == invoice.payment_hash]
    assert refused["status"] == "local_failed" and refused["failreason"] == "WIRE_TEMPORARY_CHANNEL_FAILURE"
    (forward,) = [f for f in c.rpc.listforwards()["forwards"] if f["payment_hash"] == invoice.payment_hash]
    assert forward["status"] == "settled"


def wait_htlc_committed(node, peer):
    """Wait until an HTLC from `peer` is committed on both sides at `node` (so it is on the
    commitment `node` would broadcast), not merely received."""
    wait_for(lambda: [h for h in node.rpc.listpeerchannels(peer.node_id)["channels"][0]["htlcs"]
                      if h["state"] == "committed"],
             what=f"an HTLC from {peer.name} to be committed at {node.name}")


def pay_held(payer, payee, amount_msat: int, description: str):
    """`payee` holds incoming HTLCs; `payer` pays a new invoice of it in the background.
    Returns the pending `pay` (a Future)."""
    payee.rpc.call("dev-hold-htlcs", {"hold": True})
    invoice = payee.invoice(amount_msat, description=description)
    return ThreadPoolExecutor(max_workers=1).submit(payer.pay, invoice.bolt11)


def test_forward_trimmed_on_the_closed_outgoing_channel_is_failed_back(node_factory, impl):
    l1, l2, l3 = node_factory.line_graph(3, wait_for_announce=True)
    before = to_us_msat(l1)
    paying = pay_held(l1, l3, 100_000, "dust")  # 100 sat: trimmed from every commitment
    wait_for(lambda: l2.rpc.listforwards()["forwards"], what="l2 to forward the HTLC")
    wait_htlc_committed(l3, l2)
    closing = l2.rpc.close(id=l3.node_id, force=True)
    node_factory.chain.generate_block(1, wait_for_mempool=closing["txid"])
    node_factory.chain.generate_block(FAIL_BACK_DEPTH - 2)
    wait_for(lambda: l2.rpc.getinfo()["blockheight"] == node_factory.chain.rpc.getblockcount(),
             what="l2 to see the blocks")
    assert l2.rpc.listforwards()["forwards"][0]["status"] == "offered"  # a reorg could still undo the close
    node_factory.chain.generate_block(1)
    with pytest.raises(PaymentFailed) as failed:
        paying.result(timeout=60)
    assert "WIRE_PERMANENT_CHANNEL_FAILURE" in str(failed.value) and l2.node_id in str(failed.value)
    wait_for(lambda: no_htlcs(l1), what="l1's HTLC to be failed back")
    assert to_us_msat(l1) == before
    (forward,) = l2.rpc.listforwards()["forwards"]
    assert forward["status"] == "local_failed" and forward["failreason"] == "WIRE_PERMANENT_CHANNEL_FAILURE"


def test_forward_stuck_downstream_is_timed_out_on_chain_and_failed_back_in_time(node_factory, impl):
    # l3 takes the HTLC and goes away: at the outgoing expiry l2 closes l2-l3, takes the HTLC back
    # on chain and fails the incoming HTLC before l1's own expiry (cltv_expiry_delta blocks later)
    l1, l2, l3 = node_factory.line_graph(3, wait_for_announce=True)
    before = to_us_msat(l1)
    paying = pay_held(l1, l3, 50_000_000, "held forever")
    wait_htlc_committed(l3, l2)
    (incoming,) = l2.rpc.listpeerchannels(l1.node_id)["channels"][0]["htlcs"]
    l3.stop()  # (l3 knows the preimage: left running it would claim the HTLC on chain)
    # one block at a time, each processed by l1 and l2, until l2 has failed the forward back
    # (decided while l2 processes a block); no block is mined after that
    for _ in range(30):
        if l2.rpc.listforwards()["forwards"][0]["status"] != "offered":
            break
        height = node_factory.chain.rpc.getblockcount() + 1
        node_factory.chain.generate_block(1)
        for node in (l1, l2):
            wait_for(lambda node=node, height=height: node.rpc.getinfo()["blockheight"] >= height,
                     what=f"{node.name} at {height}")
    with pytest.raises(PaymentFailed) as failed:
        paying.result(timeout=10)
    assert "WIRE_PERMANENT_CHANNEL_FAILURE" in str(failed.value) and l2.node_id in str(failed.value)
    assert l1.rpc.getinfo()["blockheight"] < incoming["expiry"]  # failed back before l1 had to close
    wait_for(lambda: no_htlcs(l1), what="l1's HTLC to be failed back")
    assert to_us_msat(l1) == before
    assert l1.rpc.listpeerchannels(l2.node_id)["channels"][0]["state"] == "CHANNELD_NORMAL"


def test_concurrent_payments_both_ways_through_a_line(node_factory, impl):
    nodes = node_factory.line_graph(4, wait_for_announce=True)
    l1, l4 = nodes[0], nodes[-1]
    before = [to_us_msat(n) for n in nodes]
    forward = [l4.invoice(1_000_000 + i, description="to l4") for i in range(12)]
    seed = l1.pay(l4.invoice(30_000_000, description="liquidity for l4 to send back").bolt11)
    backward = [l1.invoice(500_000 + i, description="to l1") for i in range(6)]
    # the graph wait covers the openers' direction (l1 towards l4) only: l4 needs l3's and l2's
    # policies towards l1, relayed to it along the line
    l4.wait_for_route(l1, 500_005)
    with ThreadPoolExecutor(max_workers=18) as pool:
        futures = [pool.submit(l1.pay, i.bolt11) for i in forward] + [pool.submit(l4.pay, i.bolt11) for i in backward]
        payments = [f.result(timeout=60) for f in futures]
    assert [p.status for p in payments] == ["complete"] * 18
    for node in nodes:
        wait_for(lambda node=node: no_htlcs(node), what=f"{node.name}'s HTLCs to settle")
    after = [to_us_msat(n) for n in nodes]
    assert sum(after) == sum(before)
    fees = [sum(f["fee_msat"] for f in n.rpc.listforwards()["forwards"] if f["status"] == "settled")
            for n in nodes[1:-1]]
    assert [a - b for a, b in zip(after[1:-1], before[1:-1], strict=True)] == fees
    assert sum(fees) == seed.fee_msat + sum(p.fee_msat for p in payments)


def test_preimage_learnt_on_chain_downstream_settles_the_forward_upstream(node_factory, impl):
    # l3 closes l2-l3 with the HTLC on its commitment and claims it with the preimage on chain:
    # l2 reads the preimage from the witness and fulfills l1's HTLC off chain
    l1, l2, l3 = node_factory.line_graph(3, wait_for_announce=True)
    l3.fund_wallet(100_000)  # an anchor channel's HTLC-success tx carries no fee: l3's wallet adds it
    paying = pay_held(l1, l3, 50_000_000, "claimed on chain")
    wait_htlc_committed(l3, l2)
    closing = l3.rpc.close(id=l2.node_id, force=True)
    node_factory.chain.generate_block(1, wait_for_mempool=closing["txid"])
    # l3 broadcasts its HTLC-success tx once it sees its commitment confirmed; its witness
    # carries the preimage once mined
    success = wait_for(lambda: next((o.get("sweep_txid") for o in l3.rpc.listpeerchannels(l2.node_id)
                                     ["channels"][0]["onchain"].get("outputs", [])
                                     if o["kind"] == "local_htlc_success"), None),
                       what="l3's HTLC-success tx broadcast")
    node_factory.chain.generate_block(1, wait_for_mempool=success)
    payment = paying.result(timeout=60)
    assert payment.status == "complete"
    (forward,) = l2.rpc.listforwards()["forwards"]
    assert forward["status"] == "settled"
    wait_for(lambda: no_htlcs(l1), what="l1's HTLC to be fulfilled")


def test_forward_fulfilled_downstream_is_claimed_on_the_closed_incoming_channel(node_factory, impl):
    # l1 closes l1-l2 with the HTLC on its commitment; l3 then fulfills it to l2, which must take
    # the incoming HTLC on chain with the preimage it learnt downstream
    l1, l2, l3 = node_factory.line_graph(3, wait_for_announce=True)
    paying = pay_held(l1, l3, 50_000_000, "incoming side closed")
    wait_htlc_committed(l3, l2)
    closing = l1.rpc.close(id=l2.node_id, force=True)
    node_factory.chain.generate_block(1, wait_for_mempool=closing["txid"])
    wait_for(lambda: l2.rpc.listpeerchannels(l1.node_id)["channels"][0]["state"] == "ONCHAIN",
             what="l2 to see l1's commitment")
    l3.rpc.call("dev-hold-htlcs", {"hold": False})
    wait_for(lambda: [f["status"] for f in l2.rpc.listforwards()["forwards"]] == ["settled"],
             what="l2 to learn the preimage")

    def claimed() -> bool:
        # one block at a time, processed by l2 before the next: l2 broadcasts its claim while
        # processing a block, long before l1 may take the HTLC back at its expiry
        node_factory.chain.generate_block(1)
        l2.wait_for_blockheight(node_factory.chain.height())
        outputs = l2.rpc.listpeerchannels(l1.node_id)["channels"][0]["onchain"]["outputs"]
        return any(o["kind"] == "remote_htlc_preimage" and o["resolved"] and o["resolved_by"] == o.get("sweep_txid")
                   for o in outputs)
    wait_for(claimed, what="l2 to claim the incoming HTLC with the preimage", interval=0.3)
    assert paying.result(timeout=30).status == "complete"  # l1 read the preimage from l2's claim


def test_a_hop_forwards_an_onion_that_names_its_channel_by_our_alias(node_factory, impl):
    """BOLT 2 scid aliases: each side of a channel sends its own in channel_ready, listpeerchannels
    shows both, and a hop forwards an HTLC whose onion names the next channel by the hop's alias."""
    l1, l2, l3 = node_factory.line_graph(3, wait_for_announce=True)
    (toward_l3,) = l2.rpc.listpeerchannels(id=l3.node_id)["channels"]
    (from_l2,) = l3.rpc.listpeerchannels(id=l2.node_id)["channels"]
    assert toward_l3["alias"] == {"local": from_l2["alias"]["remote"], "remote": from_l2["alias"]["local"]}
    assert toward_l3["alias"]["local"] != toward_l3["short_channel_id"]
    assert l2.rpc.listpeerchannels(short_channel_id=toward_l3["alias"]["local"])["channels"] == [toward_l3]
    assert l2.rpc.listpeerchannels(short_channel_id=toward_l3["alias"]["remote"])["channels"] == []
    invoice = l3.invoice(50_000, description="by alias")
    route = l1.rpc.getroute(id=l3.node_id, amount_msat=50_000, riskfactor=1)["route"]
    assert route[1]["channel"] == toward_l3["short_channel_id"]
    route[1]["channel"] = toward_l3["alias"]["local"]
    l1.rpc.sendpay(route=route, payment_hash=invoice.payment_hash,
                   payment_secret=l3.decode(invoice.bolt11)["payment_secret"])
    assert l1.rpc.waitsendpay(payment_hash=invoice.payment_hash, timeout=30)["status"] == "complete"
    assert l3.wait_invoice_paid(invoice.payment_hash).status == "paid"
