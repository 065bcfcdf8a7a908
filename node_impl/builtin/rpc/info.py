"""RPC methods about the node itself (Core Lightning's names and result shapes): getinfo,
help, stop, dev-memleak.

Layer: rpc. Imports core, wire, net, services (the node's identity) and rpc only; what it
reads of the chain, the channels and the running node comes as narrow arguments (callables
for what changes while the node runs).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ..core.jsonrpc import METHOD_NOT_FOUND, RpcError, RpcRegistry
from ..net.peers import PeerManager
from ..services import Identity
from ..wire import bolt11
from .invoices import feature_hex
from .peers import ChannelTable, listed_peer_ids

VERSION = "lnharness-builtin-0.1"


class ChannelSummary(ChannelTable, Protocol):
    """What getinfo reads of the channel subsystem."""

    def num_active_channels(self) -> int: ...


class InfoMethods:
    """getinfo, help, stop."""

    def __init__(self, registry: RpcRegistry, *, identity: Identity, lightning_dir: Path,
                 peers: PeerManager, channels: ChannelSummary, blockheight: Callable[[], int],
                 listen_address: Callable[[], tuple[str, int] | None], chain_configured: bool,
                 chain_synced: Callable[[], bool], request_stop: Callable[[], None]) -> None:
        self._registry = registry
        self._identity = identity
        self._lightning_dir = lightning_dir
        self._peers = peers
        self._channels = channels
        self._blockheight = blockheight
        self._listen_address = listen_address
        self._chain_configured = chain_configured
        self._chain_synced = chain_synced
        self._request_stop = request_stop

    async def getinfo(self) -> dict[str, Any]:
        """Summary of this node."""
        me = self._identity
        info: dict[str, Any] = {
            "id": me.node_id.hex(), "alias": me.alias, "color": me.color,
            # as Core Lightning: peers connected or with channels
            "num_peers": len(listed_peer_ids(self._peers, self._channels)),
            "num_active_channels": self._channels.num_active_channels(),
            "blockheight": self._blockheight(), "network": me.network,
            "address": [], "binding": [],
            "version": VERSION, "lightning-dir": str(self._lightning_dir),
            "our_features": {"init": self._peers.our_features.to_bytes().hex(),
                             "invoice": feature_hex(bolt11.DEFAULT_INVOICE_FEATURES)},
        }
        listen_address = self._listen_address()
        if listen_address:
            host, port = listen_address
            info["binding"].append({"type": "ipv4", "address": host, "port": port})
            info["address"].append({"type": "ipv4", "address": host, "port": port})
        if not self._chain_configured:
            info["warning_bitcoind_sync"] = "No chain backend configured."
        elif not self._chain_synced():
            info["warning_lightningd_sync"] = "Still loading latest blocks from bitcoind."
        return info

    async def stop(self) -> str:
        """Shut the node down gracefully."""
        asyncio.get_running_loop().call_soon(self._request_stop)
        return "Shutdown complete"

    async def dev_memleak(self) -> dict[str, Any]:
        """Core Lightning's leak report, from Python's garbage collector run now: the objects it
        found unreachable and could not free (`gc.garbage`), each as `{value, label}`."""
        gc.collect()
        return {"leaks": [{"value": hex(id(obj)), "label": type(obj).__qualname__}
                          for obj in gc.garbage]}

    async def help(self, command: Any = None) -> dict[str, Any]:
        """Commands this node offers."""
        names = self._registry.names()
        if command is not None:
            if command not in names:
                raise RpcError(METHOD_NOT_FOUND, f"Unknown command '{command}'")
            names = [command]
        return {"help": [{"command": self._registry.usage(n),
                          "description": self._registry.description(n)} for n in names]}


def register(registry: RpcRegistry, *, identity: Identity, lightning_dir: Path,
             peers: PeerManager, channels: ChannelSummary, blockheight: Callable[[], int],
             listen_address: Callable[[], tuple[str, int] | None], chain_configured: bool,
             chain_synced: Callable[[], bool], request_stop: Callable[[], None]) -> None:
    """Add getinfo, help and stop to `registry`."""
    methods = InfoMethods(registry, identity=identity, lightning_dir=lightning_dir, peers=peers,
                          channels=channels, blockheight=blockheight, listen_address=listen_address,
                          chain_configured=chain_configured, chain_synced=chain_synced,
                          request_stop=request_stop)
    for handler in (methods.getinfo, methods.help, methods.stop):
        registry.register(handler.__name__, handler)
    registry.register("dev-memleak", methods.dev_memleak)
