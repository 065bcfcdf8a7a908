"""The PeerManager: listens, dials, keeps one connection per peer and dispatches messages.

Layer: net. Imports core, wire, net.transport, net.peer and net.handlers only; it never knows
which subsystems exist: the composition root (node.py) registers each one as a
`MessageHandler` with `add_handler`.

After a connection's init exchange (net/peer.py) every message is read in order: BOLT 1
control messages are handled by the Peer (an `error` is then also passed to the handler that
takes MSG_ERROR), every other type goes to the one handler that declared it; unknown odd
types are ignored, unknown even types get a warning and a disconnect. Each handler hears of
every connection and disconnection, in registration order. A peer idle for `ping_idle_s`
gets a ping; no answer within as long again disconnects it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from ..core.log import get_logger
from ..core.storage import Storage
from ..wire.codec import WireError
from ..wire.features import Features
from . import transport
from .handlers import MessageHandler
from .peer import (
    ALL_CHANNELS,
    CONTROL_MESSAGE_TYPES,
    INIT_TIMEOUT_S,
    MSG_ERROR,
    MSG_INIT,
    Peer,
    PeerRefused,
    describe_error,
)

log = get_logger("peer")

HANDSHAKE_TIMEOUT_S = 10.0
# Redialling a kept peer (Core Lightning: first after 1 s plus up to 1 s of fuzz, doubling;
# at most 300 s, 3 s with --dev-fast-reconnect; regtest tests want the short cap)
RECONNECT_MIN_PAUSE_S = 1.0
RECONNECT_MAX_PAUSE_S = 5.0
RECONNECT_FUZZ_S = 0.5  # random extra pause: two peers redialling each other rarely cross
RECONNECT_STABLE_S = 10.0  # a connection that lasted this long resets the pause
# Two connections to one peer at once (both sides dialled, or the peer dialled again):
ALIVE_CHECK_S = 5.0  # how long the connection we prefer has to answer a ping to be kept
DIAL_WAIT_S = 5.0  # how long an inbound connection waits for our own dial to the same peer


def keeps_new_connection(our_id: bytes, their_id: bytes, new_direction: str, old_direction: str) -> bool:
    """Whether a new connection to a peer replaces the one we have ("in" or "out" each).

    A peer that dials again (or our own second dial) replaces the old connection, as in Core
    Lightning. When the two were dialled from opposite ends (both sides dialled at once), both
    ends keep the one dialled by the node with the lower node id, so they converge on the same
    connection; the caller keeps the old one only while it still answers (see PeerManager)."""
    if new_direction == old_direction:
        return True
    new_dialled_by_us = new_direction == "out"
    return (our_id < their_id) == new_dialled_by_us


class PeerManager:
    """Listens, dials, keeps one connection per peer and runs each peer's read loop.

    One dial per peer at a time: a second `connect` awaits the first one's result. A connection
    is registered (and the handlers told) only once it won against the one we may already have
    (`keeps_new_connection`); the old one is closed, and its disconnect handlers have run,
    before the new one is announced."""

    def __init__(self, *, node_privkey: bytes, node_id: bytes, our_features: Features, db: Storage,
                 ping_idle_s: float, no_reconnect: bool) -> None:
        self._node_privkey = node_privkey
        self._node_id = node_id
        self.our_features = our_features
        self._db = db
        self._ping_idle_s = ping_idle_s
        self._no_reconnect = no_reconnect
        self.peers: dict[bytes, Peer] = {}
        self._handlers: list[MessageHandler] = []
        self._handler_for: dict[int, MessageHandler] = {}
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._keepers: dict[bytes, asyncio.Task[None]] = {}
        self._dials: dict[bytes, asyncio.Task[Peer]] = {}
        self._admission_locks: dict[bytes, asyncio.Lock] = {}
        db.migrate("peers", [
            "CREATE TABLE peer_addresses (node_id BLOB PRIMARY KEY, host TEXT NOT NULL, "
            "port INTEGER NOT NULL)",
        ])

    def add_handler(self, handler: MessageHandler) -> None:
        """Dispatch `handler.message_types` to `handler` and tell it of every (dis)connection.
        A type has one handler; BOLT 1 init/ping/pong/warning are the peer layer's own (an
        `error` may have a handler: it is passed on after being logged)."""
        for msg_type in handler.message_types:
            if msg_type == MSG_INIT or (msg_type in CONTROL_MESSAGE_TYPES and msg_type != MSG_ERROR):
                raise ValueError(f"message type {msg_type} is handled by the peer layer itself")
            other = self._handler_for.get(msg_type)
            if other is not None:
                raise ValueError(f"message type {msg_type} already goes to {type(other).__name__}")
        for msg_type in handler.message_types:
            self._handler_for[msg_type] = handler
        self._handlers.append(handler)

    def get(self, node_id: bytes) -> Peer | None:
        """The connected peer with this id, if any."""
        peer = self.peers.get(node_id)
        return peer if peer is not None and peer.connected else None

    def known_address(self, node_id: bytes) -> tuple[str, int] | None:
        """Last address we reached this peer at (persisted), for reconnecting."""
        rows = self._db.query("SELECT host, port FROM peer_addresses WHERE node_id = ?", (node_id,))
        return (rows[0]["host"], rows[0]["port"]) if rows else None

    async def listen(self, host: str, port: int) -> tuple[str, int]:
        """Accept peers on host:port (0 = any free port); returns the bound address."""
        self._server = await asyncio.start_server(self._accept, host, port)
        bound = self._server.sockets[0].getsockname()
        return str(bound[0]), int(bound[1])

    async def connect(self, node_id: bytes, host: str, port: int,
                      timeout: float = HANDSHAKE_TIMEOUT_S) -> Peer:
        """Dial a peer and exchange init; returns the connected Peer (an existing one if any,
        the result of a dial already in progress, or the peer's own connection if it won).
        Raises transport.ConnectionFailed, transport.HandshakeError or PeerRefused."""
        existing = self.get(node_id)
        if existing is not None:
            return existing
        dial = self._dials.get(node_id)
        if dial is None:
            dial = asyncio.get_running_loop().create_task(
                self._dial(node_id, host, port, timeout), name=f"dial-{node_id.hex()[:8]}")
            self._dials[node_id] = dial
            dial.add_done_callback(lambda task: self._dial_done(node_id, task))
        return await asyncio.shield(dial)

    def _dial_done(self, node_id: bytes, task: asyncio.Task[Peer]) -> None:
        if self._dials.get(node_id) is task:
            del self._dials[node_id]
        if not task.cancelled():
            task.exception()  # the callers got it; none may be left to retrieve it

    async def _dial(self, node_id: bytes, host: str, port: int, timeout: float) -> Peer:
        conn = await transport.connect(host, port, self._node_privkey, node_id, timeout)
        ready: asyncio.Future[Peer] = asyncio.get_running_loop().create_future()
        self._spawn(self._run(conn, "out", (host, port), ready), f"peer-{node_id.hex()[:8]}")
        peer = await asyncio.wait_for(ready, INIT_TIMEOUT_S + ALIVE_CHECK_S + timeout)
        self._db.execute(
            "INSERT INTO peer_addresses (node_id, host, port) VALUES (?, ?, ?) "
            "ON CONFLICT(node_id) DO UPDATE SET host = excluded.host, port = excluded.port",
            (node_id, host, port))
        return peer

    def keep_connected(self, node_id: bytes) -> None:
        """Keep this peer connected until `stop_keeping(node_id)`: dial it at once if it is not
        connected, and again after every drop (first after RECONNECT_MIN_PAUSE_S, pauses
        doubling up to RECONNECT_MAX_PAUSE_S while dials fail), at its last known address.
        The channel subsystem keeps every peer a live channel needs. With --no-reconnect this
        does nothing: the node never dials by itself (like Core Lightning's --dev-no-reconnect)."""
        if node_id in self._keepers or node_id == self._node_id:
            return
        if self._no_reconnect:
            log.info("not dialling %s by ourselves (--no-reconnect)", node_id.hex())
            return
        self._keepers[node_id] = asyncio.get_running_loop().create_task(
            self._keep(node_id), name=f"keep-{node_id.hex()[:8]}")

    def stop_keeping(self, node_id: bytes) -> None:
        """Stop redialling this peer (a connection it has stays open)."""
        task = self._keepers.pop(node_id, None)
        if task is not None:
            log.info("no longer redialling %s", node_id.hex())
            task.cancel()

    def is_kept(self, node_id: bytes) -> bool:
        """Whether we redial this peer by ourselves (`keep_connected`)."""
        return node_id in self._keepers

    async def _keep(self, node_id: bytes) -> None:
        pause_s = RECONNECT_MIN_PAUSE_S
        while True:
            peer = self.get(node_id)
            if peer is not None:
                connected_at = time.monotonic()
                await peer.wait_closed()
                if time.monotonic() - connected_at > RECONNECT_STABLE_S:
                    pause_s = RECONNECT_MIN_PAUSE_S
                pause_s = await _pause(pause_s)
                continue
            address = self.known_address(node_id)
            if address is None:
                await asyncio.sleep(RECONNECT_MAX_PAUSE_S)  # it may connect to us meanwhile
                continue
            log.info("reconnecting to %s at %s:%d", node_id.hex(), *address)
            try:
                await self.connect(node_id, *address)
                continue
            except (transport.ConnectionFailed, transport.HandshakeError, PeerRefused,
                    asyncio.TimeoutError) as exc:
                log.info("reconnecting to %s failed: %s", node_id.hex(), describe_error(exc))
            pause_s = await _pause(pause_s)

    async def disconnect(self, node_id: bytes, reason: str = "disconnect requested") -> bool:
        """Disconnect a peer and wait until its handlers ran; returns whether it was connected."""
        peer = self.peers.get(node_id)
        if peer is None:
            return False
        peer.disconnect(reason)
        await peer.wait_closed()
        return True

    async def close_all(self) -> None:
        """Stop listening and disconnect every peer (used at stop)."""
        if self._server is not None:
            self._server.close()
        for node_id in list(self._keepers):
            self.stop_keeping(node_id)
        for dial in list(self._dials.values()):
            dial.cancel()
        for peer in list(self.peers.values()):
            peer.disconnect("node stopping")
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            conn = await transport.accept(reader, writer, self._node_privkey, HANDSHAKE_TIMEOUT_S)
        except transport.HandshakeError as exc:
            log.info("incoming connection failed: %s", exc)
            return
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await self._run(conn, "in", conn.remote_address, None)

    async def _run(self, conn: transport.PeerConnection, direction: str,
                   address: tuple[str, int] | None, ready: asyncio.Future[Peer] | None) -> None:
        """Init exchange, then the read loop until the connection ends."""
        peer = Peer(conn, direction, address)
        try:
            await peer.exchange_init(self.our_features)
        except (PeerRefused, transport.ConnectionClosed, asyncio.TimeoutError, WireError) as exc:
            reason = f"init with {peer.id_hex} failed: {describe_error(exc)}"
            log.info("%s", reason)
            conn.close()
            if ready is not None and not ready.done():
                ready.set_exception(PeerRefused(reason))
            peer.mark_closed()
            return
        kept = await self._admit(peer)
        if kept is not peer:
            conn.close()
            peer.mark_closed()
            if ready is not None and not ready.done():
                ready.set_result(kept)  # our dial lost against the peer's live connection
            return
        log.info("peer %s connected (%s, features %s)", peer.id_hex, direction, peer.features)
        if ready is not None and not ready.done():
            ready.set_result(peer)
        pinger = asyncio.get_running_loop().create_task(peer.ping_when_idle(self._ping_idle_s))
        try:
            await self._notify_connected(peer)
            await self._read_loop(peer)
        finally:
            pinger.cancel()
            peer.connected = False
            conn.close()
            if self.peers.get(peer.node_id) is peer:
                del self.peers[peer.node_id]
            log.info("peer %s disconnected", peer.id_hex)
            await self._notify_disconnected(peer)
            peer.mark_closed()

    async def _admit(self, peer: Peer) -> Peer:
        """Register a connection that finished init, unless the one we have to the same peer
        is preferred (`keeps_new_connection`) and still answers a ping; returns the Peer that
        now stands for the node. A replaced connection is closed and its disconnect handlers
        have run before the new one is registered."""
        node_id = peer.node_id
        dial = self._dials.get(node_id)
        if peer.direction == "in" and dial is not None and self._node_id < node_id:
            # both sides are dialling: ours is the one both will keep; wait for it to finish
            await asyncio.wait([dial], timeout=DIAL_WAIT_S)
        lock = self._admission_locks.setdefault(node_id, asyncio.Lock())
        async with lock:
            while True:
                old = self.peers.get(node_id)
                if old is None:
                    self.peers[node_id] = peer
                    peer.connected = True
                    return peer
                if keeps_new_connection(self._node_id, node_id, peer.direction, old.direction):
                    reason = f"replaced by a new connection ({peer.direction})"
                elif await self._answers_ping(old):
                    log.info("peer %s: keeping the %s connection dialled by the lower node id, "
                             "closing the new %s one", peer.id_hex, old.direction, peer.direction)
                    return old
                else:
                    reason = f"no answer to a ping while a new connection ({peer.direction}) came"
                old.disconnect(reason)
                await old.wait_closed()

    async def _answers_ping(self, peer: Peer) -> bool:
        """Whether the connection is alive (`Peer.answers_ping` within ALIVE_CHECK_S, or the
        ping interval when shorter)."""
        return await peer.answers_ping(min(ALIVE_CHECK_S, self._ping_idle_s))

    async def _read_loop(self, peer: Peer) -> None:
        while True:
            try:
                message = await peer.conn.receive()
            except transport.ConnectionClosed as exc:
                log.debug("connection to %s ended: %s", peer.id_hex, exc)
                return
            peer.last_received = time.monotonic()
            if len(message) < 2:
                await peer.send_warning(ALL_CHANNELS, "message shorter than its 2-byte type")
                peer.disconnect("message without a type")
                return
            msg_type = int.from_bytes(message[:2], "big")
            try:
                await self._dispatch(peer, msg_type, message[2:])
            except WireError as exc:
                await peer.send_warning(ALL_CHANNELS, f"malformed message type {msg_type}: {describe_error(exc)}")
                peer.disconnect(f"malformed message type {msg_type}")
                return
            except transport.ConnectionClosed:
                return
            except Exception as exc:  # a handler bug must not take the node down
                log.error("handling message type %d from %s failed: %r", msg_type, peer.id_hex, exc,
                          exc_info=True)
                await peer.send_warning(ALL_CHANNELS, f"internal error handling message type {msg_type}")
                peer.disconnect("internal error")
                return
            if peer.conn.is_closed:
                return

    async def _dispatch(self, peer: Peer, msg_type: int, payload: bytes) -> None:
        handler = self._handler_for.get(msg_type)
        if msg_type in CONTROL_MESSAGE_TYPES:
            await peer.handle_control(msg_type, payload)
            if handler is not None:  # an error also goes to the channel subsystem
                await handler.handle_message(peer, msg_type, payload)
        elif msg_type == MSG_INIT:
            log.info("ignoring a second init from %s", peer.id_hex)
        elif handler is not None:
            await handler.handle_message(peer, msg_type, payload)
        elif msg_type % 2 == 1:
            log.debug("ignoring unknown odd message type %d from %s", msg_type, peer.id_hex)
        else:
            await peer.send_warning(ALL_CHANNELS, f"unknown even message type {msg_type}")
            peer.disconnect(f"unknown even message type {msg_type}")

    async def _notify_connected(self, peer: Peer) -> None:
        await self._notify(peer, "on_peer_connected", lambda h: h.on_peer_connected(peer))

    async def _notify_disconnected(self, peer: Peer) -> None:
        await self._notify(peer, "on_peer_disconnected", lambda h: h.on_peer_disconnected(peer))

    async def _notify(self, peer: Peer, hook: str,
                      call: Callable[[MessageHandler], Awaitable[None]]) -> None:
        """Run `call` on every handler in turn; one that fails is logged with its traceback
        and the others still run."""
        for handler in self._handlers:
            try:
                await call(handler)
            except Exception as exc:
                log.error("%s.%s failed for %s: %r", type(handler).__name__, hook, peer.id_hex,
                          exc, exc_info=True)


async def _pause(pause_s: float) -> float:
    """Sleep before redialling (with a little random fuzz); returns the next, doubled pause."""
    await asyncio.sleep(pause_s + random.uniform(0, RECONNECT_FUZZ_S))
    return min(pause_s * 2, RECONNECT_MAX_PAUSE_S)
