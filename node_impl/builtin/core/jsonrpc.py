"""JSON-RPC 2.0 over HTTP on 127.0.0.1 with HTTP Basic auth (user 'rpc', the node's secret).

Layer: core. Imports core.log only.

Handlers are coroutine functions registered by name; their parameters are bound from the
request's `params` (a dict by name or a list by position) with the handler's own signature,
so a missing or unknown parameter becomes a -32602 error naming it.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

from .log import get_logger

log = get_logger("rpc")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

MAX_BODY_BYTES = 16 * 1024 * 1024
RPC_USER = "rpc"

Handler = Callable[..., Awaitable[Any]]


class RpcError(Exception):
    """An error a handler returns to the caller: JSON-RPC `code` and `message` (+ optional data)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data


def param_error(name: str, problem: str) -> RpcError:
    """-32602 naming the parameter that was wrong."""
    return RpcError(INVALID_PARAMS, f"{name}: {problem}")


class RpcRegistry:
    """Name -> handler table shared by every subsystem that offers RPC methods."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._signatures: dict[str, inspect.Signature] = {}

    def register(self, name: str, handler: Handler) -> None:
        """Offer `handler` (an `async def`) as RPC method `name`; a second registration replaces it."""
        if not inspect.iscoroutinefunction(handler):
            raise TypeError(f"RPC handler for {name!r} must be an async function")
        self._handlers[name] = handler
        self._signatures[name] = inspect.signature(handler)

    def names(self) -> list[str]:
        return sorted(self._handlers)

    def usage(self, name: str) -> str:
        """`name param [optional]` as in Core Lightning's help."""
        parts = [name]
        for pname, param in self._signatures[name].parameters.items():
            parts.append(pname if param.default is inspect.Parameter.empty else f"[{pname}]")
        return " ".join(parts)

    def description(self, name: str) -> str:
        doc = inspect.getdoc(self._handlers[name]) or ""
        return doc.splitlines()[0] if doc else ""

    async def dispatch(self, method: str, params: Any) -> Any:
        """Run one call; raises RpcError for every failure the caller should see."""
        handler = self._handlers.get(method)
        if handler is None:
            raise RpcError(METHOD_NOT_FOUND, f"Unknown command '{method}'")
        sig = self._signatures[method]
        try:
            if params is None:
                bound = sig.bind()
            elif isinstance(params, dict):
                bound = sig.bind(**params)
            elif isinstance(params, list):
                bound = sig.bind(*params)
            else:
                raise RpcError(INVALID_PARAMS, "params must be an object or an array")
        except TypeError as exc:
            raise RpcError(INVALID_PARAMS, _describe_bind_error(method, str(exc))) from None
        return await handler(*bound.args, **bound.kwargs)


def _describe_bind_error(method: str, text: str) -> str:
    if "missing a required argument" in text:
        name = text.split(":", 1)[1].strip()
        return f"{method}: missing required parameter {name}"
    if "unexpected keyword argument" in text:
        name = text.split("argument", 1)[1].strip()
        return f"{method}: unknown parameter {name}"
    if "too many positional arguments" in text:
        return f"{method}: too many parameters"
    return f"{method}: {text}"


class RpcServer:
    """HTTP/1.1 server (keep-alive) for the registry, bound to 127.0.0.1."""

    def __init__(self, registry: RpcRegistry, secret: str) -> None:
        self.registry = registry
        expected = base64.b64encode(f"{RPC_USER}:{secret}".encode()).decode()
        self._expected_auth = f"Basic {expected}".encode()
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._busy: set[asyncio.Task[None]] = set()
        self.port: int | None = None

    async def start(self, port: int) -> int:
        """Listen on 127.0.0.1:port (0 = any free port); returns the port."""
        self._server = await asyncio.start_server(self._serve_connection, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self, grace_s: float = 0.2) -> None:
        """Stop listening; requests being answered get `grace_s` to finish (so `stop` gets its
        reply), then every connection is dropped (long polls included)."""
        if self._server is not None:
            self._server.close()
        for task in self._connections - self._busy:
            task.cancel()
        if self._busy:
            await asyncio.wait(list(self._busy), timeout=grace_s)
        for task in list(self._connections):
            task.cancel()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            while await self._serve_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()

    async def _serve_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; returns whether the connection stays open."""
        request_line = await reader.readline()
        if not request_line:
            return False
        headers: dict[str, bytes] = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode("latin-1")] = value.strip()
        parts = request_line.split()
        version = parts[2] if len(parts) >= 3 else b"HTTP/1.0"
        keep_alive = version == b"HTTP/1.1" and headers.get("connection", b"").lower() != b"close"
        length_text = headers.get("content-length", b"0")
        if not length_text.isdigit() or int(length_text) > MAX_BODY_BYTES:
            await _respond(writer, 400, b"bad Content-Length", keep_alive=False)
            return False
        body = await reader.readexactly(int(length_text))
        if not hmac.compare_digest(headers.get("authorization", b""), self._expected_auth):
            log.info("rejected RPC request with bad or missing credentials")
            await _respond(writer, 401, b"unauthorized", keep_alive=keep_alive,
                           extra=b'WWW-Authenticate: Basic realm="jsonrpc"\r\n')
            return keep_alive
        if not parts or parts[0] != b"POST":
            await _respond(writer, 405, b"only POST is supported", keep_alive=keep_alive)
            return keep_alive
        task = asyncio.current_task()
        if task is not None:
            self._busy.add(task)
        try:
            reply = await self._answer(body)
            await _respond(writer, 200, json.dumps(reply).encode(), keep_alive=keep_alive,
                           content_type=b"application/json")
        finally:
            if task is not None:
                self._busy.discard(task)
        return keep_alive

    async def _answer(self, body: bytes) -> dict[str, Any]:
        try:
            request = json.loads(body)
        except ValueError as exc:
            return _error_reply(None, RpcError(PARSE_ERROR, f"Parse error: {exc}"))
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return _error_reply(None, RpcError(INVALID_REQUEST, "request needs a string 'method'"))
        request_id = request.get("id")
        method = request["method"]
        log.debug("call %s", method)
        try:
            result = await self.registry.dispatch(method, request.get("params"))
        except RpcError as exc:
            log.debug("%s failed: %s", method, exc.message)
            return _error_reply(request_id, exc)
        except Exception as exc:  # a handler bug must not take the node down
            log.error("%s raised %s: %s", method, type(exc).__name__, exc, exc_info=True)
            return _error_reply(request_id, RpcError(INTERNAL_ERROR, f"{method}: internal error: {exc}"))
        return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _error_reply(request_id: Any, exc: RpcError) -> dict[str, Any]:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.data is not None:
        error["data"] = exc.data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


_REASONS = {200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 405: b"Method Not Allowed"}


async def _respond(writer: asyncio.StreamWriter, status: int, body: bytes, *, keep_alive: bool,
                   content_type: bytes = b"text/plain", extra: bytes = b"") -> None:
    head = (
        b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: %s\r\n%s\r\n"
        % (status, _REASONS.get(status, b""), content_type, len(body),
           b"keep-alive" if keep_alive else b"close", extra)
    )
    writer.write(head + body)
    await writer.drain()
