"""A small client for LND's REST API (grpc-gateway): TLS with the node's own cert, admin macaroon.

Standard library only (http.client + ssl), one connection per call, so an instance is safe
to share between threads. Unary calls return the decoded JSON object; streaming calls
(`/v2/router/send`, `/v1/channels/stream`, closing a channel, ...) answer newline-delimited
`{"result": ...}` objects, read by `stream` up to the final update (or the first one a
predicate accepts). Every error answer becomes `RpcError` with LND's code and message.
"""
from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from lnharness.errors import RpcError

DEFAULT_TIMEOUT_S = 60.0


class LndRest:
    """REST client of one lnd on 127.0.0.1: `get`, `post`, `delete`, `stream`.

    `cert_path` and `macaroon_path` are read at each call (lnd writes them during start-up
    and a restart may regenerate them); a missing macaroon sends no auth header, which is
    enough for the whitelisted `/v1/state`.
    """

    def __init__(self, port: int, cert_path: Path | str, macaroon_path: Path | str, *,
                 host: str = "127.0.0.1", name: str = "lnd", timeout: float = DEFAULT_TIMEOUT_S):
        self.host = host
        self.port = port
        self.cert_path = Path(cert_path)
        self.macaroon_path = Path(macaroon_path)
        self.name = name
        self.timeout = timeout

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    # -- unary ------------------------------------------------------------------------
    def get(self, path: str, params: dict[str, Any] | None = None, *,
            timeout: float | None = None) -> dict[str, Any]:
        """GET `path` (with `params` as the query string); the JSON answer."""
        return self.call("GET", path, params=params, timeout=timeout)

    def post(self, path: str, body: dict[str, Any] | None = None, *,
             timeout: float | None = None) -> dict[str, Any]:
        """POST `body` as JSON to `path`; the JSON answer."""
        return self.call("POST", path, body=body or {}, timeout=timeout)

    def delete(self, path: str, params: dict[str, Any] | None = None, *,
               timeout: float | None = None) -> dict[str, Any]:
        """DELETE `path`; the JSON answer."""
        return self.call("DELETE", path, params=params, timeout=timeout)

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
             body: dict[str, Any] | None = None, timeout: float | None = None) -> dict[str, Any]:
        """One unary request; raises `RpcError` on an error answer or a broken connection."""
        conn, response = self._request(method, path, params, body, timeout)
        try:
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise RpcError(f"{method} {path}", None, f"reading the answer failed: {exc}",
                           peer=self.name) from None
        finally:
            conn.close()
        answer = self._decode(method, path, raw)
        if response.status != 200:
            raise self._error(method, path, answer, response.status)
        return answer

    # -- streaming --------------------------------------------------------------------
    def stream(self, method: str, path: str, body: dict[str, Any] | None = None, *,
               params: dict[str, Any] | None = None,
               until: Callable[[dict[str, Any]], bool] | None = None,
               timeout: float | None = None) -> list[dict[str, Any]]:
        """Read a streaming call's updates (each `result` object) until the server ends the
        stream or `until(update)` is true; return every update read, the last one last."""
        conn, response = self._request(method, path, params, body, timeout)
        updates: list[dict[str, Any]] = []
        try:
            if response.status != 200:
                raise self._error(method, path, self._decode(method, path, response.read()),
                                  response.status)
            while True:
                try:
                    line = response.readline()
                except (OSError, http.client.HTTPException) as exc:
                    raise RpcError(f"{method} {path}", None, f"stream broken after "
                                   f"{len(updates)} update(s): {exc}", peer=self.name) from None
                if not line:
                    break
                if not line.strip():
                    continue
                message = self._decode(method, path, line)
                if "error" in message:
                    raise self._error(method, path, message["error"], response.status)
                update = message.get("result", message)
                updates.append(update)
                if until is not None and until(update):
                    break
        finally:
            conn.close()
        if not updates:
            raise RpcError(f"{method} {path}", None, "the stream ended without an update",
                           peer=self.name)
        return updates

    # -- plumbing ---------------------------------------------------------------------
    def _context(self) -> ssl.SSLContext:
        try:
            return ssl.create_default_context(cafile=str(self.cert_path))
        except (OSError, ssl.SSLError) as exc:
            raise RpcError("tls", None, f"cannot load lnd's TLS certificate {self.cert_path}: {exc}",
                           peer=self.name) from None

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        try:
            macaroon = self.macaroon_path.read_bytes()
        except FileNotFoundError:
            return headers
        if macaroon:
            headers["Grpc-Metadata-macaroon"] = macaroon.hex()
        return headers

    def _request(self, method: str, path: str, params: dict[str, Any] | None,
                 body: dict[str, Any] | None, timeout: float | None
                 ) -> tuple[http.client.HTTPSConnection, http.client.HTTPResponse]:
        target = path + ("?" + urlencode(_query(params)) if params else "")
        conn = http.client.HTTPSConnection(self.host, self.port, context=self._context(),
                                           timeout=timeout or self.timeout)
        data = json.dumps(body).encode() if body is not None else None
        try:
            conn.request(method, target, body=data, headers=self._headers())
            return conn, conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise RpcError(f"{method} {path}", None, f"cannot reach lnd's REST API at "
                           f"{self.url}: {exc}", peer=self.name) from None

    def _decode(self, method: str, path: str, raw: bytes) -> dict[str, Any]:
        try:
            value = json.loads(raw or b"{}")
        except ValueError:
            raise RpcError(f"{method} {path}", None, f"not JSON: {raw[:200]!r}",
                           peer=self.name) from None
        if not isinstance(value, dict):
            raise RpcError(f"{method} {path}", None, f"unexpected answer {value!r:.200}",
                           peer=self.name)
        return value

    def _error(self, method: str, path: str, answer: dict[str, Any], status: int) -> RpcError:
        code = answer.get("code")
        message = answer.get("message") or answer.get("error") or f"HTTP {status}: {answer}"
        return RpcError(f"{method} {path}", int(code) if isinstance(code, int) else status,
                        str(message), peer=self.name)

    def __repr__(self) -> str:
        return f"<LndRest {self.name} {self.url}>"


def _query(params: dict[str, Any]) -> dict[str, str]:
    """Query parameters as grpc-gateway reads them (booleans lower-case)."""
    return {k: ("true" if v is True else "false" if v is False else str(v))
            for k, v in params.items() if v is not None}
