"""The `docker` chain backend: the regtest chain in a container of the test's scope.

Bitcoin Core (the `bitcoind` image) when a bitcoind binary is found here (`LNH_BITCOIND` or
PATH), else the embedded chain (the `python` image). Its RPC port is published on the
scope's publish host (127.0.0.1 by default), under the same number it has inside, so the
harness and process nodes reach it as any chain; nodes in containers of the same scope
reach it as `chain:<port>` on the scope's network (`container_address`). The datadir is a
bind mount, so the chain's files are in the test's directory as for the other backends.
"""
from __future__ import annotations

from pathlib import Path

from lnharness.backend import (
    FEATURE_INVALIDATEBLOCK,
    FEATURE_PERSISTENT,
    WALLET_NAME,
    ChainBackend,
)
from lnharness.containers.daemon import ContainerDaemon
from lnharness.containers.engine import Engine
from lnharness.containers.images import Images
from lnharness.containers.runtime import docker_available, publish_host
from lnharness.containers.scope import ContainerScope
from lnharness.errors import UnavailableError
from lnharness.proc import Daemon

from .bitcoind import bitcoind_args, bitcoind_path, replace_by_invalidating
from .embedded import (
    DAEMON_MODULE,
    EmbeddedBackend,
    regtestd_args,
    replace_by_branching,
    write_private_conf,
)

#: the chain's name on the scope's network
ALIAS = "chain"
#: inside the container the RPC serves every address: the network is the scope's own, and
#: the host side of its port is published on the publish host only
ANY = "0.0.0.0"
ANY_NETWORK = "0.0.0.0/0"


def inner_chain() -> str:
    """Which chain runs in the container: `bitcoind` if a binary is found here, else
    `embedded` (read now)."""
    return "bitcoind" if bitcoind_path() else "embedded"


class DockerBackend(ChainBackend):
    """The chain in a container: Bitcoin Core if found here, else the embedded chain."""

    name = "docker"

    def __init__(self, directory: Path | str, *, rpcuser: str = "lnh",
                 rpcpassword: str | None = None, wallet: str = WALLET_NAME,
                 scope: ContainerScope | None = None):
        super().__init__(directory, rpcuser=rpcuser, rpcpassword=rpcpassword, wallet=wallet)
        self.inner = inner_chain()
        self.image_name = "bitcoind" if self.inner == "bitcoind" else "python"
        self.features = (frozenset({FEATURE_INVALIDATEBLOCK, FEATURE_PERSISTENT})
                         if self.inner == "bitcoind" else EmbeddedBackend.features)
        self._own_scope = scope is None
        #: the containers of this chain's test; nodes in containers join it
        self.scope: ContainerScope = scope or ContainerScope(Engine(), publish_host=publish_host())
        self.rpchost = self.scope.publish_host

    @classmethod
    def available(cls) -> tuple[bool, str]:
        ok, detail = docker_available("bitcoind" if inner_chain() == "bitcoind" else "python")
        if not ok:
            return False, f"docker backend: {detail}"
        return True, f"{inner_chain()} in a container; {detail}"

    def container_address(self) -> tuple[str, int]:
        """Where containers of the scope reach the chain's RPC."""
        return ALIAS, self.rpc_port

    def _command(self) -> list[str]:
        if self.inner == "bitcoind":
            return ["bitcoind", *bitcoind_args(self, rpcbind=ANY, rpcallowip=ANY_NETWORK)]
        return ["python", "-m", DAEMON_MODULE, *regtestd_args(self, rpcallowip=ANY_NETWORK)]

    def write_conf(self) -> Path:
        return write_private_conf(self)

    @property
    def daemon(self) -> Daemon:
        if self._daemon is None:
            try:
                image = Images(self.scope.engine).ensure(self.image_name)
            except UnavailableError as exc:
                raise UnavailableError(f"chain backend 'docker': {exc}") from None
            self.datadir.mkdir(parents=True, exist_ok=True)
            self._daemon = ContainerDaemon(
                f"chain-{self.name}", self._command(), scope=self.scope, image=image,
                log_path=self.log_path, cwd=self.datadir, ready_regex=self._ready_regex(),
                ports=[self.rpc_port], mounts=[self.datadir], alias=ALIAS)
        return self._daemon

    def replace_blocks(self, height: int, block_txs: list[list[str]], address: str) -> list[str]:
        if self.inner == "bitcoind":
            return replace_by_invalidating(self.node_rpc, height, block_txs, address)
        return replace_by_branching(self.node_rpc, height, block_txs, address)

    def close(self) -> None:
        """Stop the chain, give back its ports, and remove the scope's containers and
        network if this backend made the scope."""
        try:
            super().close()
        finally:
            if self._own_scope:
                self.scope.close()

    def __repr__(self) -> str:
        return (f"<DockerBackend {self.inner} in {self.scope.container_name(ALIAS)} "
                f"rpc={self.rpchost}:{self.rpc_port}>")
