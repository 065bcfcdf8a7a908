"""The daemon's gossip subsystem (BOLT 7): `GossipManager(node)`.

- Receives gossip (types 256..265) from peers, verifies it into the graph
  (gossip_ingest.py) and relays what is new to the other peers that asked for gossip with
  gossip_timestamp_filter.
- Answers query_channel_range and query_short_channel_ids, and sends
  gossip_timestamp_filter(0, 0xFFFFFFFF) to peers offering gossip_queries.
- Our own channels: the channel manager registers each one at channel_ready
  (`add_local_channel`); the manager issues our channel_updates, exchanges
  announcement_signatures once the funding is 6 blocks deep, then announces the channel and
  our node. Own gossip goes to every peer on connect and when created.
- Watches blocks for spent funding outputs and prunes the graph.
- Pathfinding for payments (`find_route`) and the RPC methods getroute, listchannels,
  listnodes (gossip_rpc.py).
- setchannel (Core Lightning's RPC): our fees / HTLC range per channel, re-announced with a
  new channel_update; the previous policy is still accepted for `enforcedelay` seconds.
- Verifies channel_updates carried by BOLT 4 failures for the payer
  (`failure_update_policy`), without putting them in the graph.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bitcoin.core import CBlock, b2lx
from coincurve import PrivateKey

from ..channel.events import ChannelNormal, ChannelStoppedForwarding
from ..core.jsonrpc import param_error
from ..core.log import get_logger
from ..net import transport
from ..rpc import gossip as gossip_rpc
from ..rpc.methods import parse_int, parse_msat
from ..wire import bolt11
from ..wire.codec import REGTEST_CHAIN_HASH, ShortChannelId, WireError
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
    decode_query_flags,
    decode_short_channel_ids,
    encode_short_channel_ids,
    encode_timestamps,
)
from .announce import (
    GossipError,
    make_announcement_signatures,
    make_channel_update,
    make_node_announcement,
    policy_from_update,
    unsigned_channel_announcement,
    verify_announcement_signatures,
    verify_channel_announcement,
    with_signatures,
)
from .graph import (
    ChannelPolicy,
    Graph,
    GraphChannel,
    GraphNode,
    NodeAddress,
    format_scid,
    parse_scid,
    scid_parts,
)
from .ingest import Accepted, GossipIngest, read_failure_update
from .pathfind import RouteHop, describe_route, find_route

if TYPE_CHECKING:
    from ..net.peer import Peer
    from ..node import Node

log = get_logger("gossipd")

ANNOUNCE_DEPTH = 6
"""BOLT 7: a channel_announcement is not sent before the funding has 6 confirmations."""
GOSSIP_QUERIES_BITS = (6, 7)
REPLY_CHUNK_SCIDS = 2000
"""short_channel_ids per reply_channel_range (with timestamps: 24 bytes each, < 65535)."""
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


@dataclass
class LocalChannel:
    """One of our channels as the gossip subsystem sees it (persisted)."""

    short_channel_id: int
    channel_id: bytes
    remote_node_id: bytes
    local_funding_pubkey: bytes
    remote_funding_pubkey: bytes
    capacity_sat: int
    announce: bool
    htlc_minimum_msat: int
    htlc_maximum_msat: int
    local_node_signature: bytes | None = None
    local_bitcoin_signature: bytes | None = None
    remote_node_signature: bytes | None = None
    remote_bitcoin_signature: bytes | None = None
    announced: bool = False
    closed: bool = False
    fee_base_msat: int | None = None
    """Set by setchannel; None: the node's configured default."""
    fee_proportional_millionths: int | None = None


@dataclass
class _PeerState:
    """Gossip state of one connected peer."""

    timestamp_filter: tuple[int, int] | None = None
    sent_announcements: set[int] = field(default_factory=set)
    sent_announcement_signatures: set[int] = field(default_factory=set)

    def wants(self, timestamp: int) -> bool:
        if self.timestamp_filter is None:
            return False
        first, span = self.timestamp_filter
        return first <= timestamp < first + span


class GossipManager:
    """BOLT 7 for the daemon; see the module docstring."""

    def __init__(self, node: Node) -> None:
        self.node = node
        node.db.migrate("gossip_manager", _SCHEMA)
        self.graph = Graph(node.db)
        self.ingest = GossipIngest(self.graph, self.lookup_txout,
                                   chain_hash=REGTEST_CHAIN_HASH)
        self._peers: dict[bytes, _PeerState] = {}
        self._local: dict[int, LocalChannel] = {}
        self._outpoints: dict[tuple[bytes, int], int] = {}
        self._early_signatures: dict[int, tuple[bytes, AnnouncementSignatures]] = {}
        self._block_cache: dict[int, CBlock] = {}
        self._height = 0
        self._grace: dict[int, tuple[ChannelPolicy, float]] = {}
        """Per channel: our previous policy and until when (time.time()) it is still
        accepted for forwards (setchannel's enforcedelay)."""
        self._load()
        gossip_rpc.register(self)
        node.rpc.register("setchannel", self.rpc_setchannel)

    # ---- lifecycle (called by the node) -----------------------------------------------

    async def start(self) -> None:
        if any(lc.announced and not lc.closed for lc in self._local.values()):
            self._refresh_own_node_announcement()

    async def stop(self) -> None:
        pass

    async def on_peer_connected(self, peer: Peer) -> None:
        state = self._peers[peer.node_id] = _PeerState()
        try:
            await self._greet(peer, state)
        except GossipError as exc:
            log.warning("gossip with %s on connect: %s", peer.id_hex, exc)

    async def _greet(self, peer: Peer, state: _PeerState) -> None:
        """Ask for gossip, send our own, resume pending channel announcements."""
        if set(peer.feature_bits) & set(GOSSIP_QUERIES_BITS):
            await _send(peer, GossipTimestampFilter(
                chain_hash=REGTEST_CHAIN_HASH, first_timestamp=0,
                timestamp_range=0xFFFFFFFF).encode())
        for lc in self._local.values():
            if lc.closed or lc.remote_node_id != peer.node_id or lc.announced:
                continue
            update = self._our_update(lc)
            if update is not None:
                await _send(peer, update)
        await self._send_own_public_gossip(peer, state)
        for lc in list(self._local.values()):
            if lc.remote_node_id == peer.node_id:
                await self._progress_announcement(lc)

    async def on_peer_disconnected(self, peer: Peer) -> None:
        self._peers.pop(peer.node_id, None)

    async def on_block(self, height: int, block_hash: str, block: CBlock) -> None:
        try:
            await self._process_block(height, block)
        except Exception as exc:  # never stop the chain watcher
            log.error("processing block %d for gossip failed: %r", height, exc, exc_info=True)

    async def _process_block(self, height: int, block: CBlock) -> None:
        self._height = max(self._height, height)
        self._block_cache[height] = block
        for old in sorted(self._block_cache)[:-BLOCK_CACHE_SIZE]:
            del self._block_cache[old]
        for tx in block.vtx:
            for txin in tx.vin:
                scid = self._outpoints.get((bytes(txin.prevout.hash), txin.prevout.n))
                if scid is not None and self.graph.mark_spent(scid, height):
                    log.info("channel %s closed: funding spent in block %d",
                             format_scid(scid), height)
                    lc = self._local.get(scid)
                    if lc is not None:
                        self._set_local(lc, closed=True)
        forgotten = self.graph.prune(block_height=height, now=int(time.time()))
        for scid in forgotten:
            self._forget_outpoint(scid)
        if forgotten:
            log.info("forgot channels %s", ", ".join(format_scid(s) for s in forgotten))
        await self._relay(await self.ingest.retry_unconfirmed(), source=None)
        for lc in list(self._local.values()):
            await self._progress_announcement(lc)

    async def on_reorg(self, fork_height: int) -> None:
        """Blocks above fork_height were replaced: channels funded there are checked
        against the new chain again and forgotten if their output is gone."""
        try:
            for height in [h for h in self._block_cache if h > fork_height]:
                del self._block_cache[height]
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
        except Exception as exc:  # never stop the chain watcher
            log.error("gossip reorg handling failed: %r", exc, exc_info=True)

    # ---- API for the channel manager ----------------------------------------------------

    async def on_channel_normal(self, event: ChannelNormal) -> None:
        """channel/events.ChannelNormal: register the channel (add_local_channel)."""
        await self.add_local_channel(
            channel_id=event.channel_id, short_channel_id=event.short_channel_id,
            remote_node_id=event.remote_node_id, capacity_sat=event.capacity_sat,
            local_funding_privkey=event.local_funding_privkey,
            remote_funding_pubkey=event.remote_funding_pubkey, funding_txid=event.funding_txid,
            funding_outnum=event.funding_outnum, announce=event.announce,
            htlc_minimum_msat=event.htlc_minimum_msat, htlc_maximum_msat=event.htlc_maximum_msat)

    async def on_channel_stopped_forwarding(self, event: ChannelStoppedForwarding) -> None:
        """channel/events.ChannelStoppedForwarding: disable the channel (local_channel_closed)."""
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
        scid = short_channel_id
        lc = self._local.get(scid)
        if lc is None:
            maximum = htlc_maximum_msat if htlc_maximum_msat is not None else capacity_sat * 1000
            lc = LocalChannel(
                short_channel_id=scid, channel_id=channel_id, remote_node_id=remote_node_id,
                local_funding_pubkey=_pubkey(local_funding_privkey),
                remote_funding_pubkey=remote_funding_pubkey, capacity_sat=capacity_sat,
                announce=announce,
                htlc_minimum_msat=(htlc_minimum_msat if htlc_minimum_msat is not None
                                   else self.node.config.htlc_minimum_msat),
                htlc_maximum_msat=min(maximum, capacity_sat * 1000))
            if announce:
                unsigned = self._unsigned_announcement(lc)
                sigs = make_announcement_signatures(unsigned, channel_id, self.node.node_privkey,
                                                    local_funding_privkey)
                lc.local_node_signature = sigs.node_signature
                lc.local_bitcoin_signature = sigs.bitcoin_signature
            self._save_local(lc)
            self._local[scid] = lc
            log.info("local channel %s with %s registered (announce=%s)", format_scid(scid),
                     remote_node_id.hex(), announce)
        self.graph.add_local_channel(scid, self.node.node_id, remote_node_id,
                                     capacity_sat=capacity_sat, added_at=int(time.time()))
        self._remember_outpoint(scid, bytes.fromhex(funding_txid)[::-1], funding_outnum)
        self.ingest.apply_held_updates(scid)  # the peer's update may have come first
        channel = self.graph.get_channel(scid)
        if channel is not None and channel.policies[channel.direction_from(self.node.node_id)] is None:
            self._issue_update(lc)
        peer = self.node.peers.get(remote_node_id)
        if peer is not None and not lc.announced:
            update = self._our_update(lc)
            if update is not None:
                await _send(peer, update)
        early = self._early_signatures.pop(scid, None)
        try:
            if early is not None:
                await self._accept_announcement_signatures(early[0], early[1])
            await self._progress_announcement(lc)
        except GossipError as exc:
            log.warning("channel %s: %s", format_scid(scid), exc)

    async def local_channel_closed(self, short_channel_id: int) -> None:
        """Our channel stopped forwarding (shutdown started or it closed): disable it."""
        lc = self._local.get(short_channel_id)
        if lc is None or lc.closed:
            return
        self._set_local(lc, closed=True)
        raw = self._issue_update(lc, disabled=True)
        await self._publish_own_update(lc, raw)

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
        """Cheapest route from us (see routing.find_route); cltv_expiry values are absolute,
        based on the node's current block height. Raises routing.NoRouteError."""
        route = find_route(self.graph, self.node.node_id, destination, amount_msat,
                           final_cltv_delta=final_cltv_delta, block_height=self.node.blockheight,
                           route_hints=route_hints, exclude_channels=exclude_channels,
                           exclude_nodes=exclude_nodes, max_fee_msat=max_fee_msat,
                           max_delay=max_delay, local_spendable_msat=local_spendable_msat,
                           policy_overrides=policy_overrides)
        log.debug("route to %s for %d msat: %s", destination.hex(), amount_msat,
                  describe_route(route))
        return route

    def private_route_hints(self) -> list[list[bolt11.RouteHintHop]]:
        """BOLT 11 `r` fields for our open channels the network does not know (yet):
        each peer's own policy towards us (from its channel_update, else our defaults)."""
        hints = []
        cfg = self.node.config
        for lc in self._local.values():
            if lc.closed or lc.announced:
                continue
            channel = self.graph.get_channel(lc.short_channel_id)
            if channel is None or channel.spent_height is not None:
                continue
            policy = channel.policies[channel.direction_from(lc.remote_node_id)]
            hints.append([bolt11.RouteHintHop(
                pubkey=lc.remote_node_id.hex(), short_channel_id=lc.short_channel_id,
                fee_base_msat=policy.fee_base_msat if policy else cfg.fee_base_msat,
                fee_proportional_millionths=(policy.fee_proportional_millionths if policy
                                             else cfg.fee_ppm),
                cltv_expiry_delta=policy.cltv_expiry_delta if policy else cfg.cltv_delta)])
        return hints

    def local_channel_update(self, short_channel_id: int) -> bytes:
        """Our latest signed channel_update for one of our channels (type prefix included),
        for a BOLT 4 failure's channel_update field; b"" if there is none."""
        lc = self._local.get(short_channel_id)
        if lc is None:
            return b""
        return self._our_update(lc) or b""

    def local_policy(self, short_channel_id: int) -> tuple[int, int, int] | None:
        """(fee_base_msat, fee_proportional_millionths, cltv_expiry_delta) we announced for
        forwarding over one of our channels, for checking forwarded HTLCs."""
        channel = self.graph.get_channel(short_channel_id)
        if channel is None:
            return None
        try:
            policy = channel.policies[channel.direction_from(self.node.node_id)]
        except ValueError:
            return None
        if policy is None:
            return None
        return policy.fee_base_msat, policy.fee_proportional_millionths, policy.cltv_expiry_delta

    def local_policies(self, short_channel_id: int) -> list[ChannelPolicy]:
        """The policies a forward over one of our channels may satisfy: the one we announced
        last, then the previous one while setchannel's enforcedelay lasts. Empty if none."""
        channel = self.graph.get_channel(short_channel_id)
        if channel is None or self.node.node_id not in (channel.node_id_1, channel.node_id_2):
            return []
        current = channel.policies[channel.direction_from(self.node.node_id)]
        if current is None:
            return []
        policies = [current]
        grace = self._grace.get(short_channel_id)
        if grace is not None:
            if time.time() < grace[1]:
                policies.append(grace[0])
            else:
                del self._grace[short_channel_id]
        return policies

    async def rpc_setchannel(self, id: Any, feebase: Any = None, feeppm: Any = None,  # noqa: A002
                             htlcmin: Any = None, htlcmax: Any = None, enforcedelay: Any = 600,
                             ignorefeelimits: Any = None) -> dict[str, Any]:
        """Set the forwarding fees / HTLC range we advertise for channels (Core Lightning's
        setchannel): id is a short_channel_id, channel_id, peer id or "all"; omitted values
        stay. The previous fee and HTLC range are still accepted for enforcedelay seconds."""
        targets = self._setchannel_targets(id)
        fee_base = parse_msat(feebase, "feebase") if feebase is not None else None
        fee_ppm = parse_int(feeppm, "feeppm") if feeppm is not None else None
        if fee_base is not None and fee_base >= 1 << 32:
            raise param_error("feebase", f"{fee_base} msat does not fit a channel_update (u32)")
        if fee_ppm is not None and fee_ppm >= 1 << 32:
            raise param_error("feeppm", f"{fee_ppm} does not fit a channel_update (u32)")
        minimum = parse_msat(htlcmin, "htlcmin") if htlcmin is not None else None
        maximum = parse_msat(htlcmax, "htlcmax") if htlcmax is not None else None
        delay = parse_int(enforcedelay, "enforcedelay")
        if ignorefeelimits is not None and ignorefeelimits is not True:
            raise param_error("ignorefeelimits", "this node always accepts the peer's update_fee within "
                                                 "253..1000000 sat/kw (as ignorefeelimits=true)")
        planned = []
        for lc in targets:  # check every channel before changing any
            entry: dict[str, Any] = {}
            changes: dict[str, Any] = {}
            if fee_base is not None:
                changes["fee_base_msat"] = fee_base
            if fee_ppm is not None:
                changes["fee_proportional_millionths"] = fee_ppm
            if minimum is not None:
                floor = self._peer_htlc_minimum_msat(lc)
                if minimum < floor:
                    entry["warning_htlcmin_too_low"] = "Set minimum_htlc_out_msat to minimum allowed by peer"
                changes["htlc_minimum_msat"] = max(minimum, floor)
            if maximum is not None:
                if maximum > lc.capacity_sat * 1000:
                    entry["warning_htlcmax_too_high"] = ("Set maximum_htlc_out_msat to maximum possible in "
                                                         "channel")
                changes["htlc_maximum_msat"] = min(maximum, lc.capacity_sat * 1000)
            if changes.get("htlc_minimum_msat", lc.htlc_minimum_msat) > changes.get(
                    "htlc_maximum_msat", lc.htlc_maximum_msat):
                raise param_error("htlcmin", f"above htlcmax for channel {format_scid(lc.short_channel_id)}")
            planned.append((lc, changes, entry))
        results = []
        for lc, changes, entry in planned:
            await self._apply_policy(lc, changes, delay)
            results.append(self._setchannel_entry(lc) | entry)
        return {"channels": results}

    def _setchannel_targets(self, id: Any) -> list[LocalChannel]:  # noqa: A002
        if not isinstance(id, str):
            raise param_error("id", "expected a short_channel_id, channel_id, peer id or 'all'")
        live = [lc for lc in self._local.values() if not lc.closed]
        if id == "all":
            return live
        if "x" in id:
            try:
                scid = parse_scid(id)
            except ValueError as exc:
                raise param_error("id", str(exc)) from None
            found = [lc for lc in live if lc.short_channel_id == scid]
        else:
            try:
                raw = bytes.fromhex(id)
            except ValueError:
                raise param_error("id", f"not a short_channel_id, channel_id or peer id: {id!r}") from None
            found = [lc for lc in live if raw in (lc.channel_id, lc.remote_node_id)]
        if not found:
            raise param_error("id", f"no open channel matches {id}")
        return found

    def _peer_htlc_minimum_msat(self, lc: LocalChannel) -> int:
        """The smallest HTLC the peer accepts on the channel (from the channel subsystem)."""
        find = getattr(self.node.channels, "channel_by_scid_any", None)
        chan = find(lc.short_channel_id) if find is not None else None
        remote = getattr(chan, "remote_config", None)
        return int(getattr(remote, "htlc_minimum_msat", 0) or 0)

    async def _apply_policy(self, lc: LocalChannel, changes: dict[str, Any], enforce_delay_s: int) -> None:
        """Store the new policy, sign and send a channel_update for it; the previous one
        stays acceptable for enforce_delay_s seconds."""
        channel = self.graph.get_channel(lc.short_channel_id)
        previous = channel.policies[channel.direction_from(self.node.node_id)] if channel else None
        if changes:
            self._set_local(lc, **changes)
        raw = self._issue_update(lc)
        if previous is not None and enforce_delay_s > 0:
            self._grace[lc.short_channel_id] = (previous, time.time() + enforce_delay_s)
        else:
            self._grace.pop(lc.short_channel_id, None)
        log.info("channel %s: fee_base_msat=%d fee_ppm=%d htlc %d..%d msat (old policy accepted %d s more)",
                 format_scid(lc.short_channel_id), *self._fees(lc), lc.htlc_minimum_msat,
                 lc.htlc_maximum_msat, enforce_delay_s)
        await self._publish_own_update(lc, raw)

    def _fees(self, lc: LocalChannel) -> tuple[int, int]:
        """(fee_base_msat, fee_proportional_millionths) we charge on lc."""
        cfg = self.node.config
        return (lc.fee_base_msat if lc.fee_base_msat is not None else cfg.fee_base_msat,
                lc.fee_proportional_millionths if lc.fee_proportional_millionths is not None
                else cfg.fee_ppm)

    def _setchannel_entry(self, lc: LocalChannel) -> dict[str, Any]:
        fee_base, fee_ppm = self._fees(lc)
        return {"peer_id": lc.remote_node_id.hex(), "channel_id": lc.channel_id.hex(),
                "short_channel_id": format_scid(lc.short_channel_id), "fee_base_msat": fee_base,
                "fee_proportional_millionths": fee_ppm, "minimum_htlc_out_msat": lc.htlc_minimum_msat,
                "maximum_htlc_out_msat": lc.htlc_maximum_msat, "ignore_fee_limits": True}

    # ---- received messages ----------------------------------------------------------------

    async def handle_message(self, peer: Peer, msg_type: int, payload: bytes) -> None:
        raw = msg_type.to_bytes(2, "big") + payload
        msg = decode(raw)  # WireError -> the peer manager warns and disconnects
        state = self._peers.setdefault(peer.node_id, _PeerState())
        try:
            if isinstance(msg, ChannelAnnouncement):
                accepted = await self.ingest.channel_announcement(msg)
                await self._relay(accepted, source=peer.node_id)
            elif isinstance(msg, ChannelUpdate):
                accepted = self.ingest.channel_update(msg)
                await self._relay(accepted, source=peer.node_id)
            elif isinstance(msg, NodeAnnouncement):
                accepted = self.ingest.node_announcement(msg)
                await self._relay(accepted, source=peer.node_id)
            elif isinstance(msg, AnnouncementSignatures):
                await self._accept_announcement_signatures(peer.node_id, msg)
            elif isinstance(msg, GossipTimestampFilter):
                await self._on_timestamp_filter(peer, state, msg)
            elif isinstance(msg, QueryChannelRange):
                await self._answer_channel_range(peer, msg)
            elif isinstance(msg, QueryShortChannelIds):
                await self._answer_short_channel_ids(peer, state, msg)
            elif isinstance(msg, (ReplyChannelRange, ReplyShortChannelIdsEnd)):
                log.debug("ignoring %s from %s (we send no queries)", msg.NAME, peer.id_hex)
        except GossipError as exc:
            log.info("ignoring %s from %s: %s", type(msg).__name__, peer.id_hex, exc)

    async def _accept_announcement_signatures(self, remote_node_id: bytes,
                                              msg: AnnouncementSignatures) -> None:
        scid = msg.short_channel_id.to_int()
        lc = self._local.get(scid)
        if lc is None:
            log.info("announcement_signatures for %s before the channel was registered: held",
                     msg.short_channel_id)
            self._early_signatures[scid] = (remote_node_id, msg)
            return
        if lc.remote_node_id != remote_node_id:
            raise GossipError(f"announcement_signatures for {msg.short_channel_id} from "
                              f"{remote_node_id.hex()}, which is not that channel's peer")
        if not lc.announce:
            raise GossipError(f"announcement_signatures for unannounced channel "
                              f"{msg.short_channel_id}")
        verify_announcement_signatures(self._unsigned_announcement(lc), msg, remote_node_id)
        if lc.remote_node_signature is None:
            self._set_local(lc, remote_node_signature=msg.node_signature,
                            remote_bitcoin_signature=msg.bitcoin_signature)
        # BOLT 7: on receiving theirs we respond with ours (once per connection, so two
        # nodes of ours do not answer each other forever).
        await self._progress_announcement(lc, respond=True)

    async def _on_timestamp_filter(self, peer: Peer, state: _PeerState,
                                   msg: GossipTimestampFilter) -> None:
        if msg.chain_hash != REGTEST_CHAIN_HASH:
            return
        state.timestamp_filter = (msg.first_timestamp, msg.timestamp_range)
        for raw in self._gossip_dump(state):
            await _send(peer, raw)

    async def _answer_channel_range(self, peer: Peer, query: QueryChannelRange) -> None:
        first, end = query.first_blocknum, query.first_blocknum + query.number_of_blocks
        scids = [c.short_channel_id for c in self._announced_channels()
                 if first <= scid_parts(c.short_channel_id)[0] < end] \
            if query.chain_hash == REGTEST_CHAIN_HASH else []
        timestamps = None
        if (query.query_option or 0) & 1:
            timestamps = [self._update_timestamps(s) for s in scids]
        for reply in channel_range_replies(query.chain_hash, query.first_blocknum,
                                           query.number_of_blocks, scids, timestamps):
            await _send(peer, reply.encode())

    async def _answer_short_channel_ids(self, peer: Peer, state: _PeerState,
                                        query: QueryShortChannelIds) -> None:
        if query.chain_hash != REGTEST_CHAIN_HASH:
            await _send(peer, ReplyShortChannelIdsEnd(chain_hash=query.chain_hash,
                                                    full_information=0).encode())
            return
        scids = [s.to_int() for s in decode_short_channel_ids(query.encoded_short_ids)]
        flags = decode_query_flags(query.query_flags) if query.query_flags else None
        if flags is not None and len(flags) != len(scids):
            raise WireError(f"query_short_channel_ids has {len(flags)} query flags for "
                            f"{len(scids)} short_channel_ids")
        nodes_sent: set[bytes] = set()
        for i, scid in enumerate(scids):
            channel = self.graph.get_channel(scid)
            if channel is None or not channel.public or channel.announcement is None:
                continue
            flag = flags[i] if flags is not None else 0b11111
            if flag & 1:
                await _send(peer, channel.announcement)
                state.sent_announcements.add(scid)
            for direction in (0, 1):
                policy = channel.policies[direction]
                if flag & (2 << direction) and policy is not None and policy.raw_update:
                    await _send(peer, policy.raw_update)
            for index in (0, 1):
                node = self.graph.get_node(channel.node_id(index))
                if (flag & (8 << index) and node is not None and node.raw_announcement
                        and node.node_id not in nodes_sent):
                    nodes_sent.add(node.node_id)
                    await _send(peer, node.raw_announcement)
        await _send(peer, ReplyShortChannelIdsEnd(chain_hash=REGTEST_CHAIN_HASH,
                                                full_information=1).encode())

    # ---- relaying ---------------------------------------------------------------------------

    async def _relay(self, accepted: Accepted, *, source: bytes | None) -> None:
        """Send what was accepted to the peers whose timestamp filter wants it."""
        if not accepted:
            return
        for node_id, state in list(self._peers.items()):
            if node_id == source:
                continue
            peer = self.node.peers.get(node_id)
            if peer is None:
                continue
            for scid, direction in accepted.updated_channels:
                channel = self.graph.get_channel(scid)
                if channel is None or not channel.public:
                    continue
                policy = channel.policies[direction]
                if policy is None or policy.raw_update is None or policy.message_flags & 2:
                    continue
                if not state.wants(policy.timestamp):
                    continue
                if scid not in state.sent_announcements and channel.announcement:
                    await _send(peer, channel.announcement)
                    state.sent_announcements.add(scid)
                await _send(peer, policy.raw_update)
            for nid in accepted.updated_nodes:
                node = self.graph.get_node(nid)
                if node is not None and node.raw_announcement and state.wants(node.timestamp):
                    await _send(peer, node.raw_announcement)

    def _gossip_dump(self, state: _PeerState) -> list[bytes]:
        """All stored public gossip matching the peer's filter, announcements first."""
        out: list[bytes] = []
        nodes: list[bytes] = []
        for channel in self._announced_channels():
            updates = [p for p in channel.policies
                       if p is not None and p.raw_update and not p.message_flags & 2]
            if not updates or channel.announcement is None:
                continue  # BOLT 7: no channel_announcement without a channel_update
            wanted = [p for p in updates if state.wants(p.timestamp)]
            if not wanted:
                continue
            if channel.short_channel_id not in state.sent_announcements:
                out.append(channel.announcement)
                state.sent_announcements.add(channel.short_channel_id)
            out += [p.raw_update for p in wanted if p.raw_update]
            nodes += [channel.node_id_1, channel.node_id_2]
        for node_id in dict.fromkeys(nodes):
            node = self.graph.get_node(node_id)
            if node is not None and node.raw_announcement and state.wants(node.timestamp):
                out.append(node.raw_announcement)
        return out

    async def _send_own_public_gossip(self, peer: Peer, state: _PeerState) -> None:
        """Our announced channels, our updates on them and our node_announcement."""
        sent_any = False
        for lc in self._local.values():
            if not lc.announced or lc.closed:
                continue
            channel = self.graph.get_channel(lc.short_channel_id)
            if channel is None or channel.announcement is None:
                continue
            update = self._our_update(lc)
            if update is None:
                continue
            await _send(peer, channel.announcement)
            state.sent_announcements.add(lc.short_channel_id)
            await _send(peer, update)
            sent_any = True
        own = self.graph.get_node(self.node.node_id)
        if sent_any and own is not None and own.raw_announcement:
            await _send(peer, own.raw_announcement)

    async def _broadcast_own(self, messages: Iterable[bytes | None]) -> None:
        """Own gossip goes to every connected peer, whatever its filter."""
        batch = [m for m in messages if m]
        for node_id, state in list(self._peers.items()):
            peer = self.node.peers.get(node_id)
            if peer is None:
                continue
            for raw in batch:
                if raw[:2] == b"\x01\x00":
                    state.sent_announcements.add(_announcement_scid(raw))
                await _send(peer, raw)

    # ---- our own channels ---------------------------------------------------------------

    def _unsigned_announcement(self, lc: LocalChannel) -> ChannelAnnouncement:
        return unsigned_channel_announcement(
            lc.short_channel_id, self.node.node_id, lc.remote_node_id, lc.local_funding_pubkey,
            lc.remote_funding_pubkey)

    def _depth(self, scid: int) -> int:
        """Confirmations of the funding tx (on_block runs before blockheight moves)."""
        return max(self._height, self.node.blockheight) - scid_parts(scid)[0] + 1

    async def _progress_announcement(self, lc: LocalChannel, *, respond: bool = False) -> None:
        """Once the funding is deep enough: send our announcement_signatures (unless the
        channel is announced already and the peer did not just send theirs), and announce
        the channel when both ends' signatures are known."""
        if not lc.announce or lc.closed:
            return
        if self._depth(lc.short_channel_id) < ANNOUNCE_DEPTH:
            return
        peer = self.node.peers.get(lc.remote_node_id)
        state = self._peers.get(lc.remote_node_id)
        if (peer is not None and state is not None and (respond or not lc.announced)
                and lc.short_channel_id not in state.sent_announcement_signatures
                and lc.local_node_signature and lc.local_bitcoin_signature):
            state.sent_announcement_signatures.add(lc.short_channel_id)
            await _send(peer, AnnouncementSignatures(
                channel_id=lc.channel_id,
                short_channel_id=ShortChannelId.from_int(lc.short_channel_id),
                node_signature=lc.local_node_signature,
                bitcoin_signature=lc.local_bitcoin_signature).encode())
        if lc.announced or lc.remote_node_signature is None or lc.remote_bitcoin_signature is None:
            return
        if lc.local_node_signature is None or lc.local_bitcoin_signature is None:
            return
        ann = with_signatures(self._unsigned_announcement(lc), self.node.node_id,
                              lc.local_node_signature, lc.local_bitcoin_signature)
        ann = with_signatures(ann, lc.remote_node_id, lc.remote_node_signature,
                              lc.remote_bitcoin_signature)
        verify_channel_announcement(ann)
        self.graph.add_channel(lc.short_channel_id, ann.node_id_1, ann.node_id_2,
                               capacity_sat=lc.capacity_sat, announcement=ann.encode(),
                               bitcoin_key_1=ann.bitcoin_key_1, bitcoin_key_2=ann.bitcoin_key_2,
                               added_at=int(time.time()), local=True)
        self._set_local(lc, announced=True)
        log.info("channel %s announced", format_scid(lc.short_channel_id))
        update = self._issue_update(lc)
        node_ann = self._refresh_own_node_announcement()
        await self._broadcast_own([ann.encode(), update, node_ann])

    async def _publish_own_update(self, lc: LocalChannel, raw: bytes) -> None:
        """Send our new channel_update: to everyone if the channel is announced, else only to
        the peer (a private channel's update is for its route hints)."""
        if lc.announced:
            await self._broadcast_own([raw])
        else:
            peer = self.node.peers.get(lc.remote_node_id)
            if peer is not None:
                await _send(peer, raw)

    def _issue_update(self, lc: LocalChannel, *, disabled: bool | None = None) -> bytes:
        """Sign a fresh channel_update for our direction, store it in the graph, return it."""
        channel = self.graph.get_channel(lc.short_channel_id)
        if channel is None:
            raise GossipError(f"local channel {format_scid(lc.short_channel_id)} not in graph")
        direction = channel.direction_from(self.node.node_id)
        previous = channel.policies[direction]
        timestamp = max(int(time.time()), (previous.timestamp + 1) if previous else 1)
        fee_base, fee_ppm = self._fees(lc)
        update = make_channel_update(
            self.node.node_privkey, short_channel_id=lc.short_channel_id, timestamp=timestamp,
            direction=direction, cltv_expiry_delta=self.node.config.cltv_delta,
            htlc_minimum_msat=lc.htlc_minimum_msat, htlc_maximum_msat=lc.htlc_maximum_msat,
            fee_base_msat=fee_base, fee_proportional_millionths=fee_ppm,
            disabled=lc.closed if disabled is None else disabled,
            dont_forward=not lc.announced)
        self.graph.update_policy(lc.short_channel_id, direction, policy_from_update(update))
        return update.encode()

    def _our_update(self, lc: LocalChannel) -> bytes | None:
        """Our latest channel_update for lc; a fresh one if the stored one no longer fits
        (e.g. it was private and the channel is now announced)."""
        channel = self.graph.get_channel(lc.short_channel_id)
        if channel is None:
            return None
        policy = channel.policies[channel.direction_from(self.node.node_id)]
        if policy is None or policy.raw_update is None or (
                lc.announced and policy.message_flags & 2):
            return self._issue_update(lc)
        return policy.raw_update

    def _refresh_own_node_announcement(self) -> bytes:
        rows = self.node.db.query("SELECT timestamp FROM gossip_own_node WHERE id = 0")
        previous = rows[0]["timestamp"] if rows else 0
        timestamp = max(int(time.time()), previous + 1)
        self.node.db.execute(
            "INSERT INTO gossip_own_node (id, timestamp) VALUES (0, ?) "
            "ON CONFLICT(id) DO UPDATE SET timestamp = excluded.timestamp", (timestamp,))
        addresses = []
        listen = self.node.listen_address
        if listen is not None and listen[0] not in ("0.0.0.0", "::"):
            kind = "ipv6" if ":" in listen[0] else "ipv4"
            addresses.append(NodeAddress(kind, listen[0], listen[1]))
        na = make_node_announcement(
            self.node.node_privkey, timestamp=timestamp, alias=_truncate_alias(self.node.alias),
            rgb_color=bytes.fromhex(self.node.color), addresses=addresses,
            features=_feature_bytes(self.node.peers.our_features))
        raw = na.encode()
        self.graph.upsert_node(GraphNode(
            node_id=self.node.node_id, timestamp=timestamp, features=na.features,
            rgb_color=na.rgb_color, alias=_truncate_alias(self.node.alias),
            addresses=tuple(addresses), raw_announcement=raw))
        return raw

    # ---- chain ---------------------------------------------------------------------------

    async def lookup_txout(self, scid: int) -> tuple[int, bytes] | None:
        """(value_sat, script_pubkey) of the unspent output scid points at, else None."""
        height, tx_index, vout = scid_parts(scid)
        block = self._block_cache.get(height)
        try:
            if block is None:
                block_hash = await self.node.chain.getblockhash(height)
                block = CBlock.deserialize(await self.node.chain.getrawblock(block_hash))
            if tx_index >= len(block.vtx) or vout >= len(block.vtx[tx_index].vout):
                return None
            tx = block.vtx[tx_index]
            if await self.node.chain.gettxout(b2lx(tx.GetTxid()), vout) is None:
                return None
        except Exception as exc:  # chain errors: the announcement cannot be checked now
            log.info("cannot look up the funding output of %s: %r", format_scid(scid), exc)
            return None
        self._remember_outpoint(scid, bytes(tx.GetTxid()), vout)
        out = tx.vout[vout]
        return out.nValue, bytes(out.scriptPubKey)

    # ---- helpers ----------------------------------------------------------------------------

    def _announced_channels(self) -> list[GraphChannel]:
        return [c for c in self.graph.channels() if c.public and c.spent_height is None]

    def _update_timestamps(self, scid: int) -> tuple[int, int]:
        channel = self.graph.get_channel(scid)
        if channel is None:
            return 0, 0
        stamps = [p.timestamp if p is not None else 0 for p in channel.policies]
        return stamps[0], stamps[1]

    def local_channels(self) -> list[LocalChannel]:
        return list(self._local.values())

    def _remember_outpoint(self, scid: int, txid: bytes, vout: int) -> None:
        if self._outpoints.get((txid, vout)) == scid:
            return
        self._outpoints[(txid, vout)] = scid
        self.node.db.execute(
            "INSERT OR REPLACE INTO gossip_funding_outpoints (short_channel_id, txid, vout) "
            "VALUES (?, ?, ?)", (scid, txid, vout))

    def _forget_outpoint(self, scid: int) -> None:
        for key, value in list(self._outpoints.items()):
            if value == scid:
                del self._outpoints[key]
        self.node.db.execute("DELETE FROM gossip_funding_outpoints WHERE short_channel_id = ?",
                             (scid,))

    def _save_local(self, lc: LocalChannel) -> None:
        self.node.db.execute(
            "INSERT OR REPLACE INTO gossip_local_channels (short_channel_id, channel_id, "
            "remote_node_id, local_funding_pubkey, remote_funding_pubkey, capacity_sat, announce, "
            "htlc_minimum_msat, htlc_maximum_msat, local_node_signature, local_bitcoin_signature, "
            "remote_node_signature, remote_bitcoin_signature, announced, closed, fee_base_msat, "
            "fee_proportional_millionths) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (lc.short_channel_id, lc.channel_id, lc.remote_node_id, lc.local_funding_pubkey,
             lc.remote_funding_pubkey, lc.capacity_sat, int(lc.announce), lc.htlc_minimum_msat,
             lc.htlc_maximum_msat, lc.local_node_signature, lc.local_bitcoin_signature,
             lc.remote_node_signature, lc.remote_bitcoin_signature, int(lc.announced),
             int(lc.closed), lc.fee_base_msat, lc.fee_proportional_millionths))

    def _set_local(self, lc: LocalChannel, **changes: Any) -> None:
        for name, value in changes.items():
            if not hasattr(lc, name):
                raise AttributeError(f"LocalChannel has no field {name}")
            setattr(lc, name, value)
        self._save_local(lc)

    def _load(self) -> None:
        for row in self.node.db.query("SELECT * FROM gossip_local_channels"):
            lc = LocalChannel(
                short_channel_id=row["short_channel_id"], channel_id=bytes(row["channel_id"]),
                remote_node_id=bytes(row["remote_node_id"]),
                local_funding_pubkey=bytes(row["local_funding_pubkey"]),
                remote_funding_pubkey=bytes(row["remote_funding_pubkey"]),
                capacity_sat=row["capacity_sat"], announce=bool(row["announce"]),
                htlc_minimum_msat=row["htlc_minimum_msat"],
                htlc_maximum_msat=row["htlc_maximum_msat"],
                local_node_signature=_opt(row["local_node_signature"]),
                local_bitcoin_signature=_opt(row["local_bitcoin_signature"]),
                remote_node_signature=_opt(row["remote_node_signature"]),
                remote_bitcoin_signature=_opt(row["remote_bitcoin_signature"]),
                announced=bool(row["announced"]), closed=bool(row["closed"]),
                fee_base_msat=row["fee_base_msat"],
                fee_proportional_millionths=row["fee_proportional_millionths"])
            self._local[lc.short_channel_id] = lc
        for row in self.node.db.query("SELECT * FROM gossip_funding_outpoints"):
            self._outpoints[(bytes(row["txid"]), row["vout"])] = row["short_channel_id"]


def channel_range_replies(chain_hash: bytes, first_blocknum: int, number_of_blocks: int,
                          scids: Sequence[int],
                          timestamps: Sequence[tuple[int, int]] | None = None, *,
                          chunk_size: int = REPLY_CHUNK_SCIDS) -> list[ReplyChannelRange]:
    """The reply_channel_range messages answering a query for the given range with the
    (ascending) scids found in it: the first starts at the query's first block, each
    following one at its first channel's block, the last reaches the query's end and alone
    has sync_complete set (BOLT 7)."""
    end = first_blocknum + number_of_blocks
    indexes = list(range(0, len(scids), chunk_size)) or [0]
    replies = []
    for n, i in enumerate(indexes):
        chunk = scids[i:i + chunk_size]
        last = n == len(indexes) - 1
        start = first_blocknum if n == 0 else scid_parts(chunk[0])[0]
        stop = end if last else scid_parts(chunk[-1])[0] + 1
        replies.append(ReplyChannelRange(
            chain_hash=chain_hash, first_blocknum=start, number_of_blocks=max(1, stop - start),
            sync_complete=int(last),
            encoded_short_ids=encode_short_channel_ids(
                [ShortChannelId.from_int(s) for s in chunk]),
            timestamps=(encode_timestamps(timestamps[i:i + chunk_size])
                        if timestamps is not None else None),
            checksums=None))
    return replies


async def _send(peer: Peer, raw: bytes) -> None:
    """Send to a peer; a connection that closed meanwhile is not an error for gossip."""
    try:
        await peer.send(raw)
    except (transport.ConnectionClosed, ValueError) as exc:
        log.debug("could not send message type %d to %s: %r",
                  int.from_bytes(raw[:2], "big"), peer.id_hex, exc)


def _announcement_scid(raw: bytes) -> int:
    """short_channel_id of an encoded channel_announcement (type included)."""
    msg = decode(raw)
    if not isinstance(msg, ChannelAnnouncement):
        raise ValueError("not a channel_announcement")
    return msg.short_channel_id.to_int()


def _pubkey(privkey: bytes) -> bytes:
    return PrivateKey(privkey).public_key.format()


def _opt(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _truncate_alias(alias: str) -> str:
    data = alias.encode()[:32]
    return data.decode("utf-8", "ignore")


def _feature_bytes(features: Any) -> bytes:
    """Our init features as a bitfield (features.Features or raw bytes)."""
    return features.to_bytes() if hasattr(features, "to_bytes") else bytes(features)
