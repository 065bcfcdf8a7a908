"""The engine client against a real HTTP peer on a unix socket (no engine needed)."""
from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from lnharness.containers.engine import Engine, EngineError, engine_reachable


class _Canned(socketserver.StreamRequestHandler):
    """Answers every request with the server's canned status and body chunks."""

    def handle(self) -> None:
        while self.rfile.readline() not in (b"\r\n", b""):
            pass
        server: _CannedServer = self.server  # type: ignore[assignment]
        self.wfile.write(f"HTTP/1.1 {server.status} X\r\nContent-Type: application/json\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n".encode())
        for chunk in server.chunks:
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")


class _CannedServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    status = 200
    chunks: list[bytes] = []


@pytest.fixture
def canned(tmp_path: Path) -> Iterator[_CannedServer]:
    server = _CannedServer(str(tmp_path / "engine.sock"), _Canned)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_only_unix_and_tcp_engines_are_spoken_to():
    with pytest.raises(EngineError, match="unix:// and tcp://"):
        Engine("ssh://user@host")


def test_an_absent_engine_is_unreachable_with_its_address(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    ok, reason = engine_reachable()
    assert not ok
    assert f"no Docker engine reachable at unix://{tmp_path}/no-engine.sock" in reason


def test_stream_yields_objects_split_across_chunks(canned):
    canned.chunks = [b'{"stream": "Step 1/2"}{"str', b'eam": "Step 2/2"}\n', b'{"aux": {"ID": "x"}}']
    engine = Engine(f"unix://{canned.server_address}")
    items = list(engine.stream("POST", "/build", data=b""))
    assert items == [{"stream": "Step 1/2"}, {"stream": "Step 2/2"}, {"aux": {"ID": "x"}}]


def test_an_error_in_a_stream_ends_it_naming_the_error(canned):
    canned.chunks = [b'{"stream": "Step 1/1"}', b'{"errorDetail": {}, "error": "RUN failed"}']
    engine = Engine(f"unix://{canned.server_address}")
    seen = []
    with pytest.raises(EngineError, match="RUN failed"):
        for item in engine.stream("POST", "/build", data=b""):
            seen.append(item)
    assert seen == [{"stream": "Step 1/1"}]


def test_an_http_error_carries_the_status_and_the_engines_message(canned):
    canned.status = 404
    canned.chunks = [json.dumps({"message": "No such container: x"}).encode()]
    engine = Engine(f"unix://{canned.server_address}")
    with pytest.raises(EngineError, match="HTTP 404: No such container: x") as caught:
        engine.call("GET", "/containers/x/json")
    assert caught.value.status == 404
    assert engine.inspect("x") is None  # a missing container is None, not an error
