"""bitcoind-compatible JSON-RPC over HTTP: Basic auth (cookie, rpcuser, rpcauth), batches, /wallet/<name>."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import socket
import socketserver
import threading
import urllib.parse
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from . import amounts
from .config import Config
from .dialect import MAX_BATCH_REQUESTS, MAX_BODY_BYTES, MAX_JSON_DEPTH
from .rpc_errors import (
    RPC_INTERNAL_ERROR,
    RPC_INVALID_REQUEST,
    RPC_METHOD_NOT_FOUND,
    RPC_PARSE_ERROR,
    RpcError,
)
from .rpc_registry import RequestContext, call

log = logging.getLogger("regtestd.rpc")

COOKIE_USER = "__cookie__"


class Credentials:
    """The user/password pairs the server accepts."""

    def __init__(self, config: Config) -> None:
        self.pairs: list[tuple[str, str]] = []
        self.rpcauth: list[tuple[str, str, str]] = []
        self.cookie_path: Path | None = None
        if config.rpcpassword is not None:
            self.pairs.append((config.rpcuser or "", config.rpcpassword))
        for entry in config.rpcauth:
            user, rest = entry.split(":", 1)
            salt, digest = rest.split("$", 1)
            self.rpcauth.append((user, salt, digest))
        if config.rpcpassword is None:
            self.cookie_path = config.effective_cookie_path
            password = secrets.token_hex(32)
            tmp = self.cookie_path.with_name(self.cookie_path.name + ".tmp")
            tmp.write_text(f"{COOKIE_USER}:{password}")
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.cookie_path)
            self.pairs.append((COOKIE_USER, password))

    def check(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        user_text, _, password_text = decoded.partition(":")
        # compared as bytes: compare_digest refuses str with non-ASCII characters
        user, password = user_text.encode(), password_text.encode()
        ok = False
        for good_user, good_password in self.pairs:
            if hmac.compare_digest(user, good_user.encode()) & hmac.compare_digest(password, good_password.encode()):
                ok = True
        for good_user, salt, digest in self.rpcauth:
            mac = hmac.new(salt.encode(), password, hashlib.sha256).hexdigest()
            if hmac.compare_digest(user, good_user.encode()) & hmac.compare_digest(mac.encode(), digest.encode()):
                ok = True
        return ok

    def remove_cookie(self) -> None:
        if self.cookie_path is not None:
            try:
                self.cookie_path.unlink()
            except FileNotFoundError:
                pass


def _reply(result: Any, error: dict | None, request_id: Any) -> dict:
    return {"result": result, "error": error, "id": request_id}


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """True when arrays/objects in `value` nest deeper than `limit` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _is_notification(request: Any) -> bool:
    """A JSON-RPC 2.0 request without an "id" member: executed, never answered (Core 28+)."""
    return isinstance(request, dict) and request.get("jsonrpc") == "2.0" and "id" not in request


def _status_for(code: int) -> int:
    if code == RPC_INVALID_REQUEST:
        return 400
    if code == RPC_METHOD_NOT_FOUND:
        return 404
    return 500


_REASONS = {100: "Continue", 200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required", 413: "Payload Too Large",
            431: "Request Header Fields Too Large", 500: "Internal Server Error"}
MAX_LINE_BYTES = 65536
MAX_HEADERS = 100


class _BadRequest(Exception):
    """Malformed HTTP framing: answered with the status and the connection closed."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


class RpcHandler(socketserver.StreamRequestHandler):
    """HTTP/1.1 with keep-alive, just enough for JSON-RPC clients (bitcoin-cli, python, curl)."""

    disable_nagle_algorithm = True  # one reply = one segment; avoids 40 ms delayed-ACK stalls
    timeout = 600  # seconds a connection may sit idle or stall mid-request before it is dropped
    server: RpcHttpServer

    def handle(self) -> None:
        try:
            while self._handle_one():
                self.connection.settimeout(self.timeout)  # idle between requests
        except (ConnectionError, TimeoutError, OSError):
            return

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              extra_headers: dict[str, str] | None = None, close: bool = False) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
        if status != 204:  # a 204 has neither body nor Content-Length
            lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
        for key, value in (extra_headers or {}).items():
            lines.append(f"{key}: {value}")
        if close:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def _read_line(self) -> bytes:
        line = self.rfile.readline(MAX_LINE_BYTES + 1)
        if len(line) > MAX_LINE_BYTES:
            raise _BadRequest(431, "line too long")
        return line

    def _handle_one(self) -> bool:
        """Serve one request; False when the connection should close."""
        try:
            line = self._read_line()
            while line in (b"\r\n", b"\n"):
                line = self._read_line()
            if not line:
                return False
            # a request has begun: the rest of it must arrive within -rpcservertimeout
            self.connection.settimeout(self.server.request_timeout)
            return self._handle_request(line)
        except _BadRequest as exc:
            self._send(exc.status, exc.text.encode(), "text/html", close=True)
            return False
        except TimeoutError:
            log.debug("Request from %s incomplete after %ss: answered 408", self.client_address[0],
                      self.server.request_timeout)
            self._send(408, b"Request timed out", "text/html", close=True)
            return False

    def _handle_request(self, line: bytes) -> bool:
        try:
            parts = line.decode("latin-1").split()
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                raise _BadRequest(400, "Bad request line")
            method, target, version = parts
            headers: dict[str, str] = {}
            while True:
                header = self._read_line()
                if header in (b"\r\n", b"\n", b""):
                    break
                if len(headers) >= MAX_HEADERS:
                    raise _BadRequest(431, "Too many headers")
                name, _, value = header.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
        except _BadRequest as exc:
            self._send(exc.status, exc.text.encode(), "text/html", close=True)
            return False
        if not self.server.allows(self.client_address[0]):  # as Core: 403, not a 401
            log.warning("Received a request from %s, which -rpcallowip does not allow",
                        self.client_address[0])
            self._discard_body(headers)
            self._send(403, b"", "text/html", close=True)
            return False
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        if method != "POST":
            self._send(405, b"JSONRPC server handles only POST requests", "text/html", close=not keep_alive)
            return keep_alive and self._discard_body(headers)
        if not self.server.credentials.check(headers.get("authorization")):
            log.warning("ThreadRPCServer incorrect password attempt from %s", self.client_address[0])
            self._send(401, b"", "text/html", {"WWW-Authenticate": 'Basic realm="jsonrpc"'}, close=True)
            return False
        if "transfer-encoding" in headers:
            self._send(411, b"Chunked requests are not supported", "text/html", close=True)
            return False
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            self._send(400, b"Bad Content-Length", "text/html", close=True)
            return False
        if length > MAX_BODY_BYTES:
            self._send(413, b"Request too large", "text/html", close=True)
            return False
        if headers.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = self.rfile.read(length)
        if len(body) < length:
            return False  # the client closed the connection mid-body
        self.connection.settimeout(None)  # long polls may run for as long as they were asked to
        self._respond(target, body, close=not keep_alive)
        return keep_alive

    def _discard_body(self, headers: dict[str, str]) -> bool:
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            return False
        if not 0 <= length <= MAX_BODY_BYTES:
            return False
        return len(self.rfile.read(length)) == length

    def _respond(self, target: str, body: bytes, close: bool) -> None:
        if not self._is_rpc_path(target):
            self._send(404, b"", "text/html", close=close)
            return
        wallet_name = self._wallet_from_path(target)
        ctx = RequestContext(self.server.node, wallet_name, self.server)
        try:
            request = json.loads(body, parse_float=Decimal)
            too_deep = json_depth_exceeds(request, MAX_JSON_DEPTH)
        except (ValueError, UnicodeDecodeError, RecursionError):
            too_deep = True
        if too_deep:
            self._send_error(RPC_PARSE_ERROR, "Parse error", close)
            return
        if isinstance(request, list):
            self._respond_batch(ctx, request, close)
        elif isinstance(request, dict):
            reply, status = self._execute(ctx, request)
            if _is_notification(request):
                self._send(204, b"", close=close)
            else:
                self._send(status, amounts.dumps(reply).encode(), close=close)
        else:
            self._send_error(RPC_PARSE_ERROR, "Top-level object parse error", close)
            return
        if self.server.stop_pending:
            self.server.stop_event.set()  # the stop reply has left; now shut down

    def _send_error(self, code: int, message: str, close: bool) -> None:
        """One JSON-RPC 1.0 error reply (id null) with bitcoind's HTTP status for the code."""
        body = amounts.dumps(_reply(None, {"code": code, "message": message}, None)).encode()
        self._send(_status_for(code), body, close=close)

    def _respond_batch(self, ctx: RequestContext, requests: list, close: bool) -> None:
        """bitcoind's batches: HTTP 200 and one reply per element, in order, each element
        answered on its own; notifications get none ([] for an empty batch, as Core does)."""
        if len(requests) > MAX_BATCH_REQUESTS:
            log.warning("Refused a batch of %d requests (at most %d)", len(requests), MAX_BATCH_REQUESTS)
            self._send_error(RPC_INVALID_REQUEST,
                             f"Batch of {len(requests)} requests is too large (at most {MAX_BATCH_REQUESTS})",
                             close)
            return
        replies = []
        for item in requests:
            reply, _ = self._execute(ctx, item)
            if not _is_notification(item):
                replies.append(reply)
        if requests and not replies:
            self._send(204, b"", close=close)
            return
        self._send(200, amounts.dumps(replies).encode(), close=close)

    @staticmethod
    def _is_rpc_path(target: str) -> bool:
        path = target.split("?", 1)[0]
        return path in ("/", "") or path.startswith("/wallet/")

    @staticmethod
    def _wallet_from_path(target: str) -> str | None:
        """The wallet named by a /wallet/<name> URL, None for "/"."""
        path = target.split("?", 1)[0]
        if path.startswith("/wallet/"):
            return urllib.parse.unquote(path[len("/wallet/"):])
        return None

    def _execute(self, ctx: RequestContext, request: Any) -> tuple[dict, int]:
        """Run one request object; its reply (1.0 or 2.0 shape) and the HTTP status bitcoind
        would give it alone (2.0 replies are always 200)."""
        if not isinstance(request, dict):
            err = {"code": RPC_INVALID_REQUEST, "message": "Invalid Request object"}
            return _reply(None, err, None), 400
        request_id = request.get("id")
        version = request.get("jsonrpc")
        v2 = version == "2.0"
        if version is not None and not isinstance(version, str):
            error: dict | None = {"code": RPC_INVALID_REQUEST, "message": "jsonrpc field must be a string"}
        elif version not in (None, "1.0", "2.0"):
            error = {"code": RPC_INVALID_REQUEST, "message": "JSON-RPC version not supported"}
        else:
            result, error = self._dispatch(ctx, request)
        if v2:
            if error is not None:
                return {"jsonrpc": "2.0", "error": error, "id": request_id}, 200
            return {"jsonrpc": "2.0", "result": result, "id": request_id}, 200
        if error is not None:
            return _reply(None, error, request_id), _status_for(error["code"])
        return _reply(result, None, request_id), 200

    @staticmethod
    def _dispatch(ctx: RequestContext, request: dict) -> tuple[Any, dict | None]:
        """(result, None) or (None, error object) for one well-formed request."""
        method = request.get("method")
        if method is None:
            return None, {"code": RPC_INVALID_REQUEST, "message": "Missing method"}
        if not isinstance(method, str):
            return None, {"code": RPC_INVALID_REQUEST, "message": "Method must be a string"}
        log.debug("ThreadRPCServer method=%s wallet=%s", method, ctx.wallet_name)
        try:
            return call(ctx, method, request.get("params")), None
        except RpcError as exc:
            log.debug("RPC %s answered error %d: %s", method, exc.code, exc.message)
            return None, {"code": exc.code, "message": exc.message}
        except Exception as exc:  # a bug in a handler: logged with its traceback, node keeps running
            log.exception("RPC %s failed", method)
            return None, {"code": RPC_INTERNAL_ERROR, "message": f"Internal error: {type(exc).__name__}: {exc}"}


class RpcHttpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], node: Any, credentials: Credentials,
                 request_timeout: float = 30.0,
                 allowed: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network] = ()) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        #: clients allowed besides the loopback (-rpcallowip)
        self.allowed = tuple(allowed)
        super().__init__(address, RpcHandler)
        self.request_timeout = request_timeout  # -rpcservertimeout: a started request must arrive by then
        self.node = node
        self.credentials = credentials
        self.stop_event = threading.Event()
        self.stop_pending = False

    def allows(self, host: str) -> bool:
        """Whether a client at `host` may call: the loopback always, others per -rpcallowip."""
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return address.is_loopback or any(address in network for network in self.allowed
                                          if network.version == address.version)

    def request_stop(self) -> None:
        """Called by the stop RPC: shut down once its reply has been sent."""
        self.stop_pending = True
