"""Closing lnd's channels: cooperative and forced, funds back in both wallets. Skips without lnd."""
from __future__ import annotations

import pytest
from lnharness.wait import wait_for

#: LND (release build) waits for up to 6 confirmations before it calls a close final
CLOSE_CONFIRMATIONS = 6
#: on-chain fees are lnd's regtest fallback of 25 sat/vB (no fee estimates on regtest)
FEE_MARGIN_SAT = 10_000


def sweep_until(chain, nodes, done, what):
    """Mine one block at a time, each time waiting until every node has processed it, until
    `done()` holds (timelocks and sweeps advance with blocks; at most 40 of them)."""
    for _ in range(40):
        if done():
            return
        chain.generate_block(1)
        height = chain.height()
        for node in nodes:
            node.wait_for_blockheight(height)
    wait_for(done, what=what)


@pytest.mark.parametrize("peer", ["lnd", "builtin"])
def test_cooperative_close_pays_both_wallets(node_factory, peer):
    l1, l2 = node_factory.get_nodes(2, impls=["lnd", peer])
    chain = node_factory.chain
    l1.fund_wallet(1_000_000)
    l1.open_channel(l2, 400_000)
    invoice = l2.invoice(150_000_000)
    l1.pay(invoice.bolt11)
    l2.wait_invoice_paid(invoice.label)
    before = l1.balance().onchain_sat

    txid = l1.close_channel(l2)
    assert l1.channels(l2)[0].state == "closing"
    chain.generate_block(CLOSE_CONFIRMATIONS, wait_for_mempool=txid)
    wait_for(lambda: l1.channels(l2)[0].state == "closed", what="l1 to call the close final")
    # the peer gets exactly its side; the opener its side less the closing fee
    assert l2.wait_onchain_balance(150_000).onchain_sat == 150_000
    back = l1.wait_onchain_balance(before + 250_000 - FEE_MARGIN_SAT).onchain_sat - before
    assert back < 250_000
    tx = chain.rpc.getrawtransaction(txid, True)
    assert tx["vin"][0]["sequence"] >> 24 != 0x80  # a mutual close, not a commitment (BOLT 3)


@pytest.mark.parametrize("peer", ["lnd", "builtin"])
def test_forced_close_returns_funds_after_the_timelock(node_factory, peer):
    l1, l2 = node_factory.get_nodes(2, impls=["lnd", peer])
    chain = node_factory.chain
    l1.fund_wallet(1_000_000)
    l1.open_channel(l2, 400_000)
    invoice = l2.invoice(150_000_000)
    l1.pay(invoice.bolt11)
    l2.wait_invoice_paid(invoice.label)
    before = l1.balance().onchain_sat

    txid = l1.close_channel(l2, force=True)
    chain.generate_block(1, wait_for_mempool=txid)
    wait_for(lambda: l1.channels(l2)[0].state == "closing", what="l1 to see its commitment confirmed")
    # the peer's side is not delayed; ours waits out the CSV delay the peer asked for
    sweep_until(chain, [l1, l2], lambda: l2.balance().onchain_sat >= 150_000 - FEE_MARGIN_SAT,
                what="l2's side of the forced close in its wallet")
    sweep_until(chain, [l1, l2],
                lambda: l1.balance().onchain_sat - before > 250_000 - FEE_MARGIN_SAT,
                what="l1's delayed side swept back to its wallet")
    sweep_until(chain, [l1, l2], lambda: l1.channels(l2)[0].state == "closed",
                what="l1 to call the forced close resolved")
