"""The gossip subsystem (BOLT 7): `GossipManager(services, ...)`, composing the graph, the
ingest of received gossip, our own channels' gossip and the exchange with peers.

Layer: gossip. Imports channel (events), services, net, wire, chain (error types), core;
the RPC methods over it live in rpc/gossip.py and are registered by node.py.

- A net.handlers.MessageHandler for the gossip messages (types 256..265): received gossip
  is verified into the graph (ingest.py) and relayed (sync.py); announcement_signatures go
  to our own channels' gossip (local.py); queries are answered (sync.py).
- Our own channels come as channel.events.ChannelNormal / ChannelStoppedForwarding (the
  `add_local_channel` / `local_channel_closed` entry points do the same when called
  directly).
- Blocks: spent funding outputs close channels in the graph, old ones are pruned,
  announcements waiting for their funding are retried, ours progress towards announcement;
  a reorg forgets channels whose funding output is gone.
- For payments: pathfinding (`find_route`) and the channel_updates carried by BOLT 4
  failures (`failure_update_policy`), never put in the graph.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from bitcoin.core import CBlock, b2lx

from ..chain.watcher import ChainRpcError, ChainUnavailable
from ..channel.events import ChannelNormal, ChannelStoppedForwarding
from ..core.log import get_logger
from ..net.peer import Peer
from ..services import Services
from ..wire import bolt11
from ..wire.codec import REGTEST_CHAIN_HASH
from ..wire.messages import (
    AnnouncementSignatures,
    ChannelAnnouncement,
    ChannelUpdate,
    GossipTimestampFilter,
    NodeAnnouncement,
    QueryChannelRange,
    QueryShortChannelIds,
    ReplyChannelRange,
    ReplyShortChannelIdsEnd,
    decode,
)
from .announce import GossipError, policy_from_update
from .graph import ChannelPolicy, Graph, format_scid, scid_parts
from .ingest import GossipIngest, read_failure_update
from .local import LocalChannel, LocalChannels, PeerHtlcMinimum
from .pathfind import DEFAULT_MAX_HOPS, RouteHop, describe_route, find_route
from .sync import GossipSync, channel_range_replies

__all__ = ["GossipManager", "channel_range_replies"]

log = get_logger("gossipd")

GOSSIP_MESSAGE_TYPES = frozenset(range(256, 266))
"""BOLT 7's messages, channel_announcement (256) .. gossip_timestamp_filter (265)."""
BLOCK_CACHE_SIZE = 8

_SCHEMA = [
    """
    CREATE TABLE gossip_local_channels (
        short_channel_id INTEGER PRIMARY KEY,
        channel_id BLOB NOT NULL,
        remote_node_id BLOB NOT NULL,
        local_funding_pubkey BLOB NOT NULL,
        remote_funding_pubkey BLOB NOT NULL,
        capacity_sat INTEGER NOT NULL,
        announce INTEGER NOT NULL,
        htlc_minimum_msat INTEGER NOT NULL,
        htlc_maximum_msat INTEGER NOT NULL,
        local_node_signature BLOB,
        local_bitcoin_signature BLOB,
        remote_node_signature BLOB,
        remote_bitcoin_signature BLOB,
        announced INTEGER NOT NULL DEFAULT 0,
        closed INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE gossip_funding_outpoints (
        short_channel_id INTEGER PRIMARY KEY,
        txid BLOB NOT NULL,
        vout INTEGER NOT NULL
    );
    CREATE TABLE gossip_own_node (
        id INTEGER PRIMARY KEY CHECK (id = 0),
        timestamp INTEGER NOT NULL
    )
    """,
    """
    ALTER TABLE gossip_local_channels ADD COLUMN fee_base_msat INTEGER;
    ALTER TABLE gossip_local_channels ADD COLUMN fee_proportional_millionths INTEGER
    """,
]



class GossipManager:
    """BOLT 7 for the daemon (a net.handlers.MessageHandler); see the module docstring."""

    message_types = GOSSIP_MESSAGE_TYPES

    def __init__(self, services: Services, *, peer_htlc_minimum_msat: PeerHtlcMinimum,
                 listen_address: Callable[[], tuple[str, int] | None]) -> None:
        """`peer_htlc_minimum_msat(scid)`: the smallest HTLC the peer accepts on our channel
        (setchannel never advertises less); `listen_address()`: where we accept peers, for
        our node_announcement (None: not listening)."""
        self.services = services
        services.db.migrate("gossip_manager", _SCHEMA)
        self.graph = Graph(services.db)
        self.ingest = GossipIngest(self.graph, self.lookup_txout,
                                   chain_hash=REGTEST_CHAIN_HASH)
        self.sync = GossipSync(self.graph, REGTEST_CHAIN_HASH, services.peers.get)
        self._height = 0
        self.local = LocalChannels(services, self.graph, self.ingest, self.sync,
                                   height=self._chain_height, listen_address=listen_address,
                                   peer_htlc_minimum_msat=peer_htlc_minimum_msat)
        self._outpoints: dict[tuple[bytes, int], int] = {}
        self._block_cache: dict[int, CBlock] = {}
        #: outpoints spent by each cached block, so recent funding outputs are checked here
        self._block_spends: dict[int, frozenset[tuple[bytes, int]]] = {}
        for row in services.db.query("SELECT * FROM gossip_funding_outpoints"):
            self._outpoints[(bytes(row["txid"]), row["vout"])] = row["short_channel_id"]
        services.events.subscribe(ChannelNormal, self.on_channel_normal)
        services.events.subscribe(ChannelStoppedForwarding, self.on_channel_stopped_forwarding)

    @property
    def node_id(self) -> bytes:
        return self.services.identity.node_id

    def _chain_height(self) -> int:
        """Our chain tip as gossip knows it (on_block runs before blockheight moves)."""
        return max(self._height, self.services.blockheight)

    # ---- lifecycle (called by the node) -----------------------------------------------

    async def start(self) -> None:
        if self.local.any_announced_open():
            self.local.refresh_own_node_announcement()

    async def stop(self) -> None:
        pass

    # ---- net.handlers.MessageHandler ------------------------------------------------------

    async def on_peer_connected(self, peer: Peer) -> None:
        """Ask for gossip, send our own, resume pending channel announcements."""
        state = await self.sync.peer_connected(peer)
        try:
            await self.local.greet(peer, state)
        except GossipError as exc:
            log.warning("gossip with %s on connect: %s", peer.id_hex, exc)

    async def on_peer_disconnected(self, peer: Peer) -> None:
        self.sync.peer_disconnected(peer)

    async def handle_message(self, peer: Peer, msg_type: int, payload: bytes) -> None:
        raw = msg_type.to_bytes(2, "big") + payload
        msg = decode(raw)  # WireError -> the peer manager warns and disconnects
        state = self.sync.state_of(peer)
        try:
            if isinstance(msg, ChannelAnnouncement):
                accepted = await self.ingest.channel_announcement(msg)
                await self.sync.relay(accepted, source=peer.node_id)
            elif isinstance(msg, ChannelUpdate):
                accepted = self.ingest.channel_update(msg)
                await self.sync.relay(accepted, source=peer.node_id)
            elif isinstance(msg, NodeAnnouncement):
                accepted = self.ingest.node_announcement(msg)
                await self.sync.relay(accepted, source=peer.node_id)
            elif isinstance(msg, AnnouncementSignatures):
                await self.local.accept_announcement_signatures(peer.node_id, msg)
            elif isinstance(msg, GossipTimestampFilter):
                await self.sync.on_timestamp_filter(peer, state, msg)
            elif isinstance(msg, QueryChannelRange):
                await self.sync.answer_channel_range(peer, msg)
            elif isinstance(msg, QueryShortChannelIds):
                await self.sync.answer_short_channel_ids(peer, state, msg)
            elif isinstance(msg, (ReplyChannelRange, ReplyShortChannelIdsEnd)):
                log.debug("ignoring %s from %s (we send no queries)", msg.NAME, peer.id_hex)
        except GossipError as exc:
            log.info("ignoring %s from %s: %s", type(msg).__name__, peer.id_hex, exc)

    # ---- our channels (channel layer events) ------------------------------------------------

    async def on_channel_normal(self, event: ChannelNormal) -> None:
        """channel.events.ChannelNormal: register the channel (see add_local_channel)."""
        await self.add_local_channel(
            channel_id=event.channel_id, short_channel_id=event.short_channel_id,
            remote_node_id=event.remote_node_id, capacity_sat=event.capacity_sat,
            local_funding_privkey=event.local_funding_privkey,
            remote_funding_pubkey=event.remote_funding_pubkey,
            funding_txid=event.funding_txid, funding_outnum=event.funding_outnum,
            announce=event.announce, htlc_minimum_msat=event.htlc_minimum_msat,
            htlc_maximum_msat=event.htlc_maximum_msat)

    async def on_channel_stopped_forwarding(self, event: ChannelStoppedForwarding) -> None:
        """channel.events.ChannelStoppedForwarding: disable the channel."""
        await self.local_channel_closed(event.short_channel_id)

    async def add_local_channel(self, *, channel_id: bytes, short_channel_id: int,
                                remote_node_id: bytes, capacity_sat: int,
                                local_funding_privkey: bytes, remote_funding_pubkey: bytes,
                                funding_txid: str, funding_outnum: int, announce: bool,
                                htlc_minimum_msat: int | None = None,
                                htlc_maximum_msat: int | None = None) -> None:
        """Register one of our channels once channel_ready was sent and received (and again
        at every start for channels still open: idempotent). funding_txid is hex as
        bitcoind shows it. Sends our channel_update to the peer; the announcement follows
        by itself once the funding is 6 deep (if announce)."""
        self._remember_outpoint(short_channel_id, bytes.fromhex(funding_txid)[::-1],
                                funding_outnum)
        await self.local.register(
            channel_id=channel_id, short_channel_id=short_channel_id,
            remote_node_id=remote_node_id, capacity_sat=capacity_sat,
            local_funding_privkey=local_funding_privkey,
            remote_funding_pubkey=remote_funding_pubkey, announce=announce,
            htlc_minimum_msat=htlc_minimum_msat, htlc_maximum_msat=htlc_maximum_msat)

    async def local_channel_closed(self, short_channel_id: int) -> None:
        """Our channel stopped forwarding (shutdown started or it closed): disable it."""
        await self.local.stopped_forwarding(short_channel_id)

    def local_channels(self) -> list[LocalChannel]:
        return self.local.all()

    def private_route_hints(self) -> list[list[bolt11.RouteHintHop]]:
        """BOLT 11 `r` fields for our open channels the network does not know (yet)."""
        return self.local.private_route_hints()

    def local_channel_update(self, short_channel_id: int) -> bytes:
        """Our latest signed channel_update for one of our channels (type prefix included),
        for a BOLT 4 failure's channel_update field; b"" if there is none."""
        lc = self.local.get(short_channel_id)
        if lc is None:
            return b""
        return self.local.our_update(lc) or b""

    def local_policy(self, short_channel_id: int) -> tuple[int, int, int] | None:
        """(fee_base_msat, fee_proportional_millionths, cltv_expiry_delta) we announced for
        forwarding over one of our channels, for checking forwarded HTLCs."""
        channel = self.graph.get_channel(short_channel_id)
        if channel is None:
            return None
        try:
            policy = channel.policies[channel.direction_from(self.node_id)]
        except ValueError:
            return None
        if policy is None:
            return None
        return policy.fee_base_msat, policy.fee_proportional_millionths, policy.cltv_expiry_delta

    def local_policies(self, short_channel_id: int) -> list[ChannelPolicy]:
        """The policies a forward over one of our channels may satisfy: the one we announced
        last, then the previous one while setchannel's enforcedelay lasts. Empty if none."""
        return self.local.local_policies(short_channel_id)

    # ---- payments -------------------------------------------------------------------------

    def failure_update_policy(self, raw: bytes, *, short_channel_id: int, erring_node_id: bytes,
                              next_node_id: bytes) -> ChannelPolicy | None:
        """The policy stated by the channel_update a BOLT 4 failure from ``erring_node_id``
        carried for its channel ``short_channel_id`` towards ``next_node_id`` (with or without
        the type prefix), or None if it is absent or invalid (forged, another channel or
        direction, another chain: logged). The graph is not changed: BOLT 4 lets the payer
        use it only for the retries of the failed payment."""
        if not raw:
            return None
        try:
            update = read_failure_update(raw, short_channel_id=short_channel_id,
                                         erring_node_id=erring_node_id, next_node_id=next_node_id,
                                         chain_hash=self.ingest.chain_hash)
        except GossipError as exc:
            log.info("ignoring the channel_update in a failure from %s: %s", erring_node_id.hex(), exc)
            return None
        return policy_from_update(update)

    def find_route(self, destination: bytes, amount_msat: int, *, final_cltv_delta: int,
                   route_hints: Sequence[Sequence[Any]] = (),
                   exclude_channels: Collection[int | tuple[int, int]] = (),
                   exclude_nodes: Collection[bytes] = (), max_fee_msat: int | None = None,
                   max_delay: int | None = None,
                   local_spendable_msat: Mapping[int, int] | None = None,
                   policy_overrides: Mapping[tuple[int, int], ChannelPolicy] | None = None,
                   ) -> list[RouteHop]:
        """Cheapest route from us (see pathfind.find_route); cltv_expiry values are absolute,
        based on the node's current block height. Raises pathfind.NoRouteError."""
        route = find_route(self.graph, self.node_id, destination, amount_msat,
                           final_cltv_delta=final_cltv_delta,
                           block_height=self.services.blockheight,
                           route_hints=route_hints, exclude_channels=exclude_channels,
                           exclude_nodes=exclude_nodes, max_fee_msat=max_fee_msat,
                           max_delay=max_delay, local_spendable_msat=local_spendable_msat,
                           policy_overrides=policy_overrides)
        log.debug("route to %s for %d msat: %s", destination.hex(), amount_msat,
                  describe_route(route))
        return route

    def find_route_from(self, source: bytes, destination: bytes, amount_msat: int, *,
                        final_cltv_delta: int,
                        exclude_channels: Collection[int | tuple[int, int]] = (),
                        exclude_nodes: Collection[bytes] = (),
                        max_hops: int = DEFAULT_MAX_HOPS, riskfactor: float) -> list[RouteHop]:
        """Cheapest route from any node over the graph (getroute): delays are relative
        (block height 0). Raises pathfind.NoRouteError."""
        return find_route(self.graph, source, destination, amount_msat,
                          final_cltv_delta=final_cltv_delta, block_height=0,
                          exclude_channels=exclude_channels, exclude_nodes=exclude_nodes,
                          max_hops=max_hops, riskfactor=riskfactor)

    # ---- chain ---------------------------------------------------------------------------

    async def on_block(self, height: int, block_hash: str, block: CBlock) -> None:
        try:
            await self._process_block(height, block)
        except Exception:  # never stop the chain watcher; the traceback is in the log
            log.error("processing block %d for gossip failed", height, exc_info=True)

    async def _process_block(self, height: int, block: CBlock) -> None:
        self._height = max(self._height, height)
        self._block_cache[height] = block
        self._block_spends[height] = frozenset(
            (bytes(txin.prevout.hash), txin.prevout.n) for tx in block.vtx for txin in tx.vin)
        for old in sorted(self._block_cache)[:-BLOCK_CACHE_SIZE]:
            del self._block_cache[old]
            self._block_spends.pop(old, None)
        for tx in block.vtx:
            for txin in tx.vin:
                scid = self._outpoints.get((bytes(txin.prevout.hash), txin.prevout.n))
                if scid is not None and self.graph.mark_spent(scid, height):
                    log.info("channel %s closed: funding spent in block %d",
                             format_scid(scid), height)
                    self.local.funding_spent(scid)
        forgotten = self.graph.prune(block_height=height, now=int(time.time()))
        for scid in forgotten:
            self._forget_outpoint(scid)
        if forgotten:
            log.info("forgot channels %s", ", ".join(format_scid(s) for s in forgotten))
        await self.sync.relay(await self.ingest.retry_unconfirmed(), source=None)
        await self.local.progress_all()

    async def on_reorg(self, fork_height: int) -> None:
        """Blocks above fork_height were replaced: channels funded there are checked
        against the new chain again and forgotten if their output is gone."""
        try:
            await self._process_reorg(fork_height)
        except Exception:  # never stop the chain watcher; the traceback is in the log
            log.error("gossip reorg handling from height %d failed", fork_height, exc_info=True)

    async def _process_reorg(self, fork_height: int) -> None:
        for height in [h for h in self._block_cache if h > fork_height]:
            del self._block_cache[height]
            self._block_spends.pop(height, None)
        self._height = min(self._height, fork_height)
        for channel in list(self.graph.channels()):
            scid = channel.short_channel_id
            if scid_parts(scid)[0] <= fork_height:
                continue
            if await self.lookup_txout(scid) is None:
                log.info("reorg: channel %s no longer has its funding output: forgotten",
                         format_scid(scid))
                self.graph.remove_channel(scid)
                self._forget_outpoint(scid)
        for channel in list(self.graph.channels()):
            if channel.spent_height is not None and channel.spent_height > fork_height:
                self.graph.mark_unspent(channel.short_channel_id)  # the spend is gone

    async def lookup_txout(self, scid: int) -> tuple[int, bytes] | None:
        """(value_sat, script_pubkey) of the unspent output scid points at, else None (also
        when the chain cannot be asked now: the announcement is retried later)."""
        height, tx_index, vout = scid_parts(scid)
        block = self._block_cache.get(height)
        chain = self.services.chain
        try:
            if block is None:
                block_hash = await chain.getblockhash(height)
                block = CBlock.deserialize(await chain.getrawblock(block_hash))
            if tx_index >= len(block.vtx) or vout >= len(block.vtx[tx_index].vout):
                return None
            tx = block.vtx[tx_index]
            txid = bytes(tx.GetTxid())  # serialises and hashes the transaction: once
            spent = self._spent_since(height, (txid, vout))
            if spent or (spent is None and await chain.gettxout(b2lx(txid), vout) is None):
                return None
        except (ChainRpcError, ChainUnavailable) as exc:
            log.info("cannot look up the funding output of %s: %s", format_scid(scid), exc)
            return None
        self._remember_outpoint(scid, txid, vout)
        out = tx.vout[vout]
        return out.nValue, bytes(out.scriptPubKey)

    def _spent_since(self, height: int, outpoint: tuple[bytes, int]) -> bool | None:
        """Whether an output of block `height` is spent in the blocks we processed since,
        when every one of them is cached (a channel announced soon after its funding: no
        chain call per announcement); None when we cannot tell from the cache."""
        heights = range(height, self._height + 1)
        if not heights or any(h not in self._block_spends for h in heights):
            return None
        return any(outpoint in self._block_spends[h] for h in heights)

    def _remember_outpoint(self, scid: int, txid: bytes, vout: int) -> None:
        if self._outpoints.get((txid, vout)) == scid:
            return
        self._outpoints[(txid, vout)] = scid
        self.services.db.execute(
            "INSERT OR REPLACE INTO gossip_funding_outpoints (short_channel_id, txid, vout) "
            "VALUES (?, ?, ?)", (scid, txid, vout))

    def _forget_outpoint(self, scid: int) -> None:
        for key, value in list(self._outpoints.items()):
            if value == scid:
                del self._outpoints[key]
        self.services.db.execute(
            "DELETE FROM gossip_funding_outpoints WHERE short_channel_id = ?", (scid,))
