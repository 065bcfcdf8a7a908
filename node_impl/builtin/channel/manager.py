"""All channels of the node: message dispatch, persistence, chain events and channel RPCs.

For each channel, work happens under that channel's lock: the state machine
(channel.Channel) computes the messages to send, the new state is written to
sqlite, then the messages leave in order (persist before you send).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from bitcoin.core import CBlock, b2lx, b2x

from ..chain.wallet import WalletError
from ..core.jsonrpc import RpcError, param_error
from ..core.log import get_logger
from ..keys import derivation as keys
from ..net.transport import ConnectionClosed
from ..payments.forward import Forwarding
from ..payments.pay import Payments
from ..payments.sendonion import OnionSender
from ..wire import messages
from ..wire.codec import encode_u16
from .machine import (
    AWAITING_LOCKIN,
    AWAITING_UNILATERAL,
    CLOSED,
    CLOSING_COMPLETE,
    CLOSING_SIGEXCHANGE,
    FUNDING_SPEND_SEEN,
    MAX_FUNDING_SAT,
    MIN_FUNDING_SAT,
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
from .store import ChannelStore, PaymentRecord
from .txs import funding_output_script, is_valid_shutdown_script
from .updates import LOCAL, REMOTE, Htlc

if TYPE_CHECKING:
    from ..host import SubsystemHost
    from ..net.peer import Peer

log = get_logger("channeld")
R = TypeVar("R", bound=messages.Message)

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

class ChannelManager:
    """The channel subsystem of one node (see node.ChannelsSeam)."""

    # what the PeerManager dispatches here (net.handlers.MessageHandler): open_channel ..
    # closing_signed, update_add_htlc .. channel_reestablish, and error
    message_types = (frozenset(range(32, 42)) | frozenset(range(128, 137))
                     | frozenset({messages.ErrorMessage.TYPE}))

    def __init__(self, node: SubsystemHost) -> None:
        self.node = node
        self.store = ChannelStore(node.db)
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
        self.payments = Payments(self)
        self.forwarding = Forwarding(self)
        self.onion_sender = OnionSender(self)  # sendonion / waitsendpay RPCs
        self.onchain = Onchain(self)
        for name, handler in (
            ("fundchannel", self.rpc_fundchannel),
            ("listpeerchannels", self.rpc_listpeerchannels),
            ("close", self.rpc_close),
            ("pay", self.payments.pay),
            ("listpays", self.payments.listpays),
            ("listforwards", self.rpc_listforwards),
            ("dev-channel-state", self.rpc_dev_channel_state),
            ("dev-hold-htlcs", self.rpc_dev_hold_htlcs),
            ("dev-sign-last-tx", self.rpc_dev_sign_last_tx),
            ("dev-corrupt-next-commitment-sig", self.rpc_dev_corrupt_next_commitment_sig),
        ):
            node.rpc.register(name, handler)

    # ------------------------------------------------------------------ seam: lifecycle
    async def start(self) -> None:
        for data in self.store.load_channels():
            index = data["index"]
            chan = Channel.from_json(data, keys.channel_keys(self.node.seed, index))
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
            self.node.peers.keep_connected(peer_id)
        elif not needed and peer_id in self._kept_peers:
            self._kept_peers.discard(peer_id)
            self.node.peers.stop_keeping(peer_id)

    async def stop(self) -> None:
        for fut in self._waiters.values():
            if not fut.done():
                fut.cancel()

    def num_active_channels(self) -> int:
        return sum(1 for c in self.channels.values() if self._shown_state(c) == NORMAL)

    def _shown_state(self, chan: Channel) -> str:
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
                "connected": self.node.peers.get(chan.peer_id) is not None,
                "state": self._shown_state(chan),
                "channel_id": _cid(chan),
                "short_channel_id": _scid_str(chan.short_channel_id),
                "our_amount_msat": view.local_msat,
                "amount_msat": chan.funding_sat * 1000,
                "funding_txid": b2lx(chan.funding_txid),
                "funding_output": chan.funding_outnum,
            })
        return out

    def invoice_route_hints(self, amount_msat: int | None) -> list[Any]:
        """BOLT 11 route hints for our private channels whose peer is connected and can send us
        the amount (from the gossip subsystem's view of each peer's policy)."""
        provider = getattr(self.node.gossip, "private_route_hints", None)
        if provider is None:
            return []
        usable = {c.short_channel_id: c for c in self.usable_channels()}
        hints = []
        for hint in provider():
            chan = usable.get(hint[-1].short_channel_id) if hint else None
            if chan is None:
                continue
            if amount_msat is not None and chan.receivable_msat() < amount_msat:
                continue
            hints.append(hint)
        return hints

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

    def _close_script(self, chan: Channel) -> bytes:
        if chan.local_shutdown_script is not None:
            return chan.local_shutdown_script
        return self.node.wallet.new_address()[1]

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
        with self.node.db.transaction():  # invoice settlement and channel state in one commit
            await self._process_events(chan, out, after)
            if also_write is not None:
                also_write()
            if persist or out or also_write is not None or after or self._decided \
                    or chan.state != state_before:
                self.save(chan)
        current = self.node.peers.get(chan.peer_id)
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
                    self.on_outgoing_fulfilled(chan, data, data.removal_data["preimage"])
                elif kind == "htlc_resolved":
                    if data.removal != "fulfill":
                        self.on_outgoing_failed(chan, data)
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
            after.append(lambda: self._unregister_gossip(chan))

    async def _settle_incoming(self, chan: Channel, htlc: Htlc) -> None:
        if self.hold_htlcs:
            log.info("holding incoming HTLC %d on %s (dev-hold-htlcs)", htlc.htlc_id, _cid(chan))
            return
        decision = self.payments.decide_incoming(chan, htlc)
        if decision.pending:
            return
        self._decided = True
        if decision.preimage is not None:
            chan.fulfill_htlc(htlc.htlc_id, decision.preimage)
            if decision.settles_invoice:
                await self.node.invoices.mark_paid(htlc.payment_hash, htlc.amount_msat)
        elif decision.malformed_code is not None and decision.sha256_of_onion is not None:
            chan.fail_malformed_htlc(htlc.htlc_id, decision.sha256_of_onion, decision.malformed_code)
        else:
            chan.fail_htlc(htlc.htlc_id, decision.reason or b"")

    def on_outgoing_fulfilled(self, chan: Channel, htlc: Htlc, preimage: bytes) -> None:
        """An HTLC we offered was fulfilled (by message or on chain): complete the payment or
        settle the forward's incoming side."""
        if not self.forwarding.is_forward(chan, htlc):  # a payment of ours with the same hash is not paid
            self.payments.on_fulfilled(htlc, preimage)
        incoming = self.forwarding.on_out_fulfilled(chan, htlc, preimage)
        if incoming is not None:
            self.node.spawn(self.resettle(incoming), "resettle")

    def on_outgoing_failed(self, chan: Channel, htlc: Htlc) -> None:
        """An HTLC we offered failed (by message or timed out on chain)."""
        if self.forwarding.is_forward(chan, htlc):
            pass  # not one of our payments (one of ours may have the same payment hash)
        elif htlc.removal == "timeout":
            self.payments.on_chain_timeout(htlc)
        else:
            self.payments.on_failed(htlc)
        incoming = self.forwarding.on_out_failed(chan, htlc)
        if incoming is not None:
            self.node.spawn(self.resettle(incoming), "resettle")

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
            and self.node.peers.get(chan.peer_id) is not None

    async def add_forwarded_htlc(self, chan: Channel, amount_msat: int, payment_hash: bytes, cltv_expiry: int,
                                 onion_packet: bytes, write_link: Callable[[Htlc], None]) -> Htlc:
        """Offer a forwarded HTLC on ``chan``; ``write_link`` stores the link in the same commit."""
        peer = self.node.peers.get(chan.peer_id)
        if peer is None or chan.index not in self._reestablished:
            raise LocalRequestError(f"peer {chan.peer_id.hex()} is not connected")
        async with self._lock(chan):
            htlc = chan.add_htlc(amount_msat, payment_hash, cltv_expiry, onion_packet)
            await self._commit(chan, [], peer, also_write=lambda: write_link(htlc))
        return htlc

    async def rpc_listforwards(self, status: Any = None, in_channel: Any = None,
                               out_channel: Any = None) -> dict[str, Any]:
        """HTLCs this node forwarded (Core Lightning's listforwards)."""
        return {"forwards": self.forwarding.listforwards(status, in_channel, out_channel)}

    async def _send(self, peer: Peer, out: list[messages.Message]) -> None:
        for m in out:
            log.debug("sending %s to %s", m.NAME, peer.id_hex)
            data = m.encode()  # an unencodable message is a bug: it raises
            try:
                await peer.send(data)
            except ConnectionClosed as exc:  # connection gone: the reestablish will retransmit
                log.info("could not send %s to %s: %r", m.NAME, peer.id_hex, exc)
                return

    async def _register_normal(self, chan: Channel) -> None:
        """Register a channel that became normal or was re-established, then show it as such."""
        try:
            await self._register_gossip(chan)
        finally:
            self._registering.pop(chan.index, None)

    async def _register_gossip(self, chan: Channel) -> None:
        """Tell the gossip subsystem about a normal channel (idempotent)."""
        register = getattr(self.node.gossip, "add_local_channel", None)
        if register is None or chan.short_channel_id is None or chan.remote_basepoints is None \
                or chan.remote_config is None or chan.channel_id is None:
            return
        try:
            await register(
                channel_id=chan.channel_id, short_channel_id=chan.short_channel_id,
                remote_node_id=chan.peer_id, capacity_sat=chan.funding_sat,
                local_funding_privkey=chan.keys.funding_privkey,
                remote_funding_pubkey=chan.remote_basepoints.funding_pubkey,
                funding_txid=b2lx(chan.funding_txid or b""), funding_outnum=chan.funding_outnum,
                announce=bool(chan.channel_flags & 1),
                htlc_minimum_msat=chan.remote_config.htlc_minimum_msat,
                htlc_maximum_msat=min(chan.funding_sat * 1000, chan.remote_config.max_htlc_value_in_flight_msat))
        except Exception as exc:  # gossip trouble must not stop the channel
            log.warning("gossip registration of channel %s failed: %r", _cid(chan), exc, exc_info=True)

    async def _unregister_gossip(self, chan: Channel) -> None:
        closed = getattr(self.node.gossip, "local_channel_closed", None)
        if closed is None or chan.short_channel_id is None:
            return
        try:
            await closed(chan.short_channel_id)
        except Exception as exc:
            log.warning("gossip close of channel %s failed: %r", _cid(chan), exc, exc_info=True)

    async def broadcast(self, tx_hex: str, what: str) -> str | None:
        try:
            txid = await self.node.chain.call("sendrawtransaction", tx_hex)
        except Exception as exc:
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
        await self._unregister_gossip(chan)
        if tx_hex is None:
            return None
        await self.broadcast(tx_hex, f"our commitment of channel {_cid(chan)}")
        return tx_hex

    # ------------------------------------------------------------------ opening: acceptor
    def _local_config(self, funding_sat: int) -> SideConfig:
        cfg = self.node.config
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
        return Channel(index=index, peer_id=peer_id, keys=keys.channel_keys(self.node.seed, index),
                       opener=opener, local_config=self._local_config(funding_sat),
                       chain_hash=bytes.fromhex(self.node.genesis_hash)[::-1])

    async def _on_open_channel(self, peer: Peer, m: messages.OpenChannel) -> None:
        chan = self._new_channel(peer.node_id, REMOTE, m.funding_satoshis)
        try:
            accept = chan.handle_open_channel(m, min_depth=self.node.config.min_depth)
        except ChannelError as exc:
            log.info("refusing open_channel from %s: %s", peer.id_hex, exc)
            await peer.send_error(m.temporary_channel_id, str(exc))
            return
        self._opening[(peer.node_id, chan.temporary_channel_id)] = chan
        await self._send(peer, [accept])

    async def _on_funding_created(self, peer: Peer, m: messages.FundingCreated) -> None:
        chan = self._opening.pop((peer.node_id, m.temporary_channel_id), None)
        if chan is None:
            await peer.send_error(m.temporary_channel_id, "funding_created for an unknown channel")
            return
        try:
            signed = chan.handle_funding_created(m)
        except ChannelError as exc:
            await peer.send_error(m.temporary_channel_id, str(exc))
            return
        self.channels[chan.index] = chan
        self._reestablished.add(chan.index)
        log.info("channel %s opened by %s: %d sat, push %d msat", _cid(chan), peer.id_hex,
                 chan.funding_sat, chan.push_msat)
        async with self._lock(chan):
            await self._commit(chan, [signed], peer)
        await self._check_funding_now(chan)

    # ------------------------------------------------------------------ opening: opener
    async def rpc_fundchannel(self, id: Any, amount: Any, feerate: Any = None, announce: Any = True,
                              minconf: Any = 1, push_msat: Any = None, close_to: Any = None) -> dict[str, Any]:
        """Open a channel to a connected peer, funded from our wallet."""
        from ..rpc.params import feerate_perkw
        from ..rpc.params import node_id as parse_node_id

        peer_id = parse_node_id(id)
        funding_sat = _parse_sat(amount, "amount")
        if funding_sat > MAX_FUNDING_SAT:
            raise param_error("amount", f"{funding_sat} sat is above the maximum {MAX_FUNDING_SAT} sat")
        if funding_sat < MIN_FUNDING_SAT:
            raise param_error("amount", f"{funding_sat} sat is below the minimum {MIN_FUNDING_SAT} sat")
        push = 0 if push_msat is None else _parse_msat_value(push_msat, "push_msat")
        if push > funding_sat * 1000:
            raise param_error("push_msat", f"{push} msat is more than the channel amount")
        if not isinstance(minconf, int) or isinstance(minconf, bool) or minconf < 0:
            raise param_error("minconf", "expected a non-negative integer")
        if not isinstance(announce, bool):
            raise param_error("announce", "expected true or false")
        upfront_script = b""
        if close_to is not None:
            from ..chain.wallet import address_to_script
            try:
                upfront_script = address_to_script(close_to, self.node.network)
            except Exception as exc:
                raise param_error("close_to", str(exc)) from None
            if not is_valid_shutdown_script(upfront_script):
                raise param_error("close_to", f"{close_to} is not a segwit address")
        funding_feerate = await feerate_perkw(feerate, self.node.chain.estimate_feerate_perkw, fallback_perkw=1000)
        commitment_feerate = await self.node.chain.estimate_feerate_perkw(6, DEFAULT_COMMITMENT_FEERATE)
        peer = self.node.peers.get(peer_id)
        if peer is None:
            raise RpcError(LIGHTNINGD, f"Peer not connected: {peer_id.hex()}")
        if self.node.wallet.balance_sat(minconf=max(minconf, 0)) < funding_sat:
            raise RpcError(FUNDING_ERROR, f"Could not afford {funding_sat}sat using all "
                                          f"{self.node.wallet.balance_sat(minconf=max(minconf, 0))}sat "
                                          f"confirmed wallet funds")
        chan = self._new_channel(peer_id, LOCAL, funding_sat)
        open_msg = chan.make_open_channel(funding_sat=funding_sat, push_msat=push,
                                          feerate_per_kw=commitment_feerate, announce=bool(announce),
                                          upfront_shutdown_script=upfront_script)
        accept = await self._request(peer, open_msg, chan.temporary_channel_id, messages.AcceptChannel)
        try:
            chan.handle_accept_channel(accept)
        except ChannelError as exc:
            await peer.send_error(chan.temporary_channel_id, str(exc))
            raise RpcError(FUNDING_ERROR, f"peer's accept_channel is unacceptable: {exc}") from None
        script = funding_output_script(chan.keys.basepoints.funding_pubkey,
                                       chan.remote_basepoints.funding_pubkey)  # type: ignore[union-attr]
        try:
            tx = self.node.wallet.fund_tx([(script, funding_sat)], funding_feerate, minconf=minconf)
        except WalletError as exc:
            await peer.send_error(chan.temporary_channel_id, "funding failed")
            raise RpcError(FUNDING_ERROR, f"cannot fund the channel: {exc}") from None
        outnum = next(i for i, out in enumerate(tx.vout) if bytes(out.scriptPubKey) == script)
        tx_hex = b2x(tx.serialize())
        try:
            created = chan.make_funding_created(tx.GetTxid(), outnum, tx_hex)
            channel_id = channel_id_from_funding(tx.GetTxid(), outnum)
            signed = await self._request(peer, created, channel_id, messages.FundingSigned)
            chan.handle_funding_signed(signed)
        except ChannelError as exc:
            self.node.wallet.release(tx)
            await peer.send_error(chan.temporary_channel_id, str(exc))
            raise RpcError(FUNDING_ERROR, f"funding_signed is invalid: {exc}") from None
        except RpcError:
            self.node.wallet.release(tx)
            raise
        chan.drain_events()
        self.channels[chan.index] = chan
        self._reestablished.add(chan.index)
        self.save(chan)  # persisted before the funding tx leaves
        txid = await self.broadcast(tx_hex, f"funding of channel {_cid(chan)}")
        if txid is None:
            raise RpcError(FUNDING_ERROR, "funding transaction was rejected by the chain backend")
        self.node.wallet.note_broadcast(tx)
        log.info("channel %s to %s funded: %d sat, push %d msat", _cid(chan), peer.id_hex, funding_sat, push)
        return {"tx": tx_hex, "txid": b2lx(tx.GetTxid()), "outnum": outnum, "channel_id": _cid(chan),
                "channel_type": {"bits": [12], "names": ["static_remotekey/even"]}}

    async def _request(self, peer: Peer, m: messages.Message, key: bytes, reply: type[R]) -> R:
        fut: asyncio.Future[messages.Message] = asyncio.get_running_loop().create_future()
        self._waiters[(peer.node_id, key, reply.NAME)] = fut
        try:
            await self._send(peer, [m])
            answer = await asyncio.wait_for(fut, OPEN_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise RpcError(FUNDING_ERROR, f"peer did not answer {m.NAME} with {reply.NAME} "
                                          f"within {OPEN_TIMEOUT_S:g}s") from None
        except ConnectionError as exc:
            raise RpcError(FUNDING_ERROR, f"{exc} during channel open") from None
        finally:
            self._waiters.pop((peer.node_id, key, reply.NAME), None)
        assert isinstance(answer, reply)  # handle_message resolves a waiter with its own type only
        return answer

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
                    await self._register_gossip(chan)
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
        await self.forwarding.on_block(height)  # fail back forwards that can no longer resolve

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
            if self.forwarding.is_forward(chan, htlc):
                continue  # forwarding.py fails those back itself
            if htlc.added_at[REMOTE] is None:
                self.payments.on_chain_failed(htlc, f"channel closed ({chan.state}) before the HTLC was signed")
            elif confirmed and (LOCAL, htlc.htlc_id) not in on_chain:
                self.payments.on_chain_failed(htlc, "the commitment confirmed on chain holds no output for the HTLC")

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
                              f"at height {height} unresolved", self.node.peers.get(chan.peer_id))
                return

    async def _check_lockin(self, chan: Channel, height: int) -> None:
        depth = height - (chan.funding_height or height) + 1
        async with self._lock(chan):
            out = chan.funding_confirmed(chan.funding_height or height, chan.funding_tx_index or 0, depth)
            if out or chan.state == NORMAL:
                peer = self.node.peers.get(chan.peer_id)
                if chan.index not in self._reestablished:
                    out = []  # channel_ready goes out with the reestablish
                await self._commit(chan, out, peer, persist=True)

    async def _check_funding_now(self, chan: Channel) -> None:
        """Funding may already be confirmed (acceptor learns the txid late): look it up."""
        try:
            info = await self.node.chain.call("gettxout", b2lx(chan.funding_txid or b""), chan.funding_outnum)
        except Exception:
            return
        if not info or not info.get("confirmations"):
            return
        height = self.node.blockheight - int(info["confirmations"]) + 1
        try:
            block_hash = await self.node.chain.call("getblockhash", height)
            block = await self.node.chain.call("getblock", block_hash, 1)
        except Exception:
            return
        txids = block.get("tx", [])
        funding_hex = b2lx(chan.funding_txid or b"")
        if funding_hex in txids:
            chan.funding_height = height
            chan.funding_tx_index = txids.index(funding_hex)
            await self._check_lockin(chan, self.node.blockheight)

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

    def usable_channels(self) -> list[Channel]:
        """Normal channels whose peer is connected and re-established."""
        return [c for c in self.channels.values() if c.state == NORMAL and c.index in self._reestablished
                and self.node.peers.get(c.peer_id) is not None and c.short_channel_id is not None]

    def channel_by_scid(self, scid: int | None, peer_id: bytes) -> Channel | None:
        """Our normal channel with ``peer_id`` (the one with ``scid`` if given)."""
        for chan in self.channels.values():
            if chan.peer_id == peer_id and chan.state == NORMAL and scid in (None, chan.short_channel_id):
                return chan
        return None

    async def add_outgoing_htlc(self, chan: Channel, amount_msat: int, payment_hash: bytes, cltv_expiry: int,
                                onion_packet: bytes, record: PaymentRecord) -> Htlc:
        """Offer an HTLC on ``chan`` and send it (record persisted in the same step)."""
        peer = self.node.peers.get(chan.peer_id)
        if peer is None:
            raise LocalRequestError(f"peer {chan.peer_id.hex()} is not connected")
        deadline = asyncio.get_running_loop().time() + REESTABLISH_WAIT_S
        while chan.index not in self._reestablished:
            if asyncio.get_running_loop().time() > deadline or self.node.peers.get(chan.peer_id) is None:
                raise LocalRequestError(f"channel {_cid(chan)} is not re-established with its peer")
            await asyncio.sleep(0.01)
        async with self._lock(chan):
            htlc = chan.add_htlc(amount_msat, payment_hash, cltv_expiry, onion_packet)
            record.htlc_id = htlc.htlc_id
            await self._commit(chan, [], peer, also_write=lambda: self.store.save_payment(record))
        return htlc

    # ------------------------------------------------------------------ closing
    def _find(self, ident: Any) -> Channel:
        if not isinstance(ident, str):
            raise param_error("id", "expected a peer id, channel id or short channel id")
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

    async def rpc_close(self, id: Any, unilateraltimeout: Any = None, destination: Any = None,
                        force: Any = False) -> dict[str, Any]:
        """Close a channel: mutual, or unilateral after `unilateraltimeout` seconds (or `force`)."""
        if not isinstance(force, bool):
            raise param_error("force", "expected true or false")
        chan = self._find(id)
        if destination is not None:
            from ..chain.wallet import address_to_script
            try:
                script = address_to_script(destination, self.node.network)
            except Exception as exc:
                raise param_error("destination", str(exc)) from None
        else:
            script = None
        if chan.state in (CLOSING_COMPLETE,) and chan.closing_tx_hex:
            return {"type": "mutual", "tx": chan.closing_tx_hex, "txid": chan.closing_txid}
        if chan.state in (AWAITING_UNILATERAL, FUNDING_SPEND_SEEN, ONCHAIN, CLOSED):
            raise RpcError(LIGHTNINGD, f"Channel is in state {chan.state}")
        if force:
            return await self._close_unilateral(chan)
        if unilateraltimeout is not None and (isinstance(unilateraltimeout, bool)
                                              or not isinstance(unilateraltimeout, (int, float))
                                              or unilateraltimeout < 0):
            raise param_error("unilateraltimeout", "expected a number of seconds (0 = wait forever)")
        timeout = DEFAULT_CLOSE_TIMEOUT_S if unilateraltimeout is None else float(unilateraltimeout)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._close_waiters.setdefault(chan.index, []).append(waiter)
        peer = self.node.peers.get(chan.peer_id)
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
            peer = self.node.peers.get(chan.peer_id)
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
    async def rpc_listpeerchannels(self, id: Any = None) -> dict[str, Any]:
        """Channels with every peer (or one peer), Core Lightning's fields."""
        out = []
        for chan in self.channels.values():
            if id is not None and chan.peer_id.hex() != id:
                continue
            out.append(self.describe(chan))
        return {"channels": out}

    def describe(self, chan: Channel) -> dict[str, Any]:
        connected = self.node.peers.get(chan.peer_id) is not None and chan.index in self._reestablished \
            and chan.index not in self._registering
        entry: dict[str, Any] = {
            "peer_id": chan.peer_id.hex(),
            "peer_connected": connected,
            "state": self._shown_state(chan),
            "opener": "local" if chan.opener == LOCAL else "remote",
            "private": not bool(chan.channel_flags & 1),
            "channel_id": _cid(chan),
            "total_msat": chan.funding_sat * 1000,
            "push_msat": chan.push_msat,
            "htlcs": [],
        }
        if chan.funding_txid is not None:
            entry["funding_txid"] = b2lx(chan.funding_txid)
            entry["funding_outnum"] = chan.funding_outnum
        if chan.short_channel_id is not None:
            entry["short_channel_id"] = _scid_str(chan.short_channel_id)
        if chan.log is not None:
            view = chan.log.view(LOCAL)
            entry["to_us_msat"] = view.local_msat
            entry["spendable_msat"] = chan.spendable_msat()
            entry["receivable_msat"] = chan.receivable_msat()
            entry["feerate"] = {"perkw": view.feerate_per_kw}
            entry["htlcs"] = [
                {"direction": "out" if h.offerer == LOCAL else "in", "id": h.htlc_id,
                 "amount_msat": h.amount_msat, "expiry": h.cltv_expiry, "payment_hash": h.payment_hash.hex(),
                 "state": _htlc_state(h)}
                for h in chan.log.htlcs.values()
            ]
        else:
            entry["to_us_msat"] = 0
            entry["spendable_msat"] = 0
            entry["receivable_msat"] = 0
        if chan.remote_config is not None:
            entry["our_to_self_delay"] = chan.local_config.to_self_delay
            entry["their_to_self_delay"] = chan.remote_config.to_self_delay
            entry["dust_limit_msat"] = chan.local_config.dust_limit_sat * 1000
            entry["our_reserve_msat"] = chan.remote_config.channel_reserve_sat * 1000
            entry["their_reserve_msat"] = chan.local_config.channel_reserve_sat * 1000
        if chan.close_type is not None:
            entry["closer"] = "local"
        if chan.closing_txid:
            entry["closing_txid"] = chan.closing_txid
        if chan.error_message:
            entry["status"] = [chan.error_message]
        entry["onchain"] = dict(chan.onchain)
        return entry

    async def rpc_dev_hold_htlcs(self, hold: Any) -> dict[str, Any]:
        """Leave incoming HTLCs undecided while `hold` is true (tests of stuck HTLCs)."""
        if not isinstance(hold, bool):
            raise param_error("hold", "expected true or false")
        self.hold_htlcs = hold
        if not hold:
            for chan in list(self.channels.values()):
                if chan.log is None or chan.state not in (NORMAL, SHUTTING_DOWN):
                    continue
                async with self._lock(chan):
                    chan._after_state_change()
                    await self._commit(chan, [], None)
        return {"hold": hold}

    async def rpc_dev_corrupt_next_commitment_sig(self, id: Any) -> dict[str, Any]:
        """Send the next commitment_signed of this channel with a wrong signature (tests of a
        misbehaving peer)."""
        chan = self._find(id)
        self._corrupt_next_sig.add(chan.index)
        return {"channel_id": _cid(chan)}

    async def rpc_dev_sign_last_tx(self, id: Any) -> dict[str, Any]:
        """Our current commitment, fully signed, without broadcasting it (tests of old states)."""
        chan = self._find(id)
        try:
            return {"tx": chan.signed_local_commitment_hex()}
        except ChannelError as exc:
            raise RpcError(LIGHTNINGD, str(exc)) from None

    async def rpc_dev_channel_state(self, id: Any) -> dict[str, Any]:
        """Internal state of a channel (for tests): update log and commitment numbers."""
        chan = self._find(id)
        return {"state": chan.state, "data": chan.to_json()}


def _corrupted(m: messages.CommitmentSigned) -> messages.CommitmentSigned:
    """A copy of a commitment_signed whose signature is wrong (dev-corrupt-next-commitment-sig)."""
    signature = bytearray(m.signature)
    signature[10] ^= 0x01
    return dataclasses.replace(m, signature=bytes(signature))


def _cid(chan: Channel) -> str:
    return (chan.channel_id or chan.temporary_channel_id).hex()


def _scid_str(scid: int | None) -> str | None:
    if scid is None:
        return None
    return f"{scid >> 40}x{(scid >> 16) & 0xFFFFFF}x{scid & 0xFFFF}"


def _htlc_state(h: Htlc) -> str:
    if h.removal is None:
        return "committed" if h.added_at[LOCAL] is not None and h.added_at[REMOTE] is not None else "adding"
    return "removing"


def _txid_of_hex(tx_hex: str) -> str:
    from bitcoin.core import CTransaction, x
    return b2lx(CTransaction.deserialize(x(tx_hex)).GetTxid())


def _parse_sat(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.endswith("msat") and value[:-4].isdigit():
            return int(value[:-4]) // 1000
        if value.endswith("sat") and value[:-3].isdigit():
            return int(value[:-3])
        if value.isdigit():
            return int(value)
    raise param_error(name, f"expected an amount in satoshis, got {value!r}")


def _parse_msat_value(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        if value.endswith("msat") and value[:-4].isdigit():
            return int(value[:-4])
        if value.endswith("sat") and value[:-3].isdigit():
            return int(value[:-3]) * 1000
        if value.isdigit():
            return int(value)
    raise param_error(name, f"expected an amount in msat, got {value!r}")

