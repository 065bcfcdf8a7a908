"""Anchor channels between two built-in node processes on the embedded chain: the type both
sides negotiate, a force close whose commitment the closer's wallet brings up to the chain's
fee estimate through its anchor (CPFP), every output swept afterwards; --no-anchors and
fundchannel's channel_type for static_remotekey."""

from __future__ import annotations

from decimal import Decimal

import pytest
from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpcError
from lnharness.wait import wait_for

from tests.builtin.test_channels_e2e import (
    FUNDING_SAT,
    channel_of,
    fund_wallet,
    open_channel,
    pay,
    wallet_sat,
)
from tests.builtin.test_channels_onchain import mine_until, onchain_outputs, sat_outputs

CHAIN_FEERATE_PER_KW = 10_000  # 40 sat/vbyte: above what an anchor commitment's opener pays (2,500)
ANCHOR_COMMITMENT_CAP_PER_KW = 2_500


def set_chain_feerate(chain, sat_per_kw: int) -> None:
    chain.rpc.setfeeestimate(Decimal(sat_per_kw * 4) / 100_000_000)  # BTC per 1000 vbytes


def feerate_of(node, peer) -> int:
    return channel_of(node, peer.node_id)["feerate"]["perkw"]


@pytest.mark.parametrize("closer", ["opener", "acceptor"])
def test_force_close_is_bumped_through_our_anchor_and_everything_is_swept(chain, chained_builtin_nodes, closer):
    alice, bob = chained_builtin_nodes.get_node(), chained_builtin_nodes.get_node()
    funded = open_channel(chain, alice, bob, push_msat=200_000_000)
    assert funded["channel_type"] == {"bits": [12, 22], "names": ["static_remotekey/even", "anchors/even"]}
    fund_wallet(chain, bob)  # the acceptor's wallet pays its own CPFP
    pay(alice, bob, 50_000_000, "forth")
    pay(bob, alice, 10_000_000, "back")

    set_chain_feerate(chain, CHAIN_FEERATE_PER_KW)
    chain.mine(1)  # alice, the opener, follows the estimate up to her anchor channel's cap
    for node, peer in ((alice, bob), (bob, alice)):
        wait_for(lambda node=node, peer=peer: feerate_of(node, peer) == ANCHOR_COMMITMENT_CAP_PER_KW,
                 what=f"{node.name}'s commitment at {ANCHOR_COMMITMENT_CAP_PER_KW} sat/kw")

    closing, other = (alice, bob) if closer == "opener" else (bob, alice)
    to_closer_msat = channel_of(closing, other.node_id)["to_us_msat"]
    to_other_msat = channel_of(other, closing.node_id)["to_us_msat"]
    closing_before, other_before = wallet_sat(closing), wallet_sat(other)
    closed = closing.rpc.close(id=other.node_id, force=True)
    commitment = closed["txid"]
    child = wait_for(lambda: next((t for t in chain.rpc.getrawmempool() if t != commitment), None),
                     what="the anchor's child in the mempool")
    child_tx = chain.rpc.getrawtransaction(child, True)
    anchor_vout = next(v["vout"] for v in child_tx["vin"] if v["txid"] == commitment)
    assert sat_outputs(chain, commitment)[anchor_vout] == 330
    assert len(child_tx["vin"]) >= 2  # the anchor and a wallet coin paying the fee
    parent_entry, child_entry = chain.rpc.getmempoolentry(commitment), chain.rpc.getmempoolentry(child)
    package_fee_sat = round((parent_entry["fees"]["base"] + child_entry["fees"]["base"]) * 100_000_000)
    package_weight = parent_entry["weight"] + child_entry["weight"]
    commitment_fee_sat = round(parent_entry["fees"]["base"] * 100_000_000)
    assert commitment_fee_sat * 1000 // parent_entry["weight"] < CHAIN_FEERATE_PER_KW  # alone: too little
    assert package_fee_sat * 1000 // package_weight >= CHAIN_FEERATE_PER_KW  # with its child: enough
    child_fee_sat = round(child_entry["fees"]["base"] * 100_000_000)

    chain.mine(1)
    assert commitment not in chain.rpc.getrawmempool() and child not in chain.rpc.getrawmempool()

    def all_swept() -> bool:
        return all(o["resolved"] for node, peer in ((closing, other), (other, closing))
                   for o in onchain_outputs(node, peer.node_id)) \
            and all(onchain_outputs(node, peer.node_id) for node, peer in ((closing, other), (other, closing)))

    mine_until(chain, [closing, other], all_swept, "both sides' outputs swept", max_blocks=20)
    chain.mine(1)
    sweeps = {}
    for node, peer in ((closing, other), (other, closing)):
        (out,) = onchain_outputs(node, peer.node_id)  # to_local for the closer, to_remote for the other
        assert out["kind"] == ("to_local" if node is closing else "to_remote")
        sweeps[node.name] = sat_outputs(chain, out["resolved_by"])[0]
        assert 0 < out["amount_sat"] - sweeps[node.name] < CHAIN_FEERATE_PER_KW  # the sweep's fee (< 1000 weight)
    opener_pays = commitment_fee_sat + 660 if closing is alice else 0  # fee and both anchors
    assert next(o for o in onchain_outputs(closing, other.node_id))["amount_sat"] \
        == to_closer_msat // 1000 - opener_pays
    assert onchain_outputs(other, closing.node_id)[0]["amount_sat"] \
        == to_other_msat // 1000 - (commitment_fee_sat + 660 if other is alice else 0)
    # the closer's wallet: its swept to_local, less the child's fee (the anchor's 330 sat came back in
    # its change); the other's wallet: its swept to_remote
    wait_for(lambda: wallet_sat(closing) == closing_before + sweeps[closing.name] - child_fee_sat + 330,
             what=f"{closing.name}'s wallet")
    wait_for(lambda: wallet_sat(other) == other_before + sweeps[other.name], what=f"{other.name}'s wallet")


def test_no_anchors_node_makes_static_remotekey_channels(chain, chained_builtin_nodes):
    alice = chained_builtin_nodes.get_node()
    bob = chained_builtin_nodes.get_node(extra_args=["--no-anchors"])
    assert not int(bob.rpc.getinfo()["our_features"]["init"], 16) >> 23 & 1
    fund_wallet(chain, alice)
    alice.connect_to(bob)
    with pytest.raises(BuiltinRpcError) as err:
        alice.rpc.fundchannel(id=bob.node_id, amount=FUNDING_SAT, channel_type=[12, 22])
    assert "the peer does not offer option_anchors" in err.value.message
    result = alice.rpc.fundchannel(id=bob.node_id, amount=FUNDING_SAT)
    assert result["channel_type"]["bits"] == [12]
    wait_for(lambda: result["txid"] in chain.rpc.getrawmempool(), what="funding in mempool")
    chain.mine(1)
    wait_for(lambda: channel_of(bob, alice.node_id)["state"] == "CHANNELD_NORMAL", what="bob's channel normal")
    assert channel_of(bob, alice.node_id)["channel_type"]["names"] == ["static_remotekey/even"]
    pay(alice, bob, 5_000_000, "static")


@pytest.mark.parametrize(("channel_type", "problem"), [
    ([22], "[22] is not a channel type the node makes"),
    ([12, 22, 46], "is not a channel type the node makes"),
    ("anchors", "expected a list of feature bit numbers"),
])
def test_fundchannel_refuses_channel_types_it_does_not_make(chain, chained_builtin_nodes, channel_type, problem):
    alice, bob = chained_builtin_nodes.get_node(), chained_builtin_nodes.get_node()
    alice.connect_to(bob)
    with pytest.raises(BuiltinRpcError) as err:
        alice.rpc.fundchannel(id=bob.node_id, amount=FUNDING_SAT, channel_type=channel_type)
    assert err.value.code == -32602 and problem in err.value.message
