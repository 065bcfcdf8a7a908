"""One connection per peer: overlapping dials share one connection, crossing dials (both sides
at once) converge on the connection dialled by the lower node id, and a peer that dials again
wins over an old connection that no longer answers (Core Lightning reconnects that way).

Nodes run in the test's event loop over real sockets; the scripted peer speaks BOLT 8 through
lnharness.node_impl.builtin.net.transport."""

from __future__ import annotations

import asyncio
import os

from coincurve import PrivateKey
from lnharness.node_impl.builtin.net import transport
from lnharness.node_impl.builtin.net.peer import Peer
from lnharness.node_impl.builtin.net.peers import keeps_new_connection
from lnharness.node_impl.builtin.node import Node
from lnharness.node_impl.builtin.wire import messages
from lnharness.node_impl.builtin.wire.codec import REGTEST_CHAIN_HASH
from lnharness.node_impl.builtin.wire.features import DEFAULT_NODE_FEATURES
from lnharness.wait import wait_for

from tests.builtin.in_process import make_node, until
from tests.builtin.test_channels_e2e import channel_of, open_channel, pay

TIMEOUT_S = 10
A_ID, B_ID = bytes([2]) + bytes(32), bytes([3]) + bytes(32)


async def run_nodes(*nodes: Node) -> list[asyncio.Task[None]]:
    runs = [asyncio.create_task(n.run()) for n in nodes]
    await until(lambda: all(n.listen_address for n in nodes), "the nodes to listen")
    return runs


async def stop_nodes(nodes: tuple[Node, ...], runs: list[asyncio.Task[None]]) -> None:
    for node in nodes:
        node.request_stop()
    await asyncio.wait_for(asyncio.gather(*runs), TIMEOUT_S)


def local_port(peer: Peer) -> int:
    return int(peer.conn._writer.get_extra_info("sockname")[1])


def same_connection(x: Node, y: Node) -> bool:
    """x and y each have one registered connection to the other, and it is the same socket."""
    px, py = x.peers.get(y.node_id), y.peers.get(x.node_id)
    if px is None or py is None or px.conn.is_closed or py.conn.is_closed:
        return False
    return py.conn.remote_address is not None and py.conn.remote_address[1] == local_port(px)


def test_tie_break_keeps_a_redial_and_otherwise_the_lower_ids_dial():
    # the same side dialled again: the new connection replaces the old one
    assert keeps_new_connection(A_ID, B_ID, "in", "in")
    assert keeps_new_connection(B_ID, A_ID, "out", "out")
    # crossing: both ends keep the one A (lower id) dialled
    assert keeps_new_connection(A_ID, B_ID, "out", "in")  # at A: A's dial is new
    assert not keeps_new_connection(A_ID, B_ID, "in", "out")  # at A: B's dial is new
    assert keeps_new_connection(B_ID, A_ID, "in", "out")  # at B: A's dial is new
    assert not keeps_new_connection(B_ID, A_ID, "out", "in")  # at B: B's dial is new


def test_overlapping_connects_share_one_dial_and_one_connection(tmp_path):
    async def scenario() -> None:
        a, b = make_node(tmp_path, "a"), make_node(tmp_path, "b")
        runs = await run_nodes(a, b)
        try:
            first, second = await asyncio.gather(a.peers.connect(b.node_id, *b.listen_address),
                                                 a.peers.connect(b.node_id, *b.listen_address))
            assert first is second
            await until(lambda: same_connection(a, b), "b to register a's connection")
            assert first.connected and a.peers.get(b.node_id) is first
            # a third connect while connected returns the same peer
            assert await a.peers.connect(b.node_id, *b.listen_address) is first
        finally:
            await stop_nodes((a, b), runs)

    asyncio.run(scenario())


def test_crossing_dials_converge_on_the_connection_the_lower_id_dialled(tmp_path):
    async def scenario() -> None:
        a, b = make_node(tmp_path, "a"), make_node(tmp_path, "b")
        lower, higher = sorted((a, b), key=lambda n: n.node_id)
        runs = await run_nodes(a, b)
        try:
            for round_number in range(5):
                from_lower, _ = await asyncio.gather(
                    lower.peers.connect(higher.node_id, *higher.listen_address),
                    higher.peers.connect(lower.node_id, *lower.listen_address))
                await until(lambda: same_connection(lower, higher), f"one connection (round {round_number})")
                kept = lower.peers.get(higher.node_id)
                assert kept is from_lower and kept.direction == "out"
                assert higher.peers.get(lower.node_id).direction == "in"
                # the kept connection works both ways and nothing replaces it
                for x, y in ((lower, higher), (higher, lower)):
                    assert await x.peers._answers_ping(x.peers.get(y.node_id))
                assert same_connection(lower, higher) and lower.peers.get(higher.node_id) is kept
                await lower.peers.disconnect(higher.node_id)
                await until(lambda: higher.peers.get(lower.node_id) is None, "the disconnect to reach both")
        finally:
            await stop_nodes((a, b), runs)

    asyncio.run(scenario())


class ScriptedPeer:
    """A node id above the node's (so the node prefers its own dial) whose connections the test
    drives: a listener for the node to dial, and dials of its own."""

    def __init__(self, node: Node) -> None:
        while True:
            self.key = PrivateKey(os.urandom(32))
            self.node_id = self.key.public_key.format()
            if self.node_id > node.node_id:
                break
        self.node = node
        self.accepted: asyncio.Queue[transport.PeerConnection] = asyncio.Queue()
        self.server: asyncio.AbstractServer | None = None

    async def listen(self) -> int:
        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conn = await transport.accept(reader, writer, self.key.secret, TIMEOUT_S)
            await self.exchange_init(conn)
            await self.accepted.put(conn)
        self.server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def dial(self) -> transport.PeerConnection:
        conn = await transport.connect("127.0.0.1", self.node.listen_address[1], self.key.secret,
                                       self.node.node_id, TIMEOUT_S)
        await self.exchange_init(conn)
        return conn

    @staticmethod
    async def exchange_init(conn: transport.PeerConnection) -> None:
        await conn.send(messages.Init(globalfeatures=b"", features=DEFAULT_NODE_FEATURES.to_bytes(),
                                      networks=(REGTEST_CHAIN_HASH,), remote_addr=None,
                                      unknown_tlvs=()).encode())
        init = messages.decode(await asyncio.wait_for(conn.receive(), TIMEOUT_S))
        assert isinstance(init, messages.Init)

    @staticmethod
    async def answer_pings(conn: transport.PeerConnection) -> None:
        while True:
            try:
                message = messages.decode(await conn.receive())
            except transport.ConnectionClosed:
                return
            if isinstance(message, messages.Ping):
                await conn.send(messages.Pong(ignored=bytes(message.num_pong_bytes), extra=b"").encode())

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def test_peer_dialling_again_wins_over_our_connection_once_that_one_is_dead(tmp_path):
    """The node prefers the connection it dialled (lower id), but a peer that dials again while
    that connection no longer answers (it restarted, the old socket lingers) gets through."""
    async def scenario() -> None:
        node = make_node(tmp_path, "n", "--ping-idle=2")
        runs = await run_nodes(node)
        scripted = ScriptedPeer(node)
        try:
            port = await scripted.listen()
            ours = await node.peers.connect(scripted.node_id, "127.0.0.1", port)
            old = await asyncio.wait_for(scripted.accepted.get(), TIMEOUT_S)
            assert ours.direction == "out"
            # the scripted peer stops reading the old connection (kept open) and dials again
            new = await scripted.dial()
            await until(lambda: (p := node.peers.get(scripted.node_id)) is not None and p.direction == "in",
                        "the node to take the peer's new connection")
            assert ours.conn.is_closed
            reader = asyncio.create_task(scripted.answer_pings(new))
            await until(lambda: not new.is_closed and node.peers.get(scripted.node_id).connected,
                        "the new connection to stay")
            reader.cancel()
            old.close()
            new.close()
        finally:
            scripted.close()
            await stop_nodes((node,), runs)

    asyncio.run(scenario())


def test_peer_dialling_again_while_our_connection_answers_is_closed(tmp_path):
    """Both connections alive and dialled from opposite ends: the node keeps the one it
    dialled (lower id) and closes the new one."""
    async def scenario() -> None:
        node = make_node(tmp_path, "n")
        runs = await run_nodes(node)
        scripted = ScriptedPeer(node)
        try:
            port = await scripted.listen()
            ours = await node.peers.connect(scripted.node_id, "127.0.0.1", port)
            old = await asyncio.wait_for(scripted.accepted.get(), TIMEOUT_S)
            answering = asyncio.create_task(scripted.answer_pings(old))
            new = await scripted.dial()
            await ScriptedPeer.answer_pings(new)  # returns when the node closes it
            assert new.is_closed
            assert node.peers.get(scripted.node_id) is ours and not ours.conn.is_closed
            answering.cancel()
            old.close()
        finally:
            scripted.close()
            await stop_nodes((node,), runs)

    asyncio.run(scenario())


def test_after_a_restart_of_both_peers_the_channel_is_usable_as_soon_as_it_shows_connected(
        chain, chained_builtin_nodes):
    """Both know the other's address, so after both restart each reconnects automatically while
    a test also calls connect: whatever dials, the first connection both list as re-established
    carries a payment at once (no replacement afterwards)."""
    alice, bob = chained_builtin_nodes.get_node(), chained_builtin_nodes.get_node()
    open_channel(chain, alice, bob, push_msat=100_000_000)
    alice.rpc.disconnect(id=bob.node_id, force=True)
    wait_for(lambda: not channel_of(bob, alice.node_id)["peer_connected"], what="bob to see the disconnect")
    bob.connect_to(alice)  # bob learns alice's address too
    for round_number in range(3):
        alice.stop()
        bob.stop()
        alice.start()
        bob.start()
        alice.connect_to(bob)
        wait_for(lambda: channel_of(alice, bob.node_id)["peer_connected"]
                 and channel_of(bob, alice.node_id)["peer_connected"],
                 what=f"the channel re-established (round {round_number})")
        pay(alice, bob, 1_000_000, f"alice-{round_number}")
        pay(bob, alice, 1_000_000, f"bob-{round_number}")
