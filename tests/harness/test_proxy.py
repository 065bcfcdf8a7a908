"""The fault proxy on plain sockets: forwarding, counting, cut, blackhole, delay."""
from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from lnharness.ports import release_port, reserve_port
from lnharness.proxy import FaultProxy, ProxyError, ProxyLoop
from lnharness.wait import wait_for


class EchoServer:
    """Echoes every byte back, on a thread per connection."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    echo = EchoServer()
    loop = ProxyLoop("test")
    port = reserve_port()
    proxy = FaultProxy(loop, listen_port=port, target=("127.0.0.1", echo.port))
    proxy.start()
    yield proxy
    proxy.close()
    loop.close()
    release_port(port)
    echo.close()


def dial(proxy: FaultProxy) -> socket.socket:
    sock = socket.create_connection(proxy.listen, timeout=10)
    return sock


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def test_forwards_and_counts_each_way(proxy):
    with dial(proxy) as sock:
        sock.sendall(b"hello")
        assert recv_exactly(sock, 5) == b"hello"
    counters = wait_for(lambda: (c := proxy.counters()).to_client_bytes == 5 and c)
    assert (counters.to_target_bytes, counters.connections, counters.dropped_bytes) == (5, 1, 0)


def test_cut_drops_connections_and_refuses_new_ones(proxy):
    sock = dial(proxy)
    sock.sendall(b"x")
    assert recv_exactly(sock, 1) == b"x"
    proxy.set_mode("cut")
    with pytest.raises((ConnectionError, OSError)):
        if sock.recv(1) == b"":
            raise ConnectionError("closed")
    sock.close()
    with pytest.raises((ConnectionError, OSError)), dial(proxy) as again:
        again.sendall(b"y")
        if again.recv(1) == b"":
            raise ConnectionError("closed")
    proxy.set_mode("pass")
    with dial(proxy) as restored:
        restored.sendall(b"z")
        assert recv_exactly(restored, 1) == b"z"


def test_blackhole_swallows_bytes_and_restore_drops_the_broken_stream(proxy):
    sock = dial(proxy)
    sock.sendall(b"a")
    assert recv_exactly(sock, 1) == b"a"
    proxy.set_mode("blackhole")
    sock.sendall(b"lost")
    wait_for(lambda: proxy.counters().dropped_bytes == 4, what="4 bytes swallowed")
    assert proxy.counters().open_connections == 1  # accepted, kept open, nothing delivered
    proxy.set_mode("pass")
    assert proxy.drop_broken() == 1
    with pytest.raises((ConnectionError, OSError)):
        if sock.recv(1) == b"":
            raise ConnectionError("closed")
    sock.close()


def test_delay_keeps_order(proxy):
    proxy.set_delay(0.05)
    with dial(proxy) as sock:
        for i in range(20):
            sock.sendall(bytes([i]))
        assert recv_exactly(sock, 20) == bytes(range(20))


def test_listening_on_a_taken_port_is_named():
    loop = ProxyLoop("taken")
    try:
        with socket.create_server(("127.0.0.1", 0)) as holder:
            port = holder.getsockname()[1]
            proxy = FaultProxy(loop, listen_port=port, target=("127.0.0.1", 1))
            with pytest.raises(ProxyError, match=f"cannot listen on 127.0.0.1:{port}"):
                proxy.start()
    finally:
        loop.close()
