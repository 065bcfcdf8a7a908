"""Transitional: the node-wide view the channel, gossip and payments subsystems still read.

Layer: services (beside services.py). Imports services and lower layers only.

Those subsystems are being moved (in their own branches) to take `Services` and narrow
interfaces instead of the node; until they are, they keep reading `self.node.<name>`, and
the composition root (node.py) hands them a `SubsystemHost` rather than the `Node`: the
node's services, its identity, its listening address and the three subsystems themselves,
nothing else (no watcher, no RPC server, no stop). Delete this module once ChannelManager,
GossipManager and InvoiceStore take `Services`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from .chain.wallet import Wallet
from .chain.watcher import ChainClient
from .core.config import Config
from .core.events import EventBus
from .core.jsonrpc import RpcRegistry
from .core.storage import Storage
from .net.peers import PeerManager
from .services import Services


class SubsystemHost:
    """`Services` plus identity shortcuts and the subsystems that still call each other.

    `channels`, `gossip` and `invoices` are set by the composition root right after it built
    them (they are typed `Any`: their types live in layers above this one)."""

    def __init__(self, services: Services,
                 listen_address: Callable[[], tuple[str, int] | None]) -> None:
        self._services = services
        self._listen_address = listen_address
        self.channels: Any = None
        self.gossip: Any = None
        self.invoices: Any = None

    # ---- services
    @property
    def config(self) -> Config:
        return self._services.config

    @property
    def db(self) -> Storage:
        return self._services.db

    @property
    def chain(self) -> ChainClient:
        return self._services.chain

    @property
    def wallet(self) -> Wallet:
        return self._services.wallet

    @property
    def peers(self) -> PeerManager:
        return self._services.peers

    @property
    def rpc(self) -> RpcRegistry:
        return self._services.rpc

    @property
    def events(self) -> EventBus:
        return self._services.events

    @property
    def blockheight(self) -> int:
        """Height of the last block the node processed (0 before the first)."""
        return self._services.blockheight

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run a background task, cancelled at stop; a crash is logged with its traceback."""
        return self._services.spawn(coro, name)

    # ---- identity
    @property
    def seed(self) -> bytes:
        return self._services.identity.seed

    @property
    def node_privkey(self) -> bytes:
        return self._services.identity.node_privkey

    @property
    def node_id(self) -> bytes:
        return self._services.identity.node_id

    @property
    def alias(self) -> str:
        return self._services.identity.alias

    @property
    def color(self) -> str:
        return self._services.identity.color

    @property
    def network(self) -> str:
        return self._services.identity.network

    @property
    def genesis_hash(self) -> str:
        return self._services.identity.genesis_hash

    # ---- the running node
    @property
    def listen_address(self) -> tuple[str, int] | None:
        """Where we accept peers (None before listening or without --addr)."""
        return self._listen_address()
