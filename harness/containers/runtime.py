"""The container runtime: every Lightning node of a test in its own container.

Nodes join the scope of the test's chain (the `docker` chain backend's), so they share its
private network: they reach the chain as `chain:<port>`, each other by their names, and the
fault proxies of links in a proxy container there. A node listens on every address of its
container; its ports are published on the scope's publish host (`LNH_DOCKER_PUBLISH_HOST`,
default 127.0.0.1) under the same numbers, where the harness reaches them. Its directory
is bind-mounted at the same path, so its command line is the one a process would get,
except the program (the image's) and the addresses.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lnharness.containers.daemon import ContainerDaemon
from lnharness.containers.engine import Engine, EngineError
from lnharness.containers.images import BUILD_ENV, BUILD_HINT, Images
from lnharness.containers.proxyd import READY_REGEX, RemoteProxy, control_call
from lnharness.containers.scope import ContainerScope, dns_name
from lnharness.errors import UnavailableError
from lnharness.ports import release_port, reserve_port
from lnharness.proc import Daemon
from lnharness.runtime import DOCKER, FaultProxyControl, NodeRuntime, ProxyHost

if TYPE_CHECKING:
    from lnharness.chain import Chain

ANY = "0.0.0.0"
PROXY_NAME = "fault-proxies"


def publish_host() -> str:
    """Where containers' ports are published and reached: `LNH_DOCKER_PUBLISH_HOST` (read
    now) or 127.0.0.1. With a remote engine (`DOCKER_HOST`), an address of that machine
    this one can reach."""
    return os.environ.get("LNH_DOCKER_PUBLISH_HOST") or "127.0.0.1"


def docker_available(image: str) -> tuple[bool, str]:
    """Whether image `image` can run here: the engine answers, has the base image, and the
    image is built or can be (it is built at first use); (ok, what or why not)."""
    try:
        engine = Engine()
        engine.ping()
        images = Images(engine)
        images.require_base()
        reference = images.reference(image)
        built = engine.image(reference) is not None
    except (EngineError, UnavailableError) as exc:
        return False, str(exc)
    if not built and not images.build_missing:
        return False, f"{reference} is not built ({BUILD_ENV}=0): {BUILD_HINT}"
    state = "built" if built else "built at first use"
    return True, f"{reference} ({state}) on the engine at {engine.host}"


class DockerRuntime(NodeRuntime):
    """Nodes in containers of `scope` (the chain's), reaching the chain at `chain_address`."""

    name = DOCKER
    bind_host = ANY

    def __init__(self, scope: ContainerScope, chain_address: tuple[str, int], *,
                 directory: Path):
        self.scope = scope
        #: where the runtime's own logs go (the proxy container's): the test's directory
        self.directory = Path(directory)
        self.reach_host = scope.publish_host
        self.on_this_machine = scope.engine.host.startswith("unix://")
        self._chain_address = chain_address
        self._images = Images(scope.engine)
        self._proxies: ContainerProxies | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_chain(cls, chain: Chain) -> DockerRuntime:
        """The runtime of nodes on `chain`, which must run in a container (`--lnh-chain=docker`)."""
        scope = chain.backend.scope
        if scope is None:
            raise UnavailableError(f"nodes in containers need the chain in a container too "
                                   f"(--lnh-chain=docker), not {chain.name!r}")
        return cls(scope, chain.backend.container_address(), directory=chain.backend.directory)

    def require_image(self, image: str) -> str:
        """The reference of `image`, built now if needed; `UnavailableError` with the reason."""
        try:
            return self._images.ensure(image)
        except EngineError as exc:
            raise UnavailableError(f"image {image}: {exc}") from None

    def peer_host(self, node_name: str) -> str:
        return dns_name(node_name)

    def chain_address(self, chain: Chain) -> tuple[str, int]:
        return self._chain_address

    def program(self, here: str, in_image: str) -> str:
        return in_image

    def daemon(self, name: str, cmd: list[str], *, image: str | None, log_path: Path,
               cwd: Path | None = None, env: Mapping[str, str] | None = None,
               ready_regex: str | None = None, ports: Sequence[int] = (),
               mounts: Sequence[Path] = (), fork_preload: Sequence[str] | None = None) -> Daemon:
        # env and fork_preload are for processes: the image sets the environment, and a
        # container is never forked from this machine's fork server
        if image is None:
            raise UnavailableError(f"{name}: its adapter names no image to run it in")
        return ContainerDaemon(name, cmd, scope=self.scope, image=self.require_image(image),
                               log_path=log_path, cwd=cwd, ready_regex=ready_regex,
                               ports=ports, mounts=mounts, alias=self.peer_host(name))

    def proxy_host(self, name: str) -> ProxyHost:
        with self._lock:
            if self._proxies is None:
                self._proxies = ContainerProxies(self)
        return ContainerProxyHost(self._proxies)

    def close(self) -> None:
        with self._lock:
            if self._proxies is not None:
                self._proxies.close()
                self._proxies = None


class ContainerProxies:
    """The proxy container of a runtime (one for all its links), started at first use."""

    def __init__(self, runtime: DockerRuntime):
        scope = runtime.scope
        self.port = reserve_port()
        self.daemon = ContainerDaemon(
            PROXY_NAME, ["python", "-m", "lnharness.containers.proxyd",
                         f"--control-port={self.port}"],
            scope=scope, image=runtime.require_image("python"),
            log_path=runtime.directory / f"{PROXY_NAME}.log",
            ready_regex=READY_REGEX, ports=[self.port], alias=dns_name(PROXY_NAME))
        self.daemon.start()
        self.control = (runtime.reach_host, self.port)

    def close(self) -> None:
        try:
            self.daemon.kill()
        finally:
            release_port(self.port)


class ContainerProxyHost(ProxyHost):
    """The proxies of one link, in the runtime's proxy container."""

    def __init__(self, proxies: ContainerProxies):
        self._proxies = proxies
        self._opened: list[RemoteProxy] = []

    def open(self, target: tuple[str, int]) -> tuple[FaultProxyControl, tuple[str, int]]:
        answer = control_call(self._proxies.control, {"op": "open", "target": list(target)})
        proxy = RemoteProxy(self._proxies.control, int(answer["id"]))
        self._opened.append(proxy)
        return proxy, (self._proxies.daemon.alias, int(answer["port"]))

    def close(self) -> None:
        opened, self._opened = self._opened, []
        for proxy in opened:
            if self._proxies.daemon.is_running():
                proxy.close()
