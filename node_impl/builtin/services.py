"""The narrow interface every subsystem above the network sees: the node's services.

Layer: services, between (core, wire, keys, tx, net, chain) below and (channel, gossip,
payments, rpc) above. Imports only those lower layers.

The composition root (node.py) builds one `Services` and hands it to each subsystem; a
subsystem never sees the `Node`, nor another subsystem's manager: what it needs of another
subsystem comes as a narrow interface of its own (channel/ops.py) or as events
(core/events.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from .chain.wallet import Wallet
from .chain.watcher import ChainClient
from .core.config import Config
from .core.events import EventBus
from .core.jsonrpc import RpcRegistry
from .core.storage import Storage
from .net.peers import PeerManager


@dataclass(frozen=True)
class Identity:
    """Who this node is: keys derived from its seed, and how it names itself."""

    seed: bytes
    node_privkey: bytes
    node_id: bytes
    alias: str
    color: str
    network: str
    genesis_hash: str


@dataclass(frozen=True)
class Services:
    """Identity, configuration, storage, chain, wallet, peers, RPC table, events, tasks."""

    identity: Identity
    config: Config
    db: Storage
    chain: ChainClient
    wallet: Wallet
    peers: PeerManager
    rpc: RpcRegistry
    events: EventBus
    _blockheight: Callable[[], int]
    _spawn: Callable[[Coroutine[Any, Any, Any], str], asyncio.Task[Any]]

    @property
    def blockheight(self) -> int:
        """Height of the last block the node processed (0 before the first)."""
        return self._blockheight()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run a background task, cancelled at stop; a crash is logged with its traceback."""
        return self._spawn(coro, name)
