"""Gossip with peers (BOLT 7 "Query Messages" and relaying): what each peer asked for, and
what we send it.

Layer: gossip. Imports net (Peer, transport errors), wire (messages), core (log) and the
gossip graph / ingest records; nothing of the channel layer.

- gossip_timestamp_filter: remembered per peer; on receipt, the stored public gossip that
  matches it is sent (announcements first, BOLT 7: never a channel_announcement without a
  channel_update).
- query_channel_range / query_short_channel_ids: answered from the graph.
- Relay: what the ingest accepted goes to the peers whose filter wants it; our own gossip
  goes to every connected peer, whatever its filter (`broadcast_own`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ..core.log import get_logger
from ..net import transport
from ..net.peer import Peer
from ..wire.codec import ShortChannelId, WireError
from ..wire.messages import (
    ChannelAnnouncement,
    GossipTimestampFilter,
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
from .graph import Graph, GraphChannel, scid_parts
from .ingest import Accepted

log = get_logger("gossipd")

GOSSIP_QUERIES_BITS = (6, 7)
REPLY_CHUNK_SCIDS = 2000
"""short_channel_ids per reply_channel_range (with timestamps: 24 bytes each, < 65535)."""


@dataclass
class PeerState:
    """Gossip state of one connected peer."""

    timestamp_filter: tuple[int, int] | None = None
    sent_announcements: set[int] = field(default_factory=set)
    sent_announcement_signatures: set[int] = field(default_factory=set)

    def wants(self, timestamp: int) -> bool:
        if self.timestamp_filter is None:
            return False
        first, span = self.timestamp_filter
        return first <= timestamp < first + span


class GossipSync:
    """Per-peer gossip state, query answers and relaying, over the graph."""

    def __init__(self, graph: Graph, chain_hash: bytes,
                 connected_peer: Callable[[bytes], Peer | None]) -> None:
        self.graph = graph
        self.chain_hash = chain_hash
        self._connected_peer = connected_peer
        self._peers: dict[bytes, PeerState] = {}

    # ---- peer states ------------------------------------------------------------------------

    async def peer_connected(self, peer: Peer) -> PeerState:
        """A fresh state for the peer; ask it for all gossip if it offers gossip_queries."""
        state = self._peers[peer.node_id] = PeerState()
        if set(peer.feature_bits) & set(GOSSIP_QUERIES_BITS):
            await send(peer, GossipTimestampFilter(
                chain_hash=self.chain_hash, first_timestamp=0,
                timestamp_range=0xFFFFFFFF).encode())
        return state

    def peer_disconnected(self, peer: Peer) -> None:
        self._peers.pop(peer.node_id, None)

    def state_of(self, peer: Peer) -> PeerState:
        """The peer's state (created if a message arrives before on_peer_connected ran)."""
        return self._peers.setdefault(peer.node_id, PeerState())

    def connected_state(self, node_id: bytes) -> tuple[Peer, PeerState] | None:
        """The connected peer with this id and its gossip state, if both exist."""
        peer = self._connected_peer(node_id)
        state = self._peers.get(node_id)
        if peer is None or state is None:
            return None
        return peer, state

    # ---- queries ----------------------------------------------------------------------------

    async def on_timestamp_filter(self, peer: Peer, state: PeerState,
                                  msg: GossipTimestampFilter) -> None:
        if msg.chain_hash != self.chain_hash:
            return
        state.timestamp_filter = (msg.first_timestamp, msg.timestamp_range)
        for raw in self._gossip_dump(state):
            await send(peer, raw)

    async def answer_channel_range(self, peer: Peer, query: QueryChannelRange) -> None:
        first, end = query.first_blocknum, query.first_blocknum + query.number_of_blocks
        scids = [c.short_channel_id for c in self._announced_channels()
                 if first <= scid_parts(c.short_channel_id)[0] < end] \
            if query.chain_hash == self.chain_hash else []
        timestamps = None
        if (query.query_option or 0) & 1:
            timestamps = [self._update_timestamps(s) for s in scids]
        for reply in channel_range_replies(query.chain_hash, query.first_blocknum,
                                           query.number_of_blocks, scids, timestamps):
            await send(peer, reply.encode())

    async def answer_short_channel_ids(self, peer: Peer, state: PeerState,
                                       query: QueryShortChannelIds) -> None:
        if query.chain_hash != self.chain_hash:
            await send(peer, ReplyShortChannelIdsEnd(chain_hash=query.chain_hash,
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
                await send(peer, channel.announcement)
                state.sent_announcements.add(scid)
            for direction in (0, 1):
                policy = channel.policies[direction]
                if flag & (2 << direction) and policy is not None and policy.raw_update:
                    await send(peer, policy.raw_update)
            for index in (0, 1):
                node = self.graph.get_node(channel.node_id(index))
                if (flag & (8 << index) and node is not None and node.raw_announcement
                        and node.node_id not in nodes_sent):
                    nodes_sent.add(node.node_id)
                    await send(peer, node.raw_announcement)
        await send(peer, ReplyShortChannelIdsEnd(chain_hash=self.chain_hash,
                                                 full_information=1).encode())

    # ---- relaying ---------------------------------------------------------------------------

    async def relay(self, accepted: Accepted, *, source: bytes | None) -> None:
        """Send what was accepted to the peers whose timestamp filter wants it (to each peer
        in one write)."""
        if not accepted:
            return
        for node_id, state in list(self._peers.items()):
            if node_id == source:
                continue
            peer = self._connected_peer(node_id)
            if peer is None:
                continue
            out: list[bytes] = []
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
                    out.append(channel.announcement)
                    state.sent_announcements.add(scid)
                out.append(policy.raw_update)
            for nid in accepted.updated_nodes:
                node = self.graph.get_node(nid)
                if node is not None and node.raw_announcement and state.wants(node.timestamp):
                    out.append(node.raw_announcement)
            await send_all(peer, out)

    async def broadcast_own(self, messages: Iterable[bytes | None]) -> None:
        """Own gossip goes to every connected peer, whatever its filter (in one write each)."""
        batch = [m for m in messages if m]
        announced = {_announcement_scid(raw) for raw in batch if raw[:2] == b"\x01\x00"}
        for node_id, state in list(self._peers.items()):
            peer = self._connected_peer(node_id)
            if peer is None:
                continue
            state.sent_announcements.update(announced)
            await send_all(peer, batch)

    def _gossip_dump(self, state: PeerState) -> list[bytes]:
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

    def _announced_channels(self) -> list[GraphChannel]:
        return [c for c in self.graph.channels() if c.public and c.spent_height is None]

    def _update_timestamps(self, scid: int) -> tuple[int, int]:
        channel = self.graph.get_channel(scid)
        if channel is None:
            return 0, 0
        stamps = [p.timestamp if p is not None else 0 for p in channel.policies]
        return stamps[0], stamps[1]


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


async def send(peer: Peer, raw: bytes) -> None:
    """Send to a peer; a connection that closed meanwhile is not an error for gossip."""
    try:
        await peer.send(raw)
    except (transport.ConnectionClosed, ValueError) as exc:
        log.debug("could not send message type %d to %s: %r",
                  int.from_bytes(raw[:2], "big"), peer.id_hex, exc)


async def send_all(peer: Peer, raws: Sequence[bytes]) -> None:
    """Send messages to a peer in order, in one write; as `send`, a connection that closed
    meanwhile is not an error for gossip."""
    if not raws:
        return
    try:
        await peer.send_many(raws)
    except (transport.ConnectionClosed, ValueError) as exc:
        log.debug("could not send %d gossip messages to %s: %r", len(raws), peer.id_hex, exc)


def _announcement_scid(raw: bytes) -> int:
    """short_channel_id of an encoded channel_announcement (type included)."""
    msg = decode(raw)
    if not isinstance(msg, ChannelAnnouncement):
        raise ValueError("not a channel_announcement")
    return msg.short_channel_id.to_int()
