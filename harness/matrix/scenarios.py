"""The built-in matrix scenarios, in the order the matrix shows them.

Each drives its nodes through the `LightningNode` interface only, so it runs over any
implementations; `l1` is the first implementation of the cell, `l2` the second, `l3` the
third. Amounts are whole satoshis so that implementations reporting channel balances in
sat (LND) compare exactly.
"""
from __future__ import annotations

import logging
import time

from lnharness import topology
from lnharness.matrix.onchain import (
    ToLocalSweepWatch,
    is_commitment,
    is_mutual_close,
    mine_until,
)
from lnharness.matrix.scenario import CheckFailed, Scenario, ScenarioRun, expect
from lnharness.network import ANNOUNCE_DEPTH
from lnharness.node import LightningNode, PaymentFailed
from lnharness.results import Channel
from lnharness.wait import wait_for

log = logging.getLogger(__name__)

CHANNEL_SAT = 1_000_000
#: what the opener's wallet gets before opening: the channel plus the funding fee
FUND_SAT = 2_000_000
PUSH_MSAT = 200_000_000
PAYMENT_MSAT = 30_000_000
#: on-chain fees a close may cost its payer (LND pays 25 sat/vB without fee estimates)
FEE_MARGIN_SAT = 20_000
#: LND (release build) calls a mutual close final after up to 6 confirmations
CLOSE_CONFIRMATIONS = 6
#: blocks mined at most while waiting for a delayed output to be swept (covers a 144 delay)
MAX_SWEEP_BLOCKS = 160


# -- steps shared by the scenarios -----------------------------------------------------------
def open_channel(run: ScenarioRun, opener: LightningNode, peer: LightningNode, *,
                 push_msat: int = 0) -> Channel:
    """Fund `opener`, open a channel to `peer` and check both ends list it active."""
    with run.step(f"fund {opener.name}'s wallet"):
        opener.fund_wallet(FUND_SAT)
    with run.step(f"{opener.name} opens a {CHANNEL_SAT} sat channel to {peer.name}"):
        channel = opener.open_channel(peer, CHANNEL_SAT, push_msat=push_msat)
        expect(channel.capacity_sat == CHANNEL_SAT,
               f"{opener.name} lists capacity {channel.capacity_sat} sat, opened {CHANNEL_SAT}")
    with run.step(f"{peer.name} lists the channel with the pushed amount on its side"):
        theirs = peer.usable_channel(opener, funding_txid=channel.funding_txid)
        if theirs is None:
            raise CheckFailed(f"{peer.name} has no active channel funded by "
                              f"{channel.funding_txid}: {peer.channels(opener)}")
        expect(theirs.capacity_sat == CHANNEL_SAT and theirs.local_msat == push_msat,
               f"{peer.name} sees capacity {theirs.capacity_sat} sat and {theirs.local_msat} "
               f"msat on its side; expected {CHANNEL_SAT} sat and {push_msat} msat")
    return channel


def pay(run: ScenarioRun, payer: LightningNode, payee: LightningNode, amount_msat: int) -> int:
    """`payer` pays an invoice of `payee`; check both agree on the preimage. Returns the fee."""
    with run.step(f"{payer.name} pays {payee.name} {amount_msat} msat"):
        invoice = payee.invoice(amount_msat, description=f"matrix {run.scenario.name}")
        payment = payer.pay(invoice.bolt11)
        expect(payment.status == "complete", f"payment status {payment.status!r}")
        paid = payee.wait_invoice_paid(invoice.label)
        expect((paid.preimage or "").lower() == (payment.preimage or "").lower(),
               f"{payee.name} revealed preimage {paid.preimage}, {payer.name} got "
               f"{payment.preimage}")
        return payment.fee_msat


def local_msat(node: LightningNode, peer: LightningNode, funding_txid: str) -> int | None:
    """`node`'s side of its channel with `peer` funded by `funding_txid` (None if not listed)."""
    return next((c.local_msat for c in node.channels(peer) if c.funding_txid == funding_txid), None)


def wait_local_msat(node: LightningNode, peer: LightningNode,
                    funding_txid: str, expected_msat: int) -> None:
    """Wait until `node`'s side of the channel is `expected_msat` (to the satoshi: LND
    reports whole satoshis)."""
    wait_for(lambda: (v := local_msat(node, peer, funding_txid)) is not None
             and v // 1000 == expected_msat // 1000,
             what=f"{node.name}'s side of its channel with {peer.name} to be {expected_msat} msat "
                  f"(now {local_msat(node, peer, funding_txid)})")


def channel_state(node: LightningNode, peer: LightningNode, funding_txid: str) -> str | None:
    """The state of `node`'s channel with `peer` funded by `funding_txid` (None if not listed)."""
    return next((c.state for c in node.channels(peer) if c.funding_txid == funding_txid), None)


# -- the scenarios ---------------------------------------------------------------------------
def run_open(run: ScenarioRun) -> None:
    l1, l2 = run.nodes()
    channel = open_channel(run, l1, l2)
    with run.step("the channel is announced: both graphs hold it"):
        run.chain.generate_block(ANNOUNCE_DEPTH - 1)
        run.factory.sync_blockheight([l1, l2])
        scid = wait_for(lambda: next((c.short_channel_id for c in l1.channels(l2)
                                      if c.funding_txid == channel.funding_txid), None),
                        what=f"{l1.name} to know the channel's short channel id")
        wait_for(lambda: scid in l1.known_channels() and scid in l2.known_channels(),
                 what=f"channel {scid} in the graphs of {l1.name} and {l2.name}")


def run_pay(run: ScenarioRun) -> None:
    l1, l2 = run.nodes()
    channel = open_channel(run, l1, l2, push_msat=PUSH_MSAT)
    pay(run, l1, l2, PAYMENT_MSAT)
    pay(run, l2, l1, PAYMENT_MSAT // 2)
    with run.step("both ends agree on the balance"):
        expected = PUSH_MSAT + PAYMENT_MSAT - PAYMENT_MSAT // 2
        wait_local_msat(l2, l1, channel.funding_txid, expected)
        wait_for(lambda: next((c.remote_msat // 1000 == expected // 1000 for c in l1.channels(l2)
                               if c.funding_txid == channel.funding_txid), False),
                 what=f"{l1.name} to see {expected} msat on {l2.name}'s side")


def run_route(run: ScenarioRun) -> None:
    l1, l2, l3 = run.nodes()
    with run.step("open l1->l2 and l2->l3, announced, until l1 has a route to l3"):
        run.factory.open_channels([l1, l2, l3], topology.line(3, CHANNEL_SAT),
                                  wait_for_announce=True)
    fee_msat = pay(run, l1, l3, PAYMENT_MSAT)
    log.info("l1 paid %d msat to l3 with a fee of %d msat", PAYMENT_MSAT, fee_msat)
    with run.step("l2 forwarded the payment and kept its fee"):
        expect(fee_msat > 0, f"{l1.name} paid no routing fee to {l2.name}")
        for node, peer, amount in ((l2, l1, PAYMENT_MSAT + fee_msat), (l3, l2, PAYMENT_MSAT)):
            channel = node.usable_channel(peer)
            if channel is None:
                raise CheckFailed(f"{node.name} has no active channel with {peer.name}")
            wait_local_msat(node, peer, channel.funding_txid, amount)


def run_expiry(run: ScenarioRun) -> None:
    l1, l2 = run.nodes()
    channel = open_channel(run, l1, l2)
    with run.step("l2 issues an invoice that expires after 1 s, and calls it expired"):
        expiry_s = 1
        invoice = l2.invoice(PAYMENT_MSAT, description="expires", expiry=expiry_s)
        issued_by = int(time.time())  # the invoice's timestamp (whole seconds) is at most this
        # expired by every reading too: the end of its last second is allowed by some (Core
        # Lightning's pay refuses only once now > timestamp + expiry, and a payee may accept)
        wait_for(lambda: l2.lookup_invoice(invoice.label).status == "expired"
                 and int(time.time()) > issued_by + expiry_s,
                 what=f"{l2.name}'s invoice {invoice.label} to expire")
    with run.step("paying the expired invoice fails"):
        try:
            payment = l1.pay(invoice.bolt11)
        except PaymentFailed:
            pass
        else:
            raise CheckFailed(f"{l1.name} paid an expired invoice: {payment}")
    with run.step("nothing moved: the invoice is unpaid and no HTLC is in flight"):
        expect(l2.lookup_invoice(invoice.label).status == "expired",
               f"{l2.name}'s invoice is {l2.lookup_invoice(invoice.label).status}")
        expect(local_msat(l2, l1, channel.funding_txid) == 0,
               f"{l2.name}'s side is {local_msat(l2, l1, channel.funding_txid)} msat, expected 0")
        wait_for(lambda: l1.htlcs_in_flight() == 0 and l2.htlcs_in_flight() == 0,
                 what="no HTLC in flight on either end")
    pay(run, l1, l2, PAYMENT_MSAT)


def run_coop_close(run: ScenarioRun) -> None:
    l1, l2 = run.nodes()
    channel = open_channel(run, l1, l2, push_msat=PUSH_MSAT)
    pay(run, l1, l2, PAYMENT_MSAT)
    theirs_sat = (PUSH_MSAT + PAYMENT_MSAT) // 1000
    ours_sat = CHANNEL_SAT - theirs_sat
    before1, before2 = l1.balance().onchain_sat, l2.balance().onchain_sat
    with run.step("l1 closes the channel cooperatively"):
        txid = l1.close_channel(l2)
        run.chain.generate_block(CLOSE_CONFIRMATIONS, wait_for_mempool=txid)
        tx = run.chain.rpc.getrawtransaction(txid, True)
        expect(is_mutual_close(tx, channel.funding_txid),
               f"{txid} is not a mutual close of funding {channel.funding_txid}")
    with run.step("l2's wallet gets its side in full"):
        got = l2.wait_onchain_balance(before2 + theirs_sat).onchain_sat - before2
        expect(got == theirs_sat, f"{l2.name} got {got} sat, its side was {theirs_sat}")
    with run.step("l1's wallet gets its side less the closing fee"):
        got = l1.wait_onchain_balance(before1 + ours_sat - FEE_MARGIN_SAT).onchain_sat - before1
        expect(got < ours_sat, f"{l1.name} got {got} sat: more than its side {ours_sat}")
    with run.step("both ends call the channel closed"):
        wait_for(lambda: channel_state(l1, l2, channel.funding_txid) == "closed"
                 and channel_state(l2, l1, channel.funding_txid) == "closed",
                 what="the channel closed on both ends")


def run_force_close(run: ScenarioRun) -> None:
    l1, l2 = run.nodes()
    channel = open_channel(run, l1, l2, push_msat=PUSH_MSAT)
    pay(run, l1, l2, PAYMENT_MSAT)
    theirs_sat = (PUSH_MSAT + PAYMENT_MSAT) // 1000
    before1, before2 = l1.balance().onchain_sat, l2.balance().onchain_sat
    with run.step("l1 force-closes: its commitment confirms"):
        txid = l1.close_channel(l2, force=True)
        run.chain.generate_block(1, wait_for_mempool=txid)
        confirmed_at = run.chain.height()
        tx = run.chain.rpc.getrawtransaction(txid, True)
        expect(is_commitment(tx, channel.funding_txid),
               f"{txid} is not a commitment transaction of funding {channel.funding_txid}")
    with run.step("l2's side reaches its wallet"):
        mine_until(run.chain, [l1, l2],
                   lambda: l2.balance().onchain_sat - before2 >= theirs_sat - FEE_MARGIN_SAT,
                   what=f"{theirs_sat} sat back in {l2.name}'s wallet")
    with run.step("l1's to_local output is swept after its delay"):
        sweep = mine_until(run.chain, [l1, l2], ToLocalSweepWatch(run.chain, txid, confirmed_at + 1),
                           what=f"a confirmed sweep of the to_local output of {txid}",
                           max_blocks=MAX_SWEEP_BLOCKS)
        log.info("to_local of %s swept by %s at height %d, %d blocks after the commitment; "
                 "delay %d", txid, sweep.txid, sweep.height, sweep.height - confirmed_at,
                 sweep.delay)
        expect(sweep.delay > 0, f"the to_local script of {txid} has a delay of {sweep.delay}")
        expect(sweep.height - confirmed_at >= sweep.delay,
               f"sweep {sweep.txid} confirmed {sweep.height - confirmed_at} blocks after the "
               f"commitment, before its delay of {sweep.delay}")
    with run.step("the sweep reaches l1's wallet"):
        wait_for(lambda: l1.balance().onchain_sat - before1 >= sweep.amount_sat,
                 what=f"{sweep.amount_sat} sat of sweep {sweep.txid} in {l1.name}'s wallet")


def run_restart(run: ScenarioRun) -> None:
    l1, l2 = run.nodes()
    channel = open_channel(run, l1, l2, push_msat=PUSH_MSAT)
    pay(run, l1, l2, PAYMENT_MSAT)
    # a clean restart: a node stopped with a commitment update in flight is another test
    # (LND then sends `error: internal error`, and a peer that follows BOLT 1 fails the channel)
    with run.step("both ends are at rest: nothing in flight"):
        run.factory.settle([l1, l2])
    with run.step("l2 restarts"):
        l2.restart()
    with run.step("the channel re-establishes on both ends with the same balance"):
        l1.connect(l2)
        l1.wait_channel_active(l2, funding_txid=channel.funding_txid)
        wait_local_msat(l2, l1, channel.funding_txid, PUSH_MSAT + PAYMENT_MSAT)
    pay(run, l1, l2, PAYMENT_MSAT)
    pay(run, l2, l1, PAYMENT_MSAT)


BUILTIN_SCENARIOS: tuple[Scenario, ...] = (
    Scenario("open", 2, "the first opens a channel to the second: both list it active with "
             "the right capacity, and after 6 confirmations both graphs hold it (announced)",
             run_open),
    Scenario("pay", 2, "after a channel open with a push, the first pays the second and the "
             "second pays back: invoices paid, preimages agree, both ends agree on the balance",
             run_pay),
    Scenario("route", 3, "the first pays the third through the second (announced channels): "
             "a fee is paid, the middle forwards and keeps it", run_route),
    Scenario("expiry", 2, "an invoice of the second that expired is refused: the payment "
             "fails, nothing moves, no HTLC stays in flight; a fresh invoice then pays",
             run_expiry),
    Scenario("coop-close", 2, "the first closes cooperatively: a mutual close transaction "
             "confirms, the second's wallet gets its side in full, the first's its side less "
             "the fee, both call the channel closed", run_coop_close),
    Scenario("force-close", 2, "the first force-closes: its commitment confirms, the "
             "second's side reaches its wallet, and the first's to_local output is swept only "
             "after its CSV delay, into its wallet", run_force_close),
    Scenario("restart", 2, "once both are at rest after a payment, the second restarts: the "
             "channel re-establishes on both ends with its balance, and carries payments both "
             "ways", run_restart),
)
