"""The Docker backend (Bitcoin Core in a container): reports why it cannot run yet."""
from __future__ import annotations

import http.client
import os
import socket
from pathlib import Path
from typing import Any

from lnharness.backend import ChainBackend
from lnharness.errors import UnavailableError

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
NOT_IMPLEMENTED = "docker backend: starting bitcoind in a container is not implemented yet"


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def docker_host() -> str:
    """`DOCKER_HOST` (read now) or the default engine socket."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


def engine_reachable(timeout: float = 3.0) -> tuple[bool, str]:
    """Ping the Docker engine (docker SDK if installed, else its HTTP API); (ok, detail)."""
    host = docker_host()
    sdk: Any
    try:
        import docker as sdk  # optional extra `lnharness[docker]`
    except ImportError:
        sdk = None
    if sdk is not None and hasattr(sdk, "DockerClient"):  # not the repo's docker/ folder
        try:
            sdk.DockerClient(base_url=host, timeout=int(max(timeout, 1))).ping()
        except Exception as exc:  # the SDK raises many types; all mean "not reachable"
            return False, f"no Docker engine reachable at {host}: {exc}"
        return True, f"Docker engine at {host}"
    try:
        if host.startswith("unix://"):
            conn: http.client.HTTPConnection = _UnixHTTPConnection(host[len("unix://"):], timeout)
        elif host.startswith("tcp://"):
            hostport = host[len("tcp://"):]
            conn = http.client.HTTPConnection(hostport, timeout=timeout)
        else:
            return False, f"no Docker engine reachable at {host}: unsupported DOCKER_HOST scheme"
        try:
            conn.request("GET", "/_ping")
            status = conn.getresponse().status
        finally:
            conn.close()
    except OSError as exc:
        return False, f"no Docker engine reachable at {host}: {exc.strerror or exc}"
    if status != 200:
        return False, f"no Docker engine reachable at {host}: /_ping answered HTTP {status}"
    return True, f"Docker engine at {host} (docker SDK not installed: pip install lnharness[docker])"


class DockerBackend(ChainBackend):
    """Placeholder until the docker issue: always unavailable, with the reason."""

    name = "docker"

    @classmethod
    def available(cls) -> tuple[bool, str]:
        ok, detail = engine_reachable()
        if not ok:
            return False, f"docker backend: {detail}"
        return False, f"{NOT_IMPLEMENTED} ({detail})"

    def __init__(self, directory: Path | str, **options: object):
        raise UnavailableError(f"chain backend 'docker' is unavailable: {self.available()[1]}")

    def _command(self) -> list[str]:
        raise UnavailableError(NOT_IMPLEMENTED)

    def replace_blocks(self, height: int, block_txs: list[list[str]], address: str) -> list[str]:
        raise UnavailableError(NOT_IMPLEMENTED)
