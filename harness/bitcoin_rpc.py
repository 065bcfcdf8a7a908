"""The JSON-RPC client for every chain backend (bitcoind's dialect).

python-bitcoinrpc's `AuthServiceProxy` does the protocol; this wrapper opens one HTTP
connection per call (the proxy is not thread safe), applies a timeout, retries a call whose
connection was reset before an answer came, and turns every failure into `RpcError`
(method, code, message). Floats in results are `Decimal`s, as python-bitcoinrpc parses them.
"""
from __future__ import annotations

import http.client
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from bitcoinrpc.authproxy import AuthServiceProxy, JSONRPCException
from lnharness.errors import RpcError

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 3
_UNSAFE_CREDENTIAL_CHARS = set(":@/?#%[] ")


class RpcConnectionError(RpcError):
    """The server could not be reached, or did not answer in time (code is None).

    `kind` is "refused" (nothing listens), "lost" (connection reset or closed before the
    answer, after the retries), "timeout" (no answer in time) or "os" (another socket error).
    """

    def __init__(self, method: str, kind: str, message: str, *, peer: str | None = None):
        super().__init__(method, None, message, peer=peer)
        self.kind = kind


def _check_credential(kind: str, value: str) -> None:
    bad = sorted(_UNSAFE_CREDENTIAL_CHARS.intersection(value))
    if bad:
        raise ValueError(f"RPC {kind} {value!r} contains characters that cannot go in a URL: "
                         f"{''.join(bad)!r}")


def rpc_url(host: str, port: int, user: str, password: str, wallet: str | None = None) -> str:
    """`http://user:password@host:port[/wallet/<name>]`."""
    _check_credential("user", user)
    _check_credential("password", password)
    path = f"/wallet/{quote(wallet, safe='')}" if wallet is not None else "/"
    return f"http://{user}:{password}@{host}:{port}{path}"


class BitcoinRpc:
    """bitcoind-dialect JSON-RPC client: `rpc.getblockcount()` or `rpc.call("getblockcount")`.

    `timeout` is per call in seconds; `retries` is how many times a call is sent again when
    the connection was reset or closed before the answer arrived (bitcoind does that when it
    is overloaded or shutting down).
    """

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT_S,
                 retries: int = DEFAULT_RETRIES, peer: str | None = None):
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            raise ValueError(f"RPC URL must look like http://user:pass@host:port/, got {url!r}")
        if parts.username is None or parts.password is None:
            raise ValueError(f"RPC URL {self._redact(url)!r} has no user:password")
        if timeout <= 0:
            raise ValueError(f"RPC timeout must be positive, got {timeout!r}")
        if retries < 0:
            raise ValueError(f"RPC retries must be >= 0, got {retries!r}")
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.peer = peer or f"{parts.hostname}:{parts.port}"
        self._host = parts.hostname
        self._port = parts.port

    @staticmethod
    def _redact(url: str) -> str:
        parts = urlsplit(url)
        netloc = f"{parts.hostname}:{parts.port}" if parts.port else (parts.hostname or "")
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    @property
    def wallet_name(self) -> str | None:
        """The wallet this client addresses (`/wallet/<name>` URL), or None."""
        path = urlsplit(self.url).path
        prefix = "/wallet/"
        return path[len(prefix):] if path.startswith(prefix) else None

    def wallet(self, name: str) -> BitcoinRpc:
        """A client for the same server whose calls go to wallet `name`."""
        parts = urlsplit(self.url)
        path = f"/wallet/{quote(name, safe='')}"
        url = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        return BitcoinRpc(url, timeout=self.timeout, retries=self.retries, peer=self.peer)

    def with_timeout(self, timeout: float) -> BitcoinRpc:
        """The same client with another per-call timeout (e.g. for long polls)."""
        return BitcoinRpc(self.url, timeout=timeout, retries=self.retries, peer=self.peer)

    def call(self, method: str, *args: Any) -> Any:
        """Call `method` with positional `args`; return its result or raise `RpcError`."""
        attempt = 0
        while True:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
            try:
                proxy = AuthServiceProxy(self.url, method, timeout=self.timeout,
                                         connection=connection)
                return proxy(*args)
            except JSONRPCException as exc:
                raise RpcError(method, exc.code, str(exc.message), peer=self.peer) from None
            except (ConnectionResetError, BrokenPipeError, http.client.BadStatusLine) as exc:
                # RemoteDisconnected is both a ConnectionResetError and a BadStatusLine.
                attempt += 1
                if attempt > self.retries:
                    raise RpcConnectionError(
                        method, "lost", f"connection to {self.peer} lost ({exc!r}) "
                        f"after {attempt} attempts", peer=self.peer) from None
            except ConnectionRefusedError:
                raise RpcConnectionError(method, "refused", f"connection refused by {self.peer}: "
                                         "is the chain backend running?", peer=self.peer) from None
            except TimeoutError:
                raise RpcConnectionError(method, "timeout", f"no answer from {self.peer} within "
                                         f"{self.timeout:g}s", peer=self.peer) from None
            except OSError as exc:
                raise RpcConnectionError(method, "os", f"cannot talk to {self.peer}: {exc}",
                                         peer=self.peer) from None
            finally:
                connection.close()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)

        def method(*args: Any) -> Any:
            return self.call(name, *args)

        method.__name__ = name
        return method

    def __repr__(self) -> str:
        return f"<BitcoinRpc {self._redact(self.url)} timeout={self.timeout:g}s>"
