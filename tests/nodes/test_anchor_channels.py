"""Anchor channels between the built-in node and every other implementation here (each defaults
to option_anchors): opened both ways, payments both ways, force-closed by either side with
the chain's fee rate above the commitment's (so the closer bumps it through its anchor), every
output swept into the wallets."""
from __future__ import annotations

import pytest
from lnharness.backend import FEATURE_SET_FEERATE
from lnharness.chain import Chain
from lnharness.matrix.onchain import ToLocalSweepWatch, is_commitment, mine_until
from lnharness.node import LightningNode
from lnharness.wait import wait_for

FEE_MARGIN_SAT = 25_000  # sweeps and the anchor's child at 40 sat/vbyte, the commitment fee
MAX_SWEEP_BLOCKS = 160  # LDK asks a to_self_delay of 144 blocks of its peer
OPEN_SAT_PER_KW = 2_000
CLOSE_SAT_PER_KW = 10_000


def skip_unless_fee_estimate_can_be_set(chain: Chain) -> None:
    """These tests move the chain's fee estimate (`set_feerate`): Bitcoin Core cannot."""
    if not chain.supports(FEATURE_SET_FEERATE):
        pytest.skip(f"needs set_feerate, which the {chain.name!r} chain lacks (--lnh-chain=embedded has it)")


def anchor_type_on_both_ends(builtin: LightningNode, other: LightningNode) -> None:
    """The built-in node lists the channel as anchors; lnd and Core Lightning say so too (ldk-node
    does not report a channel's type: the commitment on chain shows it, with its two anchors)."""
    ours = [c for c in builtin.channels(other) if c.state == "active"][0]
    assert ours.native["channel_type"]["names"] == ["static_remotekey/even", "anchors/even"]
    if other.impl == "lnd":
        assert other.channels(builtin)[0].native["commitment_type"] == "ANCHORS"
    elif other.impl == "cln":
        theirs = other.rpc.call("listpeerchannels", {"id": builtin.node_id})["channels"][0]
        assert 22 in theirs["channel_type"]["bits"]


def funding_spends(chain: Chain, funding_txid: str, height: int | None = None) -> list[str]:
    """The txids spending the funding tx: in the block at `height`, else in the mempool."""
    if height is None:
        txs = [chain.rpc.getrawtransaction(t, True) for t in chain.rpc.getrawmempool()]
    else:
        txs = chain.rpc.getblock(chain.rpc.getblockhash(height), 2)["tx"]
    return [t["txid"] for t in txs if any(vin.get("txid") == funding_txid for vin in t["vin"])]


def sat(output: dict) -> int:
    return round(output["value"] * 100_000_000)


def local_sat(node: LightningNode, peer: LightningNode) -> int:
    return sum(c.local_msat for c in node.channels(peer) if c.state == "active") // 1000


@pytest.mark.parametrize("other_impl", ["lnd", "ldk", "cln"])
@pytest.mark.parametrize("builtin_opens", [True, False], ids=["builtin-opens-peer-closes", "peer-opens-builtin-closes"])
def test_anchor_channel_with_another_implementation(node_factory, other_impl, builtin_opens):
    chain = node_factory.chain
    skip_unless_fee_estimate_can_be_set(chain)
    chain.set_feerate(sat_per_kw=OPEN_SAT_PER_KW)
    builtin, other = node_factory.get_nodes(2, impls=["builtin", other_impl])
    funder, fundee = (builtin, other) if builtin_opens else (other, builtin)
    fundee.fund_wallet(200_000)  # the closer's wallet pays its anchor's child
    funder.fund_wallet(1_000_000)
    funder.open_channel(fundee, 500_000, push_msat=100_000_000)
    anchor_type_on_both_ends(builtin, other)

    there = fundee.invoice(30_000_000, description="forth")
    assert funder.pay(there.bolt11).preimage == fundee.wait_invoice_paid(there.label).preimage
    back = funder.invoice(20_000_000, description="back")
    assert fundee.pay(back.bolt11).status == "complete"
    assert funder.wait_invoice_paid(back.payment_hash).status == "paid"
    wait_for(lambda: local_sat(fundee, funder) == 110_000, what="the fundee's side to settle both payments")

    # fees rise: the opener's update_fee stops at its anchor cap, the close needs its anchor
    chain.set_feerate(sat_per_kw=CLOSE_SAT_PER_KW)
    chain.generate_block(1)
    node_factory.settle([funder, fundee])
    closer, peer = fundee, funder  # the side that did not open force-closes
    closer_sat, peer_sat = local_sat(closer, peer), local_sat(peer, closer)
    closer_before, peer_before = closer.balance().onchain_sat, peer.balance().onchain_sat
    funding_txid = closer.channels(peer)[0].funding_txid
    closers_txid = closer.close_channel(peer, force=True)
    # the closer tells its peer with an `error`, on which the peer fails the channel too (BOLT 1):
    # ldk sends it before its own broadcast, so the peer's commitment may be the one mined; then
    # the roles below swap (its to_local waits for the delay, the closer's side comes at once)
    wait_for(lambda: funding_spends(chain, funding_txid), what="a commitment in the mempool")
    chain.generate_block(1)
    confirmed_at = chain.height()
    txid = funding_spends(chain, funding_txid, height=confirmed_at)[0]
    if txid != closers_txid:
        closer, peer = peer, closer
        closer_sat, peer_sat = peer_sat, closer_sat
        closer_before, peer_before = peer_before, closer_before
    commitment = chain.rpc.getrawtransaction(txid, True)
    assert is_commitment(commitment, funding_txid)
    assert [sat(o) for o in commitment["vout"]].count(330) == 2  # both anchors
    funding_sat = sat(chain.rpc.getrawtransaction(funding_txid, True)["vout"][commitment["vin"][0]["vout"]])
    commitment_feerate = (funding_sat - sum(sat(o) for o in commitment["vout"])) * 1000 // commitment["weight"]
    # Core Lightning's commitment follows the estimate all the way; lnd and the built-in node stop
    # at 2,500 sat/kw on anchor channels: the closer's anchor then pays the rest
    if closer is builtin and commitment_feerate < CLOSE_SAT_PER_KW:  # the child confirmed with it
        block = chain.rpc.getblock(chain.rpc.getblockhash(confirmed_at), 2)
        assert any(vin.get("txid") == txid for t in block["tx"] for vin in t["vin"]), \
            "the built-in node's commitment confirmed without the child spending its anchor"

    mine_until(chain, [closer, peer], lambda: peer.balance().onchain_sat - peer_before >= peer_sat - FEE_MARGIN_SAT,
               what=f"{peer.name}'s side ({peer_sat} sat) in its wallet")
    sweep = mine_until(chain, [closer, peer], ToLocalSweepWatch(chain, txid, confirmed_at + 1),
                       what=f"the sweep of {closer.name}'s to_local output", max_blocks=MAX_SWEEP_BLOCKS)
    assert sweep.height - confirmed_at >= sweep.delay > 0
    wait_for(lambda: closer.balance().onchain_sat - closer_before >= closer_sat - FEE_MARGIN_SAT,
             what=f"{closer.name}'s side ({closer_sat} sat, swept in {sweep.txid}) in its wallet")
    assert closer.balance().onchain_sat - closer_before < closer_sat
    assert peer.balance().onchain_sat - peer_before <= peer_sat
