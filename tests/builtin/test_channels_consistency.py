"""What the RPCs show is consistent with what the node can do:

- a channel listed as CHANNELD_NORMAL is registered with gossip (our forwarding policy known,
  usable for an invoice's route hint), even while our channel_ready is still queued behind
  another sender on the connection;
- once getinfo's blockheight covers the block that confirms our on-chain claim of an HTLC paying
  an invoice, the invoice shows paid.
"""

from __future__ import annotations

import asyncio

from bitcoin.core import CBlock
from lnharness.node_impl.builtin.channel.machine import AWAITING_LOCKIN, NORMAL
from lnharness.wait import wait_for

from tests.builtin.in_process import make_node, until
from tests.builtin.test_channels_e2e import channel_of, fund_wallet, open_channel
from tests.builtin.test_channels_onchain import onchain_outputs, stuck_payment

TIMEOUT_S = 20
FUNDING_SAT = 1_000_000


def test_channel_is_listed_normal_only_once_registered_with_gossip(tmp_path, chain):
    """The acceptor has no chain backend: the test hands it the funding block, after the
    opener's channel_ready arrived, while another sender holds its connection to the opener.
    The channel turns normal inside the node at once; its channel_ready (and then its
    registration with gossip) wait for the connection."""
    async def scenario() -> None:
        opener = make_node(tmp_path, "opener", f"--bitcoin-rpcurl={chain.url}")
        acceptor = make_node(tmp_path, "acceptor")
        nodes = (opener, acceptor)
        runs = [asyncio.create_task(n.run()) for n in nodes]
        try:
            await until(lambda: all(n.listen_address for n in nodes) and opener.watcher.synced, "nodes up")
            address, _ = opener.wallet.new_address()
            chain.rpc.sendtoaddress(address, 0.05)
            chain.mine(1)
            await until(lambda: opener.wallet.balance_sat() >= 5_000_000, "the opener's wallet funded")
            await opener.peers.connect(acceptor.node_id, *acceptor.listen_address)
            funded = await opener.rpc.dispatch("fundchannel", {"id": acceptor.node_id.hex(),
                                                               "amount": FUNDING_SAT, "announce": False})
            await until(lambda: funded["txid"] in chain.rpc.getrawmempool(), "funding tx in the mempool")
            (block_hash,) = chain.mine(1)
            (chan,) = acceptor.channels.channels.values()
            await until(lambda: chan.channel_ready_received, "the opener's channel_ready at the acceptor")

            peer = acceptor.peers.get(opener.node_id)
            await peer.conn._send_lock.acquire()  # another sender is using the connection
            block = CBlock.deserialize(bytes.fromhex(chain.rpc.getblock(block_hash, 0)))
            height = chain.rpc.getblockcount()
            processing = asyncio.create_task(acceptor.channels.on_block(height, block_hash, block))
            await until(lambda: chan.state == NORMAL, "the channel to turn normal inside the acceptor")
            (listed,) = (await acceptor.rpc.dispatch("listpeerchannels", None))["channels"]
            registered = acceptor.gossip.local_policy(chan.short_channel_id) is not None
            assert listed["state"] != "CHANNELD_NORMAL" or registered, \
                "listed CHANNELD_NORMAL before the channel is registered with gossip"
            assert listed["state"] == AWAITING_LOCKIN and acceptor.channels.num_active_channels() == 0
            peer.conn._send_lock.release()
            await asyncio.wait_for(processing, TIMEOUT_S)

            await until(lambda: acceptor.channels.shown_state(chan) == NORMAL, "the channel listed normal")
            assert acceptor.gossip.local_policy(chan.short_channel_id) is not None
            hints = acceptor.invoices.route_hints(None)
            assert [hint[-1].short_channel_id for hint in hints] == [chan.short_channel_id]
        finally:
            for node in nodes:
                node.request_stop()
            await asyncio.wait_for(asyncio.gather(*runs), TIMEOUT_S)

    asyncio.run(scenario())


def test_invoice_claimed_with_our_htlc_success_tx_is_paid_once_its_block_is_processed(
        chain, chained_builtin_nodes):
    """bob holds the HTLC, closes with his own commitment and claims it with his HTLC-success
    tx: as soon as his blockheight covers the block with that tx, the invoice shows paid."""
    alice, bob = chained_builtin_nodes.get_node(), chained_builtin_nodes.get_node()
    open_channel(chain, alice, bob)
    fund_wallet(chain, bob)  # an anchor channel's HTLC-success tx carries no fee: bob's wallet adds it
    invoice = stuck_payment(alice, bob)
    closed = bob.rpc.close(id=alice.node_id, force=True)
    wait_for(lambda: closed["txid"] in chain.rpc.getrawmempool(), what="bob's commitment in the mempool")
    chain.mine(1)
    success = wait_for(lambda: next((o.get("sweep_txid") for o in onchain_outputs(bob, alice.node_id)
                                     if o["kind"] == "local_htlc_success"), None),
                       what="bob's HTLC-success tx")
    wait_for(lambda: success in chain.rpc.getrawmempool(), what="HTLC-success tx in the mempool")
    assert bob.rpc.listinvoices("stuck")["invoices"][0]["status"] == "unpaid"
    chain.mine(1)
    bob.wait_synced(chain)  # getinfo's blockheight covers the block with the HTLC-success tx
    paid = bob.rpc.listinvoices("stuck")["invoices"][0]
    assert paid["status"] == "paid" and paid["payment_hash"] == invoice["payment_hash"]
    assert channel_of(bob, alice.node_id)["state"] in ("ONCHAIN", "FUNDING_SPEND_SEEN")
