"""listpeers like Core Lightning's: a peer we have a channel with stays listed while it is
disconnected (`connected: false`, no netaddr); a peer without channels is dropped once it
disconnects (real built-in daemons on the embedded chain)."""

from __future__ import annotations

import pytest
from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpcError
from lnharness.wait import wait_for

from tests.builtin.test_channels_e2e import channel_of, open_channel


def peers_by_id(node) -> dict[str, dict]:
    return {p["id"]: p for p in node.rpc.listpeers()["peers"]}


def test_channel_peer_stays_listed_while_disconnected_and_others_are_dropped(chain, chained_builtin_nodes):
    alice, bob, carol = (chained_builtin_nodes.get_node() for _ in range(3))
    open_channel(chain, alice, bob)
    alice.connect_to(carol)
    listed = peers_by_id(alice)
    assert set(listed) == {bob.node_id, carol.node_id}
    assert listed[bob.node_id]["connected"] is True and listed[bob.node_id]["num_channels"] == 1
    assert listed[bob.node_id]["netaddr"] == [f"127.0.0.1:{bob.peer_port}"]
    assert listed[carol.node_id]["connected"] is True and listed[carol.node_id]["num_channels"] == 0

    alice.rpc.disconnect(carol.node_id)
    wait_for(lambda: carol.node_id not in peers_by_id(alice), what="alice to drop carol (no channel)")
    assert alice.rpc.listpeers(carol.node_id)["peers"] == []

    bob_id = bob.node_id  # node_id asks the node itself
    bob.stop()
    wait_for(lambda: not peers_by_id(alice)[bob_id]["connected"], what="alice to see bob gone")
    expected = {"id": bob_id, "connected": False, "num_channels": 1}
    assert alice.rpc.listpeers()["peers"] == [expected]
    assert alice.rpc.listpeers(bob_id)["peers"] == [expected]
    assert alice.rpc.getinfo()["num_peers"] == 1  # Core Lightning: connected or with channels

    bob.start()
    alice.connect_to(bob)
    wait_for(lambda: peers_by_id(alice)[bob_id]["connected"], what="alice to list bob connected again")
    (entry,) = alice.rpc.listpeers(bob.node_id)["peers"]
    assert entry["netaddr"] == [f"127.0.0.1:{bob.peer_port}"] and entry["num_channels"] == 1
    # bob registers the connection when he reads alice's init, independently of alice
    (entry_at_bob,) = wait_for(lambda: (peers := bob.rpc.listpeers()["peers"]) and peers[0]["connected"] and peers,
                               what="bob to list alice connected again")
    assert entry_at_bob["id"] == alice.node_id and entry_at_bob["connected"] is True


def test_disconnect_of_a_channel_peer_needs_force(chain, chained_builtin_nodes):
    """Like Core Lightning: disconnecting a peer a channel needs is refused (naming the channel's
    state) unless `force`; a bad `force` value is a parameter error."""
    alice, bob = chained_builtin_nodes.get_node(), chained_builtin_nodes.get_node()
    open_channel(chain, alice, bob)
    with pytest.raises(BuiltinRpcError) as refused:
        alice.rpc.disconnect(id=bob.node_id)
    assert refused.value.code == -1
    assert "channel in state CHANNELD_NORMAL" in refused.value.message
    assert peers_by_id(alice)[bob.node_id]["connected"] is True
    with pytest.raises(BuiltinRpcError) as bad:
        alice.rpc.disconnect(id=bob.node_id, force="yes")
    assert bad.value.code == -32602 and "force" in bad.value.message
    assert alice.rpc.disconnect(id=bob.node_id, force=True) == {}
    wait_for(lambda: not channel_of(bob, alice.node_id)["peer_connected"], what="bob to see the disconnect")
