"""JSON-RPC 2.0 over HTTP on 127.0.0.1 with HTTP Basic auth (user 'rpc', the node's secret).

Layer: core. Imports core.log only.

Handlers are coroutine functions registered by name; their parameters are bound from the
request's `params` (a dict by name or a list by position) with the handler's own signature,
so a missing or unknown parameter becomes a -32602 error naming it.

Every request is bounded before it is parsed: a request or header line of at most
MAX_LINE_BYTES, at most MAX_HEADERS headers, a body of at most MAX_BODY_BYTES, all of it
read within the server's read timeout, JSON nested at most as deep as Python's parser
allows. Beyond any bound the client gets the HTTP error (414, 431, 413, 408) or the JSON-RPC
parse error, and the connection is closed; nothing of it is logged above debug.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import inspect
import itertools
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
MAX_LINE_BYTES = 8 * 1024
MAX_HEADERS = 100
MAX_METHOD_CHARS = 100
LINGER_S = 2.0
LINGER_BYTES = 64 * 1024 * 1024
DEFAULT_READ_TIMEOUT_S = 60.0
"""A request (or an idle keep-alive connection's next one) must arrive within this."""
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


class _Refused(Exception):
    """A request the server answers with an HTTP error and a closed connection."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Request:
    """One HTTP request as read (the parts seen so far, if reading stopped half-way)."""

    def __init__(self) -> None:
        self.started = False
        self.line = b""
        self.headers: dict[str, bytes] = {}
        self.body = b""


class RpcServer:
    """HTTP/1.1 server (keep-alive) for the registry, bound to 127.0.0.1 unless told otherwise."""

    def __init__(self, registry: RpcRegistry, secret: str, *,
                 read_timeout_s: float = DEFAULT_READ_TIMEOUT_S) -> None:
        self.registry = registry
        self.read_timeout_s = read_timeout_s
        expected = base64.b64encode(f"{RPC_USER}:{secret}".encode()).decode()
        self._expected_auth = f"Basic {expected}".encode()
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._busy: set[asyncio.Task[None]] = set()
        self.port: int | None = None

    async def start(self, port: int, host: str = "127.0.0.1") -> int:
        """Listen on host:port (0 = any free port); returns the port."""
        self._server = await asyncio.start_server(self._serve_connection, host, port,
                                                  limit=MAX_LINE_BYTES)
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
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away
        except asyncio.CancelledError:
            pass
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()

    async def _serve_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; returns whether the connection stays open."""
        request = _Request()
        try:
            await asyncio.wait_for(_read_request(reader, request), self.read_timeout_s)
        except TimeoutError:
            if not request.started:
                return False  # an idle keep-alive connection: just close it
            log.debug("RPC request not complete within %ss: closing", self.read_timeout_s)
            await _respond(writer, 408, b"request not received in time", keep_alive=False)
            return False
        except _Refused as refused:
            log.debug("refused RPC request: %s", refused.reason)
            await _respond(writer, refused.status, refused.reason.encode(), keep_alive=False)
            await _linger(reader, writer)
            return False
        if not request.started:
            return False
        parts, headers, body = request.line.split(), request.headers, request.body
        version = parts[2] if len(parts) >= 3 else b"HTTP/1.0"
        keep_alive = version == b"HTTP/1.1" and headers.get("connection", b"").lower() != b"close"
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
            request = json.loads(body, parse_constant=_refuse_constant)
        except ValueError as exc:
            return _error_reply(None, RpcError(PARSE_ERROR, f"Parse error: {exc}"))
        except RecursionError:
            return _error_reply(None, RpcError(PARSE_ERROR, "Parse error: JSON nested too deeply"))
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return _error_reply(None, RpcError(INVALID_REQUEST, "request needs a string 'method'"))
        if len(request["method"]) > MAX_METHOD_CHARS:
            return _error_reply(None, RpcError(INVALID_REQUEST, f"method name longer than "
                                                                f"{MAX_METHOD_CHARS} characters"))
        request_id = request.get("id")
        if request_id is not None and (isinstance(request_id, bool)
                                       or not isinstance(request_id, (str, int, float))):
            return _error_reply(None, RpcError(INVALID_REQUEST, "id must be a string, a number or null"))
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


async def _read_request(reader: asyncio.StreamReader, request: _Request) -> None:
    """Read one request into `request` (left not `started` at a clean end of stream)."""
    line = await _read_line(reader, 414, "request line too long")
    if not line:
        return
    request.started = True
    request.line = line
    for count in itertools.count():
        line = await _read_line(reader, 431, "header line too long")
        if line in (b"\r\n", b"\n", b""):
            break
        if count >= MAX_HEADERS:
            raise _Refused(431, f"more than {MAX_HEADERS} header lines")
        name, _, value = line.partition(b":")
        request.headers[name.strip().lower().decode("latin-1")] = value.strip()
    length_text = request.headers.get("content-length", b"0")
    if not length_text.isdigit() or len(length_text) > 12:
        raise _Refused(400, "bad Content-Length")
    if int(length_text) > MAX_BODY_BYTES:
        raise _Refused(413, f"body larger than {MAX_BODY_BYTES} bytes")
    request.body = await reader.readexactly(int(length_text))


async def _read_line(reader: asyncio.StreamReader, status: int, too_long: str) -> bytes:
    """One line (b"" at end of stream); _Refused(status) beyond the reader's limit."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        line = b"?" * (MAX_LINE_BYTES + 1)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return b""
    if len(line) > MAX_LINE_BYTES:  # the reader lets one byte more through
        raise _Refused(status, f"{too_long} (more than {MAX_LINE_BYTES} bytes)")
    return line


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """After refusing a request still being sent: stop writing, then read and drop what the
    client still sends (bounded), so closing does not reset the connection before the client
    has read the answer (a close with unread input sends a TCP RST)."""
    if writer.can_write_eof():
        writer.write_eof()
    try:
        async with asyncio.timeout(LINGER_S):
            for _ in range(LINGER_BYTES // 65536):
                if not await reader.read(65536):
                    break
    except TimeoutError:
        pass


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _error_reply(request_id: Any, exc: RpcError) -> dict[str, Any]:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.data is not None:
        error["data"] = exc.data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


_REASONS = {200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 405: b"Method Not Allowed",
            408: b"Request Timeout", 413: b"Content Too Large", 414: b"URI Too Long",
            431: b"Request Header Fields Too Large"}


async def _respond(writer: asyncio.StreamWriter, status: int, body: bytes, *, keep_alive: bool,
                   content_type: bytes = b"text/plain", extra: bytes = b"") -> None:
    head = (
        b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: %s\r\n%s\r\n"
        % (status, _REASONS.get(status, b""), content_type, len(body),
           b"keep-alive" if keep_alive else b"close", extra)
    )
    writer.write(head + body)
    await writer.drain()
