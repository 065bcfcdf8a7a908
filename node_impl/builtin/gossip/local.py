"""Our own channels' gossip (BOLT 7 "Initial Channel Announcement", "channel_update" and
"node_announcement" as the originating node).

Layer: gossip. Imports services, net (Peer), wire, core and the gossip modules below it
(announce, graph, ingest, sync); nothing of the channel layer: what it needs of a channel
comes with the registration, and the peer's HTLC minimum through a callable node.py gives.

- `LocalChannel`: one of our channels as gossip sees it (persisted in
  gossip_local_channels).
- Registration issues our channel_update; once the funding is 6 deep, announcement_signatures
  are exchanged and the channel, our update and our node_announcement are announced.
- setchannel's policy changes (`select`, `set_policy`): the previous policy stays
  acceptable for forwards during `enforcedelay` seconds (`local_policies`).
- What forwarding and invoices need of our channels: our current policy, our latest
  channel_update, private route hints.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from coincurve import PrivateKey

from ..core.log import get_logger
from ..net.peer import Peer
from ..services import Services
from ..wire import bolt11
from ..wire.codec import ShortChannelId
from ..wire.features import Features
from ..wire.messages import AnnouncementSignatures, ChannelAnnouncement
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
from .graph import ChannelPolicy, Graph, GraphNode, NodeAddress, format_scid, scid_parts
from .ingest import GossipIngest
from .sync import GossipSync, PeerState, send

log = get_logger("gossipd")

ANNOUNCE_DEPTH = 6
"""BOLT 7: a channel_announcement is not sent before the funding has 6 confirmations."""

PeerHtlcMinimum = Callable[[int], int | None]
"""`peer_htlc_minimum_msat(short_channel_id)`: the smallest HTLC the peer accepts on our
channel (from the channel layer), None if the channel is unknown there."""


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


@dataclass(frozen=True)
class PolicyRequest:
    """setchannel's wishes; None leaves a value as it is."""

    fee_base_msat: int | None = None
    fee_proportional_millionths: int | None = None
    htlc_minimum_msat: int | None = None
    htlc_maximum_msat: int | None = None


@dataclass(frozen=True)
class PolicyResult:
    """One channel after setchannel, and whether a wish had to be clamped."""

    channel: LocalChannel
    htlc_minimum_raised: bool
    """the wished minimum was below what the peer accepts: the peer's minimum is used"""
    htlc_maximum_lowered: bool
    """the wished maximum was above the capacity: the capacity is used"""


class PolicyError(GossipError):
    """A setchannel wish that cannot apply; `param` names the offending parameter."""

    def __init__(self, param: str, problem: str) -> None:
        super().__init__(problem)
        self.param = param


class LocalChannels:
    """Our channels' gossip: registration, announcement, our updates and policies."""

    def __init__(self, services: Services, graph: Graph, ingest: GossipIngest,
                 sync: GossipSync, *, height: Callable[[], int],
                 listen_address: Callable[[], tuple[str, int] | None],
                 peer_htlc_minimum_msat: PeerHtlcMinimum) -> None:
        self.services = services
        self.graph = graph
        self.ingest = ingest
        self.sync = sync
        self._height = height
        self._listen_address = listen_address
        self._peer_htlc_minimum_msat = peer_htlc_minimum_msat
        self._local: dict[int, LocalChannel] = {}
        self._early_signatures: dict[int, tuple[bytes, AnnouncementSignatures]] = {}
        self._grace: dict[int, tuple[ChannelPolicy, float]] = {}
        """Per channel: our previous policy and until when (time.time()) it is still
        accepted for forwards (setchannel's enforcedelay)."""
        self._load()

    @property
    def _node_id(self) -> bytes:
        return self.services.identity.node_id

    def get(self, short_channel_id: int) -> LocalChannel | None:
        return self._local.get(short_channel_id)

    def all(self) -> list[LocalChannel]:
        return list(self._local.values())

    def any_announced_open(self) -> bool:
        return any(lc.announced and not lc.closed for lc in self._local.values())

    # ---- registration and closing -----------------------------------------------------------

    async def register(self, *, channel_id: bytes, short_channel_id: int, remote_node_id: bytes,
                       capacity_sat: int, local_funding_privkey: bytes,
                       remote_funding_pubkey: bytes, announce: bool,
                       htlc_minimum_msat: int | None, htlc_maximum_msat: int | None) -> None:
        """Register one of our channels (idempotent); see GossipManager.add_local_channel."""
        scid = short_channel_id
        lc = self._local.get(scid)
        if lc is None:
            maximum = htlc_maximum_msat if htlc_maximum_msat is not None else capacity_sat * 1000
            lc = LocalChannel(
                short_channel_id=scid, channel_id=channel_id, remote_node_id=remote_node_id,
                local_funding_pubkey=PrivateKey(local_funding_privkey).public_key.format(),
                remote_funding_pubkey=remote_funding_pubkey, capacity_sat=capacity_sat,
                announce=announce,
                htlc_minimum_msat=(htlc_minimum_msat if htlc_minimum_msat is not None
                                   else self.services.config.htlc_minimum_msat),
                htlc_maximum_msat=min(maximum, capacity_sat * 1000))
            if announce:
                unsigned = self._unsigned_announcement(lc)
                sigs = make_announcement_signatures(unsigned, channel_id,
                                                    self.services.identity.node_privkey,
                                                    local_funding_privkey)
                lc.local_node_signature = sigs.node_signature
                lc.local_bitcoin_signature = sigs.bitcoin_signature
            self._save(lc)
            self._local[scid] = lc
            log.info("local channel %s with %s registered (announce=%s)", format_scid(scid),
                     remote_node_id.hex(), announce)
        self.graph.add_local_channel(scid, self._node_id, remote_node_id,
                                     capacity_sat=capacity_sat, added_at=int(time.time()))
        self.ingest.apply_held_updates(scid)  # the peer's update may have come first
        channel = self.graph.get_channel(scid)
        if channel is not None and channel.policies[channel.direction_from(self._node_id)] is None:
            self._issue_update(lc)
        peer = self.services.peers.get(remote_node_id)
        if peer is not None and not lc.announced:
            update = self.our_update(lc)
            if update is not None:
                await send(peer, update)
        early = self._early_signatures.pop(scid, None)
        try:
            if early is not None:
                await self.accept_announcement_signatures(early[0], early[1])
            await self.progress_announcement(lc)
        except GossipError as exc:
            log.warning("channel %s: %s", format_scid(scid), exc)

    async def stopped_forwarding(self, short_channel_id: int) -> None:
        """Our channel stopped forwarding (shutdown started or it closed): disable it."""
        lc = self._local.get(short_channel_id)
        if lc is None or lc.closed:
            return
        self._set(lc, closed=True)
        raw = self._issue_update(lc, disabled=True)
        await self._publish_own_update(lc, raw)

    def funding_spent(self, short_channel_id: int) -> None:
        """The funding output of our channel was spent on chain: it is closed."""
        lc = self._local.get(short_channel_id)
        if lc is not None:
            self._set(lc, closed=True)

    # ---- peers --------------------------------------------------------------------------------

    async def greet(self, peer: Peer, state: PeerState) -> None:
        """On connect: our updates for the peer's unannounced channels, our public gossip,
        and the pending announcement_signatures exchanges with this peer."""
        for lc in self._local.values():
            if lc.closed or lc.remote_node_id != peer.node_id or lc.announced:
                continue
            update = self.our_update(lc)
            if update is not None:
                await send(peer, update)
        await self._send_own_public_gossip(peer, state)
        for lc in list(self._local.values()):
            if lc.remote_node_id == peer.node_id:
                await self.progress_announcement(lc)

    async def _send_own_public_gossip(self, peer: Peer, state: PeerState) -> None:
        """Our announced channels, our updates on them and our node_announcement."""
        sent_any = False
        for lc in self._local.values():
            if not lc.announced or lc.closed:
                continue
            channel = self.graph.get_channel(lc.short_channel_id)
            if channel is None or channel.announcement is None:
                continue
            update = self.our_update(lc)
            if update is None:
                continue
            await send(peer, channel.announcement)
            state.sent_announcements.add(lc.short_channel_id)
            await send(peer, update)
            sent_any = True
        own = self.graph.get_node(self._node_id)
        if sent_any and own is not None and own.raw_announcement:
            await send(peer, own.raw_announcement)

    # ---- announcement ---------------------------------------------------------------------------

    async def accept_announcement_signatures(self, remote_node_id: bytes,
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
            self._set(lc, remote_node_signature=msg.node_signature,
                      remote_bitcoin_signature=msg.bitcoin_signature)
        # BOLT 7: on receiving theirs we respond with ours (once per connection, so two
        # nodes of ours do not answer each other forever).
        await self.progress_announcement(lc, respond=True)

    async def progress_all(self) -> None:
        """A block arrived: move every channel's announcement on if it is deep enough now."""
        for lc in list(self._local.values()):
            await self.progress_announcement(lc)

    def _unsigned_announcement(self, lc: LocalChannel) -> ChannelAnnouncement:
        return unsigned_channel_announcement(
            lc.short_channel_id, self._node_id, lc.remote_node_id, lc.local_funding_pubkey,
            lc.remote_funding_pubkey)

    def _depth(self, scid: int) -> int:
        """Confirmations of the funding tx."""
        return self._height() - scid_parts(scid)[0] + 1

    async def progress_announcement(self, lc: LocalChannel, *, respond: bool = False) -> None:
        """Once the funding is deep enough: send our announcement_signatures (unless the
        channel is announced already and the peer did not just send theirs), and announce
        the channel when both ends' signatures are known."""
        if not lc.announce or lc.closed:
            return
        if self._depth(lc.short_channel_id) < ANNOUNCE_DEPTH:
            return
        connected = self.sync.connected_state(lc.remote_node_id)
        if (connected is not None and (respond or not lc.announced)
                and lc.short_channel_id not in connected[1].sent_announcement_signatures
                and lc.local_node_signature and lc.local_bitcoin_signature):
            peer, state = connected
            state.sent_announcement_signatures.add(lc.short_channel_id)
            await send(peer, AnnouncementSignatures(
                channel_id=lc.channel_id,
                short_channel_id=ShortChannelId.from_int(lc.short_channel_id),
                node_signature=lc.local_node_signature,
                bitcoin_signature=lc.local_bitcoin_signature).encode())
        if lc.announced or lc.remote_node_signature is None or lc.remote_bitcoin_signature is None:
            return
        if lc.local_node_signature is None or lc.local_bitcoin_signature is None:
            return
        ann = with_signatures(self._unsigned_announcement(lc), self._node_id,
                              lc.local_node_signature, lc.local_bitcoin_signature)
        ann = with_signatures(ann, lc.remote_node_id, lc.remote_node_signature,
                              lc.remote_bitcoin_signature)
        verify_channel_announcement(ann)
        self.graph.add_channel(lc.short_channel_id, ann.node_id_1, ann.node_id_2,
                               capacity_sat=lc.capacity_sat, announcement=ann.encode(),
                               bitcoin_key_1=ann.bitcoin_key_1, bitcoin_key_2=ann.bitcoin_key_2,
                               added_at=int(time.time()), local=True)
        self._set(lc, announced=True)
        log.info("channel %s announced", format_scid(lc.short_channel_id))
        update = self._issue_update(lc)
        node_ann = self.own_node_announcement()
        await self.sync.broadcast_own([ann.encode(), update, node_ann])

    # ---- our channel_update and node_announcement -------------------------------------------

    async def _publish_own_update(self, lc: LocalChannel, raw: bytes) -> None:
        """Send our new channel_update: to everyone if the channel is announced, else only to
        the peer (a private channel's update is for its route hints)."""
        if lc.announced:
            await self.sync.broadcast_own([raw])
        else:
            peer = self.services.peers.get(lc.remote_node_id)
            if peer is not None:
                await send(peer, raw)

    def _issue_update(self, lc: LocalChannel, *, disabled: bool | None = None) -> bytes:
        """Sign a fresh channel_update for our direction, store it in the graph, return it."""
        channel = self.graph.get_channel(lc.short_channel_id)
        if channel is None:
            raise GossipError(f"local channel {format_scid(lc.short_channel_id)} not in graph")
        direction = channel.direction_from(self._node_id)
        previous = channel.policies[direction]
        timestamp = max(int(time.time()), (previous.timestamp + 1) if previous else 1)
        fee_base, fee_ppm = self.fees(lc)
        update = make_channel_update(
            self.services.identity.node_privkey, short_channel_id=lc.short_channel_id,
            timestamp=timestamp, direction=direction,
            cltv_expiry_delta=self.services.config.cltv_delta,
            htlc_minimum_msat=lc.htlc_minimum_msat, htlc_maximum_msat=lc.htlc_maximum_msat,
            fee_base_msat=fee_base, fee_proportional_millionths=fee_ppm,
            disabled=lc.closed if disabled is None else disabled,
            dont_forward=not lc.announced)
        self.graph.update_policy(lc.short_channel_id, direction, policy_from_update(update))
        return update.encode()

    def our_update(self, lc: LocalChannel) -> bytes | None:
        """Our latest channel_update for lc; a fresh one if the stored one no longer fits
        (e.g. it was private and the channel is now announced)."""
        channel = self.graph.get_channel(lc.short_channel_id)
        if channel is None:
            return None
        policy = channel.policies[channel.direction_from(self._node_id)]
        if policy is None or policy.raw_update is None or (
                lc.announced and policy.message_flags & 2):
            return self._issue_update(lc)
        return policy.raw_update

    def own_node_announcement(self) -> bytes:
        """Our node_announcement to go with a channel we announce: the one we signed before
        while it still says what we would say now (each new one floods the whole network,
        so a node announcing many channels sends one, not one per channel), else a fresh
        one (`refresh_own_node_announcement`)."""
        known = self.graph.get_node(self._node_id)
        alias, color, addresses, features = self._own_node_fields()
        if known is not None and known.raw_announcement and (
                known.alias, known.rgb_color, known.addresses, known.features) == (
                alias, color, tuple(addresses), features):
            return known.raw_announcement
        return self.refresh_own_node_announcement()

    def _own_node_fields(self) -> tuple[str, bytes, list[NodeAddress], bytes]:
        """(alias, rgb_color, addresses, features) of our node_announcement."""
        identity = self.services.identity
        addresses = []
        listen = self._listen_address()
        if listen is not None and listen[0] not in ("0.0.0.0", "::"):
            kind = "ipv6" if ":" in listen[0] else "ipv4"
            addresses.append(NodeAddress(kind, listen[0], listen[1]))
        return (_truncate_alias(identity.alias), bytes.fromhex(identity.color), addresses,
                _feature_bytes(self.services.peers.our_features))

    def refresh_own_node_announcement(self) -> bytes:
        """Sign a node_announcement with a new timestamp, store it in the graph, return it."""
        db, identity = self.services.db, self.services.identity
        rows = db.query("SELECT timestamp FROM gossip_own_node WHERE id = 0")
        previous = rows[0]["timestamp"] if rows else 0
        timestamp = max(int(time.time()), previous + 1)
        db.execute(
            "INSERT INTO gossip_own_node (id, timestamp) VALUES (0, ?) "
            "ON CONFLICT(id) DO UPDATE SET timestamp = excluded.timestamp", (timestamp,))
        alias, color, addresses, features = self._own_node_fields()
        na = make_node_announcement(
            identity.node_privkey, timestamp=timestamp, alias=alias, rgb_color=color,
            addresses=addresses, features=features)
        raw = na.encode()
        self.graph.upsert_node(GraphNode(
            node_id=identity.node_id, timestamp=timestamp, features=na.features,
            rgb_color=na.rgb_color, alias=alias, addresses=tuple(addresses),
            raw_announcement=raw))
        return raw

    # ---- what forwarding and invoices need ---------------------------------------------------

    def private_route_hints(self) -> list[list[bolt11.RouteHintHop]]:
        """BOLT 11 `r` fields for our open channels the network does not know (yet):
        each peer's own policy towards us (from its channel_update, else our defaults)."""
        hints = []
        cfg = self.services.config
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

    def local_policies(self, short_channel_id: int) -> list[ChannelPolicy]:
        """The policies a forward over one of our channels may satisfy: the one we announced
        last, then the previous one while setchannel's enforcedelay lasts. Empty if none."""
        channel = self.graph.get_channel(short_channel_id)
        if channel is None or self._node_id not in (channel.node_id_1, channel.node_id_2):
            return []
        current = channel.policies[channel.direction_from(self._node_id)]
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

    # ---- setchannel -----------------------------------------------------------------------------

    def select(self, target: str | int | bytes) -> list[LocalChannel]:
        """Our open channels matching "all", a short_channel_id (int), or a channel_id /
        peer id (bytes); empty if none does."""
        live = [lc for lc in self._local.values() if not lc.closed]
        if target == "all":
            return live
        if isinstance(target, int):
            return [lc for lc in live if lc.short_channel_id == target]
        if isinstance(target, bytes):
            return [lc for lc in live if target in (lc.channel_id, lc.remote_node_id)]
        raise ValueError(f"not a channel selector: {target!r}")

    async def set_policy(self, targets: list[LocalChannel], request: PolicyRequest,
                         enforce_delay_s: int) -> list[PolicyResult]:
        """Apply setchannel's wishes to every target (all checked before any changes; raises
        PolicyError); each gets a new channel_update, the previous policy stays acceptable
        for enforce_delay_s seconds."""
        planned = []
        for lc in targets:
            changes: dict[str, Any] = {}
            raised = lowered = False
            if request.fee_base_msat is not None:
                changes["fee_base_msat"] = request.fee_base_msat
            if request.fee_proportional_millionths is not None:
                changes["fee_proportional_millionths"] = request.fee_proportional_millionths
            if request.htlc_minimum_msat is not None:
                floor = self._peer_htlc_minimum_msat(lc.short_channel_id) or 0
                raised = request.htlc_minimum_msat < floor
                changes["htlc_minimum_msat"] = max(request.htlc_minimum_msat, floor)
            if request.htlc_maximum_msat is not None:
                lowered = request.htlc_maximum_msat > lc.capacity_sat * 1000
                changes["htlc_maximum_msat"] = min(request.htlc_maximum_msat,
                                                   lc.capacity_sat * 1000)
            if changes.get("htlc_minimum_msat", lc.htlc_minimum_msat) > changes.get(
                    "htlc_maximum_msat", lc.htlc_maximum_msat):
                raise PolicyError("htlcmin", f"above htlcmax for channel "
                                             f"{format_scid(lc.short_channel_id)}")
            planned.append((lc, changes, raised, lowered))
        results = []
        for lc, changes, raised, lowered in planned:
            await self._apply_policy(lc, changes, enforce_delay_s)
            results.append(PolicyResult(lc, htlc_minimum_raised=raised,
                                        htlc_maximum_lowered=lowered))
        return results

    async def _apply_policy(self, lc: LocalChannel, changes: dict[str, Any],
                            enforce_delay_s: int) -> None:
        """Store the new policy, sign and send a channel_update for it; the previous one
        stays acceptable for enforce_delay_s seconds."""
        channel = self.graph.get_channel(lc.short_channel_id)
        previous = channel.policies[channel.direction_from(self._node_id)] if channel else None
        if changes:
            self._set(lc, **changes)
        raw = self._issue_update(lc)
        if previous is not None and enforce_delay_s > 0:
            self._grace[lc.short_channel_id] = (previous, time.time() + enforce_delay_s)
        else:
            self._grace.pop(lc.short_channel_id, None)
        log.info("channel %s: fee_base_msat=%d fee_ppm=%d htlc %d..%d msat "
                 "(old policy accepted %d s more)", format_scid(lc.short_channel_id),
                 *self.fees(lc), lc.htlc_minimum_msat, lc.htlc_maximum_msat, enforce_delay_s)
        await self._publish_own_update(lc, raw)

    def fees(self, lc: LocalChannel) -> tuple[int, int]:
        """(fee_base_msat, fee_proportional_millionths) we charge on lc."""
        cfg = self.services.config
        return (lc.fee_base_msat if lc.fee_base_msat is not None else cfg.fee_base_msat,
                lc.fee_proportional_millionths if lc.fee_proportional_millionths is not None
                else cfg.fee_ppm)

    # ---- persistence ------------------------------------------------------------------------------

    def _save(self, lc: LocalChannel) -> None:
        self.services.db.execute(
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

    def _set(self, lc: LocalChannel, **changes: Any) -> None:
        for name, value in changes.items():
            if not hasattr(lc, name):
                raise AttributeError(f"LocalChannel has no field {name}")
            setattr(lc, name, value)
        self._save(lc)

    def _load(self) -> None:
        for row in self.services.db.query("SELECT * FROM gossip_local_channels"):
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


def _opt(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _truncate_alias(alias: str) -> str:
    data = alias.encode()[:32]
    return data.decode("utf-8", "ignore")


def _feature_bytes(features: Features | bytes) -> bytes:
    """Our init features as a bitfield."""
    return features.to_bytes() if isinstance(features, Features) else bytes(features)
