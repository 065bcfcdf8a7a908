"""Accepting received gossip into the graph (BOLT 7 receiver rules).

`GossipIngest` verifies channel_announcement / channel_update / node_announcement and
applies them to a Graph; it decides nothing about peers or relaying, it only says what was
accepted. Updates and node announcements that arrive before their channel are held (a few)
and applied when it does. The funding output is looked up through a coroutine the daemon
provides: `lookup_txout(short_channel_id) -> (value_sat, script_pubkey) | None`.

Layer: gossip. Imports wire and the gossip modules announce and graph.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..wire.codec import REGTEST_CHAIN_HASH, ShortChannelId, WireError
from ..wire.messages import ChannelAnnouncement, ChannelUpdate, NodeAnnouncement, decode
from .announce import (
    GossipError,
    alias_text,
    announced_addresses,
    check_funding_output,
    policy_from_update,
    update_direction,
    verify_channel_announcement,
    verify_channel_update,
    verify_node_announcement,
)
from .graph import Graph, GraphNode

TxoutLookup = Callable[[int], Awaitable["tuple[int, bytes] | None"]]

MAX_FUTURE_SECS = 24 * 3600
"""channel_update/node_announcement timestamps further ahead than this are discarded."""
CHANNEL_UPDATE_TYPE = (258).to_bytes(2, "big")
MAX_PENDING = 1000
RETRY_BLOCKS = 6
"""Blocks during which an announcement whose output was not found is tried again (the
output may be in a block this node has not seen yet)."""


@dataclass
class Accepted:
    """What one received message changed: the channels that got a new announcement or
    update, and the nodes that got a new announcement (so the caller can relay them)."""

    announced_channels: list[int] = field(default_factory=list)
    updated_channels: list[tuple[int, int]] = field(default_factory=list)
    updated_nodes: list[bytes] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.announced_channels or self.updated_channels or self.updated_nodes)

    def extend(self, other: Accepted) -> None:
        self.announced_channels += other.announced_channels
        self.updated_channels += other.updated_channels
        self.updated_nodes += other.updated_nodes


class GossipIngest:
    """Verify received gossip and store it in the graph."""

    def __init__(self, graph: Graph, lookup_txout: TxoutLookup, *,
                 chain_hash: bytes = REGTEST_CHAIN_HASH,
                 clock: Callable[[], float] = time.time) -> None:
        self.graph = graph
        self.lookup_txout = lookup_txout
        self.chain_hash = chain_hash
        self.clock = clock
        self._pending_updates: dict[int, list[ChannelUpdate]] = {}
        self._pending_nodes: dict[bytes, NodeAnnouncement] = {}
        self._unconfirmed: dict[int, tuple[ChannelAnnouncement, int]] = {}

    async def channel_announcement(self, ann: ChannelAnnouncement) -> Accepted:
        """Verify signatures, chain and funding output; store it. Raises GossipError."""
        scid = ann.short_channel_id.to_int()
        known = self.graph.get_channel(scid)
        raw = ann.encode()
        if known is not None and known.announcement == raw:
            return Accepted()
        verify_channel_announcement(ann, chain_hash=self.chain_hash)
        if known is not None and known.public and (known.node_id_1, known.node_id_2) != (
                ann.node_id_1, ann.node_id_2):
            raise GossipError(f"channel_announcement {ann.short_channel_id} conflicts with the "
                              "announcement already known for that output")
        if known is not None and known.local and known.capacity_sat is not None:
            capacity_sat = known.capacity_sat  # our own channel: its output is known
        else:
            txout = await self.lookup_txout(scid)
            if txout is None and scid not in self._unconfirmed and (
                    len(self._unconfirmed) < MAX_PENDING):
                self._unconfirmed[scid] = (ann, 0)
            capacity_sat = check_funding_output(ann, txout)
            self._unconfirmed.pop(scid, None)
        self.graph.add_channel(scid, ann.node_id_1, ann.node_id_2, capacity_sat=capacity_sat,
                               features=ann.features, announcement=raw,
                               bitcoin_key_1=ann.bitcoin_key_1, bitcoin_key_2=ann.bitcoin_key_2,
                               added_at=int(self.clock()))
        accepted = Accepted(announced_channels=[scid])
        accepted.extend(self.apply_held_updates(scid))
        for node_id in (ann.node_id_1, ann.node_id_2):
            held = self._pending_nodes.pop(node_id, None)
            if held is not None:
                try:
                    accepted.extend(self.node_announcement(held))
                except GossipError:
                    pass
        return accepted

    async def retry_unconfirmed(self) -> Accepted:
        """Try again the announcements whose funding output was not found (call per block)."""
        accepted = Accepted()
        for scid, (ann, tries) in list(self._unconfirmed.items()):
            try:
                accepted.extend(await self.channel_announcement(ann))
            except GossipError:
                if tries + 1 >= RETRY_BLOCKS:
                    self._unconfirmed.pop(scid, None)
                elif scid in self._unconfirmed:
                    self._unconfirmed[scid] = (ann, tries + 1)
        return accepted

    def apply_held_updates(self, scid: int) -> Accepted:
        """Apply the channel_updates that arrived before channel scid was known (call after
        adding a channel to the graph yourself, e.g. one of our own)."""
        accepted = Accepted()
        for update in self._pending_updates.pop(scid, []):
            try:
                accepted.extend(self.channel_update(update))
            except GossipError:
                pass
        return accepted

    def channel_update(self, cu: ChannelUpdate) -> Accepted:
        """Verify and store a channel_update; stale or unknown ones change nothing.
        Raises GossipError for a bad signature or an unknown chain."""
        scid = cu.short_channel_id.to_int()
        channel = self.graph.get_channel(scid)
        if channel is None:
            if len(self._pending_updates) < MAX_PENDING:
                held = self._pending_updates.setdefault(scid, [])
                if len(held) < 4:
                    held.append(cu)
            return Accepted()
        direction = update_direction(cu)
        known = channel.policies[direction]
        if known is not None and cu.timestamp <= known.timestamp:
            return Accepted()  # stale (a copy from another peer, say): not worth a signature check
        verify_channel_update(cu, channel.node_id(direction), chain_hash=self.chain_hash)
        if channel.spent_height is not None and not cu.channel_flags & 2:
            return Accepted()
        if cu.timestamp > self.clock() + MAX_FUTURE_SECS:
            return Accepted()
        if self.graph.update_policy(scid, direction, policy_from_update(cu)):
            return Accepted(updated_channels=[(scid, direction)])
        return Accepted()

    def node_announcement(self, na: NodeAnnouncement) -> Accepted:
        """Verify and store a node_announcement of a node with a public channel.
        Raises GossipError for a bad signature."""
        known = self.graph.get_node(na.node_id)
        if known is not None and na.timestamp <= known.timestamp:
            return Accepted()  # stale (a copy from another peer, say): not worth a signature check
        verify_node_announcement(na)
        if not self.graph.has_public_channel(na.node_id):
            if len(self._pending_nodes) < MAX_PENDING:
                self._pending_nodes[na.node_id] = na
            return Accepted()
        if na.timestamp > self.clock() + MAX_FUTURE_SECS:
            return Accepted()
        node = GraphNode(node_id=na.node_id, timestamp=na.timestamp, features=na.features,
                         rgb_color=na.rgb_color, alias=alias_text(na),
                         addresses=announced_addresses(na), raw_announcement=na.encode())
        if self.graph.upsert_node(node):
            return Accepted(updated_nodes=[na.node_id])
        return Accepted()


def read_failure_update(raw: bytes, *, short_channel_id: int, erring_node_id: bytes,
                        next_node_id: bytes, chain_hash: bytes = REGTEST_CHAIN_HASH,
                        now: float | None = None) -> ChannelUpdate:
    """The channel_update a BOLT 4 failure carried, checked as BOLT 7 checks gossip: it must
    be for the channel the erring node was asked to forward over (``short_channel_id``,
    towards ``next_node_id``), in the erring node's direction, signed by the erring node,
    for our chain and not dated far in the future. ``raw`` may carry the 2-byte message type
    (as the spec asked until 2024 and current implementations send) or not (as older ones
    did). Raises GossipError naming what is wrong."""
    candidates = []
    for data in ((raw,) if raw[:2] == CHANNEL_UPDATE_TYPE else ()) + (CHANNEL_UPDATE_TYPE + raw,):
        try:
            msg = decode(data)
        except WireError:
            continue
        if isinstance(msg, ChannelUpdate):
            candidates.append(msg)
    if erring_node_id == next_node_id:
        raise GossipError(f"no channel from {erring_node_id.hex()} to itself")
    if not candidates:
        raise GossipError(f"failure's channel_update ({len(raw)} bytes) is not a channel_update")
    direction = 0 if erring_node_id < next_node_id else 1
    problems = []
    for cu in candidates:  # with the type prefix first: the form that verifies wins
        try:
            if cu.short_channel_id.to_int() != short_channel_id:
                raise GossipError(f"channel_update is for channel {cu.short_channel_id}, not the "
                                  f"failing one {ShortChannelId.from_int(short_channel_id)}")
            if update_direction(cu) != direction:
                raise GossipError(f"channel_update {cu.short_channel_id} has direction "
                                  f"{update_direction(cu)}, not the erring node's {direction}")
            verify_channel_update(cu, erring_node_id, chain_hash=chain_hash)
            if cu.timestamp > (time.time() if now is None else now) + MAX_FUTURE_SECS:
                raise GossipError(f"channel_update {cu.short_channel_id} is dated "
                                  f"{cu.timestamp}, too far in the future")
            return cu
        except GossipError as exc:
            problems.append(str(exc))
    raise GossipError(problems[0])
