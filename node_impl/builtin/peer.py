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
import time
from typing import TYPE_CHECKING, Any

from . import transport
from .codec import REGTEST_CHAIN_HASH, Reader, WireError, encode_u16
from .log import get_logger
from .tlv import read_records, write_records

if TYPE_CHECKING:
    from .node import Node

log = get_logger("peer")

MSG_WARNING = 1
MSG_INIT = 16
MSG_ERROR = 17
MSG_PING = 18
MSG_PONG = 19
INIT_TLV_NETWORKS = 1
INIT_TLV_REMOTE_ADDR = 3

# open_channel .. closing_sig, and update_add_htlc .. channel_reestablish
CHANNEL_MESSAGE_TYPES = frozenset(range(32, 42)) | frozenset(range(128, 137))
# channel_announcement .. gossip_timestamp_filter
GOSSIP_MESSAGE_TYPES = frozenset(range(256, 266))

# Features we send: data_loss_protect, var_onion_optin, static_remotekey, payment_secret and
# channel_type, compulsory like Core Lightning sets them (the BOLT 9 "assumed" features).
OUR_FEATURE_BITS = (0, 8, 12, 14, 44)
# Feature pairs we understand; a peer's even (compulsory) bit outside these fails the connection.
KNOWN_FEATURE_PAIRS = frozenset(bit // 2 for bit in OUR_FEATURE_BITS)

HANDSHAKE_TIMEOUT_S = 10.0
INIT_TIMEOUT_S = 10.0
ALL_CHANNELS = bytes(32)


class PeerRefused(Exception):
    """The peer was refused at init (no common network, unknown required feature, ...)."""


def features_to_bytes(bits: Any) -> bytes:
    """Feature bit numbers -> the big-endian bitfield, minimal length."""
    value = 0
    for bit in bits:
        value |= 1 << bit
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def feature_bits(field: bytes) -> set[int]:
    """Set bit numbers of a big-endian feature bitfield."""
    value = int.from_bytes(field, "big")
    return {bit for bit in range(value.bit_length()) if value >> bit & 1}


def encode_init(feature_field: bytes, chain_hashes: list[bytes]) -> bytes:
    """init: empty globalfeatures, our features, networks TLV."""
    tlvs = write_records([(INIT_TLV_NETWORKS, b"".join(chain_hashes))])
    return (encode_u16(MSG_INIT) + encode_u16(0) + encode_u16(len(feature_field)) + feature_field
            + tlvs)


def decode_init(payload: bytes) -> tuple[bytes, list[bytes] | None]:
    """-> (global|local features merged, networks or None when absent). Raises WireError."""
    reader = Reader(payload)
    global_features = reader.read_bytes(reader.read_u16())
    local_features = reader.read_bytes(reader.read_u16())
    width = max(len(global_features), len(local_features))
    merged = (int.from_bytes(global_features, "big") | int.from_bytes(local_features, "big"))
    networks: list[bytes] | None = None
    for tlv_type, value in read_records(reader.read_rest()):
        if tlv_type == INIT_TLV_NETWORKS:
            if len(value) % 32:
                raise WireError(f"init networks TLV length {len(value)} is not a multiple of 32")
            networks = [value[i:i + 32] for i in range(0, len(value), 32)]
        elif tlv_type % 2 == 0 and tlv_type != INIT_TLV_REMOTE_ADDR:
            raise WireError(f"init carries unknown even TLV type {tlv_type}")
    return merged.to_bytes(width, "big"), networks


def encode_error_like(msg_type: int, channel_id: bytes, text: str) -> bytes:
    data = text.encode()[:65000]
    return encode_u16(msg_type) + channel_id + encode_u16(len(data)) + data


def decode_error_like(payload: bytes) -> tuple[bytes, str]:
    reader = Reader(payload)
    channel_id = reader.read_bytes(32)
    data = reader.read_bytes(reader.read_u16())
    return channel_id, data.decode("utf-8", "replace")


class Peer:
    """One connected peer after a successful init exchange."""

    def __init__(self, manager: PeerManager, conn: transport.PeerConnection, direction: str,
                 address: tuple[str, int] | None) -> None:
        self.manager = manager
        self.conn = conn
        self.node_id: bytes = conn.remote_node_id
        self.direction = direction  # "in" or "out"
        self.address = address
        self.features: bytes = b""
        self.connected = False
        self.last_received = time.monotonic()
        self._ping_sent_at: float | None = None
        self._closed = asyncio.Event()

    @property
    def id_hex(self) -> str:
        return self.node_id.hex()

    @property
    def feature_bits(self) -> set[int]:
        return feature_bits(self.features)

    async def send(self, message: bytes) -> None:
        """Send one whole message (2-byte type + payload). Raises transport.ConnectionClosed."""
        await self.conn.send(message)

    async def send_error(self, channel_id: bytes, text: str) -> None:
        """Send an `error` (channel_id all zero = every channel); ignores a closed connection."""
        log.info("sending error to %s: %s", self.id_hex, text)
        await self._send_quietly(encode_error_like(MSG_ERROR, channel_id, text))

    async def send_warning(self, channel_id: bytes, text: str) -> None:
        """Send a `warning`; ignores a closed connection."""
        log.info("sending warning to %s: %s", self.id_hex, text)
        await self._send_quietly(encode_error_like(MSG_WARNING, channel_id, text))

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
                                 "features": self.features.hex()}
        if self.address:
            entry["netaddr"] = [f"{self.address[0]}:{self.address[1]}"]
        return entry


class PeerManager:
    """Listens, dials, keeps one connection per peer and runs each peer's read loop."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.peers: dict[bytes, Peer] = {}
        self.our_features = features_to_bytes(OUR_FEATURE_BITS)
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
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
        """Dial a peer and exchange init; returns the connected Peer (an existing one if any).
        Raises transport.ConnectionFailed, transport.HandshakeError or PeerRefused."""
        existing = self.get(node_id)
        if existing is not None:
            return existing
        conn = await transport.connect(host, port, self.node.node_privkey, node_id, timeout)
        ready: asyncio.Future[Peer] = asyncio.get_running_loop().create_future()
        self._spawn(self._run(conn, "out", (host, port), ready), f"peer-{node_id.hex()[:8]}")
        peer = await asyncio.wait_for(ready, INIT_TIMEOUT_S + timeout)
        self.node.db.execute(
            "INSERT INTO peer_addresses (node_id, host, port) VALUES (?, ?, ?) "
            "ON CONFLICT(node_id) DO UPDATE SET host = excluded.host, port = excluded.port",
            (node_id, host, port))
        return peer

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
        previous = self.peers.get(peer.node_id)
        if previous is not None:
            previous.disconnect("replaced by a new connection")
            await previous.wait_closed()
        self.peers[peer.node_id] = peer
        peer.connected = True
        log.info("peer %s connected (%s, features %s)", peer.id_hex, direction, peer.features.hex())
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

    async def _exchange_init(self, peer: Peer) -> None:
        await peer.send(encode_init(self.our_features, [REGTEST_CHAIN_HASH]))
        message = await asyncio.wait_for(peer.conn.receive(), INIT_TIMEOUT_S)
        msg_type = int.from_bytes(message[:2], "big") if len(message) >= 2 else -1
        if msg_type != MSG_INIT:
            await peer.send_warning(ALL_CHANNELS, f"expected init first, got message type {msg_type}")
            raise PeerRefused(f"first message was type {msg_type}, not init")
        try:
            features, networks = decode_init(message[2:])
        except WireError as exc:
            await peer.send_warning(ALL_CHANNELS, f"malformed init: {_describe(exc)}")
            raise
        if networks is not None and REGTEST_CHAIN_HASH not in networks:
            await peer.send_warning(ALL_CHANNELS, "No common network")
            raise PeerRefused("no common network (peer is not on regtest)")
        unknown_required = sorted(b for b in feature_bits(features)
                                  if b % 2 == 0 and b // 2 not in KNOWN_FEATURE_PAIRS)
        if unknown_required:
            await peer.send_warning(ALL_CHANNELS, f"unknown required feature bits {unknown_required}")
            raise PeerRefused(f"peer requires unknown feature bits {unknown_required}")
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
        if msg_type == MSG_PING:
            reader = Reader(payload)
            num_pong_bytes = reader.read_u16()
            reader.read_bytes(reader.read_u16())
            if num_pong_bytes < 65532:
                await peer.send(encode_u16(MSG_PONG) + encode_u16(num_pong_bytes) + bytes(num_pong_bytes))
        elif msg_type == MSG_PONG:
            reader = Reader(payload)
            reader.read_bytes(reader.read_u16())
            peer._ping_sent_at = None
        elif msg_type in (MSG_ERROR, MSG_WARNING):
            channel_id, text = decode_error_like(payload)
            kind = "error" if msg_type == MSG_ERROR else "warning"
            scope = "all channels" if channel_id == ALL_CHANNELS else f"channel {channel_id.hex()}"
            log.warning("peer %s sent %s (%s): %s", peer.id_hex, kind, scope, text)
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
                        await peer.send(encode_u16(MSG_PING) + encode_u16(1) + encode_u16(0))
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


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, WireError):
        return exc.reason
    return str(exc) or type(exc).__name__
