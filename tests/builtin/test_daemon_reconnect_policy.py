"""Who redials a channel peer (real built-in daemons on the embedded chain): by default a node
keeps every peer a live channel needs connected, at startup and after any drop, like Core
Lightning; with --no-reconnect it never dials by itself (Core Lightning's --dev-no-reconnect),
while an explicit `connect` still works.

Only the side that dialled knows the other's address: alice dials bob in every test, so alice is
the one that can redial."""

from __future__ import annotations

import pytest
from lnharness.wait import wait_for

from tests.builtin.test_channels_e2e import channel_of, open_channel, pay


def reconnected(node, peer_id: str) -> bool:
    return channel_of(node, peer_id)["peer_connected"]


def wait_reestablished(alice, bob) -> None:
    wait_for(lambda: reconnected(alice, bob.node_id) and reconnected(bob, alice.node_id),
             what="the channel re-established on both sides")


@pytest.mark.parametrize("drop", ["disconnect", "kill"])
def test_channel_peer_is_redialled_after_a_drop_and_the_channel_carries_payments(
        chain, chained_builtin_nodes, drop):
    alice, bob = chained_builtin_nodes.get_node(), chained_builtin_nodes.get_node()
    open_channel(chain, alice, bob, push_msat=100_000_000)
    pay(alice, bob, 1_000_000, "before")
    alice_id, bob_id = alice.node_id, bob.node_id
    if drop == "disconnect":
        bob.rpc.disconnect(id=alice_id, force=True)  # returns once bob ran its disconnect handlers
        assert not reconnected(bob, alice_id)
    else:
        bob.daemon.kill()
        wait_for(lambda: not reconnected(alice, bob_id), what="alice to see bob gone")
        bob.start()  # bob does not know alice's address: only alice can bring the channel back
    alice.daemon.wait_for_log(f"reconnecting to {bob_id} at 127.0.0.1:{bob.peer_port}")
    wait_reestablished(alice, bob)
    pay(alice, bob, 2_000_000, "after-alice")
    pay(bob, alice, 3_000_000, "after-bob")


def test_channel_peer_is_dialled_at_startup(chain, chained_builtin_nodes):
    alice, bob = chained_builtin_nodes.get_node(), chained_builtin_nodes.get_node()
    open_channel(chain, alice, bob)
    alice.stop()
    alice.start()
    wait_reestablished(alice, bob)
    assert alice.daemon.is_in_log(f"reconnecting to {bob.node_id}")
    pay(alice, bob, 1_000_000, "after-restart")


def test_no_reconnect_never_dials_a_channel_peer_but_connect_works(chain, chained_builtin_nodes):
    alice = chained_builtin_nodes.get_node(extra_args=["--no-reconnect"])
    bob = chained_builtin_nodes.get_node()
    open_channel(chain, alice, bob)
    bob_id = bob.node_id
    # the channel needs bob: without --no-reconnect alice would start redialling him here
    alice.daemon.wait_for_log(f"not dialling {bob_id} by ourselves \\(--no-reconnect\\)")

    bob.rpc.disconnect(id=alice.node_id, force=True)
    alice.stop()
    restarted_at = alice.daemon.log_path.stat().st_size
    alice.start()  # the channel is loaded (and would be redialled) before the ready line
    assert alice.daemon.is_in_log(f"not dialling {bob_id} by ourselves", start=restarted_at)
    chain.mine(1)  # both process a block: alice ran her event loop well past her startup
    alice.wait_synced(chain)
    bob.wait_synced(chain)
    assert alice.rpc.listpeers(bob_id)["peers"] == [{"id": bob_id, "connected": False, "num_channels": 1}]
    assert bob.rpc.listpeers(alice.node_id)["peers"][0]["connected"] is False
    assert not alice.daemon.is_in_log("reconnecting to")

    alice.connect_to(bob)  # an explicit connect still dials
    wait_reestablished(alice, bob)
    pay(alice, bob, 1_000_000, "after-connect")
    assert not alice.daemon.is_in_log("reconnecting to")


def test_no_reconnect_still_accepts_the_peer_redialling(chain, chained_builtin_nodes):
    """bob (default) dialled and keeps the channel: alice with --no-reconnect accepts him."""
    alice = chained_builtin_nodes.get_node(extra_args=["--no-reconnect"])
    bob = chained_builtin_nodes.get_node()
    open_channel(chain, bob, alice, push_msat=50_000_000)
    alice.stop()
    alice.start()
    wait_reestablished(alice, bob)
    pay(alice, bob, 1_000_000, "after-restart")
    assert not alice.daemon.is_in_log("reconnecting to")


def test_peer_is_released_once_the_channel_is_closed(chain, chained_builtin_nodes):
    alice, bob = chained_builtin_nodes.get_node(), chained_builtin_nodes.get_node()
    open_channel(chain, alice, bob)
    bob_id = bob.node_id
    closed = alice.rpc.close(id=bob_id)
    assert closed["type"] == "mutual"
    alice.daemon.wait_for_log(f"no longer redialling {bob_id}")  # CLOSINGD_COMPLETE needs no peer
    dropped_at = alice.daemon.log_path.stat().st_size
    bob.rpc.disconnect(id=alice.node_id, force=True)
    wait_for(lambda: not alice.rpc.listpeers(bob_id)["peers"][0]["connected"], what="alice to see the drop")
    chain.mine(1)  # the close confirms; both process the block
    alice.wait_synced(chain)
    bob.wait_synced(chain)
    assert not alice.daemon.is_in_log("reconnecting to", start=dropped_at)
    assert alice.rpc.listpeers(bob_id)["peers"][0]["connected"] is False
