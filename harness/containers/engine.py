"""A small client of the Docker engine's HTTP API (the calls lnharness needs, nothing more).

The engine is `DOCKER_HOST` (read when an `Engine` is made) or the default socket:
`unix:///path`, or `tcp://host:port` (HTTPS with the client certificate of
`DOCKER_CERT_PATH` when `DOCKER_TLS_VERIFY` is set, as the docker CLI does). Paths carry no
API version: the engine answers in its own current version. One connection per request, so
an `Engine` may be shared between threads.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlencode

from lnharness.errors import LnhError

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
DEFAULT_TIMEOUT_S = 60.0
#: how long a build, an import or a pull may stream before we give up on the engine
LONG_TIMEOUT_S = 3600.0


class EngineError(LnhError):
    """The engine could not be reached, or answered an error; `status` is the HTTP status
    (None when it could not be reached)."""

    def __init__(self, message: str, *, status: int | None = None):
        self.status = status
        super().__init__(message)


def docker_host() -> str:
    """`DOCKER_HOST` (read now) or the default engine socket."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _tls_context() -> ssl.SSLContext:
    certs = Path(os.environ.get("DOCKER_CERT_PATH") or Path.home() / ".docker")
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    context.load_cert_chain(str(certs / "cert.pem"), str(certs / "key.pem"))
    return context


class Engine:
    """The Docker engine at `host` (default: `docker_host()`)."""

    def __init__(self, host: str | None = None):
        self.host = host or docker_host()
        if not self.host.startswith(("unix://", "tcp://")):
            raise EngineError(f"DOCKER_HOST={self.host!r}: lnharness talks to unix:// and tcp:// "
                              "engines only (for ssh://, forward the engine's socket and use that)")

    def __repr__(self) -> str:
        return f"<Engine {self.host}>"

    # -- transport -------------------------------------------------------------------------
    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self.host.startswith("unix://"):
            return _UnixHTTPConnection(self.host[len("unix://"):], timeout)
        hostport = self.host[len("tcp://"):].rstrip("/")
        if os.environ.get("DOCKER_TLS_VERIFY"):
            return http.client.HTTPSConnection(hostport, timeout=timeout, context=_tls_context())
        return http.client.HTTPConnection(hostport, timeout=timeout)

    def _send(self, method: str, path: str, *, params: dict[str, Any] | None = None,
              body: Any = None, data: IO[bytes] | bytes | None = None, size: int | None = None,
              content_type: str = "application/json",
              timeout: float = DEFAULT_TIMEOUT_S) -> tuple[http.client.HTTPConnection,
                                                           http.client.HTTPResponse]:
        query = {k: (json.dumps(v) if isinstance(v, (dict, list)) else v)
                 for k, v in (params or {}).items() if v is not None}
        target = path + ("?" + urlencode(query) if query else "")
        headers = {"Host": "docker"}
        payload: Any = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif data is not None:
            payload = data
            headers["Content-Type"] = content_type
            headers["Content-Length"] = str(size if size is not None else len(data))  # type: ignore[arg-type]
        conn = self._connection(timeout)
        try:
            conn.request(method, target, body=payload, headers=headers)
            response = conn.getresponse()
        except OSError as exc:
            conn.close()
            raise EngineError(f"no Docker engine reachable at {self.host}: "
                              f"{exc.strerror or exc}") from None
        except http.client.HTTPException as exc:
            conn.close()
            raise EngineError(f"Docker engine at {self.host}: {method} {path}: {exc!r}") from None
        if response.status >= 400:
            raw = response.read()
            conn.close()
            try:
                message = json.loads(raw).get("message", "")
            except ValueError:
                message = raw.decode("utf-8", "replace").strip()
            raise EngineError(f"Docker engine: {method} {path} answered HTTP {response.status}: "
                              f"{message}", status=response.status)
        return conn, response

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
             body: Any = None, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
        """One request; the decoded JSON answer (None for an empty one)."""
        conn, response = self._send(method, path, params=params, body=body, timeout=timeout)
        try:
            raw = response.read()
        finally:
            conn.close()
        return json.loads(raw) if raw.strip() else None

    def stream(self, method: str, path: str, *, params: dict[str, Any] | None = None,
               data: IO[bytes] | bytes | None = None, size: int | None = None,
               content_type: str = "application/x-tar",
               timeout: float = LONG_TIMEOUT_S) -> Iterator[dict[str, Any]]:
        """A request whose answer is a stream of JSON objects (build, import, pull progress).
        An object with an `error` ends it with an `EngineError`."""
        conn, response = self._send(method, path, params=params, data=data, size=size,
                                    content_type=content_type, timeout=timeout)
        decoder = json.JSONDecoder()
        try:
            buffer = ""
            while chunk := response.read1(65536):
                buffer += chunk.decode("utf-8", "replace")
                while True:
                    buffer = buffer.lstrip()
                    if not buffer:
                        break
                    try:
                        item, end = decoder.raw_decode(buffer)
                    except ValueError:
                        break  # an object cut in two: wait for the rest
                    buffer = buffer[end:]
                    if isinstance(item, dict) and item.get("error"):
                        raise EngineError(f"Docker engine: {path}: {item['error']}".rstrip())
                    yield item
        finally:
            conn.close()

    # -- engine ----------------------------------------------------------------------------
    def ping(self, timeout: float = 3.0) -> None:
        """Raise `EngineError` unless the engine answers `/_ping`."""
        conn, response = self._send("GET", "/_ping", timeout=timeout)
        response.read()
        conn.close()

    def version(self) -> dict[str, Any]:
        return dict(self.call("GET", "/version"))

    # -- images ----------------------------------------------------------------------------
    def image(self, reference: str) -> dict[str, Any] | None:
        """The image's inspection, or None if the engine does not have it."""
        try:
            return dict(self.call("GET", f"/images/{quote(reference, safe='')}/json"))
        except EngineError as exc:
            if exc.status == 404:
                return None
            raise

    def images(self, reference: str) -> list[dict[str, Any]]:
        """Images whose reference matches `reference` (a pattern such as `lnharness/*`)."""
        return list(self.call("GET", "/images/json",
                              params={"filters": {"reference": [reference]}}) or [])

    def remove_image(self, reference: str) -> None:
        self.call("DELETE", f"/images/{quote(reference, safe='')}")

    # -- containers ------------------------------------------------------------------------
    def create_container(self, name: str, config: dict[str, Any]) -> str:
        """Create a container named `name`; its id."""
        return str(self.call("POST", "/containers/create", params={"name": name},
                             body=config)["Id"])

    def start(self, container: str) -> None:
        self.call("POST", f"/containers/{container}/start")

    def inspect(self, container: str) -> dict[str, Any] | None:
        """The container's inspection, or None if it does not exist (any more)."""
        try:
            return dict(self.call("GET", f"/containers/{container}/json"))
        except EngineError as exc:
            if exc.status == 404:
                return None
            raise

    def stop(self, container: str, timeout_s: int) -> None:
        """SIGTERM (the image's stop signal), SIGKILL after `timeout_s` seconds."""
        try:
            self.call("POST", f"/containers/{container}/stop", params={"t": timeout_s},
                      timeout=timeout_s + DEFAULT_TIMEOUT_S)
        except EngineError as exc:
            if exc.status not in (304, 404):  # already stopped, or gone
                raise

    def kill(self, container: str, signal: str = "SIGKILL") -> None:
        try:
            self.call("POST", f"/containers/{container}/kill", params={"signal": signal})
        except EngineError as exc:
            if exc.status not in (404, 409):  # gone, or not running
                raise

    def wait(self, container: str, timeout: float) -> int:
        """Wait until the container is not running; its exit code."""
        answer = self.call("POST", f"/containers/{container}/wait",
                           params={"condition": "not-running"}, timeout=timeout)
        return int(answer["StatusCode"])

    def remove(self, container: str) -> None:
        """Remove the container (killing it if it runs) and its anonymous volumes."""
        try:
            self.call("DELETE", f"/containers/{container}", params={"force": 1, "v": 1})
        except EngineError as exc:
            if exc.status != 404:
                raise

    def containers(self, label: str) -> list[dict[str, Any]]:
        """Containers (running or not) carrying `label` (`key` or `key=value`)."""
        return list(self.call("GET", "/containers/json",
                              params={"all": 1, "filters": {"label": [label]}}) or [])

    # -- networks and volumes --------------------------------------------------------------
    def create_network(self, name: str, labels: dict[str, str]) -> str:
        answer = self.call("POST", "/networks/create",
                           body={"Name": name, "CheckDuplicate": True, "Labels": labels})
        return str(answer["Id"])

    def remove_network(self, network: str) -> None:
        try:
            self.call("DELETE", f"/networks/{network}")
        except EngineError as exc:
            if exc.status != 404:
                raise

    def networks(self, label: str) -> list[dict[str, Any]]:
        return list(self.call("GET", "/networks", params={"filters": {"label": [label]}}) or [])

    def volumes(self, label: str) -> list[dict[str, Any]]:
        answer = self.call("GET", "/volumes", params={"filters": {"label": [label]}}) or {}
        return list(answer.get("Volumes") or [])

    def remove_volume(self, name: str) -> None:
        try:
            self.call("DELETE", f"/volumes/{name}")
        except EngineError as exc:
            if exc.status != 404:
                raise


def engine_reachable(timeout: float = 3.0) -> tuple[bool, str]:
    """Whether the engine of `DOCKER_HOST` answers; (ok, what or why not)."""
    try:
        engine = Engine()
        engine.ping(timeout)
    except EngineError as exc:
        return False, str(exc)
    return True, f"Docker engine at {engine.host}"
