"""Peers: BOLT 8 connections, BOLT 1 init/ping/pong/error/warning, and message dispatch.

After the handshake both sides send `init`; a peer that shares no network, requires a feature
we do not know or sends anything else first is warned and disconnected. Then every message is
read in order and dispatched: channel messages to `node.channels.handle_message(peer, type,
payload)`, gossip to `node.gossip.handle_message(...)`; unknown odd types are ignored, unknown
even types get a warning and a disconnect. A peer idle for `--ping-idle` seconds gets a ping; no
answer within as long again disconnects it.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING, Any

from ..core.log import get_logger
from ..wire import messages
from ..wire.codec import REGTEST_CHAIN_HASH, WireError
from ..wire.features import (
    DEFAULT_KNOWN_FEATURES,
    DEFAULT_NODE_FEATURES,
    FeatureError,
    Features,
    check_remote_features,
)
from . import transport

if TYPE_CHECKING:
    from ..node import Node

log = get_logger("peer")

MSG_WARNING = messages.WarningMessage.TYPE
MSG_INIT = messages.Init.TYPE
MSG_ERROR = messages.ErrorMessage.TYPE
MSG_PING = messages.Ping.TYPE
MSG_PONG = messages.Pong.TYPE

# open_channel .. closing_sig, and update_add_htlc .. channel_reestablish
CHANNEL_MESSAGE_TYPES = frozenset(range(32, 42)) | frozenset(range(128, 137))
# channel_announcement .. gossip_timestamp_filter
GOSSIP_MESSAGE_TYPES = frozenset(range(256, 266))

HANDSHAKE_TIMEOUT_S = 10.0
INIT_TIMEOUT_S = 10.0
ALL_CHANNELS = bytes(32)
# Redialling a kept peer (Core Lightning: first after 1 s plus up to 1 s of fuzz, doubling;
# at most 300 s, 3 s with --dev-fast-reconnect; regtest tests want the short cap)
RECONNECT_MIN_PAUSE_S = 1.0
RECONNECT_MAX_PAUSE_S = 5.0
RECONNECT_FUZZ_S = 0.5  # random extra pause: two peers redialling each other rarely cross
RECONNECT_STABLE_S = 10.0  # a connection that lasted this long resets the pause
# Two connections to one peer at once (both sides dialled, or the peer dialled again):
ALIVE_CHECK_S = 5.0  # how long the connection we prefer has to answer a ping to be kept
DIAL_WAIT_S = 5.0  # how long an inbound connection waits for our own dial to the same peer


class PeerRefused(Exception):
    """The peer was refused at init (no common network, unknown required feature, ...)."""


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


def our_init(features: Features) -> bytes:
    """init: empty globalfeatures, our features, networks TLV = [regtest]."""
    return messages.Init(globalfeatures=b"", features=features.to_bytes(),
                         networks=(REGTEST_CHAIN_HASH,), remote_addr=None, unknown_tlvs=()).encode()


def _error_like(cls: type[messages.ErrorMessage] | type[messages.WarningMessage],
                channel_id: bytes, text: str) -> bytes:
    return cls(channel_id=channel_id, data=text.encode()[:65000], extra=b"").encode()


class Peer:
    """One connected peer after a successful init exchange."""

    def __init__(self, manager: PeerManager, conn: transport.PeerConnection, direction: str,
                 address: tuple[str, int] | None) -> None:
        self.manager = manager
        self.conn = conn
        self.node_id: bytes = conn.remote_node_id
        self.direction = direction  # "in" or "out"
        self.address = address
        self.features = Features()
        self.connected = False
        self.last_received = time.monotonic()
        self._ping_sent_at: float | None = None
        self._pong = asyncio.Event()
        self._closed = asyncio.Event()

    @property
    def id_hex(self) -> str:
        return self.node_id.hex()

    @property
    def feature_bits(self) -> frozenset[int]:
        return self.features.bits

    async def send(self, message: bytes) -> None:
        """Send one whole message (2-byte type + payload). Raises transport.ConnectionClosed."""
        await self.conn.send(message)

    async def send_error(self, channel_id: bytes, text: str) -> None:
        """Send an `error` (channel_id all zero = every channel); ignores a closed connection."""
        log.info("sending error to %s: %s", self.id_hex, text)
        await self._send_quietly(_error_like(messages.ErrorMessage, channel_id, text))

    async def send_warning(self, channel_id: bytes, text: str) -> None:
        """Send a `warning`; ignores a closed connection."""
        log.info("sending warning to %s: %s", self.id_hex, text)
        await self._send_quietly(_error_like(messages.WarningMessage, channel_id, text))

    async def _send_quietly(self, message: bytes) -> None:
        try:
            await self.conn.send(message)
        except (transport.ConnectionClosed, ValueError):
            pass

    def disconnect(self, reason: str) -> None:
        """Close the connection; the read loop then runs the disconnect handlers."""
        if not self.conn.is_closed:
            log.info("disconnecting %s: %s", self.id_hex, reason)
        self.conn.close()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def info(self) -> dict[str, Any]:
        """listpeers entry (Core Lightning's field names)."""
        entry: dict[str, Any] = {"id": self.id_hex, "connected": self.connected,
                                 "features": self.features.to_bytes().hex()}
        if self.address:
            entry["netaddr"] = [f"{self.address[0]}:{self.address[1]}"]
        return entry


class PeerManager:
    """Listens, dials, keeps one connection per peer and runs each peer's read loop.

    One dial per peer at a time: a second `connect` awaits the first one's result. A connection
    is registered (and the channel and gossip subsystems told) only once it won against the
    one we may already have (`keeps_new_connection`); the old one is closed, and its
    disconnect handlers have run, before the new one is announced."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.peers: dict[bytes, Peer] = {}
        self.our_features = DEFAULT_NODE_FEATURES
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._keepers: dict[bytes, asyncio.Task[None]] = {}
        self._dials: dict[bytes, asyncio.Task[Peer]] = {}
        self._admission_locks: dict[bytes, asyncio.Lock] = {}
        node.db.migrate("peers", [
            "CREATE TABLE peer_addresses (node_id BLOB PRIMARY KEY, host TEXT NOT NULL, "
            "port INTEGER NOT NULL)",
        ])

    def get(self, node_id: bytes) -> Peer | None:
        """The connected peer with this id, if any."""
        peer = self.peers.get(node_id)
        return peer if peer is not None and peer.connected else None

    def known_address(self, node_id: bytes) -> tuple[str, int] | None:
        """Last address we reached this peer at (persisted), for reconnecting."""
        rows = self.node.db.query("SELECT host, port FROM peer_addresses WHERE node_id = ?", (node_id,))
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
        conn = await transport.connect(host, port, self.node.node_privkey, node_id, timeout)
        ready: asyncio.Future[Peer] = asyncio.get_running_loop().create_future()
        self._spawn(self._run(conn, "out", (host, port), ready), f"peer-{node_id.hex()[:8]}")
        peer = await asyncio.wait_for(ready, INIT_TIMEOUT_S + ALIVE_CHECK_S + timeout)
        self.node.db.execute(
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
        if node_id in self._keepers or node_id == self.node.node_id:
            return
        if self.node.config.no_reconnect:
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
                log.info("reconnecting to %s failed: %s", node_id.hex(), _describe(exc))
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

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            conn = await transport.accept(reader, writer, self.node.node_privkey, HANDSHAKE_TIMEOUT_S)
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
        peer = Peer(self, conn, direction, address)
        try:
            await self._exchange_init(peer)
        except (PeerRefused, transport.ConnectionClosed, asyncio.TimeoutError, WireError) as exc:
            reason = f"init with {peer.id_hex} failed: {_describe(exc)}"
            log.info("%s", reason)
            conn.close()
            if ready is not None and not ready.done():
                ready.set_exception(PeerRefused(reason))
            peer._closed.set()
            return
        kept = await self._admit(peer)
        if kept is not peer:
            conn.close()
            peer._closed.set()
            if ready is not None and not ready.done():
                ready.set_result(kept)  # our dial lost against the peer's live connection
            return
        log.info("peer %s connected (%s, features %s)", peer.id_hex, direction, peer.features)
        if ready is not None and not ready.done():
            ready.set_result(peer)
        pinger = asyncio.get_running_loop().create_task(self._ping_when_idle(peer))
        try:
            await self._notify("on_peer_connected", peer)
            await self._read_loop(peer)
        finally:
            pinger.cancel()
            peer.connected = False
            conn.close()
            if self.peers.get(peer.node_id) is peer:
                del self.peers[peer.node_id]
            log.info("peer %s disconnected", peer.id_hex)
            await self._notify("on_peer_disconnected", peer)
            peer._closed.set()

    async def _admit(self, peer: Peer) -> Peer:
        """Register a connection that finished init, unless the one we have to the same peer
        is preferred (`keeps_new_connection`) and still answers a ping; returns the Peer that
        now stands for the node. A replaced connection is closed and its disconnect handlers
        have run before the new one is registered."""
        node_id = peer.node_id
        dial = self._dials.get(node_id)
        if peer.direction == "in" and dial is not None and self.node.node_id < node_id:
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
                if keeps_new_connection(self.node.node_id, node_id, peer.direction, old.direction):
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
        """Whether the connection is alive: a pong comes back in time and it is still open."""
        if peer.conn.is_closed:
            return False
        peer._pong.clear()
        try:
            await peer.send(messages.Ping(num_pong_bytes=1, ignored=b"", extra=b"").encode())
        except (transport.ConnectionClosed, ValueError):
            return False
        waits = [asyncio.ensure_future(peer._pong.wait()), asyncio.ensure_future(peer._closed.wait())]
        try:
            await asyncio.wait(waits, timeout=min(ALIVE_CHECK_S, self.node.config.ping_idle_s),
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        return peer._pong.is_set() and not peer.conn.is_closed

    async def _exchange_init(self, peer: Peer) -> None:
        await peer.send(our_init(self.our_features))
        raw = await asyncio.wait_for(peer.conn.receive(), INIT_TIMEOUT_S)
        try:
            init = messages.decode(raw)
        except WireError as exc:
            await peer.send_warning(ALL_CHANNELS, f"malformed init: {_describe(exc)}")
            raise
        if not isinstance(init, messages.Init):
            got = getattr(init, "TYPE", getattr(init, "type", "?"))
            await peer.send_warning(ALL_CHANNELS, f"expected init first, got message type {got}")
            raise PeerRefused(f"first message was type {got}, not init")
        if init.networks is not None and REGTEST_CHAIN_HASH not in init.networks:
            await peer.send_warning(ALL_CHANNELS, "No common network")
            raise PeerRefused("no common network (peer is not on regtest)")
        features = Features.from_init(init.globalfeatures, init.features)
        try:
            check_remote_features(features, DEFAULT_KNOWN_FEATURES)
        except FeatureError as exc:
            await peer.send_warning(ALL_CHANNELS, str(exc))
            raise PeerRefused(str(exc)) from None
        peer.features = features
        peer.last_received = time.monotonic()

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
                await peer.send_warning(ALL_CHANNELS, f"malformed message type {msg_type}: {_describe(exc)}")
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
        if msg_type in (MSG_PING, MSG_PONG, MSG_ERROR, MSG_WARNING):
            await self._handle_control(peer, messages.decode(msg_type.to_bytes(2, "big") + payload))
            if msg_type == MSG_ERROR:
                await self.node.channels.handle_message(peer, msg_type, payload)
        elif msg_type == MSG_INIT:
            log.info("ignoring a second init from %s", peer.id_hex)
        elif msg_type in CHANNEL_MESSAGE_TYPES:
            await self.node.channels.handle_message(peer, msg_type, payload)
        elif msg_type in GOSSIP_MESSAGE_TYPES:
            await self.node.gossip.handle_message(peer, msg_type, payload)
        elif msg_type % 2 == 1:
            log.debug("ignoring unknown odd message type %d from %s", msg_type, peer.id_hex)
        else:
            await peer.send_warning(ALL_CHANNELS, f"unknown even message type {msg_type}")
            peer.disconnect(f"unknown even message type {msg_type}")

    async def _handle_control(self, peer: Peer, message: messages.Message | messages.UnknownMessage) -> None:
        """ping, pong, error, warning."""
        if isinstance(message, messages.Ping):
            if message.num_pong_bytes < 65532:
                await peer.send(messages.Pong(ignored=bytes(message.num_pong_bytes), extra=b"").encode())
        elif isinstance(message, messages.Pong):
            peer._ping_sent_at = None
            peer._pong.set()
        elif isinstance(message, (messages.ErrorMessage, messages.WarningMessage)):
            kind = "error" if isinstance(message, messages.ErrorMessage) else "warning"
            scope = ("all channels" if message.channel_id == ALL_CHANNELS
                     else f"channel {message.channel_id.hex()}")
            log.warning("peer %s sent %s (%s): %s", peer.id_hex, kind, scope,
                        message.data.decode("utf-8", "replace"))

    async def _ping_when_idle(self, peer: Peer) -> None:
        idle_s = self.node.config.ping_idle_s
        while True:
            if peer._ping_sent_at is not None:
                wait = peer._ping_sent_at + idle_s - time.monotonic()
                if wait <= 0:
                    peer.disconnect(f"no pong within {idle_s:g}s")
                    return
            else:
                wait = peer.last_received + idle_s - time.monotonic()
                if wait <= 0:
                    log.debug("pinging idle peer %s", peer.id_hex)
                    peer._ping_sent_at = time.monotonic()
                    try:
                        await peer.send(messages.Ping(num_pong_bytes=1, ignored=b"", extra=b"").encode())
                    except transport.ConnectionClosed:
                        return
                    continue
            await asyncio.sleep(wait)

    async def _notify(self, hook: str, peer: Peer) -> None:
        for subsystem in (self.node.channels, self.node.gossip):
            try:
                await getattr(subsystem, hook)(peer)
            except Exception as exc:
                log.error("%s.%s failed for %s: %r", type(subsystem).__name__, hook, peer.id_hex,
                          exc, exc_info=True)


async def _pause(pause_s: float) -> float:
    """Sleep before redialling (with a little random fuzz); returns the next, doubled pause."""
    await asyncio.sleep(pause_s + random.uniform(0, RECONNECT_FUZZ_S))
    return min(pause_s * 2, RECONNECT_MAX_PAUSE_S)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, WireError):
        where = ".".join(part for part in (exc.message, exc.field) if part)
        return f"{where}: {exc.reason}" if where else exc.reason
    return str(exc) or type(exc).__name__
