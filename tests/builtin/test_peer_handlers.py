"""The peer layer on its own (no Node): two PeerManagers over real 127.0.0.1 sockets dispatch
to the MessageHandlers registered with add_handler."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from coincurve import PrivateKey
from lnharness.node_impl.builtin.core.storage import Storage
from lnharness.node_impl.builtin.net.peer import MSG_ERROR, MSG_PING, Peer
from lnharness.node_impl.builtin.net.peers import PeerManager
from lnharness.node_impl.builtin.wire import messages
from lnharness.node_impl.builtin.wire.features import DEFAULT_NODE_FEATURES

ALICE_KEY = (11).to_bytes(32, "big")
BOB_KEY = (12).to_bytes(32, "big")
TIMEOUT_S = 10.0


class Recorder:
    """A MessageHandler that records what it is given."""

    def __init__(self, message_types: frozenset[int]) -> None:
        self.message_types = message_types
        self.received: list[tuple[bytes, int, bytes]] = []
        self.connected: list[bytes] = []
        self.disconnected: list[bytes] = []
        self.changed = asyncio.Event()

    async def handle_message(self, peer: Peer, msg_type: int, payload: bytes) -> None:
        self.received.append((peer.node_id, msg_type, payload))
        self.changed.set()

    async def on_peer_connected(self, peer: Peer) -> None:
        self.connected.append(peer.node_id)
        self.changed.set()

    async def on_peer_disconnected(self, peer: Peer) -> None:
        self.disconnected.append(peer.node_id)
        self.changed.set()

    async def until(self, predicate: object) -> None:
        async def poll() -> None:
            while not predicate():  # type: ignore[operator]
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(poll(), TIMEOUT_S)


def manager(tmp_path: Path, name: str, key: bytes) -> PeerManager:
    return PeerManager(node_privkey=key, node_id=PrivateKey(key).public_key.format(),
                       our_features=DEFAULT_NODE_FEATURES, db=Storage(tmp_path / f"{name}.sqlite3"),
                       ping_idle_s=60.0, no_reconnect=True)


def test_add_handler_refuses_a_type_taken_twice_or_owned_by_the_peer_layer(tmp_path: Path) -> None:
    peers = manager(tmp_path, "a", ALICE_KEY)
    peers.add_handler(Recorder(frozenset({300, MSG_ERROR})))  # an error may be passed on
    with pytest.raises(ValueError, match="300 already goes to Recorder"):
        peers.add_handler(Recorder(frozenset({300})))
    with pytest.raises(ValueError, match="handled by the peer layer"):
        peers.add_handler(Recorder(frozenset({MSG_PING})))


def test_messages_go_to_the_handler_that_declared_them(tmp_path: Path) -> None:
    async def scenario() -> None:
        alice, bob = manager(tmp_path, "alice", ALICE_KEY), manager(tmp_path, "bob", BOB_KEY)
        first, second = Recorder(frozenset({300, MSG_ERROR})), Recorder(frozenset({302}))
        bob.add_handler(first)
        bob.add_handler(second)
        _, port = await bob.listen("127.0.0.1", 0)
        try:
            bob_id = PrivateKey(BOB_KEY).public_key.format()
            alice_id = PrivateKey(ALICE_KEY).public_key.format()
            peer = await alice.connect(bob_id, "127.0.0.1", port)
            for handler in (first, second):  # every handler hears of the connection
                await handler.until(lambda h=handler: h.connected == [alice_id])
            await peer.send((300).to_bytes(2, "big") + b"one")
            await peer.send((303).to_bytes(2, "big") + b"unknown odd: ignored")
            await peer.send((302).to_bytes(2, "big") + b"two")
            error = messages.ErrorMessage(channel_id=bytes(32), data=b"oops", extra=b"").encode()
            await peer.send(error)
            await first.until(lambda: len(first.received) == 2)
            await second.until(lambda: len(second.received) == 1)
            assert first.received == [(alice_id, 300, b"one"), (alice_id, MSG_ERROR, error[2:])]
            assert second.received == [(alice_id, 302, b"two")]
            await peer.send((304).to_bytes(2, "big"))  # unknown even: warned and disconnected
            for handler in (first, second):
                await handler.until(lambda h=handler: h.disconnected == [alice_id])
            assert bob.get(alice_id) is None
        finally:
            await alice.close_all()
            await bob.close_all()

    asyncio.run(scenario())
