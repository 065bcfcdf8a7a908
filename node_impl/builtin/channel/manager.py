"""All channels of the node: message dispatch, persistence, HTLC settlement, ChannelOps.

Layer: channel. Imports channel, services, chain, net, keys, wire, core; nothing above
(payments reach the channels through channel/ops.ChannelOps, which this manager implements,
and the manager calls the payments layer through the ops.HtlcHandler it is given; gossip
hears of our channels through channel/events on services.events; RPC handlers live in
rpc/channels.py).

The manager is one class in four modules, cut along the protocol: this one (messages of
open channels, the commit cycle, HTLCs, events), open_flow.py (establishment and lock-in),
close_flow.py (mutual and unilateral closes, failing a channel), chain_events.py (blocks and
reorgs; onchain.py follows spent channels).

For each channel, work happens under that channel's lock: the state machine
(channel.Channel) computes the messages to send, the new state is written to
sqlite, then the messages leave in order (persist before you send).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

from bitcoin.core import b2lx

from ..chain.watcher import ChainRpcError, ChainUnavailable
from ..core.log import get_logger
from ..keys import derivation as keys
from ..net.peer import Peer
from ..net.transport import ConnectionClosed
from ..services import Services
from ..wire import messages
from ..wire.codec import encode_u16
from .chain_events import ChainEventsMixin
from .close_flow import ClosingMixin
from .common import ALL_CHANNELS
from .common import channel_id_text as _cid
from .common import scid_text as _scid_str
from .events import ChannelNormal, ChannelStoppedForwarding
from .machine import (
    AWAITING_LOCKIN,
    AWAITING_UNILATERAL,
    CLOSED,
    CLOSING_COMPLETE,
    CLOSING_SIGEXCHANGE,
    FUNDING_SPEND_SEEN,
    NORMAL,
    ONCHAIN,
    SHUTTING_DOWN,
    Channel,
    ChannelError,
    ChannelWarning,
    DataLossError,
    LocalRequestError,
)
from .onchain import Onchain
from .open_flow import OpeningMixin
from .ops import HtlcHandler
from .store import ChannelStore, PaymentRecord
from .updates import LOCAL, Htlc

log = get_logger("channeld")

MSG_ERROR = 17
REESTABLISH_WAIT_S = 10.0
# the states that need the peer (Core Lightning's channel_state_wants_peercomms): we reestablish
# them on every connection and keep their peer connected
REESTABLISH_STATES = (AWAITING_LOCKIN, NORMAL, SHUTTING_DOWN, CLOSING_SIGEXCHANGE)


class ChannelManager(OpeningMixin, ClosingMixin, ChainEventsMixin):
    """The channel subsystem of one node: a net.handlers.MessageHandler; implements ops.ChannelOps."""

    # what the PeerManager dispatches here: open_channel .. closing_signed,
    # update_add_htlc .. channel_reestablish, and error
    message_types = (frozenset(range(32, 42)) | frozenset(range(128, 137))
                     | frozenset({messages.ErrorMessage.TYPE}))

    def __init__(self, services: Services) -> None:
        self.services = services
        self.store = ChannelStore(services.db)
        self.channels: dict[int, Channel] = {}  # by channel index
        self._locks: dict[int, asyncio.Lock] = {}
        self._reestablished: set[int] = set()
        self._kept_peers: set[bytes] = set()  # peers a channel needs: PeerManager.keep_connected
        # channels that became normal (or were re-established) whose gossip registration is not
        # done yet: listed as still awaiting lock-in / with the peer not connected until it is
        self._registering: dict[int, bool] = {}  # channel index -> it just became normal
        self._opening: dict[tuple[bytes, bytes], Channel] = {}  # (peer, temporary id) acceptor side
        self._waiters: dict[tuple[bytes, bytes, str], asyncio.Future[messages.Message]] = {}
        self._close_waiters: dict[int, list[asyncio.Future[None]]] = {}
        self._decided = False  # an incoming HTLC was settled during the current _commit
        self._corrupt_next_sig: set[int] = set()  # dev-corrupt-next-commitment-sig
        self.hold_htlcs = False  # dev-hold-htlcs: leave incoming HTLCs undecided (tests)
        self._htlc_handler: HtlcHandler | None = None
        self.onchain = Onchain(self)

    def set_htlc_handler(self, handler: HtlcHandler) -> None:
        """Who decides incoming HTLCs and hears of HTLC outcomes (the payments layer)."""
        self._htlc_handler = handler

    @property
    def htlcs(self) -> HtlcHandler:
        """The HTLC handler; a node without one cannot settle HTLCs (a wiring bug)."""
        if self._htlc_handler is None:
            raise RuntimeError("ChannelManager has no HTLC handler: node.py must call set_htlc_handler")
        return self._htlc_handler

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        for data in self.store.load_channels():
            index = data["index"]
            chan = Channel.from_json(data, keys.channel_keys(self.services.identity.seed, index))
            chan.on_disconnect()  # a restart is a disconnection
            self.channels[index] = chan
            log.info("loaded channel %s with %s in state %s", _cid(chan), chan.peer_id.hex(), chan.state)
        for peer_id in {c.peer_id for c in self.channels.values()}:
            self._keep_peer_if_needed(peer_id)

    def states_needing_peer(self, peer_id: bytes) -> list[str]:
        """The states of our channels with this peer that need it connected (REESTABLISH_STATES)."""
        return [c.state for c in self.channels.values() if c.peer_id == peer_id and c.state in REESTABLISH_STATES]

    def _keep_peer_if_needed(self, peer_id: bytes) -> None:
        """Keep the peer connected (PeerManager.keep_connected: dialled now and after every
        drop) while a channel with it is in a state that needs it, release it once none is."""
        needed = bool(self.states_needing_peer(peer_id))
        if needed and peer_id not in self._kept_peers:
            self._kept_peers.add(peer_id)
            self.services.peers.keep_connected(peer_id)
        elif not needed and peer_id in self._kept_peers:
            self._kept_peers.discard(peer_id)
            self.services.peers.stop_keeping(peer_id)

    async def stop(self) -> None:
        for fut in self._waiters.values():
            if not fut.done():
                fut.cancel()

    def num_active_channels(self) -> int:
        return sum(1 for c in self.channels.values() if self.shown_state(c) == NORMAL)

    def shown_state(self, chan: Channel) -> str:
        """The state RPCs show: a channel that just became normal shows it once it is registered
        with gossip (our forwarding policy known, usable for route hints)."""
        if chan.state == NORMAL and self._registering.get(chan.index):
            return AWAITING_LOCKIN
        return chan.state

    def listfunds_channels(self) -> list[dict[str, Any]]:
        out = []
        for chan in self.channels.values():
            if chan.funding_txid is None or chan.log is None:
                continue
            view = chan.log.view(LOCAL)
            out.append({
                "peer_id": chan.peer_id.hex(),
                "connected": self.services.peers.get(chan.peer_id) is not None,
                "state": self.shown_state(chan),
                "channel_id": _cid(chan),
                "short_channel_id": _scid_str(chan.short_channel_id),
                "our_amount_msat": view.local_msat,
                "amount_msat": chan.funding_sat * 1000,
                "funding_txid": b2lx(chan.funding_txid),
                "funding_output": chan.funding_outnum,
            })
        return out

    def _lock(self, chan: Channel) -> asyncio.Lock:
        lock = self._locks.get(chan.index)
        if lock is None:
            lock = self._locks[chan.index] = asyncio.Lock()
        return lock

    def save(self, chan: Channel) -> None:
        """Persist the channel; every state change passes here, so its peer is kept connected
        (or released) here too."""
        self.store.save_channel(chan.index, chan.channel_id, chan.peer_id, chan.state, chan.to_json())
        self._keep_peer_if_needed(chan.peer_id)

    # ------------------------------------------------------------------ peers
    async def on_peer_connected(self, peer: Peer) -> None:
        for chan in list(self.channels.values()):
            if chan.peer_id != peer.node_id or chan.log is None:
                continue
            self._reestablished.discard(chan.index)
            if chan.state in REESTABLISH_STATES:
                async with self._lock(chan):
                    await self._send(peer, [chan.make_reestablish()])

    async def on_peer_disconnected(self, peer: Peer) -> None:
        for key in [k for k in self._opening if k[0] == peer.node_id]:
            del self._opening[key]
        for key, fut in list(self._waiters.items()):
            if key[0] == peer.node_id and not fut.done():
                fut.set_exception(ConnectionError(f"peer {peer.id_hex} disconnected"))
        for chan in list(self.channels.values()):
            if chan.peer_id != peer.node_id:
                continue
            self._reestablished.discard(chan.index)
            async with self._lock(chan):
                chan.on_disconnect()

    # ------------------------------------------------------------------ messages
    async def handle_message(self, peer: Peer, msg_type: int, payload: bytes) -> None:
        if msg_type == MSG_ERROR:
            await self._on_peer_error(peer, payload)
            return
        decoded = messages.decode(encode_u16(msg_type) + payload)
        if isinstance(decoded, messages.UnknownMessage):
            if not decoded.is_odd:
                await peer.send_warning(ALL_CHANNELS, f"unknown even message type {msg_type}")
                peer.disconnect(f"unknown even message type {msg_type}")
            return
        m = decoded
        log.debug("%s from %s", m.NAME, peer.id_hex)
        if isinstance(m, messages.OpenChannel):
            await self._on_open_channel(peer, m)
            return
        if isinstance(m, (messages.AcceptChannel, messages.FundingSigned)):
            key = m.temporary_channel_id if isinstance(m, messages.AcceptChannel) else m.channel_id
            fut = self._waiters.get((peer.node_id, key, m.NAME))
            if fut is None or fut.done():
                await peer.send_error(key, f"unexpected {m.NAME}")
                return
            fut.set_result(m)
            return
        if isinstance(m, messages.FundingCreated):
            await self._on_funding_created(peer, m)
            return
        channel_id: bytes | None = getattr(m, "channel_id", None)
        if channel_id is None:  # every other channel message type (32..41, 128..136) has one
            log.warning("%s from %s has no channel_id: ignored", m.NAME, peer.id_hex)
            return
        chan = self._by_channel_id(peer.node_id, channel_id)
        if chan is None:
            await peer.send_error(channel_id, f"unknown channel {channel_id.hex()}")
            return
        async with self._lock(chan):
            await self._on_channel_message(peer, chan, m)

    def _by_channel_id(self, peer_id: bytes, channel_id: bytes) -> Channel | None:
        for chan in self.channels.values():
            if chan.channel_id == channel_id and chan.peer_id == peer_id:
                return chan
        return None

    async def _on_channel_message(self, peer: Peer, chan: Channel, m: messages.Message) -> None:
        reestablish = isinstance(m, messages.ChannelReestablish)
        if chan.state in (CLOSING_COMPLETE, AWAITING_UNILATERAL, FUNDING_SPEND_SEEN, ONCHAIN, CLOSED):
            if reestablish and chan.state != CLOSING_COMPLETE:
                await peer.send_error(chan.channel_id or ALL_CHANNELS,
                                      f"channel {_cid(chan)} is closed ({chan.state})")
            elif reestablish and chan.closing_tx_hex:
                # the peer may have missed our last closing_signed: it can see the tx on chain
                pass
            return
        if not reestablish and chan.index not in self._reestablished:
            await peer.send_warning(chan.channel_id or ALL_CHANNELS, f"{m.NAME} before channel_reestablish")
            return
        try:
            out = self._apply(chan, m)
        except ChannelWarning as exc:
            log.info("warning on channel %s: %s", _cid(chan), exc)
            await peer.send_warning(chan.channel_id or ALL_CHANNELS, str(exc))
            peer.disconnect(f"warning: {exc}")
            return
        except DataLossError as exc:
            log.error("channel %s: %s", _cid(chan), exc)
            chan.lost_state(str(exc))
            self.save(chan)
            await peer.send_error(chan.channel_id or ALL_CHANNELS, str(exc))  # the peer closes with its own
            return
        except ChannelError as exc:
            await self._fail_channel(chan, f"{exc}", peer)
            return
        await self._commit(chan, out, peer)

    def _apply(self, chan: Channel, m: messages.Message) -> list[messages.Message]:
        match m:
            case messages.ChannelReestablish():
                out = chan.handle_reestablish(m)
                self._reestablished.add(chan.index)
                if chan.state == NORMAL:
                    chan.events.append(("channel_normal", "reestablished"))  # (re)announce it to gossip
                return out
            case messages.ChannelReady():
                return chan.handle_channel_ready(m)
            case messages.UpdateAddHtlc():
                chan.handle_update_add_htlc(m)
            case messages.UpdateFulfillHtlc():
                chan.handle_update_fulfill_htlc(m)
            case messages.UpdateFailHtlc():
                chan.handle_update_fail_htlc(m)
            case messages.UpdateFailMalformedHtlc():
                chan.handle_update_fail_malformed_htlc(m)
            case messages.UpdateFee():
                chan.handle_update_fee(m)
            case messages.CommitmentSigned():
                return chan.handle_commitment_signed(m)
            case messages.RevokeAndAck():
                return chan.handle_revoke_and_ack(m)
            case messages.Shutdown():
                return chan.handle_shutdown(m, self._close_script(chan))
            case messages.ClosingSigned():
                return chan.handle_closing_signed(m)
            case _:
                log.debug("ignoring %s on channel %s", m.NAME, _cid(chan))
        return []

    # ------------------------------------------------------------------ commit cycle
    async def _commit(self, chan: Channel, out: list[messages.Message], peer: Peer | None, *,
                      persist: bool = False, also_write: Callable[[], None] | None = None) -> None:
        """Settle events, persist, send, then do what must follow the send (broadcasts, wakeups).

        The state is written when something leaves (persist before you send), when the
        channel state changed or an incoming HTLC was settled, or when ``persist`` asks.
        A received revoke_and_ack or update that makes us send nothing is not written: after
        a crash the peer retransmits it (BOLT 2 reestablish), so the older state is valid."""
        out = list(out)
        after: list[Callable[[], Any]] = []
        state_before = chan.state
        self._decided = False
        with self.services.db.transaction():  # invoice settlement and channel state in one commit
            await self._process_events(chan, out, after)
            if also_write is not None:
                also_write()
            if persist or out or also_write is not None or after or self._decided \
                    or chan.state != state_before:
                self.save(chan)
        current = self.services.peers.get(chan.peer_id)
        if peer is not current:
            # no connection given, or it was replaced meanwhile (e.g. while waiting for the lock):
            # a replaced one must not swallow messages, and a new one carries them only once the
            # channel is re-established on it (else the reestablish retransmits what is needed)
            peer = current if peer is None or chan.index in self._reestablished else None
        if chan.index in self._corrupt_next_sig:
            out = [_corrupted(m) if isinstance(m, messages.CommitmentSigned) else m for m in out]
            if any(isinstance(m, messages.CommitmentSigned) for m in out):
                self._corrupt_next_sig.discard(chan.index)
        if peer is not None and out:
            await self._send(peer, out)
        for action in after:
            result = action()
            if asyncio.iscoroutine(result):
                await result

    async def _process_events(self, chan: Channel, out: list[messages.Message],
                              after: list[Callable[[], Any]]) -> None:
        out += chan.sign_if_needed()
        while True:
            events = chan.drain_events()
            if not events:
                break
            for kind, data in events:
                if kind == "incoming_htlc":
                    await self._settle_incoming(chan, data)
                elif kind == "htlc_fulfilled":  # payment/forward records written in this same commit
                    self.htlcs.outgoing_fulfilled(chan, data, data.removal_data["preimage"])
                elif kind == "htlc_resolved":
                    if data.removal != "fulfill":
                        self.htlcs.outgoing_failed(chan, data)
                elif kind == "broadcast":
                    after.append(lambda tx_hex=data: self.broadcast(tx_hex, f"channel {_cid(chan)}"))
                elif kind == "channel_normal":
                    log.info("channel %s with %s is normal", _cid(chan), chan.peer_id.hex())
                    # hidden from RPCs until registered; the registration (which sends our
                    # channel_update) runs after our channel_ready left
                    self._registering[chan.index] = self._registering.get(chan.index, False) \
                        or data != "reestablished"
                    after.append(lambda: self._register_normal(chan))
                elif kind == "data_loss":
                    log.error("channel %s: %s", _cid(chan), data)
            out += chan.sign_if_needed()
        if chan.state == CLOSING_COMPLETE:
            after.append(lambda: self.wake_close(chan))
        if chan.state in (SHUTTING_DOWN, CLOSING_SIGEXCHANGE, CLOSING_COMPLETE) and not chan.gossip_closed:
            chan.gossip_closed = True
            after.append(lambda: self._publish_stopped_forwarding(chan))

    async def _settle_incoming(self, chan: Channel, htlc: Htlc) -> None:
        if self.hold_htlcs:
            log.info("holding incoming HTLC %d on %s (dev-hold-htlcs)", htlc.htlc_id, _cid(chan))
            return
        decision = self.htlcs.decide_incoming(chan, htlc)
        if decision.pending:
            return
        self._decided = True
        if decision.preimage is not None:
            chan.fulfill_htlc(htlc.htlc_id, decision.preimage)
            if decision.settles_invoice:
                await self.htlcs.invoice_settled(htlc.payment_hash, htlc.amount_msat)
        elif decision.malformed_code is not None and decision.sha256_of_onion is not None:
            chan.fail_malformed_htlc(htlc.htlc_id, decision.sha256_of_onion, decision.malformed_code)
        else:
            chan.fail_htlc(htlc.htlc_id, decision.reason or b"")

    async def _send(self, peer: Peer, out: list[messages.Message]) -> None:
        for m in out:
            log.debug("sending %s to %s", m.NAME, peer.id_hex)
            data = m.encode()  # an unencodable message is a bug: it raises
            try:
                await peer.send(data)
            except ConnectionClosed as exc:  # connection gone: the reestablish will retransmit
                log.info("could not send %s to %s: %r", m.NAME, peer.id_hex, exc)
                return

    # ------------------------------------------------------------------ events for gossip, broadcasts
    async def _register_normal(self, chan: Channel) -> None:
        """Publish a channel that became normal or was re-established, then show it as such."""
        try:
            await self._publish_normal(chan)
        finally:
            self._registering.pop(chan.index, None)

    async def _publish_normal(self, chan: Channel) -> None:
        """Publish ChannelNormal (awaited: gossip registers the channel; idempotent)."""
        if chan.short_channel_id is None or chan.remote_basepoints is None \
                or chan.remote_config is None or chan.channel_id is None:
            return
        event = ChannelNormal(
            channel_id=chan.channel_id, short_channel_id=chan.short_channel_id,
            remote_node_id=chan.peer_id, capacity_sat=chan.funding_sat,
            local_funding_privkey=chan.keys.funding_privkey,
            remote_funding_pubkey=chan.remote_basepoints.funding_pubkey,
            funding_txid=b2lx(chan.funding_txid or b""), funding_outnum=chan.funding_outnum,
            announce=bool(chan.channel_flags & 1),
            htlc_minimum_msat=chan.remote_config.htlc_minimum_msat,
            htlc_maximum_msat=min(chan.funding_sat * 1000, chan.remote_config.max_htlc_value_in_flight_msat))
        try:
            await self.services.events.publish(event)
        except Exception as exc:  # a subscriber's bug (logged by the bus) must not stop the channel
            log.error("publishing ChannelNormal for channel %s failed: %r", _cid(chan), exc, exc_info=True)

    async def _publish_stopped_forwarding(self, chan: Channel) -> None:
        """Publish ChannelStoppedForwarding (shutdown started or the channel closed)."""
        if chan.short_channel_id is None:
            return
        try:
            await self.services.events.publish(ChannelStoppedForwarding(chan.short_channel_id))
        except Exception as exc:  # a subscriber's bug (logged by the bus) must not stop the close
            log.error("publishing ChannelStoppedForwarding for channel %s failed: %r", _cid(chan), exc,
                      exc_info=True)

    async def broadcast(self, tx_hex: str, what: str) -> str | None:
        try:
            txid = await self.services.chain.call("sendrawtransaction", tx_hex)
        except (ChainRpcError, ChainUnavailable) as exc:  # refused or no backend: tried again next block
            log.warning("broadcast of %s failed: %s", what, exc)
            return None
        log.info("broadcast %s: %s", what, txid)
        return str(txid)

    # ------------------------------------------------------------------ ops.ChannelOps
    def channel_to(self, peer_id: bytes, amount_msat: int) -> Channel | None:
        """A normal channel with ``peer_id`` that can send ``amount_msat`` (else the best one)."""
        candidates = [c for c in self.channels.values() if c.peer_id == peer_id and c.state == NORMAL]
        if not candidates:
            return None
        candidates.sort(key=lambda c: c.spendable_msat(), reverse=True)
        return candidates[0]

    def all_channels(self) -> list[Channel]:
        """Every channel we know, in any state."""
        return list(self.channels.values())

    def channel_by_id(self, channel_id: bytes) -> Channel | None:
        """Our channel with this channel_id (any peer, any state)."""
        return next((c for c in self.channels.values() if c.channel_id == channel_id), None)

    def usable_channels(self) -> list[Channel]:
        """Normal channels whose peer is connected and re-established."""
        return [c for c in self.channels.values() if c.state == NORMAL and c.index in self._reestablished
                and self.services.peers.get(c.peer_id) is not None and c.short_channel_id is not None]

    def channel_by_scid(self, scid: int | None, peer_id: bytes) -> Channel | None:
        """Our normal channel with ``peer_id`` (the one with ``scid``, or our alias ``scid``, if given)."""
        for chan in self.channels.values():
            if chan.peer_id == peer_id and chan.state == NORMAL and \
                    (scid is None or scid in (chan.short_channel_id, chan.local_alias)):
                return chan
        return None

    async def add_outgoing_htlc(self, chan: Channel, amount_msat: int, payment_hash: bytes, cltv_expiry: int,
                                onion_packet: bytes, record: PaymentRecord) -> Htlc:
        """Offer an HTLC on ``chan`` and send it (record persisted in the same step)."""
        peer = self.services.peers.get(chan.peer_id)
        if peer is None:
            raise LocalRequestError(f"peer {chan.peer_id.hex()} is not connected")
        deadline = asyncio.get_running_loop().time() + REESTABLISH_WAIT_S
        while chan.index not in self._reestablished:
            if asyncio.get_running_loop().time() > deadline or self.services.peers.get(chan.peer_id) is None:
                raise LocalRequestError(f"channel {_cid(chan)} is not re-established with its peer")
            await asyncio.sleep(0.01)
        async with self._lock(chan):
            htlc = chan.add_htlc(amount_msat, payment_hash, cltv_expiry, onion_packet)
            record.htlc_id = htlc.htlc_id
            await self._commit(chan, [], peer, also_write=lambda: self.store.save_payment(record))
        return htlc

    async def resettle(self, chan: Channel) -> None:
        """Look again at the undecided incoming HTLCs of ``chan`` (a forward resolved)."""
        async with self._lock(chan):
            if chan.log is None or chan.state not in (NORMAL, SHUTTING_DOWN):
                return
            chan._after_state_change()
            await self._commit(chan, [], None)

    def channel_by_scid_any(self, scid: int | None) -> Channel | None:
        """Our channel with short_channel_id ``scid``, or whose alias (ours) it is (any peer)."""
        if scid is None:
            return None
        return next((c for c in self.channels.values() if scid in (c.short_channel_id, c.local_alias)), None)

    def is_usable(self, chan: Channel) -> bool:
        """Normal, its peer connected and the channel re-established."""
        return chan.state == NORMAL and chan.index in self._reestablished \
            and self.services.peers.get(chan.peer_id) is not None

    async def add_forwarded_htlc(self, chan: Channel, amount_msat: int, payment_hash: bytes, cltv_expiry: int,
                                 onion_packet: bytes, write_link: Callable[[Htlc], None]) -> Htlc:
        """Offer a forwarded HTLC on ``chan``; ``write_link`` stores the link in the same commit."""
        peer = self.services.peers.get(chan.peer_id)
        if peer is None or chan.index not in self._reestablished:
            raise LocalRequestError(f"peer {chan.peer_id.hex()} is not connected")
        async with self._lock(chan):
            htlc = chan.add_htlc(amount_msat, payment_hash, cltv_expiry, onion_packet)
            await self._commit(chan, [], peer, also_write=lambda: write_link(htlc))
        return htlc

    # ------------------------------------------------------------------ listing, dev methods
    def is_connected(self, chan: Channel) -> bool:
        """The peer is connected, the channel re-established on it and (if it just turned
        normal) registered with gossip: what listpeerchannels shows as peer_connected."""
        return self.services.peers.get(chan.peer_id) is not None and chan.index in self._reestablished \
            and chan.index not in self._registering

    async def set_hold_htlcs(self, hold: bool) -> None:
        """Leave incoming HTLCs undecided while `hold` is true (tests of stuck HTLCs); once
        false, decide those held."""
        self.hold_htlcs = hold
        if not hold:
            for chan in list(self.channels.values()):
                if chan.log is None or chan.state not in (NORMAL, SHUTTING_DOWN):
                    continue
                async with self._lock(chan):
                    chan._after_state_change()
                    await self._commit(chan, [], None)

    def corrupt_next_commitment_sig(self, chan: Channel) -> None:
        """Send the next commitment_signed of this channel with a wrong signature (tests of a
        misbehaving peer)."""
        self._corrupt_next_sig.add(chan.index)


def _corrupted(m: messages.CommitmentSigned) -> messages.CommitmentSigned:
    """A copy of a commitment_signed whose signature is wrong (dev-corrupt-next-commitment-sig)."""
    signature = bytearray(m.signature)
    signature[10] ^= 0x01
    return dataclasses.replace(m, signature=bytes(signature))
