"""The built-in node's composition root: builds every part, wires them, runs the node.

Layer: node (top). The only module that knows every subsystem. It builds the identity and
the `Services` (services.py), the wallet, the peer manager and the chain watcher, then the
subsystems on them: channels (channel/manager.py), gossip (gossip/manager.py, which
subscribes to the channel events it needs), payments, forwarding, sendonion and invoices
(payments/, on the channels' `ChannelOps` and the `GossipView`), with `HtlcOutcomes` as the
channel manager's HTLC handler. It registers the subsystems that speak to peers as message
handlers (`PeerManager.add_handler`), the chain subscribers with the watcher, and every RPC
group of rpc/. Subsystems get what they need through those, never the `Node`.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from pathlib import Path
from typing import Any

from .chain.wallet import Wallet
from .chain.watcher import REGTEST_GENESIS_HASH, ChainClient, ChainWatcher
from .channel.manager import ChannelManager
from .core.config import Config
from .core.events import EventBus
from .core.jsonrpc import RpcRegistry, RpcServer
from .core.log import flush_logs, get_logger
from .core.storage import DB_FILENAME, Storage
from .gossip.manager import GossipManager
from .keys import derivation as keys
from .net.peers import PeerManager
from .payments.forward import Forwarding
from .payments.htlcs import HtlcOutcomes
from .payments.invoices import InvoiceStore
from .payments.mpp_receive import HtlcSets
from .payments.pay import Payments
from .payments.sendonion import OnionSender
from .rpc import channels as channels_rpc
from .rpc import gossip as gossip_rpc
from .rpc import info as info_rpc
from .rpc import invoices as invoices_rpc
from .rpc import payments as payments_rpc
from .rpc import peers as peers_rpc
from .rpc import sendpay as sendpay_rpc
from .rpc import wait as wait_rpc
from .rpc import wallet as wallet_rpc
from .rpc import xpay as xpay_rpc
from .services import Identity, Services
from .wire.features import node_features

log = get_logger("node")


class Node:
    """One running node. Its attributes are for the daemon's entry point and in-process tests;
    subsystems never see it."""

    def __init__(self, config: Config) -> None:
        self.config = config
        config.lightning_dir.mkdir(parents=True, exist_ok=True)
        seed = _load_seed(config)
        node_id = keys.node_id(seed)
        self.identity = Identity(
            seed=seed, node_privkey=keys.node_privkey(seed), node_id=node_id,
            alias=config.alias or f"builtin-{node_id.hex()[:8]}", color=node_id[:3].hex(),
            network=config.network, genesis_hash=REGTEST_GENESIS_HASH)
        self.node_id = node_id
        self.db = Storage(config.lightning_dir / DB_FILENAME)
        self.rpc = RpcRegistry()
        self.events = EventBus()
        self.chain = ChainClient(config.bitcoin_rpcurl, config.bitcoin_rpccookie)
        self.watcher = ChainWatcher(self.chain, self.db, poll_s=config.chain_poll_s)
        self.wallet = Wallet(db=self.db, seed=seed, network=config.network,
                             blockheight=self._blockheight)
        self.peers = PeerManager(
            node_privkey=self.identity.node_privkey, node_id=node_id,
            our_features=node_features(anchors=config.anchors), db=self.db, ping_idle_s=config.ping_idle_s,
            no_reconnect=config.no_reconnect)
        self.services = Services(
            identity=self.identity, config=config, db=self.db, chain=self.chain,
            wallet=self.wallet, peers=self.peers, rpc=self.rpc, events=self.events,
            _blockheight=self._blockheight, _spawn=self.spawn)
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self.rpc_port: int | None = None
        self.listen_address: tuple[str, int] | None = None

        self.channels = ChannelManager(self.services)
        self.gossip = GossipManager(
            self.services, listen_address=lambda: self.listen_address,
            peer_htlc_minimum_msat=lambda scid: _peer_htlc_minimum_msat(self.channels, scid))
        self.invoices = InvoiceStore(self.services, self.channels, self.gossip)
        self.payments = Payments(self.services, self.channels, self.channels.store, self.gossip,
                                 self.invoices)
        self.forwarding = Forwarding(self.services, self.channels, self.gossip)
        self.onion_sender = OnionSender(self.services, self.channels, self.channels.store)
        self.channels.set_htlc_handler(HtlcOutcomes(
            self.services, self.channels, self.payments, self.forwarding, self.invoices,
            HtlcSets(self.services, self.channels)))

        self.peers.add_handler(self.channels)
        self.peers.add_handler(self.gossip)
        self.watcher.subscribe(self.wallet.on_block, self.wallet.on_reorg)
        self.watcher.subscribe(self.channels.on_block, self.channels.on_reorg)
        self.watcher.subscribe(self.gossip.on_block, self.gossip.on_reorg)
        self._register_rpc()
        self._server = RpcServer(self.rpc, _load_rpc_secret(config.lightning_dir),
                                 read_timeout_s=config.rpc_read_timeout_s)

    def _register_rpc(self) -> None:
        info_rpc.register(
            self.rpc, identity=self.identity, lightning_dir=self.config.lightning_dir,
            peers=self.peers, channels=self.channels, blockheight=self._blockheight,
            listen_address=lambda: self.listen_address, chain_configured=self.chain.configured,
            chain_synced=lambda: self.watcher.synced, request_stop=self.request_stop)
        wallet_rpc.register(self.rpc, wallet=self.wallet, chain=self.chain, channels=self.channels,
                            network=self.identity.network)
        peers_rpc.register(self.rpc, node_id=self.node_id, peers=self.peers, channels=self.channels)
        invoices_rpc.register(self.rpc, invoices=self.invoices, network=self.identity.network)
        gossip_rpc.register(self.rpc, self.gossip)
        channels_rpc.register(self.rpc, channels=self.channels, services=self.services)
        payments_rpc.register(self.rpc, payments=self.payments, forwarding=self.forwarding,
                              onion_sender=self.onion_sender, network=self.identity.network)
        xpay_rpc.register(self.rpc, payments=self.payments, network=self.identity.network)
        sendpay_rpc.register(self.rpc, payments=self.payments)
        wait_rpc.register(self.rpc, store=self.channels.store)

    def _blockheight(self) -> int:
        return self.watcher.processed_height or 0

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
        self.rpc_port = await self._server.start(self.config.rpc_port, self.config.rpc_bind)
        (self.config.lightning_dir / "rpc_port").write_text(f"{self.rpc_port}\n")
        if self.config.addr is not None:
            self.listen_address = await self.peers.listen(self.config.addr.host, self.config.addr.port)
        await self.channels.start()
        await self.gossip.start()
        self.spawn(self.watcher.run(), "chain-watcher")
        log.info("JSON-RPC on %s:%d", self.config.rpc_bind, self.rpc_port)
        if self.listen_address:
            log.info("listening for peers on %s:%d", *self.listen_address)
        log.info("Server started with public key %s, alias %s", self.node_id.hex(), self.identity.alias)
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


def _peer_htlc_minimum_msat(channels: ChannelManager, scid: int) -> int | None:
    """The smallest HTLC the peer accepts on our channel scid, None if there is none."""
    chan = channels.channel_by_scid_any(scid)
    if chan is None or chan.remote_config is None:
        return None
    return chan.remote_config.htlc_minimum_msat


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
