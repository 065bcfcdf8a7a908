"""`ChainRpcProxy`: one node's door to the chain's JSON-RPC, in the test's own process.

A Core Lightning node's bitcoin-cli talks to this proxy instead of the chain, as with
pyln-testing's bitcoind proxy. A call passes through to the chain unchanged (bytes and HTTP
status as the chain answered) unless the test mocked its method:

- a fixed answer, `{params_key(params) or "*": result}`: the reply carries that result;
- a function: called with the request (`{"method", "params", "id", ...}`, numbers as
  Decimal) in a thread of the test process; it returns the whole reply
  (`{"id": ..., "result": ...}` or with `"error"`), or None to pass the call through.

Each mocked call is counted per method (`calls`). Numbers of a fixed answer keep the digits
they were given (a Decimal `0.00010000` is sent as written: lightningd's bcli wants 8
decimals). The proxy serves until `close()`; it outlives restarts of the node.
"""
from __future__ import annotations

import base64
import http.client
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

#: a function mock: the request in, the whole reply (or None: ask the chain) out
MockFunction = Callable[[dict[str, Any]], "dict[str, Any] | None"]
ANY_PARAMS = "*"
#: how long a call may wait for the chain before the proxy answers with an error
FORWARD_TIMEOUT_S = 900.0
_DECIMAL_MARK = "\u0000dec\u0000"
_DECIMAL_TEXT = re.compile(r'"\\u0000dec\\u0000(-?[0-9.]+)\\u0000dec\\u0000"')


def params_key(params: Sequence[Any]) -> str:
    """The key of one parameter list in a fixed answer's mapping."""
    return json.dumps(list(params), separators=(",", ":"), default=str)


def dumps(value: Any) -> bytes:
    """JSON with each Decimal written as its digits (a bare number, never a float)."""
    def number(item: Any) -> str:
        if isinstance(item, Decimal):
            return f"{_DECIMAL_MARK}{item:f}{_DECIMAL_MARK}"
        raise TypeError(f"a mocked reply holds {type(item).__name__} {item!r}: not JSON")
    return _DECIMAL_TEXT.sub(r"\1", json.dumps(value, default=number)).encode()


class ChainRpcProxy:
    """Serves on `127.0.0.1:port`, forwarding to the chain at `target_url`
    (`http://user:password@host:port/`)."""

    def __init__(self, target_url: str, *, name: str, port: int = 0):
        self.name = name
        target = urlsplit(target_url)
        if target.hostname is None or target.port is None:
            raise ValueError(f"{name}: chain RPC URL {target_url!r} names no host and port")
        self._target = (target.hostname, target.port)
        credentials = f"{target.username or ''}:{target.password or ''}".encode()
        self._authorization = "Basic " + base64.b64encode(credentials).decode()
        self._lock = threading.Lock()
        self._mocks: dict[str, Mapping[str, Any] | MockFunction] = {}
        self._calls: dict[str, int] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name=f"lnh-chain-proxy-{name}", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def mock(self, method: str, answer: Mapping[str, Any] | MockFunction | None) -> None:
        """Answer `method` with `answer` (see the module's docstring; None: the chain answers
        again) and restart its call count. Applies from the next call."""
        if answer is not None and not callable(answer) and not isinstance(answer, Mapping):
            raise TypeError(f"mock of {method!r}: a mapping of parameter lists to results or "
                            f"a function, not {type(answer).__name__}")
        with self._lock:
            if answer is None:
                self._mocks.pop(method, None)
            else:
                self._mocks[method] = answer if callable(answer) else dict(answer)
            self._calls[method] = 0

    def calls(self, method: str) -> int:
        """Mocked calls of `method` answered since its mock was set."""
        with self._lock:
            return self._calls.get(method, 0)

    def close(self) -> None:
        """Stop serving (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    # -- serving (runs in the server's threads) -----------------------------------------
    def answer(self, body: bytes, path: str) -> tuple[int, bytes]:
        """The HTTP status and body for one POSTed request body."""
        try:
            request = json.loads(body, parse_float=Decimal)
        except ValueError:
            return self.forward(body, path)
        if isinstance(request, list):
            replies = [self._mocked(item) for item in request]
            if all(reply is not None for reply in replies):
                return 200, b"[" + b",".join(dumps(r) for r in replies) + b"]"
            return self.forward(body, path)
        reply = self._mocked(request) if isinstance(request, dict) else None
        return (200, dumps(reply)) if reply is not None else self.forward(body, path)

    def _mocked(self, request: Any) -> dict[str, Any] | None:
        if not isinstance(request, dict):
            return None
        method = request.get("method")
        if not isinstance(method, str):
            return None
        with self._lock:
            answer = self._mocks.get(method)
            if answer is None:
                return None
            if callable(answer):
                self._calls[method] = self._calls.get(method, 0) + 1
            else:
                key = params_key(request.get("params") or [])
                if key not in answer and ANY_PARAMS not in answer:
                    return None
                self._calls[method] = self._calls.get(method, 0) + 1
                result = answer[key] if key in answer else answer[ANY_PARAMS]
                return {"result": result, "error": None, "id": request.get("id")}
        try:
            return answer(request)
        except Exception as exc:  # the test's function failed: the node sees an RPC error
            return {"result": None, "id": request.get("id"),
                    "error": {"code": -32603, "message": f"lnharness mock of {method} raised "
                                                         f"{type(exc).__name__}: {exc}"}}

    def forward(self, body: bytes, path: str) -> tuple[int, bytes]:
        """Send the request to the chain as it came; its status and body as they came back."""
        connection = http.client.HTTPConnection(*self._target, timeout=FORWARD_TIMEOUT_S)
        try:
            connection.request("POST", path, body=body, headers={
                "Authorization": self._authorization, "Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, response.read()
        except OSError as exc:
            return 503, dumps({"result": None, "id": None, "error": {
                "code": -28, "message": f"lnharness proxy {self.name}: chain unreachable: {exc}"}})
        finally:
            connection.close()


def _handler(proxy: ChainRpcProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            status, body = proxy.answer(self.rfile.read(length), self.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # no line per request on the test's stderr
    return Handler
