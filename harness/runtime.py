"""Where a Lightning node's process runs: `NodeRuntime`, and its process form.

Adapters build their command lines from the runtime: the address the node's own sockets
listen on (`bind_host`), where the chain's RPC is (`chain_address`), the program to run
(`program`), and they get their supervised process from `daemon`. The harness reaches a
node's ports at `reach_host`; other nodes dial it at `peer_host`. The process runtime is
this machine's loopback throughout; the container runtime (lnharness.containers.runtime)
runs each node in a container of the test's network.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

from lnharness.ports import release_port, reserve_port
from lnharness.proc import Daemon
from lnharness.proxy import FaultProxy, ProxyCounters, ProxyLoop

if TYPE_CHECKING:
    from lnharness.chain import Chain
    from lnharness.proxy import Mode

LOOPBACK = "127.0.0.1"
PROCESS = "process"
DOCKER = "docker"
RUNTIMES = (PROCESS, DOCKER)


class FaultProxyControl(Protocol):
    """What a fault link asks of one of its proxies (`proxy.FaultProxy` has it)."""

    def set_mode(self, mode: Mode) -> None: ...
    def set_delay(self, delay_s: float) -> None: ...
    def drop_broken(self) -> int: ...
    def counters(self) -> ProxyCounters: ...
    def close(self) -> None: ...


class ProxyHost(ABC):
    """Where the fault proxies of one link run (`faults.Link`)."""

    @abstractmethod
    def open(self, target: tuple[str, int]) -> tuple[FaultProxyControl, tuple[str, int]]:
        """A started proxy forwarding to `target` (as the nodes address it), and the address
        the nodes dial to go through it."""

    @abstractmethod
    def close(self) -> None:
        """Close every proxy opened here (idempotent)."""


class LocalProxyHost(ProxyHost):
    """Proxies in this process, on reserved ports of the loopback (one loop per link)."""

    def __init__(self, name: str):
        self._loop = ProxyLoop(name)
        self._ports: list[int] = []
        self._proxies: list[FaultProxy] = []

    def open(self, target: tuple[str, int]) -> tuple[FaultProxyControl, tuple[str, int]]:
        port = reserve_port(LOOPBACK)
        self._ports.append(port)
        proxy = FaultProxy(self._loop, listen_port=port, listen_host=LOOPBACK, target=target)
        proxy.start()
        self._proxies.append(proxy)
        return proxy, (LOOPBACK, port)

    def close(self) -> None:
        try:
            for proxy in self._proxies:
                proxy.close()
        finally:
            self._proxies = []
            self._loop.close()
            for port in self._ports:
                release_port(port)
            self._ports = []


class NodeRuntime(ABC):
    """Where the Lightning nodes of a test run."""

    name: ClassVar[str]
    #: the address a node's own sockets (peer port, RPC) listen on
    bind_host: str = LOOPBACK
    #: where the harness reaches a node's ports
    reach_host: str = LOOPBACK
    #: whether the node runs on this machine, so a unix socket in its directory is reachable
    #: from here (not on a remote Docker engine)
    on_this_machine: bool = True

    @abstractmethod
    def peer_host(self, node_name: str) -> str:
        """Where other nodes dial the node `node_name`."""

    @abstractmethod
    def chain_address(self, chain: Chain) -> tuple[str, int]:
        """Where a node reaches the chain's JSON-RPC."""

    @abstractmethod
    def program(self, here: str, in_image: str) -> str:
        """The program to run: `here` (a path on this machine), or `in_image`'s name in an
        image."""

    @abstractmethod
    def daemon(self, name: str, cmd: list[str], *, image: str | None, log_path: Path,
               cwd: Path | None = None, env: Mapping[str, str] | None = None,
               ready_regex: str | None = None, ports: Sequence[int] = (),
               mounts: Sequence[Path] = (), fork_preload: Sequence[str] | None = None) -> Daemon:
        """The supervised process of node `name`. `image` names the lnharness image it runs
        in; `env` is the environment of a process and `fork_preload` what the fork server
        imports for it (`proc.Daemon`) (each for processes only: a container never comes from
        the fork server); `ports` are the ones the harness reaches, `mounts` the directories
        and files of this machine its command line names."""

    def proxy_host(self, name: str) -> ProxyHost:
        """Where the fault proxies of the link `name` run."""
        return LocalProxyHost(name)

    def close(self) -> None:  # noqa: B027 - most runtimes hold nothing
        """Release what the runtime holds (called once its nodes are stopped)."""


class ProcessRuntime(NodeRuntime):
    """Every node a process of this machine, on the loopback (the default)."""

    name = PROCESS

    def peer_host(self, node_name: str) -> str:
        return LOOPBACK

    def chain_address(self, chain: Chain) -> tuple[str, int]:
        return chain.rpchost, chain.rpc_port

    def program(self, here: str, in_image: str) -> str:
        return here

    def daemon(self, name: str, cmd: list[str], *, image: str | None, log_path: Path,
               cwd: Path | None = None, env: Mapping[str, str] | None = None,
               ready_regex: str | None = None, ports: Sequence[int] = (),
               mounts: Sequence[Path] = (), fork_preload: Sequence[str] | None = None) -> Daemon:
        return Daemon(name, cmd, log_path=log_path, cwd=cwd, env=env, ready_regex=ready_regex,
                      fork_preload=fork_preload)


#: the runtime of nodes made without one
PROCESS_RUNTIME = ProcessRuntime()
