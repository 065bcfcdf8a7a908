"""Small, dependency-free client of the built-in node's JSON-RPC.

Layer: core (the client side, used by the harness's adapter). Imports nothing of the node.

    rpc = BuiltinRpc("http://127.0.0.1:PORT/", secret)
    rpc.getinfo(); rpc.invoice(amount_msat=1000, label="a", description="d")
    rpc.call("listpeers", {"id": node_id})
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

RPC_USER = "rpc"


class BuiltinRpcError(Exception):
    """A call failed: the method, the JSON-RPC (or HTTP) code, the node's message and the
    error's `data` (None when it had none)."""

    def __init__(self, method: str, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{method} failed: {code}: {message}")
        self.method = method
        self.code = code
        self.message = message
        self.data = data


class BuiltinRpc:
    """One HTTP connection per call, so an instance is safe to share between threads."""

    def __init__(self, url: str, secret: str, *, timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"expected http://HOST:PORT/, got {url!r}")
        self.url = url
        self.host = parts.hostname
        self.port = parts.port
        self.timeout = timeout
        token = base64.b64encode(f"{RPC_USER}:{secret}".encode()).decode()
        self._auth = f"Basic {token}"
        self._ids = itertools.count(1)

    @classmethod
    def for_node(cls, lightning_dir: str | Path, rpc_port: int, *, timeout: float = 60.0,
                 host: str = "127.0.0.1") -> BuiltinRpc:
        """Client for the node in `lightning_dir` (reads its rpc_secret) on `host:rpc_port`."""
        secret = (Path(lightning_dir) / "rpc_secret").read_text().strip()
        return cls(f"http://{host}:{rpc_port}/", secret, timeout=timeout)

    def call(self, method: str, params: dict[str, Any] | list[Any] | None = None,
             *, timeout: float | None = None) -> Any:
        """Call `method`; returns its result or raises BuiltinRpcError."""
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                           "params": params if params is not None else {}}).encode()
        conn = http.client.HTTPConnection(self.host, self.port,
                                          timeout=self.timeout if timeout is None else timeout)
        try:
            conn.request("POST", "/", body, {"Content-Type": "application/json",
                                             "Authorization": self._auth})
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        if response.status != 200:
            raise BuiltinRpcError(method, response.status,
                                  f"HTTP {response.status} {response.reason}: {data[:200]!r}")
        reply = json.loads(data)
        error = reply.get("error")
        if error is not None:
            raise BuiltinRpcError(method, int(error.get("code", -1)), str(error.get("message", error)),
                                  error.get("data"))
        return reply.get("result")

    def _name_positional(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Mixed positional and named arguments -> all named, using the node's `help` usage line."""
        usage = self.call("help", {"command": method})["help"][0]["command"].split()[1:]
        names = [word.strip("[]") for word in usage]
        if len(args) > len(names):
            raise TypeError(f"{method}: takes at most {len(names)} parameters ({' '.join(usage)})")
        named = dict(zip(names[:len(args)], args, strict=True))
        clash = sorted(set(named) & set(kwargs))
        if clash:
            raise TypeError(f"{method}: parameter {clash[0]!r} given by position and by name")
        return {**named, **kwargs}

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)

        def caller(*args: Any, **kwargs: Any) -> Any:
            if args and kwargs:
                return self.call(method, self._name_positional(method, args, kwargs))
            return self.call(method, list(args) if args else kwargs)

        caller.__name__ = method
        return caller
