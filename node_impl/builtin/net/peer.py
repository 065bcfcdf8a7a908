"""One peer connection after BOLT 8: the BOLT 1 init exchange, ping/pong, error/warning.

Layer: net. Imports core, wire and net.transport only; the PeerManager (net/peers.py) owns
the Peer objects, runs their read loops and dispatches what is not BOLT 1 control traffic to
the registered message handlers (net/handlers.py).

A `Peer` exchanges `init` (a peer that shares no network, requires a feature we do not know or
sends anything else first is warned and refused), answers pings, logs the errors and warnings
it receives, pings when idle (`ping_when_idle`) and can check that it is alive
(`answers_ping`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from ..core.log import get_logger
from ..wire import messages
from ..wire.codec import REGTEST_CHAIN_HASH, WireError
from ..wire.features import DEFAULT_KNOWN_FEATURES, FeatureError, Features, check_remote_features
from . import transport

log = get_logger("peer")

MSG_WARNING = messages.WarningMessage.TYPE
MSG_INIT = messages.Init.TYPE
MSG_ERROR = messages.ErrorMessage.TYPE
MSG_PING = messages.Ping.TYPE
MSG_PONG = messages.Pong.TYPE
CONTROL_MESSAGE_TYPES = frozenset({MSG_PING, MSG_PONG, MSG_ERROR, MSG_WARNING})
"""BOLT 1 messages a Peer handles itself (an error is also passed on to the handler that
takes MSG_ERROR, the channel subsystem)."""

INIT_TIMEOUT_S = 10.0
ALL_CHANNELS = bytes(32)


class PeerRefused(Exception):
    """The peer was refused at init (no common network, unknown required feature, ...)."""


def our_init(features: Features) -> bytes:
    """init: empty globalfeatures, our features, networks TLV = [regtest]."""
    return messages.Init(globalfeatures=b"", features=features.to_bytes(),
                         networks=(REGTEST_CHAIN_HASH,), remote_addr=None, unknown_tlvs=()).encode()


def _error_like(cls: type[messages.ErrorMessage] | type[messages.WarningMessage],
                channel_id: bytes, text: str) -> bytes:
    return cls(channel_id=channel_id, data=text.encode()[:65000], extra=b"").encode()


def describe_error(exc: BaseException) -> str:
    """A short text for a connection or init failure (timeouts and wire errors spelt out)."""
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, WireError):
        where = ".".join(part for part in (exc.message, exc.field) if part)
        return f"{where}: {exc.reason}" if where else exc.reason
    return str(exc) or type(exc).__name__


def _ping() -> bytes:
    return messages.Ping(num_pong_bytes=1, ignored=b"", extra=b"").encode()


class Peer:
    """One connection to a peer; `connected` once the PeerManager registered it after init."""

    def __init__(self, conn: transport.PeerConnection, direction: str,
                 address: tuple[str, int] | None) -> None:
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

    async def send_many(self, messages: Sequence[bytes]) -> None:
        """Send whole messages in order, in one write. Raises transport.ConnectionClosed."""
        await self.conn.send_many(messages)

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
            pass  # the connection is gone (or the text too long): nothing left to tell it

    def disconnect(self, reason: str) -> None:
        """Close the connection; the read loop then runs the disconnect handlers."""
        if not self.conn.is_closed:
            log.info("disconnecting %s: %s", self.id_hex, reason)
        self.conn.close()

    def mark_closed(self) -> None:
        """The connection is over and every disconnect handler ran (wakes `wait_closed`)."""
        self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def info(self) -> dict[str, Any]:
        """listpeers entry (Core Lightning's field names)."""
        entry: dict[str, Any] = {"id": self.id_hex, "connected": self.connected,
                                 "features": self.features.to_bytes().hex()}
        if self.address:
            entry["netaddr"] = [f"{self.address[0]}:{self.address[1]}"]
        return entry

    # ---- BOLT 1 -------------------------------------------------------------------------

    async def exchange_init(self, our_features: Features) -> None:
        """Send our init and read theirs; raises PeerRefused (after warning the peer),
        transport.ConnectionClosed, asyncio.TimeoutError or WireError."""
        await self.send(our_init(our_features))
        raw = await asyncio.wait_for(self.conn.receive(), INIT_TIMEOUT_S)
        try:
            init = messages.decode(raw)
        except WireError as exc:
            await self.send_warning(ALL_CHANNELS, f"malformed init: {describe_error(exc)}")
            raise
        if not isinstance(init, messages.Init):
            got = getattr(init, "TYPE", getattr(init, "type", "?"))
            await self.send_warning(ALL_CHANNELS, f"expected init first, got message type {got}")
            raise PeerRefused(f"first message was type {got}, not init")
        if init.networks is not None and REGTEST_CHAIN_HASH not in init.networks:
            await self.send_warning(ALL_CHANNELS, "No common network")
            raise PeerRefused("no common network (peer is not on regtest)")
        features = Features.from_init(init.globalfeatures, init.features)
        try:
            check_remote_features(features, DEFAULT_KNOWN_FEATURES)
        except FeatureError as exc:
            await self.send_warning(ALL_CHANNELS, str(exc))
            raise PeerRefused(str(exc)) from None
        self.features = features
        self.last_received = time.monotonic()

    async def handle_control(self, msg_type: int, payload: bytes) -> None:
        """ping, pong, error, warning (CONTROL_MESSAGE_TYPES). Raises WireError if malformed."""
        message = messages.decode(msg_type.to_bytes(2, "big") + payload)
        if isinstance(message, messages.Ping):
            if message.num_pong_bytes < 65532:
                await self.send(messages.Pong(ignored=bytes(message.num_pong_bytes), extra=b"").encode())
        elif isinstance(message, messages.Pong):
            self._ping_sent_at = None
            self._pong.set()
        elif isinstance(message, (messages.ErrorMessage, messages.WarningMessage)):
            kind = "error" if isinstance(message, messages.ErrorMessage) else "warning"
            scope = ("all channels" if message.channel_id == ALL_CHANNELS
                     else f"channel {message.channel_id.hex()}")
            log.warning("peer %s sent %s (%s): %s", self.id_hex, kind, scope,
                        message.data.decode("utf-8", "replace"))

    async def answers_ping(self, timeout_s: float) -> bool:
        """Whether the connection is alive: a pong comes back within `timeout_s` and it is
        still open."""
        if self.conn.is_closed:
            return False
        self._pong.clear()
        try:
            await self.send(_ping())
        except (transport.ConnectionClosed, ValueError):
            return False
        waits = [asyncio.ensure_future(self._pong.wait()), asyncio.ensure_future(self._closed.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        return self._pong.is_set() and not self.conn.is_closed

    async def ping_when_idle(self, idle_s: float) -> None:
        """Ping after `idle_s` without a message; disconnect when no pong comes within as long
        again. Runs until the connection closes (or the task is cancelled)."""
        while True:
            if self._ping_sent_at is not None:
                wait = self._ping_sent_at + idle_s - time.monotonic()
                if wait <= 0:
                    self.disconnect(f"no pong within {idle_s:g}s")
                    return
            else:
                wait = self.last_received + idle_s - time.monotonic()
                if wait <= 0:
                    log.debug("pinging idle peer %s", self.id_hex)
                    self._ping_sent_at = time.monotonic()
                    try:
                        await self.send(_ping())
                    except transport.ConnectionClosed:
                        return
                    continue
            await asyncio.sleep(wait)
