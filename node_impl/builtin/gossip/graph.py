"""The network graph (BOLT 7): channels with both directions' policies and nodes.

Kept in memory for pathfinding and persisted in sqlite tables owned by this module
(`gossip_channels`, `gossip_policies`, `gossip_nodes`). Public channels come from verified
`channel_announcement`s; private channels are added locally by the channel manager.
Verification of the messages is not done here (see announce.py and ingest.py): the graph
stores facts.

Layer: gossip. Imports core (the Storage type) only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..core.storage import Storage

TWO_WEEKS_SECS = 1_209_600
"""BOLT 7: a channel whose oldest channel_update is older than this may be pruned."""

DEFAULT_FORGET_SPENT_AFTER_BLOCKS = 12
"""Blocks a spent channel is kept (not routable) before it is forgotten (BOLT 7 says 72
for splices; Core Lightning forgets after 12, which suits regtest tests better)."""


# ---- short_channel_id ------------------------------------------------------------------

def scid_from_parts(block_height: int, tx_index: int, output_index: int) -> int:
    """Pack a short_channel_id from its three components (BOLT 7)."""
    if not (0 <= block_height < 1 << 24 and 0 <= tx_index < 1 << 24
            and 0 <= output_index < 1 << 16):
        raise ValueError(
            f"short_channel_id component out of range: {block_height}x{tx_index}x{output_index}")
    return (block_height << 40) | (tx_index << 16) | output_index


def scid_parts(scid: int) -> tuple[int, int, int]:
    """(block_height, tx_index, output_index) of a short_channel_id."""
    return scid >> 40, (scid >> 16) & 0xFFFFFF, scid & 0xFFFF


def format_scid(scid: int) -> str:
    """Human readable short_channel_id, e.g. `539268x845x1`."""
    return "{}x{}x{}".format(*scid_parts(scid))


def parse_scid(text: str) -> int:
    """Parse `HxTxO` into a short_channel_id; raise ValueError naming the text otherwise."""
    pieces = text.split("x")
    if len(pieces) != 3 or not all(p.isdigit() for p in pieces):
        raise ValueError(f"not a short_channel_id (expected BLOCKxTXxOUT): {text!r}")
    return scid_from_parts(*(int(p) for p in pieces))


# ---- records ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ChannelPolicy:
    """One direction's forwarding policy, from a channel_update (or a route hint)."""

    fee_base_msat: int
    fee_proportional_millionths: int
    cltv_expiry_delta: int
    htlc_minimum_msat: int
    htlc_maximum_msat: int
    disabled: bool = False
    timestamp: int = 0
    message_flags: int = 1
    channel_flags: int = 0
    raw_update: bytes | None = None
    """The signed channel_update message (type included) for relaying; None if unsigned."""

    def fee_msat(self, amount_to_forward_msat: int) -> int:
        """BOLT 7 fee: fee_base_msat + amount_to_forward * fee_proportional_millionths / 1e6."""
        return self.fee_base_msat + (
            amount_to_forward_msat * self.fee_proportional_millionths) // 1_000_000

    def same_parameters(self, other: ChannelPolicy) -> bool:
        """True if the fields below the timestamp are equal."""
        return (self.fee_base_msat, self.fee_proportional_millionths, self.cltv_expiry_delta,
                self.htlc_minimum_msat, self.htlc_maximum_msat, self.disabled,
                self.message_flags, self.channel_flags) == (
                other.fee_base_msat, other.fee_proportional_millionths,
                other.cltv_expiry_delta, other.htlc_minimum_msat, other.htlc_maximum_msat,
                other.disabled, other.message_flags, other.channel_flags)


@dataclass
class GraphChannel:
    """A channel between node_id_1 < node_id_2; policies[d] is the update of direction d
    (d=0: sent by node_id_1, for payments node_id_1 -> node_id_2)."""

    short_channel_id: int
    node_id_1: bytes
    node_id_2: bytes
    capacity_sat: int | None
    features: bytes = b""
    announcement: bytes | None = None
    """The signed channel_announcement (type included); None for a private channel."""
    bitcoin_key_1: bytes | None = None
    bitcoin_key_2: bytes | None = None
    policies: list[ChannelPolicy | None] = field(default_factory=lambda: [None, None])
    spent_height: int | None = None
    added_at: int = 0
    local: bool = False
    """One end is this node (its channel manager added it)."""

    @property
    def public(self) -> bool:
        return self.announcement is not None

    @property
    def capacity_msat(self) -> int | None:
        return None if self.capacity_sat is None else self.capacity_sat * 1000

    def node_id(self, index: int) -> bytes:
        """node_id_1 for index 0, node_id_2 for index 1."""
        return self.node_id_1 if index == 0 else self.node_id_2

    def direction_from(self, node_id: bytes) -> int:
        """The direction bit of updates sent by node_id (0 for node_id_1)."""
        if node_id == self.node_id_1:
            return 0
        if node_id == self.node_id_2:
            return 1
        raise ValueError(f"node {node_id.hex()} is not an end of channel "
                         f"{format_scid(self.short_channel_id)}")

    def other_end(self, node_id: bytes) -> bytes:
        return self.node_id_2 if self.direction_from(node_id) == 0 else self.node_id_1


@dataclass(frozen=True)
class NodeAddress:
    """A network address from a node_announcement, named like Core Lightning's listnodes."""

    type: str  # ipv4, ipv6, torv3, dns
    address: str
    port: int


@dataclass(frozen=True)
class GraphNode:
    """What a node_announcement told us about a node."""

    node_id: bytes
    timestamp: int
    features: bytes = b""
    rgb_color: bytes = b"\x00\x00\x00"
    alias: str = ""
    addresses: tuple[NodeAddress, ...] = ()
    raw_announcement: bytes | None = None


# ---- the graph -------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gossip_channels (
    short_channel_id INTEGER PRIMARY KEY,
    node_id_1 BLOB NOT NULL,
    node_id_2 BLOB NOT NULL,
    capacity_sat INTEGER,
    features BLOB NOT NULL,
    announcement BLOB,
    bitcoin_key_1 BLOB,
    bitcoin_key_2 BLOB,
    spent_height INTEGER,
    added_at INTEGER NOT NULL,
    local INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS gossip_policies (
    short_channel_id INTEGER NOT NULL,
    direction INTEGER NOT NULL,
    fee_base_msat INTEGER NOT NULL,
    fee_proportional_millionths INTEGER NOT NULL,
    cltv_expiry_delta INTEGER NOT NULL,
    htlc_minimum_msat INTEGER NOT NULL,
    htlc_maximum_msat INTEGER NOT NULL,
    disabled INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    message_flags INTEGER NOT NULL,
    channel_flags INTEGER NOT NULL,
    raw_update BLOB,
    PRIMARY KEY (short_channel_id, direction)
);
CREATE TABLE IF NOT EXISTS gossip_nodes (
    node_id BLOB PRIMARY KEY,
    timestamp INTEGER NOT NULL,
    features BLOB NOT NULL,
    rgb_color BLOB NOT NULL,
    alias TEXT NOT NULL,
    addresses TEXT NOT NULL,
    raw_announcement BLOB
);
"""


class Graph:
    """In-memory network graph, written through to the node's Storage when one is given."""

    def __init__(self, db: Storage | None = None, *,
                 forget_spent_after_blocks: int = DEFAULT_FORGET_SPENT_AFTER_BLOCKS,
                 stale_after_secs: int = TWO_WEEKS_SECS) -> None:
        self._db = db
        self.forget_spent_after_blocks = forget_spent_after_blocks
        self.stale_after_secs = stale_after_secs
        self._channels: dict[int, GraphChannel] = {}
        self._nodes: dict[bytes, GraphNode] = {}
        self._by_node: dict[bytes, set[int]] = {}
        if db is not None:
            db.migrate("gossip", [_SCHEMA])
            self._load()

    # -- reading ---------------------------------------------------------------------

    def get_channel(self, scid: int) -> GraphChannel | None:
        return self._channels.get(scid)

    def channels(self) -> Iterator[GraphChannel]:
        """All channels, ordered by short_channel_id."""
        for scid in sorted(self._channels):
            yield self._channels[scid]

    def channels_of(self, node_id: bytes) -> list[GraphChannel]:
        return [self._channels[s] for s in sorted(self._by_node.get(node_id, ()))]

    def get_node(self, node_id: bytes) -> GraphNode | None:
        return self._nodes.get(node_id)

    def nodes(self) -> Iterator[GraphNode]:
        for node_id in sorted(self._nodes):
            yield self._nodes[node_id]

    def known_node_ids(self) -> list[bytes]:
        """Every node that is an end of a channel or has announced itself."""
        return sorted(set(self._by_node) | set(self._nodes))

    def has_public_channel(self, node_id: bytes) -> bool:
        return any(self._channels[s].public for s in self._by_node.get(node_id, ()))

    def __len__(self) -> int:
        return len(self._channels)

    # -- channels --------------------------------------------------------------------

    def add_channel(self, scid: int, node_id_1: bytes, node_id_2: bytes, *,
                    capacity_sat: int | None, features: bytes = b"",
                    announcement: bytes | None = None, bitcoin_key_1: bytes | None = None,
                    bitcoin_key_2: bytes | None = None, added_at: int = 0,
                    local: bool = False) -> GraphChannel:
        """Add (or replace the announcement facts of) a channel; keeps known policies."""
        if node_id_1 >= node_id_2:
            raise ValueError(f"node_id_1 must be the lesser key in channel {format_scid(scid)}")
        old = self._channels.get(scid)
        if old is not None and (old.node_id_1, old.node_id_2) != (node_id_1, node_id_2):
            self.remove_channel(scid)
            old = None
        channel = GraphChannel(
            short_channel_id=scid, node_id_1=node_id_1, node_id_2=node_id_2,
            capacity_sat=capacity_sat, features=features, announcement=announcement,
            bitcoin_key_1=bitcoin_key_1, bitcoin_key_2=bitcoin_key_2,
            policies=list(old.policies) if old else [None, None],
            spent_height=old.spent_height if old else None,
            added_at=old.added_at if old else added_at,
            local=local or (old.local if old else False))
        self._channels[scid] = channel
        self._by_node.setdefault(node_id_1, set()).add(scid)
        self._by_node.setdefault(node_id_2, set()).add(scid)
        self._save_channel(channel)
        return channel

    def add_local_channel(self, scid: int, local_node_id: bytes, remote_node_id: bytes, *,
                          capacity_sat: int, added_at: int = 0) -> GraphChannel:
        """Add one of our own channels (private until an announcement is attached)."""
        existing = self._channels.get(scid)
        if existing is not None and existing.public:
            if not existing.local:
                existing.local = True
                self._save_channel(existing)
            return existing
        first, second = sorted((local_node_id, remote_node_id))
        return self.add_channel(scid, first, second, capacity_sat=capacity_sat,
                                added_at=added_at, local=True)

    def remove_channel(self, scid: int) -> None:
        channel = self._channels.pop(scid, None)
        if channel is None:
            return
        for node_id in (channel.node_id_1, channel.node_id_2):
            scids = self._by_node.get(node_id)
            if scids is not None:
                scids.discard(scid)
                if not scids:
                    del self._by_node[node_id]
        if self._db is not None:
            with self._db.transaction():
                self._db.execute("DELETE FROM gossip_channels WHERE short_channel_id=?", (scid,))
                self._db.execute("DELETE FROM gossip_policies WHERE short_channel_id=?", (scid,))

    def update_policy(self, scid: int, direction: int, policy: ChannelPolicy) -> bool:
        """Store policy for direction if its timestamp is newer than the known one.

        Returns False (and changes nothing) for an unknown channel or a stale update.
        """
        if direction not in (0, 1):
            raise ValueError(f"direction must be 0 or 1, got {direction}")
        channel = self._channels.get(scid)
        if channel is None:
            return False
        known = channel.policies[direction]
        if known is not None and policy.timestamp <= known.timestamp:
            return False
        channel.policies[direction] = policy
        self._save_policy(scid, direction, policy)
        return True

    def mark_spent(self, scid: int, block_height: int) -> bool:
        """Record that the funding output was spent at block_height (no longer routable)."""
        channel = self._channels.get(scid)
        if channel is None or channel.spent_height is not None:
            return False
        channel.spent_height = block_height
        self._save_channel(channel)
        return True

    def mark_unspent(self, scid: int) -> None:
        """Undo mark_spent (the spending block was reorganised out)."""
        channel = self._channels.get(scid)
        if channel is not None and channel.spent_height is not None:
            channel.spent_height = None
            self._save_channel(channel)

    def prune(self, *, block_height: int, now: int) -> list[int]:
        """Forget channels spent long enough ago and public channels whose updates went
        stale; then nodes left without channels. Returns the forgotten scids."""
        forgotten = []
        for channel in list(self._channels.values()):
            if channel.spent_height is not None and (
                    block_height - channel.spent_height >= self.forget_spent_after_blocks):
                forgotten.append(channel.short_channel_id)
            elif channel.public and not channel.local:
                stamps = [p.timestamp for p in channel.policies if p is not None]
                if stamps and min(stamps) < now - self.stale_after_secs:
                    forgotten.append(channel.short_channel_id)
        for scid in forgotten:
            self.remove_channel(scid)
        for node_id in list(self._nodes):
            if node_id not in self._by_node:
                self.remove_node(node_id)
        return forgotten

    # -- nodes -----------------------------------------------------------------------

    def upsert_node(self, node: GraphNode) -> bool:
        """Store a node announcement if newer than the known one; True if stored."""
        known = self._nodes.get(node.node_id)
        if known is not None and node.timestamp <= known.timestamp:
            return False
        self._nodes[node.node_id] = node
        if self._db is not None:
            self._db.execute(
                "INSERT OR REPLACE INTO gossip_nodes VALUES (?,?,?,?,?,?,?)",
                (node.node_id, node.timestamp, node.features, node.rgb_color, node.alias,
                 json.dumps([[a.type, a.address, a.port] for a in node.addresses]),
                 node.raw_announcement))
        return True

    def remove_node(self, node_id: bytes) -> None:
        if self._nodes.pop(node_id, None) is not None and self._db is not None:
            self._db.execute("DELETE FROM gossip_nodes WHERE node_id=?", (node_id,))

    # -- persistence -----------------------------------------------------------------

    def _save_channel(self, c: GraphChannel) -> None:
        if self._db is None:
            return
        with self._db.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO gossip_channels VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (c.short_channel_id, c.node_id_1, c.node_id_2, c.capacity_sat, c.features,
                 c.announcement, c.bitcoin_key_1, c.bitcoin_key_2, c.spent_height, c.added_at,
                 int(c.local)))
            for direction, policy in enumerate(c.policies):
                if policy is not None:
                    self._save_policy(c.short_channel_id, direction, policy)

    def _save_policy(self, scid: int, direction: int, p: ChannelPolicy) -> None:
        if self._db is None:
            return
        self._db.execute(
            "INSERT OR REPLACE INTO gossip_policies VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (scid, direction, p.fee_base_msat, p.fee_proportional_millionths,
             p.cltv_expiry_delta, p.htlc_minimum_msat, p.htlc_maximum_msat, int(p.disabled),
             p.timestamp, p.message_flags, p.channel_flags, p.raw_update))

    def _load(self) -> None:
        if self._db is None:
            return
        for row in self._db.query("SELECT * FROM gossip_channels"):
            (scid, n1, n2, capacity_sat, features, announcement, bk1, bk2, spent_height,
             added_at, local) = row
            channel = GraphChannel(scid, bytes(n1), bytes(n2), capacity_sat, bytes(features),
                                   _opt_bytes(announcement), _opt_bytes(bk1), _opt_bytes(bk2),
                                   spent_height=spent_height, added_at=added_at,
                                   local=bool(local))
            self._channels[scid] = channel
            self._by_node.setdefault(channel.node_id_1, set()).add(scid)
            self._by_node.setdefault(channel.node_id_2, set()).add(scid)
        for row in self._db.query("SELECT * FROM gossip_policies"):
            (scid, direction, base, ppm, delta, hmin, hmax, disabled, timestamp, mflags,
             cflags, raw) = row
            owner = self._channels.get(scid)
            if owner is not None:
                owner.policies[direction] = ChannelPolicy(
                    base, ppm, delta, hmin, hmax, bool(disabled), timestamp, mflags, cflags,
                    _opt_bytes(raw))
        for row in self._db.query("SELECT * FROM gossip_nodes"):
            node_id, timestamp, features, rgb, alias, addresses, raw = row
            self._nodes[bytes(node_id)] = GraphNode(
                bytes(node_id), timestamp, bytes(features), bytes(rgb), alias,
                tuple(NodeAddress(t, a, p) for t, a, p in json.loads(addresses)),
                _opt_bytes(raw))


def _opt_bytes(value: bytes | None) -> bytes | None:
    return None if value is None else bytes(value)

