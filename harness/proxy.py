"""A TCP proxy with faults on demand: forward, cut, delay, blackhole; counts bytes each way.

Knows nothing of Lightning: `FaultProxy` accepts connections on one local port and forwards
each to one target address. Its asyncio loop runs in a thread of its own (`ProxyLoop`), so
the synchronous harness drives it with plain method calls from any thread.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from lnharness.errors import LnhError

T = TypeVar("T")
Mode = Literal["pass", "cut", "blackhole"]
CHUNK = 65536
#: how long a proxy operation may take before the caller is told the loop is stuck
CALL_TIMEOUT_S = 30.0


class ProxyError(LnhError):
    """The proxy could not listen, or its loop did not answer."""


class ProxyLoop:
    """An asyncio event loop in a daemon thread; `call` runs a coroutine on it and waits."""

    def __init__(self, name: str):
        self.name = name
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"lnh-proxy-{name}",
                                        daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT_S) -> T:
        """Run `coro` on the loop and return its result (its exception is raised here)."""
        if not self._thread.is_alive():
            coro.close()
            raise ProxyError(f"proxy loop {self.name} is not running")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise ProxyError(f"proxy loop {self.name} did not answer within {timeout:g}s") from None

    def close(self) -> None:
        """Stop the loop and join its thread (idempotent)."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(CALL_TIMEOUT_S)
        if not self._loop.is_closed() and not self._thread.is_alive():
            self._loop.close()


@dataclass(frozen=True)
class ProxyCounters:
    """Bytes one proxy delivered each way, dropped, and the connections it accepted."""
    to_target_bytes: int
    to_client_bytes: int
    dropped_bytes: int
    connections: int
    open_connections: int


class _Connection:
    """One proxied connection: the client's socket and ours to the target."""

    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter):
        self.client = client
        self.upstream = upstream
        #: bytes were dropped (blackhole): the stream is broken, it cannot be resumed
        self.lost_bytes = False
        self.tasks: list[asyncio.Task[None]] = []

    def abort(self) -> None:
        for writer in (self.client, self.upstream):
            _reset(writer)
        for task in self.tasks:
            task.cancel()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close at once with a reset (SO_LINGER 0): the peer sees the connection drop, no grace."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


class FaultProxy:
    """Forwards connections from `listen_host:listen_port` to `target`, with faults.

    Modes: `pass` forwards; `cut` drops every connection and resets new ones at once;
    `blackhole` accepts bytes both ways and delivers none (the connections stay open). A
    delay postpones every chunk by `delay_s`, in order, each way.
    """

    def __init__(self, loop: ProxyLoop, *, listen_port: int, target: tuple[str, int],
                 listen_host: str = "127.0.0.1"):
        self.loop = loop
        self.listen = (listen_host, listen_port)
        self.target = target
        self._mode: Mode = "pass"
        self._delay_s = 0.0
        self._connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None
        self._to_target = self._to_client = self._dropped = self._accepted = 0

    @property
    def port(self) -> int:
        """The port it listens on (the one the kernel chose for `listen_port=0`), once started."""
        if self._server is None or not self._server.sockets:
            return self.listen[1]
        return int(self._server.sockets[0].getsockname()[1])

    # -- control, from any thread ----------------------------------------------------------
    def start(self) -> None:
        """Listen; raise `ProxyError` naming the port if it cannot."""
        self.loop.call(self._start())

    def set_mode(self, mode: Mode) -> None:
        """Switch to `mode`; `cut` drops every open connection."""
        self.loop.call(self._set_mode(mode))

    def set_delay(self, delay_s: float) -> None:
        """Delay every chunk read from now on by `delay_s` seconds (0: none)."""
        self.loop.call(self._set_delay(delay_s))

    def drop_broken(self) -> int:
        """Drop the connections that lost bytes to a blackhole; return how many."""
        return self.loop.call(self._drop_broken())

    def counters(self) -> ProxyCounters:
        """What the proxy has delivered, dropped and accepted so far."""
        return self.loop.call(self._counters())

    def close(self) -> None:
        """Stop listening and drop every connection."""
        self.loop.call(self._close())

    # -- on the loop ---------------------------------------------------------------------
    async def _start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._accept, *self.listen, reuse_address=True)
        except OSError as exc:
            raise ProxyError(f"proxy cannot listen on {self.listen[0]}:{self.listen[1]}: "
                             f"{exc.strerror or exc}") from None

    async def _set_mode(self, mode: Mode) -> None:
        self._mode = mode
        if mode == "cut":
            for conn in list(self._connections):
                conn.abort()
            self._connections.clear()

    async def _set_delay(self, delay_s: float) -> None:
        self._delay_s = delay_s

    async def _drop_broken(self) -> int:
        broken = [conn for conn in self._connections if conn.lost_bytes]
        for conn in broken:
            conn.abort()
            self._connections.discard(conn)
        return len(broken)

    async def _counters(self) -> ProxyCounters:
        return ProxyCounters(self._to_target, self._to_client, self._dropped, self._accepted,
                             len(self._connections))

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self._connections):
            conn.abort()
        self._connections.clear()

    def _cut(self) -> bool:
        return self._mode == "cut"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._accepted += 1
        if self._cut():
            _reset(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(writer)  # the target is down: the dialer sees the connection fail
            return
        if self._cut():  # cut while we were connecting
            _reset(writer)
            _reset(up_writer)
            return
        conn = _Connection(writer, up_writer)
        self._connections.add(conn)
        conn.tasks = [asyncio.create_task(self._pump(conn, reader, up_writer, to_target=True)),
                      asyncio.create_task(self._pump(conn, up_reader, writer, to_target=False))]

    async def _pump(self, conn: _Connection, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter, *, to_target: bool) -> None:
        """Copy one direction; a chunk is delivered `delay_s` after it was read, in order."""
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        async def read() -> None:
            try:
                while data := await reader.read(CHUNK):
                    queue.put_nowait((loop.time() + self._delay_s, data))
            except (ConnectionError, OSError):
                pass
            queue.put_nowait(None)

        reading = asyncio.create_task(read())
        try:
            while (item := await queue.get()) is not None:
                due, data = item
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())  # the delay being injected
                if self._mode == "blackhole":
                    self._dropped += len(data)
                    conn.lost_bytes = True
                    continue
                writer.write(data)
                await writer.drain()
                if to_target:
                    self._to_target += len(data)
                else:
                    self._to_client += len(data)
        except (ConnectionError, OSError):
            pass
        finally:
            reading.cancel()
            # one side is gone: drop the whole connection, as a cable pulled at one end would
            if conn in self._connections:
                self._connections.discard(conn)
                for other in (conn.client, conn.upstream):
                    other.close()
                for task in conn.tasks:
                    if task is not asyncio.current_task():
                        task.cancel()
