"""Reorganisations under a closed channel: a unilateral close whose commitment moves to a later
block is followed again, and the CSV sweep waits for the new depth."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lnharness.network import NodeFactory
from lnharness.wait import wait_for

from tests.builtin.test_channels_interop_cln import channel, open_between, pay, settled


@pytest.fixture
def builtin_nodes(directory, bitcoind, executor) -> Iterator[NodeFactory]:
    factory = NodeFactory(directory, bitcoind, executor=executor)
    yield factory
    problems = factory.teardown()
    assert not problems, problems


def test_commitment_moved_by_a_reorg_is_followed_again(bitcoind, builtin_nodes):
    alice, bob = builtin_nodes.get_node("builtin"), builtin_nodes.get_node("builtin")
    open_between(bitcoind, alice, bob)
    pay(alice, bob, 100_000_000, "before-close")
    wait_for(lambda: settled(alice, bob) and settled(bob, alice), what="HTLC settled")
    closed = alice.call("close", {"id": bob.node_id, "force": True})
    bitcoind.generate_block(1, wait_for_mempool=closed["txid"])
    first_height = bitcoind.height()
    wait_for(lambda: channel(alice, bob)["onchain"].get("spend_height") == first_height, what="close seen")
    bitcoind.simple_reorg(first_height, shift=2)  # the commitment now confirms 2 blocks later
    wait_for(lambda: channel(alice, bob)["onchain"].get("spend_height") == first_height + 2,
             what="close followed into its new block")
    # to_self_delay 6 from the new height: not sweepable one block too early
    bitcoind.generate_block(first_height + 2 + 4 - bitcoind.height())
    wait_for(lambda: alice.info()["blockheight"] == bitcoind.height(), what="alice synced")
    assert not channel(alice, bob)["onchain"]["outputs"][0].get("sweep_txid")
    bitcoind.generate_block(1)
    sweep = wait_for(lambda: channel(alice, bob)["onchain"]["outputs"][0].get("sweep_txid"), what="sweep")
    bitcoind.generate_block(1, wait_for_mempool=sweep)
    wait_for(lambda: channel(alice, bob)["onchain"]["outputs"][0]["resolved"], what="sweep confirmed")


def test_funding_moved_by_a_reorg_gets_its_new_short_channel_id(bitcoind, builtin_nodes):
    alice, bob = builtin_nodes.get_node("builtin"), builtin_nodes.get_node("builtin")
    open_between(bitcoind, alice, bob)
    funding_height = bitcoind.height()
    old_scid = channel(alice, bob)["short_channel_id"]
    bitcoind.simple_reorg(funding_height, shift=1)
    new_scid = f"{funding_height + 1}x1x{channel(alice, bob)['funding_outnum']}"
    wait_for(lambda: channel(alice, bob).get("short_channel_id") == new_scid
             and channel(bob, alice).get("short_channel_id") == new_scid, what="scid updated on both sides")
    assert new_scid != old_scid
    pay(alice, bob, 10_000_000, "after-reorg")
