"""BOLT 8 encrypted connections over asyncio streams.

Layer: net. Imports net.noise only.

`connect()` dials a peer and runs the initiator handshake, `accept()` runs the
responder handshake on an accepted socket (e.g. from `asyncio.start_server`).
Both return a `PeerConnection` that sends and receives whole Lightning messages
(type + payload bytes, at most 65535 bytes each).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

from coincurve import PrivateKey

from .noise import (
    ACT_ONE_SIZE,
    ACT_THREE_SIZE,
    ACT_TWO_SIZE,
    ENCRYPTED_LENGTH_SIZE,
    MAC_SIZE,
    MAX_MESSAGE_SIZE,
    HandshakeError,
    InitiatorHandshake,
    NoiseTransport,
    ResponderHandshake,
    TransportError,
)

__all__ = [
    "ConnectionClosed",
    "ConnectionFailed",
    "HandshakeError",
    "PeerConnection",
    "accept",
    "connect",
]


class ConnectionClosed(Exception):
    """The connection is gone: closed by either side, reset, or a message failed to decrypt."""


class ConnectionFailed(ConnectionError):
    """The TCP connection to the peer could not be established."""


class PeerConnection:
    """An established, authenticated BOLT 8 connection to one peer."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        transport: NoiseTransport,
        local_node_id: bytes,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._noise = transport
        self._receive_lock = asyncio.Lock()
        self._send_lock = asyncio.Lock()
        self._closed_reason: str | None = None
        self.local_node_id = local_node_id
        self.remote_node_id: bytes = transport.remote_pubkey
        peername = writer.get_extra_info("peername")
        self.remote_address: tuple[str, int] | None = (
            (str(peername[0]), int(peername[1])) if peername else None
        )

    @property
    def is_closed(self) -> bool:
        return self._closed_reason is not None or self._writer.is_closing()

    async def send(self, payload: bytes) -> None:
        """Encrypt and send one Lightning message (2-byte type included in `payload`)."""
        await self.send_many([payload])

    async def send_many(self, payloads: Sequence[bytes]) -> None:
        """Encrypt and send several messages in order, in one write (a node relaying gossip
        to many peers pays the write and the drain once per peer, not once per message).
        A message over the size limit is a ValueError before anything is sent."""
        too_long = [len(p) for p in payloads if len(p) > MAX_MESSAGE_SIZE]
        if too_long:  # checked first: an encrypted but unsent message would skip a nonce
            raise ValueError(f"message of {too_long[0]} bytes exceeds the "
                             f"{MAX_MESSAGE_SIZE}-byte maximum")
        # One sender at a time: nonces must reach the wire in the order they were used,
        # and concurrent drain() calls are not safe on every supported Python.
        async with self._send_lock:
            if self.is_closed:
                raise ConnectionClosed(
                    f"cannot send to {self.remote_node_id.hex()}: "
                    f"{self._closed_reason or 'connection closed'}"
                )
            try:
                wire = b"".join(self._noise.encrypt_message(p) for p in payloads)
            except TransportError as exc:
                raise ValueError(str(exc)) from exc
            self._writer.write(wire)
            try:
                await self._writer.drain()
            except (ConnectionError, OSError) as exc:
                self._fail(f"send failed: {exc}")
                raise ConnectionClosed(
                    f"sending to {self.remote_node_id.hex()} failed: {exc}"
                ) from exc

    async def receive(self) -> bytes:
        """Wait for and return the next decrypted Lightning message."""
        async with self._receive_lock:
            if self._closed_reason is not None:
                raise ConnectionClosed(self._closed_reason)
            try:
                length = self._noise.decrypt_length(
                    await self._reader.readexactly(ENCRYPTED_LENGTH_SIZE)
                )
                return self._noise.decrypt_body(await self._reader.readexactly(length + MAC_SIZE))
            except asyncio.IncompleteReadError as exc:
                if self._closed_reason is not None:
                    reason = self._closed_reason
                elif not exc.partial:
                    reason = "connection closed by peer"
                else:
                    reason = (
                        f"connection closed by peer in the middle of a message "
                        f"({len(exc.partial)} of {exc.expected} bytes)"
                    )
                self._fail(reason)
                raise ConnectionClosed(f"{reason} ({self.remote_node_id.hex()})") from exc
            except TransportError as exc:
                self._fail(str(exc))
                raise ConnectionClosed(
                    f"{exc} from {self.remote_node_id.hex()}; connection closed"
                ) from exc
            except (ConnectionError, OSError) as exc:
                self._fail(f"receive failed: {exc}")
                raise ConnectionClosed(
                    f"receiving from {self.remote_node_id.hex()} failed: {exc}"
                ) from exc

    def close(self) -> None:
        """Close the connection; pending and later `receive()` calls raise ConnectionClosed."""
        self._fail("connection closed locally")

    async def wait_closed(self) -> None:
        """Wait until the underlying socket is fully closed."""
        try:
            await self._writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    def _mark_closed(self, reason: str) -> None:
        if self._closed_reason is None:
            self._closed_reason = reason

    def _fail(self, reason: str) -> None:
        self._mark_closed(reason)
        self._writer.close()


async def _read_act(
    reader: asyncio.StreamReader, size: int, act: str, timeout: float
) -> bytes:
    try:
        return await asyncio.wait_for(reader.readexactly(size), timeout)
    except asyncio.IncompleteReadError as exc:
        # Core Lightning's words first: a responder that is not the node we named drops us
        raise HandshakeError(
            f"Cryptographic handshake: peer closed connection (wrong key?): {act}: connection "
            f"closed by peer after {len(exc.partial)} of {size} bytes"
        ) from exc
    except asyncio.TimeoutError as exc:
        raise HandshakeError(f"{act}: timed out after {timeout}s") from exc
    except (ConnectionError, OSError) as exc:
        raise HandshakeError(f"{act}: {exc}") from exc


async def _write(writer: asyncio.StreamWriter, data: bytes, act: str) -> None:
    writer.write(data)
    try:
        await writer.drain()
    except (ConnectionError, OSError) as exc:
        raise HandshakeError(f"{act}: sending failed: {exc}") from exc


async def connect(
    host: str, port: int, local_privkey: bytes, remote_node_id: bytes, timeout: float
) -> PeerConnection:
    """Dial `host:port`, authenticate as `local_privkey`, and require the peer to be
    `remote_node_id`.  Raises ConnectionFailed or HandshakeError."""
    handshake = InitiatorHandshake(local_privkey, remote_node_id)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except asyncio.TimeoutError as exc:
        raise ConnectionFailed(f"connecting to {host}:{port} timed out after {timeout}s") from exc
    except OSError as exc:  # Core Lightning's words first: "Connection establishment: ..."
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConnectionFailed(f"Connection establishment: {reason}: connecting to "
                               f"{host}:{port} failed ({exc})") from exc
    try:
        await _write(writer, handshake.act_one(), "act one")
        act_two = await _read_act(reader, ACT_TWO_SIZE, "act two", timeout)
        await _write(writer, handshake.process_act_two(act_two), "act three")
    except HandshakeError as exc:
        writer.close()
        raise HandshakeError(f"handshake with {host}:{port} failed: {exc}") from exc
    if handshake.transport is None:
        writer.close()
        raise HandshakeError(f"handshake with {host}:{port} did not produce transport keys")
    return PeerConnection(reader, writer, handshake.transport, _node_id(local_privkey))


async def accept(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    local_privkey: bytes,
    timeout: float,
) -> PeerConnection:
    """Run the responder handshake on an accepted socket.  Raises HandshakeError
    (and closes the socket) if the initiator misbehaves or is too slow."""
    handshake = ResponderHandshake(local_privkey)
    peer = writer.get_extra_info("peername")
    try:
        act_one = await _read_act(reader, ACT_ONE_SIZE, "act one", timeout)
        await _write(writer, handshake.process_act_one(act_one), "act two")
        act_three = await _read_act(reader, ACT_THREE_SIZE, "act three", timeout)
        handshake.process_act_three(act_three)
    except HandshakeError as exc:
        writer.close()
        raise HandshakeError(f"handshake from {peer} failed: {exc}") from exc
    if handshake.transport is None:
        writer.close()
        raise HandshakeError(f"handshake from {peer} did not produce transport keys")
    return PeerConnection(reader, writer, handshake.transport, _node_id(local_privkey))


def _node_id(privkey: bytes) -> bytes:
    return PrivateKey(privkey).public_key.format(compressed=True)
