"""channel_updates carried by BOLT 4 failures (UPDATE flag): the payer verifies them (BOLT 7
signature of the erring node for the channel and direction it failed to forward over, with
or without the 2-byte type) and uses a newer one for the retries of that payment only; the
forwarding side sends its current update, and setchannel changes it (with enforcedelay).

Unit tests on hand-built updates and a (not running) built-in Node, then end to end with
real built-in daemons on the embedded chain."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from coincurve import PrivateKey
from lnharness.node import PaymentFailed
from lnharness.node_impl.builtin.core.config import parse_config
from lnharness.node_impl.builtin.core.jsonrpc import RpcError
from lnharness.node_impl.builtin.gossip.announce import (
    GossipError,
    make_channel_update,
    policy_from_update,
)
from lnharness.node_impl.builtin.gossip.graph import (
    ChannelPolicy,
    Graph,
    format_scid,
    scid_from_parts,
)
from lnharness.node_impl.builtin.gossip.ingest import read_failure_update
from lnharness.node_impl.builtin.gossip.pathfind import NoRouteError, RouteHintHop, find_route
from lnharness.node_impl.builtin.node import Node
from lnharness.node_impl.builtin.payments.pay import MAX_UPDATES_PER_CHANNEL, RetryPlan
from lnharness.node_impl.builtin.wire.codec import REGTEST_CHAIN_HASH
from lnharness.wait import wait_for

ERRING_KEY = (11).to_bytes(32, "big")
NEXT_KEY = (12).to_bytes(32, "big")
OTHER_KEY = (13).to_bytes(32, "big")
ERRING = PrivateKey(ERRING_KEY).public_key.format()
NEXT = PrivateKey(NEXT_KEY).public_key.format()
SCID = scid_from_parts(150, 2, 1)
DIRECTION = 0 if ERRING < NEXT else 1  # BOLT 7: direction 0 is sent by the lesser node id
FEE_INSUFFICIENT = 0x1000 | 12
FEE_BASE_MSAT = 1  # the built-in node's default policy
FEE_PPM = 10


def signed_update(*, key: bytes = ERRING_KEY, scid: int = SCID, direction: int = DIRECTION,
                  timestamp: int = 1_700_000_000, fee_base_msat: int = 5_000,
                  chain_hash: bytes = REGTEST_CHAIN_HASH) -> bytes:
    """A channel_update, type prefix included."""
    return make_channel_update(
        key, short_channel_id=scid, timestamp=timestamp, direction=direction, cltv_expiry_delta=6,
        htlc_minimum_msat=0, htlc_maximum_msat=10**9, fee_base_msat=fee_base_msat,
        fee_proportional_millionths=10, chain_hash=chain_hash).encode()


def read(raw: bytes):
    return read_failure_update(raw, short_channel_id=SCID, erring_node_id=ERRING, next_node_id=NEXT,
                               now=1_700_000_000)


# ---- verifying the enclosed update --------------------------------------------------------

def test_update_with_or_without_its_type_prefix_is_read() -> None:
    raw = signed_update()
    assert raw[:2] == b"\x01\x02"
    for form in (raw, raw[2:]):
        update = read(form)
        assert (update.short_channel_id.to_int(), update.fee_base_msat, update.timestamp) == (
            SCID, 5_000, 1_700_000_000)


@pytest.mark.parametrize("why, raw", [
    ("signature tampered", (lambda r: r[:10] + bytes([r[10] ^ 1]) + r[11:])(signed_update())),
    ("signed by the next node", signed_update(key=NEXT_KEY)),
    ("signed by a stranger", signed_update(key=OTHER_KEY)),
    ("another channel", signed_update(scid=SCID + 1)),
    ("the other direction", signed_update(direction=1 - DIRECTION)),
    ("another chain", signed_update(chain_hash=bytes(32))),
    ("dated two days ahead", signed_update(timestamp=1_700_000_000 + 2 * 86_400)),
    ("not a channel_update", b"\x01\x02" + bytes(20)),
])
def test_forged_or_mismatched_update_is_refused(why: str, raw: bytes) -> None:
    with pytest.raises(GossipError):
        read(raw)


def test_gossip_manager_ignores_and_logs_a_forged_failure_update(tmp_path: Path, caplog) -> None:
    node = make_node(tmp_path)
    node.chain.close()
    genuine = signed_update()
    policy = node.gossip.failure_update_policy(genuine[2:], short_channel_id=SCID, erring_node_id=ERRING,
                                               next_node_id=NEXT)
    assert policy is not None and policy.fee_base_msat == 5_000 and policy.raw_update == genuine
    forged = signed_update(key=OTHER_KEY)
    with caplog.at_level(logging.INFO):
        assert node.gossip.failure_update_policy(forged, short_channel_id=SCID, erring_node_id=ERRING,
                                                 next_node_id=NEXT) is None
    assert "ignoring the channel_update in a failure" in caplog.text and "bad signature" in caplog.text
    assert node.gossip.graph.get_channel(SCID) is None  # BOLT 4: never put in the graph
    assert node.gossip.failure_update_policy(b"", short_channel_id=SCID, erring_node_id=ERRING,
                                             next_node_id=NEXT) is None
    node.db.close()


# ---- what the retries do with it --------------------------------------------------------

def policy_at(timestamp: int, fee_base_msat: int = 5_000) -> ChannelPolicy:
    return policy_from_update(read(signed_update(timestamp=timestamp, fee_base_msat=fee_base_msat)))


def test_newer_update_is_used_once_and_the_same_one_again_avoids_the_channel() -> None:
    plan = RetryPlan()
    used = 1_600_000_000  # timestamp of the update routing used
    assert plan.use_update(SCID, DIRECTION, policy_at(1_650_000_000), used)
    assert plan.policies[(SCID, DIRECTION)].fee_base_msat == 5_000
    # the retry (which used the update taken) failed again with the very same update
    assert not plan.use_update(SCID, DIRECTION, policy_at(1_650_000_000), 1_650_000_000)
    plan.avoid("channel", SCID)
    assert SCID in plan.exclude_channels


def test_update_not_newer_than_the_one_routing_used_is_not_used() -> None:
    plan = RetryPlan()
    assert not plan.use_update(SCID, DIRECTION, policy_at(1_600_000_000), 1_650_000_000)
    assert not plan.use_update(SCID, DIRECTION, policy_at(1_650_000_000), 1_650_000_000)
    assert plan.policies == {}


def test_a_channel_failing_with_ever_newer_updates_is_not_retried_forever() -> None:
    plan = RetryPlan()
    used = [plan.use_update(SCID, DIRECTION, policy_at(1_600_000_000 + i), 1_600_000_000 + i - 1)
            for i in range(1, 6)]
    assert used == [True] * MAX_UPDATES_PER_CHANNEL + [False] * (5 - MAX_UPDATES_PER_CHANNEL)


def test_route_hint_without_update_uses_any_valid_update() -> None:
    assert RetryPlan().use_update(SCID, DIRECTION, policy_at(1), 0)


# ---- routing with the updates of one payment ---------------------------------------------

PAYER = PrivateKey((21).to_bytes(32, "big")).public_key.format()
HINT_SCID = scid_from_parts(140, 1, 0)


def line_graph() -> Graph:
    """PAYER -- ERRING (local channel); ERRING -> NEXT only known from a route hint."""
    graph = Graph()
    first, second = sorted((PAYER, ERRING))
    graph.add_channel(HINT_SCID, first, second, capacity_sat=1_000_000, local=True)
    return graph


def hint(fee_base_msat: int) -> list[list[RouteHintHop]]:
    return [[RouteHintHop(node_id=ERRING, short_channel_id=SCID, fee_base_msat=fee_base_msat,
                          fee_proportional_millionths=10, cltv_expiry_delta=6)]]


def test_route_takes_the_payments_update_over_the_route_hint_and_the_graph_is_untouched() -> None:
    graph = line_graph()
    spendable = {HINT_SCID: 10**9}
    stale = find_route(graph, PAYER, NEXT, 1_000_000, final_cltv_delta=10, route_hints=hint(1),
                       local_spendable_msat=spendable)
    assert stale[0].amount_msat == 1_000_000 + 1 + 10
    newer = {(SCID, DIRECTION): policy_at(1_650_000_000, fee_base_msat=5_000)}
    route = find_route(graph, PAYER, NEXT, 1_000_000, final_cltv_delta=10, route_hints=hint(1),
                       local_spendable_msat=spendable, policy_overrides=newer)
    assert route[0].amount_msat == 1_000_000 + 5_000 + 10
    with pytest.raises(NoRouteError):  # the new fee is above what the payer accepts
        find_route(graph, PAYER, NEXT, 1_000_000, final_cltv_delta=10, route_hints=hint(1),
                   local_spendable_msat=spendable, policy_overrides=newer, max_fee_msat=1_000)
    assert graph.get_channel(SCID) is None


def test_graph_policy_newer_than_the_payments_update_wins() -> None:
    graph = line_graph()
    first, second = sorted((ERRING, NEXT))
    graph.add_channel(SCID, first, second, capacity_sat=1_000_000, announcement=b"ann")
    graph.update_policy(SCID, DIRECTION, policy_at(1_700_000_000, fee_base_msat=7))
    older = {(SCID, DIRECTION): policy_at(1_650_000_000, fee_base_msat=5_000)}
    route = find_route(graph, PAYER, NEXT, 1_000_000, final_cltv_delta=10, policy_overrides=older,
                       local_spendable_msat={HINT_SCID: 10**9})
    assert route[0].amount_msat == 1_000_000 + 7 + 10


# ---- setchannel on a (not running) node -----------------------------------------------------

LOCAL_SCID = scid_from_parts(120, 3, 1)
PEER_KEY = (77).to_bytes(32, "big")
PEER_ID = PrivateKey(PEER_KEY).public_key.format()


def make_node(path: Path) -> Node:
    return Node(parse_config([f"--lightning-dir={path}", "--seed=" + "42" * 32,
                              "--fee-base-msat=1000", "--fee-ppm=200", "--cltv-delta=12"]))


async def register(node: Node) -> None:
    await node.gossip.add_local_channel(
        channel_id=bytes(32), short_channel_id=LOCAL_SCID, remote_node_id=PEER_ID, capacity_sat=200_000,
        local_funding_privkey=(5).to_bytes(32, "big"),
        remote_funding_pubkey=PrivateKey((6).to_bytes(32, "big")).public_key.format(),
        funding_txid="11" * 32, funding_outnum=1, announce=False)


def test_setchannel_signs_a_new_update_and_keeps_the_old_policy_during_enforcedelay(tmp_path: Path) -> None:
    async def scenario() -> None:
        node = make_node(tmp_path)
        await register(node)
        before = node.gossip.local_channel_update(LOCAL_SCID)
        result = await node.rpc.dispatch("setchannel", {"id": format_scid(LOCAL_SCID), "feebase": "3000msat",
                                                        "feeppm": 300, "htlcmax": 500_000_000})
        (entry,) = result["channels"]
        assert entry == {
            "peer_id": PEER_ID.hex(), "channel_id": "00" * 32, "short_channel_id": format_scid(LOCAL_SCID),
            "fee_base_msat": 3000, "fee_proportional_millionths": 300, "minimum_htlc_out_msat": 0,
            "maximum_htlc_out_msat": 200_000_000, "ignore_fee_limits": True,
            "warning_htlcmax_too_high": "Set maximum_htlc_out_msat to maximum possible in channel"}
        after = node.gossip.local_channel_update(LOCAL_SCID)
        assert after != before and after[:2] == b"\x01\x02"
        (ours,) = (await node.rpc.dispatch("listchannels", {}))["channels"]
        assert (ours["base_fee_millisatoshi"], ours["fee_per_millionth"]) == (3000, 300)
        assert [(p.fee_base_msat, p.fee_proportional_millionths) for p in node.gossip.local_policies(LOCAL_SCID)] \
            == [(3000, 300), (1000, 200)]  # default enforcedelay: 600 s
        await node.rpc.dispatch("setchannel", {"id": PEER_ID.hex(), "feebase": 4000, "enforcedelay": 0})
        assert [(p.fee_base_msat, p.fee_proportional_millionths) for p in node.gossip.local_policies(LOCAL_SCID)] \
            == [(4000, 300)]
        with pytest.raises(RpcError) as err:
            await node.rpc.dispatch("setchannel", {"id": "1x2x3"})
        assert "id" in err.value.message
        with pytest.raises(RpcError):
            await node.rpc.dispatch("setchannel", {"id": "all", "ignorefeelimits": False})
        node.chain.close()
        node.db.close()
        again = make_node(tmp_path)  # the policy survives a restart
        await register(again)
        assert again.gossip.local_policy(LOCAL_SCID)[:2] == (4000, 300)
        again.chain.close()
        again.db.close()

    asyncio.run(scenario())


# ---- end to end --------------------------------------------------------------------------

def fee_msat(base: int, ppm: int, forwarded_msat: int) -> int:
    return base + forwarded_msat * ppm // 1_000_000


def no_htlcs(node) -> bool:
    return all(c["htlcs"] == [] for c in node.rpc.listpeerchannels()["channels"])


@pytest.mark.impls("builtin")
def test_payer_retries_with_the_raised_fee_it_learnt_from_the_failure(node_factory, impl):
    # Private channels: l1 knows l2 -> l3 only from l3's route hint, so l2's new fee cannot reach
    # l1 by gossip — the failure's channel_update is the only way to learn it.
    l1, l2, l3 = node_factory.line_graph(3, announce_channels=False)
    amount = 10_000_000
    grace_invoice = l3.invoice(amount, description="old fee, inside enforcedelay")
    invoice = l3.invoice(amount, description="new fee")
    (hint,) = l3.decode(invoice.bolt11)["routes"]
    assert hint[0]["pubkey"] == l2.node_id and hint[0]["fee_base_msat"] == FEE_BASE_MSAT
    scid_23 = l2.rpc.listpeerchannels(l3.node_id)["channels"][0]["short_channel_id"]

    # raised with the default enforcedelay (600 s): the old fee is still accepted
    l2.rpc.setchannel(scid_23, feebase=2_000, feeppm=FEE_PPM)
    payment = l1.pay(grace_invoice.bolt11)
    assert payment.fee_msat == fee_msat(FEE_BASE_MSAT, FEE_PPM, amount)

    # raised again, enforced at once: the first attempt fails, the retry pays the new fee
    (entry,) = l2.rpc.setchannel(scid_23, feebase=3_000, enforcedelay=0)["channels"]
    assert (entry["short_channel_id"], entry["fee_base_msat"], entry["fee_proportional_millionths"]) == (
        scid_23, 3_000, FEE_PPM)
    payment = l1.pay(invoice.bolt11)
    assert payment.status == "complete"
    new_fee = fee_msat(3_000, FEE_PPM, amount)
    assert payment.fee_msat == new_fee
    forwards = [f for f in l2.rpc.listforwards()["forwards"] if f["payment_hash"] == invoice.payment_hash]
    assert [(f["status"], f.get("failcode")) for f in forwards] == [
        ("local_failed", FEE_INSUFFICIENT), ("settled", None)]
    assert forwards[1]["fee_msat"] == new_fee
    assert l3.wait_invoice_paid(invoice.payment_hash).status == "paid"
    for node in (l1, l2, l3):
        wait_for(lambda node=node: no_htlcs(node), what=f"{node.name}'s HTLCs to settle")


@pytest.mark.impls("builtin")
def test_fee_raised_beyond_the_payers_limit_fails_after_one_attempt(node_factory, impl):
    l1, l2, l3 = node_factory.line_graph(3, announce_channels=False)
    invoice = l3.invoice(10_000_000, description="too expensive now")
    scid_23 = l2.rpc.listpeerchannels(l3.node_id)["channels"][0]["short_channel_id"]
    l2.rpc.setchannel(scid_23, feebase=1_000_000, enforcedelay=0)  # 10% of the amount: above maxfeepercent
    with pytest.raises(PaymentFailed) as failed:
        l1.pay(invoice.bolt11)
    assert "WIRE_FEE_INSUFFICIENT" in str(failed.value) and l2.node_id in str(failed.value)
    forwards = [f for f in l2.rpc.listforwards()["forwards"] if f["payment_hash"] == invoice.payment_hash]
    assert [f["status"] for f in forwards] == ["local_failed"]
    wait_for(lambda: no_htlcs(l1), what="l1's failed HTLC to be removed")


@pytest.mark.impls("builtin")
def test_minimum_raised_above_the_amount_fails_with_amount_below_minimum_once(node_factory, impl):
    l1, l2, l3 = node_factory.line_graph(3, announce_channels=False)
    invoice = l3.invoice(10_000_000, description="below the new minimum")
    scid_23 = l2.rpc.listpeerchannels(l3.node_id)["channels"][0]["short_channel_id"]
    (entry,) = l2.rpc.setchannel(scid_23, htlcmin="20000sat", enforcedelay=0)["channels"]
    assert entry["minimum_htlc_out_msat"] == 20_000_000
    with pytest.raises(PaymentFailed) as failed:
        l1.pay(invoice.bolt11)
    assert "WIRE_AMOUNT_BELOW_MINIMUM" in str(failed.value)
    forwards = [f for f in l2.rpc.listforwards()["forwards"] if f["payment_hash"] == invoice.payment_hash]
    assert [(f["status"], f["failreason"]) for f in forwards] == [("local_failed", "WIRE_AMOUNT_BELOW_MINIMUM")]


# ---- against Core Lightning (skipped when lightningd is not available) ------------------------

def open_private(chain, opener, acceptor, *, announce: bool = False) -> None:
    address = opener.call("newaddr", {"addresstype": "bech32"})["bech32"]
    chain.generate_block(1, wait_for_mempool=chain.faucet(address, 3_000_000))
    wait_for(lambda: any(o.get("status") == "confirmed" for o in opener.call("listfunds")["outputs"]),
             what=f"{opener.name} funded")
    opener.connect(acceptor)
    result = opener.call("fundchannel", {"id": acceptor.node_id, "amount": 1_000_000,
                                         "announce": announce})
    chain.generate_block(1, wait_for_mempool=result["txid"])
    for x, y in ((opener, acceptor), (acceptor, opener)):
        wait_for(lambda x=x, y=y: any(c["state"] == "CHANNELD_NORMAL" and c["peer_connected"]
                                      for c in x.call("listpeerchannels", {"id": y.node_id})["channels"]),
                 what=f"{x.name}'s channel with {y.name} normal")


def scid_of(node, peer) -> str:
    (chan,) = node.call("listpeerchannels", {"id": peer.node_id})["channels"]
    return chan["short_channel_id"]


def scid_int(text: str) -> int:
    block, tx, out = (int(x) for x in text.split("x"))
    return block << 40 | tx << 16 | out


def test_builtin_payer_retries_with_core_lightnings_failure_update(bitcoind, mixed):
    # Core Lightning attaches its channel_update (type prefix included) only for announced
    # channels, so bob -> carol is announced; alice learns it by gossip too, so after bob raises
    # its fee, alice's payment races bob's gossip (flushed every second): the scenario is
    # repeated until a payment went through the failure (almost always the first).
    alice, bob, carol = mixed.get_node("builtin"), mixed.get_node("cln"), mixed.get_node("builtin")
    open_private(bitcoind, alice, bob)
    open_private(bitcoind, bob, carol, announce=True)
    scid_bc = scid_of(bob, carol)
    bitcoind.generate_block(6)
    alice.wait_for_route(carol)
    (old,) = [c for c in bob.call("listchannels", {"short_channel_id": scid_bc})["channels"]
              if c["source"] == bob.node_id]
    amount = 10_000_000
    for attempt in range(1, 4):
        fee_base = old["base_fee_millisatoshi"] + 1_000 * attempt
        invoice = carol.call("invoice", {"amount_msat": amount, "label": f"raised-{attempt}", "description": "x"})
        bob.call("setchannel", {"id": scid_bc, "feebase": fee_base, "enforcedelay": 0})
        result = alice.call("pay", {"bolt11": invoice["bolt11"]})
        assert result["status"] == "complete"
        assert result["amount_sent_msat"] - amount == fee_msat(fee_base, old["fee_per_millionth"], amount)
        if alice.daemon.is_in_log(f"the failure from {bob.node_id} carried a valid channel_update for {scid_bc} "
                                  rf"\(fee {fee_base} msat"):
            break
    else:
        pytest.fail("alice heard of bob's new fee by gossip before paying, three times")
    assert not alice.daemon.is_in_log("ignoring the channel_update in a failure")
    failed = [f for f in bob.call("listforwards")["forwards"] if f["status"] == "local_failed"]
    assert [f.get("failcode") for f in failed] == [FEE_INSUFFICIENT]
