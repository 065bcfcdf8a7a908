"""The built-in node: wires storage, keys, chain, wallet, peers, invoices, channels, gossip and RPC.

Layer: composition root (top): imports every layer and builds the node from them.

Subsystems plug in here:
- channels: `channel.manager.ChannelManager(services)` — see `ChannelsSeam` for what it offers.
- gossip: `gossip.manager.GossipManager(node)` — see `GossipSeam`.
- payments: `payments.*` on the channels' `channel.ops.ChannelOps` and gossip; their
  `payments.htlcs.HtlcOutcomes` is the channel manager's HTLC handler.
- RPC methods: `rpc.channels.register`, `rpc.payments.register` (and the daemon's own).
Channels publish `channel.events` on `services.events`; gossip subscribes here.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from pathlib import Path
from typing import Any, Protocol

from bitcoin.core import CBlock

from .chain.wallet import Wallet
from .chain.watcher import REGTEST_GENESIS_HASH, ChainClient, ChainWatcher
from .channel.events import ChannelNormal, ChannelStoppedForwarding
from .channel.manager import ChannelManager
from .core.config import Config
from .core.events import EventBus
from .core.jsonrpc import RpcRegistry, RpcServer
from .core.log import flush_logs, get_logger
from .core.storage import DB_FILENAME, Storage
from .gossip.manager import GossipManager
from .keys import derivation as keys
from .net.peer import Peer, PeerManager
from .payments.forward import Forwarding
from .payments.htlcs import HtlcOutcomes
from .payments.invoices import InvoiceStore
from .payments.pay import Payments
from .payments.sendonion import OnionSender
from .rpc import channels as channels_rpc
from .rpc import payments as payments_rpc
from .services import Identity, Services

log = get_logger("node")


class ChannelsSeam(Protocol):
    """What the node expects from the channel subsystem (ChannelManager(services))."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def handle_message(self, peer: Peer, msg_type: int, payload: bytes) -> None: ...
    async def on_peer_connected(self, peer: Peer) -> None: ...
    async def on_peer_disconnected(self, peer: Peer) -> None: ...
    async def on_block(self, height: int, block_hash: str, block: CBlock) -> None: ...
    async def on_reorg(self, fork_height: int) -> None: ...
    def num_active_channels(self) -> int: ...
    def listfunds_channels(self) -> list[dict[str, Any]]: ...


class GossipSeam(Protocol):
    """What the node expects from the gossip subsystem (GossipManager(node))."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def handle_message(self, peer: Peer, msg_type: int, payload: bytes) -> None: ...
    async def on_peer_connected(self, peer: Peer) -> None: ...
    async def on_peer_disconnected(self, peer: Peer) -> None: ...
    async def on_block(self, height: int, block_hash: str, block: CBlock) -> None: ...
    async def on_reorg(self, fork_height: int) -> None: ...


class Node:
    """One running node. Attributes are the seams other subsystems use."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.network = config.network
        self.genesis_hash = REGTEST_GENESIS_HASH
        config.lightning_dir.mkdir(parents=True, exist_ok=True)
        self.seed = _load_seed(config)
        self.node_privkey = keys.node_privkey(self.seed)
        self.node_id = keys.node_id(self.seed)
        self.alias = config.alias or f"builtin-{self.node_id.hex()[:8]}"
        self.color = self.node_id[:3].hex()
        self.db = Storage(config.lightning_dir / DB_FILENAME)
        self.rpc = RpcRegistry()
        self.chain = ChainClient(config.bitcoin_rpcurl, config.bitcoin_rpccookie)
        self.watcher = ChainWatcher(self.chain, self.db, poll_s=config.chain_poll_s)
        self.wallet = Wallet(self)
        self.peers = PeerManager(self)
        self.events = EventBus()
        self.services = Services(
            identity=Identity(seed=self.seed, node_privkey=self.node_privkey, node_id=self.node_id,
                              alias=self.alias, color=self.color, network=self.network,
                              genesis_hash=self.genesis_hash),
            config=config, db=self.db, chain=self.chain, wallet=self.wallet, peers=self.peers, rpc=self.rpc,
            events=self.events, _blockheight=lambda: self.blockheight, _spawn=self.spawn)
        channels = ChannelManager(self.services)
        self.channels: ChannelsSeam = channels
        gossip = GossipManager(self)
        self.gossip: GossipSeam = gossip
        self.events.subscribe(ChannelNormal, gossip.on_channel_normal)
        self.events.subscribe(ChannelStoppedForwarding, gossip.on_channel_stopped_forwarding)
        self.invoices = InvoiceStore(self.services, channels, gossip)
        payments = Payments(self.services, channels, channels.store, gossip)
        forwarding = Forwarding(self.services, channels, gossip)
        onion_sender = OnionSender(self.services, channels, channels.store)
        channels.set_htlc_handler(HtlcOutcomes(self.services, channels, payments, forwarding, self.invoices))
        channels_rpc.register(self.rpc, channels=channels, services=self.services)
        payments_rpc.register(self.rpc, payments=payments, forwarding=forwarding, onion_sender=onion_sender,
                              network=self.network)
        self.watcher.subscribe(self.wallet.on_block, self.wallet.on_reorg)
        self.watcher.subscribe(self.channels.on_block, self.channels.on_reorg)
        self.watcher.subscribe(self.gossip.on_block, self.gossip.on_reorg)
        from .rpc.methods import register_daemon_methods
        register_daemon_methods(self)
        self._server = RpcServer(self.rpc, _load_rpc_secret(config.lightning_dir))
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self.rpc_port: int | None = None
        self.listen_address: tuple[str, int] | None = None

    @property
    def blockheight(self) -> int:
        """Height of the last block the node processed (0 before the first)."""
        return self.watcher.processed_height or 0

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        """Run a background task that is cancelled at stop; its crash is logged, not fatal."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.append(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed: %r", task.get_name(), task.exception(),
                      exc_info=task.exception())

    async def run(self) -> None:
        """Start everything, log the ready line, serve until `stop` (RPC or signal)."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop)
        self.rpc_port = await self._server.start(self.config.rpc_port)
        (self.config.lightning_dir / "rpc_port").write_text(f"{self.rpc_port}\n")
        if self.config.addr is not None:
            self.listen_address = await self.peers.listen(self.config.addr.host, self.config.addr.port)
        await self.channels.start()
        await self.gossip.start()
        self.spawn(self.watcher.run(), "chain-watcher")
        log.info("JSON-RPC on 127.0.0.1:%d", self.rpc_port)
        if self.listen_address:
            log.info("listening for peers on %s:%d", *self.listen_address)
        log.info("Server started with public key %s, alias %s", self.node_id.hex(), self.alias)
        await self._stopping.wait()
        await self._shutdown()

    def request_stop(self) -> None:
        """Begin a graceful stop (idempotent)."""
        if not self._stopping.is_set():
            log.info("stopping")
            self._stopping.set()

    async def _shutdown(self) -> None:
        await self.peers.close_all()
        await self.gossip.stop()
        await self.channels.stop()
        await self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.chain.close()
        self.db.close()
        log.info("stopped")
        flush_logs()


def _load_seed(config: Config) -> bytes:
    if config.seed_hex is not None:
        return bytes.fromhex(config.seed_hex)
    path = config.seed_file or config.lightning_dir / "seed"
    if config.seed_file is None and not path.exists():
        _write_private(path, secrets.token_bytes(32))
    raw = path.read_bytes()
    if len(raw) == 32:
        return raw
    try:
        seed = bytes.fromhex(raw.decode().strip())
    except (UnicodeDecodeError, ValueError):
        seed = b""
    if len(seed) != 32:
        raise SystemExit(f"seed file {path} must hold 32 bytes (raw or 64 hex characters)")
    return seed


def _load_rpc_secret(lightning_dir: Path) -> str:
    path = lightning_dir / "rpc_secret"
    if not path.exists():
        _write_private(path, secrets.token_hex(32).encode())
    return path.read_text().strip()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
