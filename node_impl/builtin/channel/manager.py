"""All channels of the node: message dispatch, persistence, opening, closing, chain events.

Layer: channel. Imports channel, services, chain, net, keys, wire, core; nothing above
(payments reach the channels through channel/ops.ChannelOps, which this manager implements,
and the manager calls the payments layer through the ops.HtlcHandler it is given; gossip
hears of our channels through channel/events on services.events; RPC handlers live in
rpc/channels.py).

For each channel, work happens under that channel's lock: the state machine
(channel.Channel) computes the messages to send, the new state is written to
sqlite, then the messages leave in order (persist before you send).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bitcoin.core import CBlock, b2lx, b2x

from ..chain.wallet import WalletError
from ..chain.watcher import ChainRpcError, ChainUnavailable
from ..core.jsonrpc import RpcError
from ..core.log import get_logger
from ..keys import derivation as keys
from ..services import Services
from ..wire import messages
from ..wire.codec import encode_u16
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
    SideConfig,
    channel_id_from_funding,
)
from .onchain import Onchain
from .ops import HtlcHandler
from .store import ChannelStore, PaymentRecord
from .txs import funding_output_script
from .updates import LOCAL, REMOTE, Htlc

if TYPE_CHECKING:
    from ..net.peer import Peer

log = get_logger("channeld")

MSG_ERROR = 17
ALL_CHANNELS = bytes(32)
# Core Lightning's error codes
FUNDING_ERROR = 300
LIGHTNINGD = -1
OPEN_TIMEOUT_S = 30.0
REESTABLISH_WAIT_S = 10.0
# the states that need the peer (Core Lightning's channel_state_wants_peercomms): we reestablish
# them on every connection and keep their peer connected
REESTABLISH_STATES = (AWAITING_LOCKIN, NORMAL, SHUTTING_DOWN, CLOSING_SIGEXCHANGE)
DEFAULT_COMMITMENT_FEERATE = 2000  # inside Core Lightning's accepted range without fee estimates (253..2530)
DEFAULT_CLOSE_TIMEOUT_S = 172800
FULFILL_SAFETY_BLOCKS = 3

_BY_NAME: dict[str, type[messages.Message]] = {cls.NAME: cls for cls in messages.MESSAGE_TYPES.values()}


def to_wire(m: dict[str, Any]) -> bytes:
    """Encode a channel.py message dict with the codec's dataclass of that name."""
    cls = _BY_NAME[m["type"]]
    names = {f.name for f in dataclasses.fields(cls)}
    fields = {k: v for k, v in m.items() if k in names}
    if m["type"] == "closing_signed" and m.get("fee_range") is not None:
        lo, hi = m["fee_range"]
        fields["fee_range"] = messages.FeeRange(lo, hi)
    if m["type"] == "commitment_signed":
        fields["htlc_signatures"] = tuple(m["htlc_signatures"])
    return cls(**fields).encode()


def from_wire(message: messages.Message) -> dict[str, Any]:
    """A codec dataclass as the dict channel.py reads."""
    out: dict[str, Any] = {"type": message.NAME}
    for f in dataclasses.fields(message):
        out[f.name] = getattr(message, f.name)
    fee_range = out.get("fee_range")
    if isinstance(fee_range, messages.FeeRange):
        out["fee_range"] = (fee_range.min_fee_satoshis, fee_range.max_fee_satoshis)
    return out


class ChannelManager:
    """The channel subsystem of one node (see node.ChannelsSeam); implements ops.ChannelOps."""

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
        self._waiters: dict[tuple[bytes, bytes, str], asyncio.Future[dict[str, Any]]] = {}
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

    # ------------------------------------------------------------------ seam: lifecycle
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

    # ------------------------------------------------------------------ seam: peers
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

    # ------------------------------------------------------------------ seam: messages
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
        m = from_wire(decoded)
        name = m["type"]
        log.debug("%s from %s", name, peer.id_hex)
        if name == "open_channel":
            await self._on_open_channel(peer, m)
            return
        if name in ("accept_channel", "funding_signed"):
            key = m["temporary_channel_id"] if name == "accept_channel" else m["channel_id"]
            fut = self._waiters.get((peer.node_id, key, name))
            if fut is None or fut.done():
                await peer.send_error(key, f"unexpected {name}")
                return
            fut.set_result(m)
            return
        if name == "funding_created":
            await self._on_funding_created(peer, m)
            return
        chan = self._by_channel_id(peer.node_id, m["channel_id"])
        if chan is None:
            await peer.send_error(m["channel_id"], f"unknown channel {m['channel_id'].hex()}")
            return
        async with self._lock(chan):
            await self._on_channel_message(peer, chan, m)

    def _by_channel_id(self, peer_id: bytes, channel_id: bytes) -> Channel | None:
        for chan in self.channels.values():
            if chan.channel_id == channel_id and chan.peer_id == peer_id:
                return chan
        return None

    async def _on_channel_message(self, peer: Peer, chan: Channel, m: dict[str, Any]) -> None:
        name = m["type"]
        if chan.state in (CLOSING_COMPLETE, AWAITING_UNILATERAL, FUNDING_SPEND_SEEN, ONCHAIN, CLOSED):
            if name == "channel_reestablish" and chan.state != CLOSING_COMPLETE:
                await peer.send_error(chan.channel_id or ALL_CHANNELS,
                                      f"channel {_cid(chan)} is closed ({chan.state})")
            elif name == "channel_reestablish" and chan.closing_tx_hex:
                # the peer may have missed our last closing_signed: it can see the tx on chain
                pass
            return
        if name != "channel_reestablish" and chan.index not in self._reestablished:
            await peer.send_warning(chan.channel_id or ALL_CHANNELS, f"{name} before channel_reestablish")
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

    def _apply(self, chan: Channel, m: dict[str, Any]) -> list[dict[str, Any]]:
        name = m["type"]
        if name == "channel_reestablish":
            out = chan.handle_reestablish(m)
            self._reestablished.add(chan.index)
            if chan.state == NORMAL:
                chan.events.append(("channel_normal", "reestablished"))  # (re)announce it to gossip
            return out
        if name == "channel_ready":
            return chan.handle_channel_ready(m)
        if name in ("update_add_htlc", "update_fulfill_htlc", "update_fail_htlc", "update_fail_malformed_htlc",
                    "update_fee"):
            getattr(chan, f"handle_{name}")(m)
            return []
        if name == "commitment_signed":
            return chan.handle_commitment_signed(m)
        if name == "revoke_and_ack":
            return chan.handle_revoke_and_ack(m)
        if name == "shutdown":
            return chan.handle_shutdown(m, self._close_script(chan))
        if name == "closing_signed":
            return chan.handle_closing_signed(m)
        log.debug("ignoring %s on channel %s", name, _cid(chan))
        return []

    def _close_script(self, chan: Channel) -> bytes:
        if chan.local_shutdown_script is not None:
            return chan.local_shutdown_script
        return self.services.wallet.new_address()[1]

    async def _commit(self, chan: Channel, out: list[dict[str, Any]], peer: Peer | None, *,
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
            out = [_corrupted(m) if m["type"] == "commitment_signed" else m for m in out]
            if any(m.get("corrupted") for m in out):
                self._corrupt_next_sig.discard(chan.index)
        if peer is not None and out:
            await self._send(peer, out)
        for action in after:
            result = action()
            if asyncio.iscoroutine(result):
                await result

    async def _process_events(self, chan: Channel, out: list[dict[str, Any]],
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
            after.append(lambda: self._wake_close(chan))
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

    async def resettle(self, chan: Channel) -> None:
        """Look again at the undecided incoming HTLCs of ``chan`` (a forward resolved)."""
        async with self._lock(chan):
            if chan.log is None or chan.state not in (NORMAL, SHUTTING_DOWN):
                return
            chan._after_state_change()
            await self._commit(chan, [], None)

    def channel_by_scid_any(self, scid: int | None) -> Channel | None:
        """Our channel with short_channel_id ``scid`` (any peer)."""
        if scid is None:
            return None
        return next((c for c in self.channels.values() if c.short_channel_id == scid), None)

    def is_usable(self, chan: Channel) -> bool:
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

    async def _send(self, peer: Peer, out: list[dict[str, Any]]) -> None:
        for m in out:
            log.debug("sending %s to %s", m["type"], peer.id_hex)
            try:
                await peer.send(to_wire(m))
            except Exception as exc:  # connection gone: the reestablish will retransmit
                log.info("could not send %s to %s: %r", m["type"], peer.id_hex, exc)
                return

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

    async def _on_peer_error(self, peer: Peer, payload: bytes) -> None:
        channel_id = payload[:32]
        text = payload[34:34 + int.from_bytes(payload[32:34], "big")].decode("utf-8", "replace")
        for key, fut in list(self._waiters.items()):
            if key[0] == peer.node_id and not fut.done():  # an open in progress with this peer
                fut.set_exception(ConnectionError(f"peer {peer.id_hex} sent an error: {text}"))
        for key in [k for k in self._opening if k[0] == peer.node_id and channel_id in (ALL_CHANNELS, k[1])]:
            del self._opening[key]
        for chan in list(self.channels.values()):
            if chan.peer_id != peer.node_id:
                continue
            if channel_id not in (ALL_CHANNELS, chan.channel_id):
                continue
            if chan.state in (NORMAL, AWAITING_LOCKIN, SHUTTING_DOWN, CLOSING_SIGEXCHANGE):
                async with self._lock(chan):
                    await self._force_close(chan, f"peer sent an error: {text}")

    async def _fail_channel(self, chan: Channel, reason: str, peer: Peer | None) -> None:
        """Send an error and fail the channel (broadcast our latest commitment)."""
        log.warning("failing channel %s: %s", _cid(chan), reason)
        if peer is not None:
            await peer.send_error(chan.channel_id or chan.temporary_channel_id, reason)
        await self._force_close(chan, reason)

    async def _force_close(self, chan: Channel, reason: str) -> str | None:
        tx_hex = chan.force_close(reason)
        self.save(chan)
        self._wake_close(chan)
        await self._publish_stopped_forwarding(chan)
        if tx_hex is None:
            return None
        await self.broadcast(tx_hex, f"our commitment of channel {_cid(chan)}")
        return tx_hex

    # ------------------------------------------------------------------ opening: acceptor
    def _local_config(self, funding_sat: int) -> SideConfig:
        cfg = self.services.config
        reserve = max(funding_sat // 100, cfg.dust_limit_sat)
        return SideConfig(
            dust_limit_sat=cfg.dust_limit_sat,
            max_htlc_value_in_flight_msat=funding_sat * 1000,
            channel_reserve_sat=reserve,
            htlc_minimum_msat=cfg.htlc_minimum_msat,
            to_self_delay=cfg.to_self_delay,
            max_accepted_htlcs=cfg.max_accepted_htlcs,
        )

    def _new_channel(self, peer_id: bytes, opener: str, funding_sat: int) -> Channel:
        index = self.store.allocate_index()
        return Channel(index=index, peer_id=peer_id, keys=keys.channel_keys(self.services.identity.seed, index),
                       opener=opener, local_config=self._local_config(funding_sat),
                       chain_hash=bytes.fromhex(self.services.identity.genesis_hash)[::-1])

    async def _on_open_channel(self, peer: Peer, m: dict[str, Any]) -> None:
        chan = self._new_channel(peer.node_id, REMOTE, m["funding_satoshis"])
        try:
            accept = chan.handle_open_channel(m, min_depth=self.services.config.min_depth)
        except ChannelError as exc:
            log.info("refusing open_channel from %s: %s", peer.id_hex, exc)
            await peer.send_error(m["temporary_channel_id"], str(exc))
            return
        self._opening[(peer.node_id, chan.temporary_channel_id)] = chan
        await self._send(peer, [accept])

    async def _on_funding_created(self, peer: Peer, m: dict[str, Any]) -> None:
        chan = self._opening.pop((peer.node_id, m["temporary_channel_id"]), None)
        if chan is None:
            await peer.send_error(m["temporary_channel_id"], "funding_created for an unknown channel")
            return
        try:
            signed = chan.handle_funding_created(m)
        except ChannelError as exc:
            await peer.send_error(m["temporary_channel_id"], str(exc))
            return
        self.channels[chan.index] = chan
        self._reestablished.add(chan.index)
        log.info("channel %s opened by %s: %d sat, push %d msat", _cid(chan), peer.id_hex,
                 chan.funding_sat, chan.push_msat)
        async with self._lock(chan):
            await self._commit(chan, [signed], peer)
        await self._check_funding_now(chan)

    # ------------------------------------------------------------------ opening: opener
    async def fund_channel(self, peer_id: bytes, funding_sat: int, *, push_msat: int = 0,
                           funding_feerate_perkw: int, announce: bool = True, minconf: int = 1,
                           upfront_shutdown_script: bytes = b"") -> dict[str, Any]:
        """Open a channel to a connected peer, funded from our wallet (amounts checked by the
        caller against MIN/MAX_FUNDING_SAT). Returns Core Lightning's fundchannel result."""
        push = push_msat
        upfront_script = upfront_shutdown_script
        funding_feerate = funding_feerate_perkw
        commitment_feerate = await self.services.chain.estimate_feerate_perkw(6, DEFAULT_COMMITMENT_FEERATE)
        peer = self.services.peers.get(peer_id)
        if peer is None:
            raise RpcError(LIGHTNINGD, f"Peer not connected: {peer_id.hex()}")
        if self.services.wallet.balance_sat(minconf=max(minconf, 0)) < funding_sat:
            raise RpcError(FUNDING_ERROR, f"Could not afford {funding_sat}sat using all "
                                          f"{self.services.wallet.balance_sat(minconf=max(minconf, 0))}sat "
                                          f"confirmed wallet funds")
        chan = self._new_channel(peer_id, LOCAL, funding_sat)
        open_msg = chan.make_open_channel(funding_sat=funding_sat, push_msat=push,
                                          feerate_per_kw=commitment_feerate, announce=bool(announce),
                                          upfront_shutdown_script=upfront_script)
        accept = await self._request(peer, open_msg, chan.temporary_channel_id, "accept_channel")
        try:
            chan.handle_accept_channel(accept)
        except ChannelError as exc:
            await peer.send_error(chan.temporary_channel_id, str(exc))
            raise RpcError(FUNDING_ERROR, f"peer's accept_channel is unacceptable: {exc}") from None
        script = funding_output_script(chan.keys.basepoints.funding_pubkey,
                                       chan.remote_basepoints.funding_pubkey)  # type: ignore[union-attr]
        try:
            tx = self.services.wallet.fund_tx([(script, funding_sat)], funding_feerate, minconf=minconf)
        except WalletError as exc:
            await peer.send_error(chan.temporary_channel_id, "funding failed")
            raise RpcError(FUNDING_ERROR, f"cannot fund the channel: {exc}") from None
        outnum = next(i for i, out in enumerate(tx.vout) if bytes(out.scriptPubKey) == script)
        tx_hex = b2x(tx.serialize())
        try:
            created = chan.make_funding_created(tx.GetTxid(), outnum, tx_hex)
            channel_id = channel_id_from_funding(tx.GetTxid(), outnum)
            signed = await self._request(peer, created, channel_id, "funding_signed")
            chan.handle_funding_signed(signed)
        except ChannelError as exc:
            self.services.wallet.release(tx)
            await peer.send_error(chan.temporary_channel_id, str(exc))
            raise RpcError(FUNDING_ERROR, f"funding_signed is invalid: {exc}") from None
        except RpcError:
            self.services.wallet.release(tx)
            raise
        chan.drain_events()
        self.channels[chan.index] = chan
        self._reestablished.add(chan.index)
        self.save(chan)  # persisted before the funding tx leaves
        txid = await self.broadcast(tx_hex, f"funding of channel {_cid(chan)}")
        if txid is None:
            raise RpcError(FUNDING_ERROR, "funding transaction was rejected by the chain backend")
        self.services.wallet.note_broadcast(tx)
        log.info("channel %s to %s funded: %d sat, push %d msat", _cid(chan), peer.id_hex, funding_sat, push)
        return {"tx": tx_hex, "txid": b2lx(tx.GetTxid()), "outnum": outnum, "channel_id": _cid(chan),
                "channel_type": {"bits": [12], "names": ["static_remotekey/even"]}}

    async def _request(self, peer: Peer, m: dict[str, Any], key: bytes, reply: str) -> dict[str, Any]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[(peer.node_id, key, reply)] = fut
        try:
            await self._send(peer, [m])
            return await asyncio.wait_for(fut, OPEN_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise RpcError(FUNDING_ERROR, f"peer did not answer {m['type']} with {reply} "
                                          f"within {OPEN_TIMEOUT_S:g}s") from None
        except ConnectionError as exc:
            raise RpcError(FUNDING_ERROR, f"{exc} during channel open") from None
        finally:
            self._waiters.pop((peer.node_id, key, reply), None)

    # ------------------------------------------------------------------ chain
    async def on_block(self, height: int, block_hash: str, block: CBlock) -> None:
        by_txid = {c.funding_txid: c for c in self.channels.values() if c.funding_txid is not None}
        by_outpoint = {(c.funding_txid, c.funding_outnum): c for c in by_txid.values()}
        for tx_index, tx in enumerate(block.vtx):
            chan = by_txid.get(tx.GetTxid())
            if chan is not None and chan.funding_height is None:
                chan.funding_height = height
                chan.funding_tx_index = tx_index
                self.save(chan)
                log.info("funding of channel %s confirmed at %d", _cid(chan), height)
                if chan.state == NORMAL:  # confirmed again after a reorg: tell gossip its scid
                    await self._publish_normal(chan)
            for txin in tx.vin:
                spent = by_outpoint.get((txin.prevout.hash, txin.prevout.n))
                if spent is not None:
                    async with self._lock(spent):
                        await self.onchain.funding_spent(spent, tx, height)
        for chan in list(self.channels.values()):
            await self._rebroadcast(chan)
            if chan.state == AWAITING_LOCKIN and chan.funding_height is not None:
                await self._check_lockin(chan, height)
            elif chan.state in (NORMAL, SHUTTING_DOWN, CLOSING_SIGEXCHANGE):
                await self._check_htlc_expiry(chan, height)
            else:
                self._fail_stranded_payments(chan)
        await self.onchain.on_block(height, block)
        await self.htlcs.on_block(height)  # forwards that can no longer resolve fail back

    def _fail_stranded_payments(self, chan: Channel) -> None:
        """Payments whose HTLC went nowhere on a closed channel fail: the HTLC was never signed, or
        the commitment confirmed on chain has no output for it (trimmed or not included)."""
        if chan.log is None:
            return
        plan = chan.onchain or {}
        on_chain = {tuple(e["htlc"]) for e in plan.get("outputs", []) if "htlc" in e}
        confirmed = plan.get("type") in ("local", "remote", "mutual", "revoked")
        for htlc in chan.log.htlcs.values():
            if htlc.offerer != LOCAL or htlc.removal is not None:
                continue
            if htlc.added_at[REMOTE] is None:
                self.htlcs.outgoing_stranded(chan, htlc, f"channel closed ({chan.state}) before the HTLC was signed")
            elif confirmed and (LOCAL, htlc.htlc_id) not in on_chain:
                self.htlcs.outgoing_stranded(chan, htlc, "the commitment confirmed on chain holds no output for the HTLC")

    async def _rebroadcast(self, chan: Channel) -> None:
        """Our unconfirmed funding, closing or commitment tx goes out again each block (it may
        have been lost with a crash between persisting and broadcasting, or evicted)."""
        if chan.state == AWAITING_LOCKIN and chan.is_opener() and chan.funding_height is None \
                and chan.funding_tx_hex:
            await self.broadcast(chan.funding_tx_hex, f"funding of channel {_cid(chan)} (again)")
        elif chan.spend_txid is None and chan.state == CLOSING_COMPLETE and chan.closing_tx_hex:
            await self.broadcast(chan.closing_tx_hex, f"closing tx of channel {_cid(chan)} (again)")
        elif chan.spend_txid is None and chan.state == AWAITING_UNILATERAL and chan.local_commitment_tx_hex:
            await self.broadcast(chan.local_commitment_tx_hex, f"our commitment of channel {_cid(chan)} (again)")

    async def _check_htlc_expiry(self, chan: Channel, height: int) -> None:
        """BOLT 2: an HTLC we offered that timed out, or one we fulfilled that nears its expiry
        without being removed, means the peer is unresponsive: fail the channel."""
        if chan.log is None:
            return
        for htlc in chan.log.htlcs.values():
            offered_expired = htlc.offerer == LOCAL and htlc.removal is None and height >= htlc.cltv_expiry
            fulfilled_stuck = htlc.offerer == REMOTE and htlc.removal == "fulfill" \
                and height >= htlc.cltv_expiry - FULFILL_SAFETY_BLOCKS
            if offered_expired or fulfilled_stuck:
                what = "offered" if offered_expired else "fulfilled"
                async with self._lock(chan):
                    await self._fail_channel(
                        chan, f"HTLC {htlc.htlc_id} we {what} reached its expiry {htlc.cltv_expiry} "
                              f"at height {height} unresolved", self.services.peers.get(chan.peer_id))
                return

    async def _check_lockin(self, chan: Channel, height: int) -> None:
        depth = height - (chan.funding_height or height) + 1
        async with self._lock(chan):
            out = chan.funding_confirmed(chan.funding_height or height, chan.funding_tx_index or 0, depth)
            if out or chan.state == NORMAL:
                peer = self.services.peers.get(chan.peer_id)
                if chan.index not in self._reestablished:
                    out = []  # channel_ready goes out with the reestablish
                await self._commit(chan, out, peer, persist=True)

    async def _check_funding_now(self, chan: Channel) -> None:
        """Funding may already be confirmed (acceptor learns the txid late): look it up."""
        try:
            info = await self.services.chain.call("gettxout", b2lx(chan.funding_txid or b""), chan.funding_outnum)
        except (ChainRpcError, ChainUnavailable) as exc:  # the next block's processing finds it
            log.info("channel %s: cannot look up the funding output now: %s", _cid(chan), exc)
            return
        if not info or not info.get("confirmations"):
            return
        height = self.services.blockheight - int(info["confirmations"]) + 1
        try:
            block_hash = await self.services.chain.call("getblockhash", height)
            block = await self.services.chain.call("getblock", block_hash, 1)
        except (ChainRpcError, ChainUnavailable) as exc:  # the next block's processing finds it
            log.info("channel %s: cannot read the funding block now: %s", _cid(chan), exc)
            return
        txids = block.get("tx", [])
        funding_hex = b2lx(chan.funding_txid or b"")
        if funding_hex in txids:
            chan.funding_height = height
            chan.funding_tx_index = txids.index(funding_hex)
            await self._check_lockin(chan, self.services.blockheight)

    async def on_reorg(self, fork_height: int) -> None:
        """Blocks above ``fork_height`` were disconnected: forget what they told us."""
        for chan in self.channels.values():
            if chan.funding_height is not None and chan.funding_height > fork_height \
                    and chan.spend_height is None:
                chan.funding_height = None  # found again (maybe elsewhere: a new scid) in a block
                chan.funding_tx_index = None
                self.save(chan)
            if chan.spend_height is not None and chan.spend_height > fork_height:
                # the funding spend is unconfirmed again: back to waiting for it (we rebroadcast ours)
                log.info("channel %s: funding spend %s reorganised out", _cid(chan), chan.spend_txid)
                chan.spend_txid = None
                chan.spend_height = None
                chan.onchain = {}
                if chan.closing_tx_hex:
                    chan.state = CLOSING_COMPLETE
                elif chan.close_type is not None or chan.error_message:
                    chan.state = AWAITING_UNILATERAL
                self.save(chan)
            elif chan.onchain.get("outputs"):
                for entry in chan.onchain["outputs"]:
                    if entry.get("resolved_height") is not None and entry["resolved_height"] > fork_height:
                        entry["resolved"] = False
                        entry.pop("resolved_height", None)
                        entry.pop("resolved_by", None)
                chan.onchain["outputs"] = [e for e in chan.onchain["outputs"]
                                           if e["confirm_height"] <= fork_height]
                chan.onchain["resolved"] = all(e["resolved"] for e in chan.onchain["outputs"])
                self.save(chan)

    # ------------------------------------------------------------------ payments seam
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
        """Our normal channel with ``peer_id`` (the one with ``scid`` if given)."""
        for chan in self.channels.values():
            if chan.peer_id == peer_id and chan.state == NORMAL and scid in (None, chan.short_channel_id):
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

    # ------------------------------------------------------------------ closing
    def find(self, ident: str) -> Channel:
        """The channel a peer id, channel id or short channel id (text) names; one that is not
        closed if there are several. RpcError(-1) if none or several match."""
        matches = []
        for chan in self.channels.values():
            if ident in (chan.peer_id.hex(), _cid(chan), _scid_str(chan.short_channel_id)):
                matches.append(chan)
        live = [c for c in matches if c.state not in (CLOSED, ONCHAIN, FUNDING_SPEND_SEEN)]
        if live:
            matches = live
        if not matches:
            raise RpcError(LIGHTNINGD, f"Unknown channel or peer {ident}")
        if len(matches) > 1:
            raise RpcError(LIGHTNINGD, f"Peer {ident} has {len(matches)} channels: give a channel id")
        return matches[0]

    async def close(self, chan: Channel, *, unilateral_timeout_s: float | None = None,
                    destination_script: bytes | None = None, force: bool = False) -> dict[str, Any]:
        """Close a channel: mutual, or unilateral after `unilateral_timeout_s` seconds (0: wait
        forever; None: the default) or at once with `force`. Returns {type, tx, txid}."""
        script = destination_script
        if chan.state in (CLOSING_COMPLETE,) and chan.closing_tx_hex:
            return {"type": "mutual", "tx": chan.closing_tx_hex, "txid": chan.closing_txid}
        if chan.state in (AWAITING_UNILATERAL, FUNDING_SPEND_SEEN, ONCHAIN, CLOSED):
            raise RpcError(LIGHTNINGD, f"Channel is in state {chan.state}")
        if force:
            return await self._close_unilateral(chan)
        timeout = DEFAULT_CLOSE_TIMEOUT_S if unilateral_timeout_s is None else float(unilateral_timeout_s)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._close_waiters.setdefault(chan.index, []).append(waiter)
        peer = self.services.peers.get(chan.peer_id)
        async with self._lock(chan):
            try:
                out = chan.start_shutdown(script or self._close_script(chan))
            except LocalRequestError as exc:
                raise RpcError(LIGHTNINGD, str(exc)) from None
            if peer is None or chan.index not in self._reestablished:
                out = []  # shutdown is retransmitted after reestablish
            await self._commit(chan, out, peer, persist=True)
        try:
            if timeout > 0:
                await asyncio.wait_for(asyncio.shield(waiter), timeout)
            else:
                await waiter
        except asyncio.TimeoutError:
            return await self._close_unilateral(chan)
        if chan.state == CLOSING_COMPLETE and chan.closing_tx_hex:
            return {"type": "mutual", "tx": chan.closing_tx_hex, "txid": chan.closing_txid}
        if chan.local_commitment_tx_hex:
            return {"type": "unilateral", "tx": chan.local_commitment_tx_hex,
                    "txid": _txid_of_hex(chan.local_commitment_tx_hex)}
        raise RpcError(LIGHTNINGD, f"channel {_cid(chan)} ended in state {chan.state}: {chan.error_message}")

    async def _close_unilateral(self, chan: Channel) -> dict[str, Any]:
        async with self._lock(chan):
            if chan.state in (CLOSING_COMPLETE,) and chan.closing_tx_hex:
                return {"type": "mutual", "tx": chan.closing_tx_hex, "txid": chan.closing_txid}
            tx_hex = await self._force_close(chan, "close: unilateral")
            peer = self.services.peers.get(chan.peer_id)
            if peer is not None:  # after our broadcast, so our commitment is the one in the mempool
                await peer.send_error(chan.channel_id or ALL_CHANNELS, "Forcibly closed by `close` command")
        if tx_hex is None:
            raise RpcError(LIGHTNINGD, f"channel {_cid(chan)} has no commitment to broadcast")
        return {"type": "unilateral", "tx": tx_hex, "txid": _txid_of_hex(tx_hex)}

    def _wake_close(self, chan: Channel) -> None:
        for fut in self._close_waiters.pop(chan.index, []):
            if not fut.done():
                fut.set_result(None)

    # ------------------------------------------------------------------ listing
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


def _corrupted(m: dict[str, Any]) -> dict[str, Any]:
    """A copy of a commitment_signed whose signature is wrong (dev-corrupt-next-commitment-sig)."""
    signature = bytearray(m["signature"])
    signature[10] ^= 0x01
    return {**m, "signature": bytes(signature), "corrupted": True}


def _cid(chan: Channel) -> str:
    return (chan.channel_id or chan.temporary_channel_id).hex()


def _scid_str(scid: int | None) -> str | None:
    if scid is None:
        return None
    return f"{scid >> 40}x{(scid >> 16) & 0xFFFFFF}x{scid & 0xFFFF}"


def _txid_of_hex(tx_hex: str) -> str:
    from bitcoin.core import CTransaction, x
    return b2lx(CTransaction.deserialize(x(tx_hex)).GetTxid())
