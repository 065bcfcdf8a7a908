"""The built-in node's RPC server refuses malformed and oversized requests cleanly (issue 12,
defect 6): the right HTTP or JSON-RPC error, the connection closed, nothing in the node's log
that the harness's teardown check takes for a crash. Each bound is tested at its edge, over
real HTTP against a node process."""

from __future__ import annotations

import json
import re
import socket

import pytest
from lnharness.node import LightningNode
from lnharness.node_impl.builtin.core.jsonrpc import MAX_BODY_BYTES, MAX_HEADERS, MAX_LINE_BYTES

READ_TIMEOUT_S = 2.0  # the node's --rpc-read-timeout in these tests


@pytest.fixture
def node(builtin_nodes):
    node = builtin_nodes.get_node(extra_args=[f"--rpc-read-timeout={READ_TIMEOUT_S}"])
    yield node
    log = node.daemon.log_path.read_text(errors="replace")
    assert not re.search(LightningNode.broken_log_regex, log), log[-3000:]


def exchange(node, data: bytes, *, timeout: float = 30) -> tuple[int, bytes, bool]:
    """Send `data` on a new connection; returns (HTTP status, body, whether the server closed
    the connection after answering). The server may stop reading before `data` is all sent."""
    with socket.create_connection(("127.0.0.1", node.rpc_port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = b""
        while True:
            head_end = received.find(b"\r\n\r\n")
            if head_end >= 0:
                length = int(re.search(rb"Content-Length: (\d+)", received[:head_end]).group(1))
                if len(received) >= head_end + 4 + length:
                    break
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed before a full answer: {received[:300]!r}")
            received += chunk
        status = int(received.split(b" ", 2)[1])
        body = received[head_end + 4:head_end + 4 + length]
        closed = received[head_end + 4 + length:] == b"" and _closed(sock)
        return status, body, closed


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def request(node, body: bytes, *, extra_headers: bytes = b"", length: int | None = None,
            auth: bool = True) -> bytes:
    headers = b"POST / HTTP/1.1\r\nHost: x\r\n"
    if auth:
        headers += b"Authorization: " + node.rpc._auth.encode() + b"\r\n"
    size = len(body) if length is None else length
    return headers + extra_headers + b"Content-Length: %d\r\n\r\n" % size + body


def call(method: str, params: object = None, request_id: object = 1) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method,
                       "params": params if params is not None else {}}).encode()


def test_deeply_nested_json_is_a_parse_error(node):
    nested = b'{"jsonrpc": "2.0", "id": 1, "method": "getinfo", "params": ' + b"[" * 100_000 \
        + b"]" * 100_000 + b"}"
    status, body, _ = exchange(node, request(node, nested))
    assert status == 200
    error = json.loads(body)["error"]
    assert error["code"] == -32700 and "nested too deeply" in error["message"]
    assert node.rpc.getinfo()["id"]


def test_a_structured_id_is_an_invalid_request(node):
    status, body, _ = exchange(node, request(node, call("getinfo", request_id=[[1]])))
    assert status == 200 and json.loads(body)["error"]["code"] == -32600


def test_nan_and_infinity_are_not_json(node):
    status, body, _ = exchange(node, request(
        node, b'{"id": 1, "method": "close", "params": {"id": "x", "unilateraltimeout": NaN}}'))
    assert status == 200 and json.loads(body)["error"]["code"] == -32700


def test_header_line_at_the_limit_is_read_one_byte_more_is_431(node):
    def header(total: int) -> bytes:  # one header line of `total` bytes, CRLF included
        return b"X-Pad: " + b"a" * (total - len(b"X-Pad: \r\n")) + b"\r\n"

    status, body, _ = exchange(node, request(node, call("getinfo"), extra_headers=header(MAX_LINE_BYTES)))
    assert status == 200 and "result" in json.loads(body)
    status, body, closed = exchange(node, request(node, call("getinfo"),
                                                  extra_headers=header(MAX_LINE_BYTES + 1)))
    assert status == 431 and b"header line too long" in body and closed
    status, _, closed = exchange(node, request(node, call("getinfo"),
                                               extra_headers=header(200 * 1024)))
    assert status == 431 and closed


def test_request_line_beyond_the_limit_is_414(node):
    line = b"POST /" + b"a" * MAX_LINE_BYTES + b" HTTP/1.1\r\n"
    status, _, closed = exchange(node, line + b"Content-Length: 0\r\n\r\n")
    assert status == 414 and closed


def test_header_count_at_the_limit_is_read_one_more_is_431(node):
    def headers(count: int) -> bytes:  # Host, Authorization and Content-Length are 3 more
        return b"".join(b"X-H%d: v\r\n" % i for i in range(count - 3))

    status, body, _ = exchange(node, request(node, call("getinfo"), extra_headers=headers(MAX_HEADERS)))
    assert status == 200 and "result" in json.loads(body)
    status, body, closed = exchange(node, request(node, call("getinfo"),
                                                  extra_headers=headers(MAX_HEADERS + 1)))
    assert status == 431 and b"header lines" in body and closed
    # a million headers before any credentials: refused after the first hundred
    status, _, closed = exchange(node, request(node, b"", auth=False,
                                               extra_headers=b"X: y\r\n" * 1_000_000))
    assert status == 431 and closed


def test_body_beyond_the_limit_is_413_without_reading_it(node):
    status, _, closed = exchange(node, request(node, b"", length=MAX_BODY_BYTES + 1))
    assert status == 413 and closed


def test_body_shorter_than_its_content_length_times_out_with_408(node):
    body = call("getinfo")
    status, answer, closed = exchange(node, request(node, body, length=len(body) + 10))
    assert status == 408 and closed, answer
    assert node.rpc.getinfo()["id"]


def test_headers_never_finished_time_out_with_408(node):
    status, _, closed = exchange(node, b"POST / HTTP/1.1\r\nHost: x\r\n")
    assert status == 408 and closed


def test_idle_connection_is_closed_silently_after_the_read_timeout(node):
    with socket.create_connection(("127.0.0.1", node.rpc_port), timeout=30) as sock:
        assert sock.recv(1) == b""


def test_a_megabyte_method_name_is_an_invalid_request_not_echoed(node):
    status, body, _ = exchange(node, request(node, call("x" * 1_000_000)))
    assert status == 200 and len(body) < 1000
    assert json.loads(body)["error"]["code"] == -32600
