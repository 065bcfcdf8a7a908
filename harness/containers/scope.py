"""`ContainerScope`: the containers, network and volumes of one test, removed together.

Everything a scope makes carries two labels: `lnharness.scope` (its id) and
`lnharness.owner` (host name, process id and process start time of the Python process that
made it). `close()` removes what carries the scope's label. What a crashed or interrupted
run left behind is removed by the next scope made on the same host (`sweep_leftovers`):
anything whose owner process is gone. Scopes of other live processes (pytest-xdist
workers, another run) and of other hosts sharing a remote engine are left alone.
"""
from __future__ import annotations

import os
import re
import secrets
import socket
import threading

from lnharness.containers.engine import Engine

LABEL_SCOPE = "lnharness.scope"
LABEL_OWNER = "lnharness.owner"
LABEL_NAME = "lnharness.name"
PREFIX = "lnh"
_swept: set[str] = set()  # engines this process has swept
_sweep_lock = threading.Lock()


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ('' where /proc cannot say)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def owner_label() -> str:
    """`host/pid/start` naming this process, unlike any earlier process with the same pid."""
    pid = os.getpid()
    return f"{socket.gethostname()}/{pid}/{_start_time(pid)}"


def owner_alive(owner: str) -> bool:
    """Whether the process an owner label names still runs (True for another host's)."""
    host, _, rest = owner.partition("/")
    pid_text, _, start = rest.partition("/")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    return not start or _start_time(pid) == start


def sweep_leftovers(engine: Engine) -> list[str]:
    """Remove the containers, networks and volumes whose owner process is gone; their names."""
    removed = []
    for container in engine.containers(LABEL_OWNER):
        if not owner_alive(container["Labels"][LABEL_OWNER]):
            engine.remove(container["Id"])
            removed.append("container " + container["Names"][0].lstrip("/"))
    for volume in engine.volumes(LABEL_OWNER):
        if not owner_alive(volume["Labels"][LABEL_OWNER]):
            engine.remove_volume(volume["Name"])
            removed.append("volume " + volume["Name"])
    for network in engine.networks(LABEL_OWNER):
        if not owner_alive(network["Labels"][LABEL_OWNER]):
            engine.remove_network(network["Id"])
            removed.append("network " + network["Name"])
    return removed


def dns_name(text: str) -> str:
    """`text` as a DNS label (container names and network aliases)."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:40] or "x"


class ContainerScope:
    """The containers of one test on one engine, on a network of their own.

    The network (`lnh-<id>`) is made when the first container needs it; containers reach
    each other there by their aliases. The first scope of a process on an engine sweeps
    the leftovers of dead processes.
    """

    def __init__(self, engine: Engine, *, publish_host: str = "127.0.0.1"):
        self.engine = engine
        #: where the containers' ports are published, and where the harness reaches them
        self.publish_host = publish_host
        self.id = secrets.token_hex(5)
        self.labels = {LABEL_SCOPE: self.id, LABEL_OWNER: owner_label()}
        self.network = f"{PREFIX}-{self.id}"
        self.swept: list[str] = []
        self._network_id: str | None = None
        self._lock = threading.Lock()
        with _sweep_lock:
            if engine.host not in _swept:
                _swept.add(engine.host)
                self.swept = sweep_leftovers(engine)

    def __repr__(self) -> str:
        return f"<ContainerScope {self.id} on {self.engine.host}>"

    def container_name(self, name: str) -> str:
        """The engine-wide name of this scope's container `name`."""
        return f"{PREFIX}-{self.id}-{dns_name(name)}"

    def ensure_network(self) -> str:
        """The scope's network name, created on first use."""
        with self._lock:
            if self._network_id is None:
                self._network_id = self.engine.create_network(self.network, self.labels)
        return self.network

    def close(self) -> None:
        """Remove every container, volume and the network of this scope (idempotent)."""
        label = f"{LABEL_SCOPE}={self.id}"
        for container in self.engine.containers(label):
            self.engine.remove(container["Id"])
        for volume in self.engine.volumes(label):
            self.engine.remove_volume(volume["Name"])
        for network in self.engine.networks(label):
            self.engine.remove_network(network["Id"])
        self._network_id = None
