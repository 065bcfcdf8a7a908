"""update_fee sent by the built-in node as the opener: it follows the chain's fee estimate
(`set_feerate` on the embedded chain), both ends' commitments change rate and the channel
still carries payments; against itself and every other implementation here."""
from __future__ import annotations

import pytest
from lnharness.backend import FEATURE_SET_FEERATE
from lnharness.chain import Chain
from lnharness.node import LightningNode
from lnharness.wait import wait_for

OPEN_SAT_PER_KW = 500
RAISED_SAT_PER_KW = 2_000  # below the 2,500 sat/kw an anchor channel's opener caps itself at


def skip_unless_fee_estimate_can_be_set(chain: Chain) -> None:
    """These tests move the chain's fee estimate (`set_feerate`): Bitcoin Core cannot."""
    if not chain.supports(FEATURE_SET_FEERATE):
        pytest.skip(f"needs set_feerate, which the {chain.name!r} chain lacks (--lnh-chain=embedded has it)")


def commitment_feerate(node: LightningNode, peer: LightningNode) -> int:
    """The fee rate (sat/kw) of the channel's commitments as `node` reports it."""
    (channel,) = [c for c in node.channels(peer) if c.state == "active"]
    if node.impl == "lnd":
        return int(channel.native["fee_per_kw"])
    return int(channel.native["feerate"]["perkw"])


@pytest.mark.parametrize("peer_impl", ["builtin", "lnd", "ldk", "cln"])
def test_builtin_opener_sends_update_fee_when_the_estimate_moves(node_factory, peer_impl):
    chain = node_factory.chain
    skip_unless_fee_estimate_can_be_set(chain)
    opener, peer = node_factory.get_nodes(2, impls=["builtin", peer_impl])
    chain.set_feerate(sat_per_kw=OPEN_SAT_PER_KW)
    opener.fund_wallet(2_000_000)
    opener.open_channel(peer, 1_000_000, push_msat=200_000_000)
    assert commitment_feerate(opener, peer) == OPEN_SAT_PER_KW

    chain.set_feerate(sat_per_kw=RAISED_SAT_PER_KW)
    chain.generate_block(1)  # the opener looks at the estimate with every block
    for a, b in ((opener, peer), (peer, opener)):
        wait_for(lambda a=a, b=b: commitment_feerate(a, b) == RAISED_SAT_PER_KW,
                 what=f"{a.name}'s commitment fee rate to follow the estimate to {RAISED_SAT_PER_KW} sat/kw")
    log = opener.daemon.log_path.read_text()
    assert f"update_fee to {RAISED_SAT_PER_KW} sat/kw" in log

    there = peer.invoice(50_000_000, description="after the fee update")
    assert opener.pay(there.bolt11).status == "complete"
    back = opener.invoice(20_000_000, description="and back")
    assert peer.pay(back.bolt11).status == "complete"
    assert opener.wait_invoice_paid(back.label).status == "paid"
    assert {commitment_feerate(opener, peer), commitment_feerate(peer, opener)} == {RAISED_SAT_PER_KW}
