"""Port reservation safe across threads, processes and pytest-xdist workers.

A port is drawn at random from below the kernel's ephemeral range (as Bitcoin Core's test
framework does), checked free, and claimed with an exclusive `flock` on a per-port file in
a shared lock directory. The lock lives as long as this process holds it, so a port is
never handed out twice while its owner lives, and a crashed owner frees its ports
automatically. The kernel never picks a port outside its ephemeral range by itself, so no
outgoing connection of a daemon here, and no listener a container engine opens inside a
container on a port of its own choosing (Docker's embedded DNS), can take a reserved port
before its daemon binds it. Where no such range is left (the ephemeral range spans nearly
every port), `ephemeral_port_reserve` picks one as before.
"""
from __future__ import annotations

import errno
import fcntl
import os
import random
import socket
import sys
import tempfile
import threading
from pathlib import Path

import ephemeral_port_reserve
from lnharness.errors import PortError

_MAX_ATTEMPTS = 200
#: the lowest port drawn: below it sit many services' well-known ports
PORT_FLOOR = 10000
#: fewer free ports than this outside the ephemeral range: let the kernel pick instead
MIN_RANGE = 1000
#: the IANA dynamic range, the ephemeral range of macOS and Windows
DYNAMIC_RANGE = (49152, 65535)
_LINUX_RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"
_held: dict[int, int] = {}  # port -> fd of its lock file
_lock = threading.Lock()


def lock_dir() -> Path:
    """Directory of the per-port lock files: `LNH_PORT_LOCK_DIR` or a per-user temp dir."""
    configured = os.environ.get("LNH_PORT_LOCK_DIR")
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / f"lnharness-ports-{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _try_claim(port: int, directory: Path) -> bool:
    fd = os.open(directory / str(port), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    _held[port] = fd
    return True


def ephemeral_range() -> tuple[int, int]:
    """The kernel's ephemeral port range (first, last): Linux's, else the IANA dynamic range."""
    if sys.platform.startswith("linux"):
        try:
            first, last = Path(_LINUX_RANGE_FILE).read_text().split()
            return int(first), int(last)
        except (OSError, ValueError):
            pass
    return DYNAMIC_RANGE


def drawing_range() -> tuple[int, int] | None:
    """The ports drawn from (first, last): the larger span outside the ephemeral range and
    above `PORT_FLOOR`, or None where that leaves fewer than `MIN_RANGE` ports."""
    first, last = ephemeral_range()
    below, above = (PORT_FLOOR, first - 1), (max(PORT_FLOOR, last + 1), 65535)
    span = max(below, above, key=lambda r: r[1] - r[0])
    return span if span[1] - span[0] + 1 >= MIN_RANGE else None


def _is_free(host: str, port: int) -> bool:
    """Whether nothing holds `port` on `host` or on every address (no SO_REUSEADDR: a port
    still in TIME_WAIT counts as taken)."""
    for address in dict.fromkeys((host, "0.0.0.0")):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((address, port))
            except OSError:
                return False
    return True


def _candidate(host: str, span: tuple[int, int] | None) -> int | None:
    """A port to try: one drawn from `span` if it is free (else None), or the kernel's pick
    where there is no span (see `drawing_range`)."""
    if span is None:
        return int(ephemeral_port_reserve.reserve(host))
    port = random.randint(*span)
    return port if _is_free(host, port) else None


def reserve_port(host: str = "127.0.0.1") -> int:
    """Return a free TCP port on `host` that no other live lnharness process holds."""
    directory, span = lock_dir(), drawing_range()
    with _lock:
        for _ in range(_MAX_ATTEMPTS):
            port = _candidate(host, span)
            if port is None or port in _held:
                continue
            if _try_claim(port, directory):
                return port
    raise PortError(f"could not reserve a free port on {host} after {_MAX_ATTEMPTS} attempts "
                    f"(lock directory {directory})")


def release_port(port: int) -> None:
    """Give back a port from `reserve_port`; releasing an unknown port is an error."""
    with _lock:
        fd = _held.pop(port, None)
    if fd is None:
        raise PortError(f"port {port} was not reserved by this process")
    os.close(fd)


def held_ports() -> set[int]:
    """Ports this process holds right now."""
    with _lock:
        return set(_held)


def ensure_port_free(port: int, host: str = "127.0.0.1") -> None:
    """Raise `PortError` naming the port if something already listens on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortError(f"port {port} on {host} is already in use ({exc.strerror})") from None


class PortBlock:
    """Ports kept from `reserve_port` in every lnharness process (a shared lock on each
    port's lock file) until `release`: a restored network's nodes may redial their peers at
    the ports stored when its snapshot was saved, and no other copy of those peers (same
    node ids, same channels) may ever listen there. A port another live process holds right
    now cannot be blocked and is left out of `ports` (no copy can be listening there)."""

    def __init__(self, ports: list[int], fds: list[int]):
        self.ports = ports
        self._fds = fds

    def release(self) -> None:
        """Let the ports be reserved again (idempotent)."""
        fds, self._fds = self._fds, []
        for fd in fds:
            os.close(fd)


def block_ports(ports: list[int]) -> PortBlock:
    """Keep `ports` from being reserved while the returned `PortBlock` lives (see there)."""
    directory = lock_dir()
    blocked, fds = [], []
    for port in ports:
        fd = os.open(directory / str(port), os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                continue
            raise
        blocked.append(port)
        fds.append(fd)
    return PortBlock(blocked, fds)
