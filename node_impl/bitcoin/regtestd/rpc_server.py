"""bitcoind-compatible JSON-RPC over HTTP: Basic auth (cookie, rpcuser, rpcauth), batches, /wallet/<name>."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import urllib.parse
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from . import amounts
from .config import Config
from .rpc_errors import (
    RPC_INTERNAL_ERROR,
    RPC_INVALID_REQUEST,
    RPC_METHOD_NOT_FOUND,
    RPC_PARSE_ERROR,
    RpcError,
)
from .rpc_registry import RequestContext, call

log = logging.getLogger("regtestd.rpc")

MAX_BODY_BYTES = 32 * 1024 * 1024
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
        user, _, password = decoded.partition(":")
        ok = False
        for good_user, good_password in self.pairs:
            if hmac.compare_digest(user, good_user) & hmac.compare_digest(password, good_password):
                ok = True
        for good_user, salt, digest in self.rpcauth:
            mac = hmac.new(salt.encode(), password.encode(), hashlib.sha256).hexdigest()
            if hmac.compare_digest(user, good_user) & hmac.compare_digest(mac, digest):
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


def _status_for(code: int) -> int:
    if code == RPC_INVALID_REQUEST:
        return 400
    if code == RPC_METHOD_NOT_FOUND:
        return 404
    return 500


class RpcHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one reply = one segment; avoids 40 ms delayed-ACK stalls
    server: RpcHttpServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        log.debug("http: " + format, *args)

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              extra_headers: dict[str, str] | None = None, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra_headers or {}).items():
            self.send_header(key, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self._headers_buffer.append(b"\r\n")  # end of headers, sent together with the body
        self._headers_buffer.append(body)
        self.flush_headers()

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._send(405, b"JSONRPC server handles only POST requests", "text/html")

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        if not self.server.credentials.check(self.headers.get("Authorization")):
            log.warning("ThreadRPCServer incorrect password attempt from %s", self.client_address[0])
            self._send(401, b"", "text/html", {"WWW-Authenticate": 'Basic realm="jsonrpc"'})
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            self._send(400, b"Bad Content-Length", "text/html", close=True)
            return
        if length > MAX_BODY_BYTES or length < 0:
            self._send(413, b"Request too large", "text/html", close=True)
            return
        body = self.rfile.read(length)
        wallet_name = self._wallet_from_path()
        if wallet_name is False:
            self._send(404, b"", "text/html")
            return
        ctx = RequestContext(self.server.node, wallet_name, self.server)
        try:
            request = json.loads(body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            err = {"code": RPC_PARSE_ERROR, "message": "Parse error"}
            self._send(500, amounts.dumps(_reply(None, err, None)).encode())
            return
        if isinstance(request, list):
            replies = [self._execute(ctx, item)[0] for item in request]
            self._send(200, amounts.dumps(replies).encode())
            return
        reply, status = self._execute(ctx, request)
        self._send(status, amounts.dumps(reply).encode())

    def _wallet_from_path(self) -> str | None | bool:
        path = urllib.parse.urlsplit(self.path).path
        if path in ("/", ""):
            return None
        if path.startswith("/wallet/"):
            return urllib.parse.unquote(path[len("/wallet/"):])
        return False

    def _execute(self, ctx: RequestContext, request: Any) -> tuple[dict, int]:
        if not isinstance(request, dict):
            err = {"code": RPC_INVALID_REQUEST, "message": "Invalid Request object"}
            return _reply(None, err, None), 400
        request_id = request.get("id")
        method = request.get("method")
        if not isinstance(method, str):
            err = {"code": RPC_INVALID_REQUEST, "message": "Method must be a string"}
            return _reply(None, err, request_id), 400
        try:
            result = call(ctx, method, request.get("params"))
            return _reply(result, None, request_id), 200
        except RpcError as exc:
            return _reply(None, {"code": exc.code, "message": exc.message}, request_id), _status_for(exc.code)
        except Exception as exc:  # the node keeps running; the client sees an internal error
            log.exception("RPC %s failed", method)
            err = {"code": RPC_INTERNAL_ERROR, "message": f"Internal error: {type(exc).__name__}: {exc}"}
            return _reply(None, err, request_id), 500


class RpcHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], node: Any, credentials: Credentials) -> None:
        super().__init__(address, RpcHandler)
        self.node = node
        self.credentials = credentials
        self.stop_event = threading.Event()

    def request_stop(self) -> None:
        """Called by the stop RPC: shut down after the reply has been sent."""
        self.stop_event.set()
