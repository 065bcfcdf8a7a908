"""One Lightning channel: the BOLT 2 state machine, without I/O.

A :class:`Channel` consumes peer messages (the typed dataclasses of
wire/messages.py) and returns the messages to send, in order.  Things the
manager must act on (funding to broadcast, an incoming HTLC to decide on, a
payment resolved, a closing transaction to broadcast) are queued in
``channel.events``.  The manager persists :meth:`Channel.to_json` before it sends
anything a call returned (persist before you send).

Commitment transactions, signatures and key derivation come from
``channel_tx.py`` (a thin layer over transactions.py and keys.py).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from typing import Any

from ..keys.derivation import Basepoints, ChannelKeys, per_commitment_point
from ..keys.shachain import SecretStore, ShachainError, index_of_commitment
from ..wire import messages
from . import txs as channel_tx
from .updates import LOCAL, REMOTE, Htlc, UpdateError, UpdateLog

# Channel states, named like Core Lightning's.
OPENING = "OPENINGD"
AWAITING_LOCKIN = "CHANNELD_AWAITING_LOCKIN"
NORMAL = "CHANNELD_NORMAL"
SHUTTING_DOWN = "CHANNELD_SHUTTING_DOWN"
CLOSING_SIGEXCHANGE = "CLOSINGD_SIGEXCHANGE"
CLOSING_COMPLETE = "CLOSINGD_COMPLETE"
AWAITING_UNILATERAL = "AWAITING_UNILATERAL"
FUNDING_SPEND_SEEN = "FUNDING_SPEND_SEEN"
ONCHAIN = "ONCHAIN"
CLOSED = "CLOSED"

ACTIVE_STATES = (NORMAL,)
CLOSED_STATES = (CLOSING_COMPLETE, AWAITING_UNILATERAL, FUNDING_SPEND_SEEN, ONCHAIN, CLOSED)

CHANNEL_TYPE_STATIC_REMOTEKEY = 1 << 12
MAX_FUNDING_SAT = (1 << 24) - 1
MIN_FUNDING_SAT = 10_000
MAX_TO_SELF_DELAY = 2016
MAX_ACCEPTED_HTLCS_LIMIT = 483
MIN_DUST_LIMIT_SAT = 354
CLTV_EXPIRY_LIMIT = 500_000_000


class ChannelError(Exception):
    """The peer broke the protocol: send ``error`` with this text and fail the channel."""


class DataLossError(ChannelError):
    """The peer proved we lost channel state: we must not broadcast our (old) commitment."""


class ChannelWarning(Exception):
    """A recoverable problem: send ``warning`` with this text (and usually disconnect)."""


class LocalRequestError(Exception):
    """A local request (RPC) cannot be done now; nothing was sent."""


@dataclass(frozen=True)
class SideConfig:
    """Constraints one side announced in open_channel/accept_channel."""

    dust_limit_sat: int
    max_htlc_value_in_flight_msat: int
    channel_reserve_sat: int
    htlc_minimum_msat: int
    to_self_delay: int
    max_accepted_htlcs: int


def channel_id_from_funding(funding_txid: bytes, output_index: int) -> bytes:
    """BOLT 2 channel_id: the funding txid (wire byte order) XOR the output index."""
    cid = bytearray(funding_txid)
    cid[30] ^= (output_index >> 8) & 0xFF
    cid[31] ^= output_index & 0xFF
    return bytes(cid)


def encode_channel_type(bits: int) -> bytes:
    """Feature-bitmap bytes of a channel type, as short as possible."""
    if bits == 0:
        return b""
    return bits.to_bytes((bits.bit_length() + 7) // 8, "big")


def decode_channel_type(data: bytes) -> int:
    return int.from_bytes(data, "big") if data else 0


def commitment_weight(num_untrimmed_htlcs: int) -> int:
    """BOLT 3 Appendix A commitment weight (non-anchor)."""
    return 724 + 172 * num_untrimmed_htlcs


def commitment_fee_sat(feerate_per_kw: int, num_untrimmed_htlcs: int) -> int:
    return feerate_per_kw * commitment_weight(num_untrimmed_htlcs) // 1000


def htlc_timeout_fee_sat(feerate_per_kw: int) -> int:
    return feerate_per_kw * 663 // 1000


def htlc_success_fee_sat(feerate_per_kw: int) -> int:
    return feerate_per_kw * 703 // 1000


def is_trimmed(offered_by_owner: bool, amount_msat: int, dust_limit_sat: int, feerate_per_kw: int) -> bool:
    """Whether an HTLC output is trimmed from a commitment (BOLT 3 "Trimmed Outputs")."""
    fee = htlc_timeout_fee_sat(feerate_per_kw) if offered_by_owner else htlc_success_fee_sat(feerate_per_kw)
    return amount_msat // 1000 < dust_limit_sat + fee


def _hex(value: bytes | None) -> str | None:
    return value.hex() if value is not None else None


def _unhex(value: str | None) -> bytes | None:
    return bytes.fromhex(value) if value is not None else None


def _msg_to_json(message: messages.Message) -> str:
    """A message to persist (for retransmission): its wire bytes, hex."""
    return message.encode().hex()


def _msg_from_json(data: str) -> messages.Message:
    decoded = messages.decode(bytes.fromhex(data))
    if isinstance(decoded, messages.UnknownMessage):
        raise ValueError(f"persisted message of unknown type {decoded.type}")
    return decoded


class Channel:
    """State of one channel with one peer; see the module docstring for the contract."""

    def __init__(
        self,
        *,
        index: int,
        peer_id: bytes,
        keys: ChannelKeys,
        opener: str,
        local_config: SideConfig,
        chain_hash: bytes,
    ) -> None:
        self.index = index
        self.peer_id = peer_id
        self.keys = keys
        self.local_basepoints = keys.basepoints
        self._point_cache: dict[int, bytes] = {}
        self.opener = opener
        self.local_config = local_config
        self.chain_hash = chain_hash
        self.remote_config: SideConfig | None = None
        self.remote_basepoints: Basepoints | None = None
        self.remote_points: dict[int, bytes] = {}
        self.remote_secrets = SecretStore()
        self.temporary_channel_id = os.urandom(32) if opener == LOCAL else b""
        self.channel_id: bytes | None = None
        self.funding_sat = 0
        self.push_msat = 0
        self.initial_feerate_per_kw = 0
        self.channel_flags = 0
        self.channel_type = CHANNEL_TYPE_STATIC_REMOTEKEY
        self.min_depth = 1
        self.funding_txid: bytes | None = None  # wire (little-endian) byte order
        self.funding_outnum = 0
        self.funding_tx_hex: str | None = None
        self.funding_height: int | None = None
        self.funding_tx_index: int | None = None
        self.state = OPENING
        self.log: UpdateLog | None = None
        self.channel_ready_sent = False
        self.channel_ready_received = False
        self.local_commit_sig: bytes | None = None
        self.local_htlc_sigs: list[bytes] = []
        # retransmission
        self.last_commit_batch: list[messages.Message] = []
        self.last_revoke: messages.RevokeAndAck | None = None
        self.revoke_sent_after_commit = False
        # shutdown / closing
        self.local_upfront_script = b""
        self.remote_upfront_script = b""
        self.local_shutdown_script: bytes | None = None
        self.remote_shutdown_script: bytes | None = None
        self.shutdown_sent = False
        self.shutdown_received = False
        self.closing_feerate_per_kw = 1000
        self.closing_fee_range: tuple[int, int] | None = None
        self.closing_last_sent_fee: int | None = None
        self.closing_tx_hex: str | None = None
        self.closing_txid: str | None = None
        self.close_type: str | None = None
        # unilateral close / on-chain
        self.local_commitment_tx_hex: str | None = None
        self.spend_txid: str | None = None
        self.spend_height: int | None = None
        self.onchain: dict[str, Any] = {}
        self.error_message: str | None = None
        self.gossip_closed = False  # not persisted: re-sent after a restart, which is harmless
        self.events: list[tuple[str, Any]] = []

    # ------------------------------------------------------------------ basics
    @property
    def funding_script(self) -> bytes:
        if self.remote_basepoints is None:
            raise ChannelError("funding script needs the peer's funding_pubkey")
        return channel_tx.funding_script(self.local_basepoints.funding_pubkey, self.remote_basepoints.funding_pubkey)

    @property
    def remote_to_self_delay(self) -> int:
        """Delay on the peer's to_local output (what we asked for)."""
        return self.local_config.to_self_delay

    def _our_point(self, ctn: int) -> bytes:
        """Our per_commitment_point for commitment ``ctn`` (cached: derivation is costly)."""
        point = self._point_cache.get(ctn)
        if point is None:
            if len(self._point_cache) > 8:
                self._point_cache.clear()
            point = self._point_cache[ctn] = self.keys.per_commitment_point(ctn)
        return point

    def is_opener(self) -> bool:
        return self.opener == LOCAL

    def _cid(self) -> bytes:
        """The channel_id, for a message that needs it (only known once funded)."""
        if self.channel_id is None:
            raise ChannelError("channel has no channel_id yet")
        return self.channel_id

    def _require_log(self) -> UpdateLog:
        if self.log is None:
            raise ChannelError("channel is not funded yet")
        return self.log

    def _emit(self, kind: str, data: Any = None) -> None:
        self.events.append((kind, data))

    def drain_events(self) -> list[tuple[str, Any]]:
        events, self.events = self.events, []
        return events

    # ------------------------------------------------------------------ opening (opener)
    def make_open_channel(
        self, *, funding_sat: int, push_msat: int, feerate_per_kw: int, announce: bool,
        upfront_shutdown_script: bytes = b"",
    ) -> messages.OpenChannel:
        """The open_channel message for a channel we fund."""
        self.funding_sat = funding_sat
        self.push_msat = push_msat
        self.initial_feerate_per_kw = feerate_per_kw
        self.channel_flags = 1 if announce else 0
        self.local_upfront_script = upfront_shutdown_script
        return messages.OpenChannel(
            chain_hash=self.chain_hash,
            temporary_channel_id=self.temporary_channel_id,
            funding_satoshis=funding_sat,
            push_msat=push_msat,
            feerate_per_kw=feerate_per_kw,
            channel_flags=self.channel_flags,
            upfront_shutdown_script=upfront_shutdown_script,
            **self._our_channel_parameters(),
        )

    def _our_channel_parameters(self) -> dict[str, Any]:
        """The fields open_channel and accept_channel share: our limits and our keys."""
        cfg, bp = self.local_config, self.local_basepoints
        return {
            "dust_limit_satoshis": cfg.dust_limit_sat,
            "max_htlc_value_in_flight_msat": cfg.max_htlc_value_in_flight_msat,
            "channel_reserve_satoshis": cfg.channel_reserve_sat,
            "htlc_minimum_msat": cfg.htlc_minimum_msat,
            "to_self_delay": cfg.to_self_delay,
            "max_accepted_htlcs": cfg.max_accepted_htlcs,
            "funding_pubkey": bp.funding_pubkey,
            "revocation_basepoint": bp.revocation_basepoint,
            "payment_basepoint": bp.payment_basepoint,
            "delayed_payment_basepoint": bp.delayed_payment_basepoint,
            "htlc_basepoint": bp.htlc_basepoint,
            "first_per_commitment_point": self._our_point(0),
            "channel_type": encode_channel_type(self.channel_type),
        }

    def _take_remote_params(self, m: messages.OpenChannel | messages.AcceptChannel) -> None:
        cfg = SideConfig(
            dust_limit_sat=m.dust_limit_satoshis,
            max_htlc_value_in_flight_msat=m.max_htlc_value_in_flight_msat,
            channel_reserve_sat=m.channel_reserve_satoshis,
            htlc_minimum_msat=m.htlc_minimum_msat,
            to_self_delay=m.to_self_delay,
            max_accepted_htlcs=m.max_accepted_htlcs,
        )
        if cfg.to_self_delay > MAX_TO_SELF_DELAY:
            raise ChannelError(f"to_self_delay {cfg.to_self_delay} is unreasonably large (max {MAX_TO_SELF_DELAY})")
        if cfg.max_accepted_htlcs > MAX_ACCEPTED_HTLCS_LIMIT or cfg.max_accepted_htlcs == 0:
            raise ChannelError(f"max_accepted_htlcs {cfg.max_accepted_htlcs} outside 1..483")
        if cfg.dust_limit_sat < MIN_DUST_LIMIT_SAT:
            raise ChannelError(f"dust_limit_satoshis {cfg.dust_limit_sat} is below 354")
        if cfg.dust_limit_sat > cfg.channel_reserve_sat:
            raise ChannelError(
                f"dust_limit_satoshis {cfg.dust_limit_sat} is greater than channel_reserve_satoshis "
                f"{cfg.channel_reserve_sat}")
        if cfg.channel_reserve_sat < self.local_config.dust_limit_sat:
            raise ChannelError(
                f"channel_reserve_satoshis {cfg.channel_reserve_sat} is less than our dust_limit_satoshis "
                f"{self.local_config.dust_limit_sat}")
        if self.local_config.channel_reserve_sat < cfg.dust_limit_sat:
            raise ChannelError(
                f"our channel_reserve_satoshis {self.local_config.channel_reserve_sat} is less than "
                f"dust_limit_satoshis {cfg.dust_limit_sat}")
        try:
            self.remote_basepoints = Basepoints(
                funding_pubkey=m.funding_pubkey,
                revocation_basepoint=m.revocation_basepoint,
                payment_basepoint=m.payment_basepoint,
                delayed_payment_basepoint=m.delayed_payment_basepoint,
                htlc_basepoint=m.htlc_basepoint,
            )
        except ValueError as exc:
            raise ChannelError(f"invalid basepoint: {exc}") from None
        self.remote_config = cfg
        self.remote_points = {0: m.first_per_commitment_point}
        channel_type = m.channel_type
        if channel_type is None:
            raise ChannelError("Did not set channel_type")
        if decode_channel_type(channel_type) != self.channel_type:
            raise ChannelError(
                f"channel_type {channel_type.hex()} is not supported (only static_remotekey, bit 12)")
        self.remote_upfront_script = m.upfront_shutdown_script or b""

    def handle_accept_channel(self, m: messages.AcceptChannel) -> None:
        """Validate accept_channel (opener); next the manager builds the funding tx."""
        if self.state != OPENING or not self.is_opener():
            raise ChannelError("unexpected accept_channel")
        self._take_remote_params(m)
        self.min_depth = max(1, m.minimum_depth)
        self._check_initial_balances()

    def make_funding_created(self, funding_txid: bytes, funding_outnum: int,
                             funding_tx_hex: str) -> messages.FundingCreated:
        """funding_created with our signature of the peer's first commitment (opener)."""
        self.funding_txid = funding_txid
        self.funding_outnum = funding_outnum
        self.funding_tx_hex = funding_tx_hex
        self._init_log()
        sig, _htlc_sigs = self._sign_remote_commitment(0)
        return messages.FundingCreated(
            temporary_channel_id=self.temporary_channel_id,
            funding_txid=funding_txid,
            funding_output_index=funding_outnum,
            signature=sig,
        )

    def handle_funding_signed(self, m: messages.FundingSigned) -> None:
        """Verify the peer's signature of our first commitment (opener): then broadcast."""
        if self.state != OPENING or not self.is_opener() or self.log is None:
            raise ChannelError("unexpected funding_signed")
        expected = channel_id_from_funding(self.funding_txid or b"", self.funding_outnum)
        if m.channel_id != expected:
            raise ChannelError(f"funding_signed channel_id {m.channel_id.hex()} != {expected.hex()}")
        self._verify_local_commitment(0, m.signature, [])
        self.channel_id = expected
        self.state = AWAITING_LOCKIN
        self._emit("funding_ready_to_broadcast", self.funding_tx_hex)

    # ------------------------------------------------------------------ opening (acceptor)
    def handle_open_channel(self, m: messages.OpenChannel, *, min_depth: int) -> messages.AcceptChannel:
        """Validate open_channel and answer accept_channel (acceptor)."""
        if m.chain_hash != self.chain_hash:
            raise ChannelError(f"unknown chain_hash {m.chain_hash.hex()}")
        self.temporary_channel_id = m.temporary_channel_id
        funding_sat = m.funding_satoshis
        if funding_sat > MAX_FUNDING_SAT:
            raise ChannelError(f"funding_satoshis {funding_sat} too large without large channels")
        if funding_sat < MIN_FUNDING_SAT:
            raise ChannelError(f"funding_satoshis {funding_sat} too small (minimum {MIN_FUNDING_SAT})")
        if m.push_msat > funding_sat * 1000:
            raise ChannelError(f"push_msat {m.push_msat} greater than funding_satoshis * 1000")
        feerate = m.feerate_per_kw
        if feerate < 253 or feerate > 100_000:
            raise ChannelError(f"feerate_per_kw {feerate} outside 253..100000")
        self.funding_sat = funding_sat
        self.push_msat = m.push_msat
        self.initial_feerate_per_kw = feerate
        self.channel_flags = m.channel_flags & 1
        self._take_remote_params(m)
        self.min_depth = min_depth
        self._check_initial_balances()
        return messages.AcceptChannel(
            temporary_channel_id=self.temporary_channel_id,
            minimum_depth=min_depth,
            upfront_shutdown_script=self.local_upfront_script,
            **self._our_channel_parameters(),
        )

    def handle_funding_created(self, m: messages.FundingCreated) -> messages.FundingSigned:
        """Verify the opener's signature of our first commitment and sign theirs (acceptor)."""
        if self.state != OPENING or self.is_opener() or self.remote_config is None:
            raise ChannelError("unexpected funding_created")
        self.funding_txid = m.funding_txid
        self.funding_outnum = m.funding_output_index
        self._init_log()
        self._verify_local_commitment(0, m.signature, [])
        sig, _htlc_sigs = self._sign_remote_commitment(0)
        self.channel_id = channel_id_from_funding(self.funding_txid, self.funding_outnum)
        self.state = AWAITING_LOCKIN
        return messages.FundingSigned(channel_id=self._cid(), signature=sig)

    def _funder_msat(self) -> tuple[int, int]:
        opener_msat = self.funding_sat * 1000 - self.push_msat
        return opener_msat, self.push_msat

    def _check_initial_balances(self) -> None:
        opener_msat, other_msat = self._funder_msat()
        fee_msat = commitment_fee_sat(self.initial_feerate_per_kw, 0) * 1000
        if opener_msat < fee_msat:
            raise ChannelError(
                f"funder's amount {opener_msat} msat cannot pay the commitment fee {fee_msat} msat")
        if self.remote_config is None:
            return
        reserve_msat = max(self.local_config.channel_reserve_sat, self.remote_config.channel_reserve_sat) * 1000
        if opener_msat - fee_msat <= reserve_msat and other_msat <= reserve_msat:
            raise ChannelError("both to_local and to_remote would be at or below the channel reserve")

    def _init_log(self) -> None:
        opener_msat, other_msat = self._funder_msat()
        if self.is_opener():
            local_msat, remote_msat = opener_msat, other_msat
        else:
            local_msat, remote_msat = other_msat, opener_msat
        self.log = UpdateLog(local_msat=local_msat, remote_msat=remote_msat,
                             feerate_per_kw=self.initial_feerate_per_kw)

    # ------------------------------------------------------------------ lock-in
    def funding_confirmed(self, height: int, tx_index: int, depth: int) -> list[messages.Message]:
        """The funding tx has ``depth`` confirmations: maybe send channel_ready."""
        self.funding_height = height
        self.funding_tx_index = tx_index
        if self.state != AWAITING_LOCKIN or self.channel_ready_sent or depth < self.min_depth:
            return []
        self.channel_ready_sent = True
        out = [self._channel_ready_msg()]
        self._maybe_normal()
        return out

    def _channel_ready_msg(self) -> messages.ChannelReady:
        # no short_channel_id (alias) TLV: peers learn the real scid from the funding tx
        return messages.ChannelReady(channel_id=self._cid(), second_per_commitment_point=self._our_point(1))

    @property
    def short_channel_id(self) -> int | None:
        if self.funding_height is None or self.funding_tx_index is None:
            return None
        return (self.funding_height << 40) | (self.funding_tx_index << 16) | self.funding_outnum

    def handle_channel_ready(self, m: messages.ChannelReady) -> list[messages.Message]:
        if self.state not in (AWAITING_LOCKIN, NORMAL, SHUTTING_DOWN):
            return []
        if self.channel_ready_received:
            return []  # redundant after reconnection
        self.channel_ready_received = True
        self.remote_points[1] = m.second_per_commitment_point
        self._maybe_normal()
        return []

    def _maybe_normal(self) -> None:
        if self.state == AWAITING_LOCKIN and self.channel_ready_sent and self.channel_ready_received:
            self.state = NORMAL
            self._emit("channel_normal")

    # ------------------------------------------------------------------ commitments
    def _commitment(self, side: str, ctn: int) -> channel_tx.Commitment:
        """Build ``side``'s commitment number ``ctn`` from the update log."""
        log = self._require_log()
        view = log.view(side, ctn)
        if self.remote_basepoints is None or self.remote_config is None:
            raise ChannelError("channel parameters incomplete")
        if side == LOCAL:
            point = self._our_point(ctn)
            owner, other_bp = self.local_basepoints, self.remote_basepoints
            owner_delay = self.remote_config.to_self_delay
            owner_dust = self.local_config.dust_limit_sat
        else:
            point = self.remote_points.get(ctn)
            if point is None:
                raise ChannelError(f"no per_commitment_point of the peer for commitment {ctn}")
            owner, other_bp = self.remote_basepoints, self.local_basepoints
            owner_delay = self.local_config.to_self_delay
            owner_dust = self.remote_config.dust_limit_sat
        opener_bp = self.local_basepoints if self.is_opener() else self.remote_basepoints
        acceptor_bp = self.remote_basepoints if self.is_opener() else self.local_basepoints
        owner_msat = view.local_msat if side == LOCAL else view.remote_msat
        other_msat = view.remote_msat if side == LOCAL else view.local_msat
        htlcs = [
            channel_tx.CommitmentHtlc(
                offered_by_owner=(h.offerer == side),
                amount_msat=h.amount_msat,
                payment_hash=h.payment_hash,
                cltv_expiry=h.cltv_expiry,
                key=(h.offerer, h.htlc_id),
            )
            for h in view.htlcs
        ]
        return channel_tx.build_commitment(
            funding_txid=self.funding_txid or b"",
            funding_outnum=self.funding_outnum,
            funding_sat=self.funding_sat,
            owner=owner,
            other=other_bp,
            per_commitment_point=point,
            owner_is_opener=(side == self.opener),
            opener_payment_basepoint=opener_bp.payment_basepoint,
            acceptor_payment_basepoint=acceptor_bp.payment_basepoint,
            commitment_number=ctn,
            to_self_delay=owner_delay,
            dust_limit_sat=owner_dust,
            feerate_per_kw=view.feerate_per_kw,
            owner_msat=owner_msat,
            other_msat=other_msat,
            htlcs=htlcs,
        )

    def _sign_remote_commitment(self, ctn: int) -> tuple[bytes, list[bytes]]:
        commitment = self._commitment(REMOTE, ctn)
        sig = channel_tx.sign_funding_input(commitment, self.keys.funding_privkey)
        point = self.remote_points[ctn]
        htlc_sigs = channel_tx.sign_htlc_txs(commitment, self.keys.htlc_basepoint_secret, point)
        return sig, htlc_sigs

    def _verify_local_commitment(self, ctn: int, sig: bytes, htlc_sigs: list[bytes]) -> None:
        if self.remote_basepoints is None:
            raise ChannelError("channel parameters incomplete")
        commitment = self._commitment(LOCAL, ctn)
        if not channel_tx.verify_funding_input(commitment, self.remote_basepoints.funding_pubkey, sig):
            raise ChannelError(f"bad commitment signature for our commitment {ctn}: {sig.hex()}")
        point = self._our_point(ctn)
        problem = channel_tx.verify_htlc_sigs(commitment, self.remote_basepoints.htlc_basepoint, point,
                                              htlc_sigs)
        if problem:
            raise ChannelError(f"bad htlc signature for our commitment {ctn}: {problem}")
        self.local_commit_sig = sig
        self.local_htlc_sigs = list(htlc_sigs)

    def signed_local_commitment_hex(self) -> str:
        """Our latest commitment transaction, fully signed (for a unilateral close)."""
        log = self._require_log()
        if self.local_commit_sig is None or self.remote_basepoints is None:
            raise ChannelError("no signed local commitment")
        commitment = self._commitment(LOCAL, log.ctn[LOCAL])
        tx_hex, _txid = channel_tx.finalize_commitment(commitment, self.keys.funding_privkey,
                                                       self.local_commit_sig)
        return tx_hex

    # ------------------------------------------------------------------ normal operation: local requests
    def can_add_htlc(self) -> None:
        if self.state != NORMAL:
            raise LocalRequestError(f"channel is {self.state}, not CHANNELD_NORMAL")
        if self.shutdown_sent or self.shutdown_received:
            raise LocalRequestError("channel is shutting down")

    def spendable_msat(self) -> int:
        """What we could send in one new HTLC now."""
        if self.log is None or self.remote_config is None or self.state != NORMAL:
            return 0
        log = self.log
        best = None
        for side in (LOCAL, REMOTE):
            view = log.next_view(side)
            ours = view.local_msat - self.remote_config.channel_reserve_sat * 1000
            if self.is_opener():
                dust = self.local_config.dust_limit_sat if side == LOCAL else self.remote_config.dust_limit_sat
                untrimmed = sum(
                    1 for h in view.htlcs
                    if not is_trimmed(h.offerer == side, h.amount_msat, dust, view.feerate_per_kw))
                # room for one more HTLC at twice the fee rate (fee spike buffer)
                ours -= commitment_fee_sat(2 * view.feerate_per_kw, untrimmed + 2) * 1000
            best = ours if best is None else min(best, ours)
        in_flight = sum(h.amount_msat for h in log.htlcs.values() if h.offerer == LOCAL and h.removal is None)
        best = min(best or 0, self.remote_config.max_htlc_value_in_flight_msat - in_flight)
        return max(0, best)

    def receivable_msat(self) -> int:
        if self.log is None or self.state != NORMAL:
            return 0
        view = self.log.next_view(LOCAL)
        theirs = view.remote_msat - self.local_config.channel_reserve_sat * 1000
        if not self.is_opener():
            theirs -= commitment_fee_sat(2 * view.feerate_per_kw, len(view.htlcs) + 2) * 1000
        return max(0, theirs)

    def add_htlc(self, amount_msat: int, payment_hash: bytes, cltv_expiry: int, onion: bytes) -> Htlc:
        """Propose an HTLC (sent with the next :meth:`sign_if_needed`)."""
        self.can_add_htlc()
        log = self._require_log()
        if self.remote_config is None:
            raise LocalRequestError("channel parameters incomplete")
        if amount_msat <= 0:
            raise LocalRequestError(f"amount {amount_msat} msat must be positive")
        if amount_msat < self.remote_config.htlc_minimum_msat:
            raise LocalRequestError(
                f"amount {amount_msat} msat below the peer's htlc_minimum_msat {self.remote_config.htlc_minimum_msat}")
        ours = sum(1 for h in log.htlcs.values() if h.offerer == LOCAL and h.removal is None)
        if ours >= self.remote_config.max_accepted_htlcs:
            raise LocalRequestError(f"peer accepts at most {self.remote_config.max_accepted_htlcs} HTLCs")
        spendable = self.spendable_msat()
        if amount_msat > spendable:
            raise LocalRequestError(
                f"amount {amount_msat} msat exceeds what the channel can send now ({spendable} msat)")
        return log.add_htlc(LOCAL, amount_msat, payment_hash, cltv_expiry, onion)

    def fulfill_htlc(self, htlc_id: int, preimage: bytes) -> None:
        self._require_log().remove_htlc(LOCAL, htlc_id, "fulfill", preimage=preimage)

    def fail_htlc(self, htlc_id: int, reason: bytes) -> None:
        self._require_log().remove_htlc(LOCAL, htlc_id, "fail", reason=reason)

    def fail_malformed_htlc(self, htlc_id: int, sha256_of_onion: bytes, failure_code: int) -> None:
        self._require_log().remove_htlc(LOCAL, htlc_id, "fail_malformed",
                                        sha256_of_onion=sha256_of_onion, failure_code=failure_code)

    def _update_messages(self) -> list[messages.Message]:
        """update_* messages for our not-yet-sent proposals, in proposal order."""
        log = self._require_log()
        cid = self._cid()
        out: list[messages.Message] = []
        for kind, ident in log.local_update_order:
            if kind == "add":
                h = log.htlcs[(LOCAL, ident)]
                out.append(messages.UpdateAddHtlc(channel_id=cid, id=h.htlc_id, amount_msat=h.amount_msat,
                                                  payment_hash=h.payment_hash, cltv_expiry=h.cltv_expiry,
                                                  onion_routing_packet=h.onion))
            elif kind == "remove":
                h = log.htlcs[(REMOTE, ident)]
                if h.removal == "fulfill":
                    out.append(messages.UpdateFulfillHtlc(channel_id=cid, id=ident,
                                                          payment_preimage=h.removal_data["preimage"]))
                elif h.removal == "fail":
                    out.append(messages.UpdateFailHtlc(channel_id=cid, id=ident, reason=h.removal_data["reason"]))
                else:
                    out.append(messages.UpdateFailMalformedHtlc(
                        channel_id=cid, id=ident, sha256_of_onion=h.removal_data["sha256_of_onion"],
                        failure_code=h.removal_data["failure_code"]))
            elif kind == "fee":
                fee = next(f for f in log.fee_updates if f.seq == ident)
                out.append(messages.UpdateFee(channel_id=cid, feerate_per_kw=fee.feerate_per_kw))
        return out

    def sign_if_needed(self) -> list[messages.Message]:
        """Our pending updates and a commitment_signed, if anything is pending and allowed."""
        if self.log is None or self.state not in (NORMAL, SHUTTING_DOWN):
            return []
        log = self.log
        if log.awaiting_revoke or not log.pending_for_remote():
            return []
        updates = self._update_messages()
        ctn = log.sign_remote()
        sig, htlc_sigs = self._sign_remote_commitment(ctn)
        commit = messages.CommitmentSigned(channel_id=self._cid(), signature=sig,
                                           htlc_signatures=tuple(htlc_sigs), funding_txid=self.funding_txid)
        self.last_commit_batch = updates + [commit]
        self.revoke_sent_after_commit = False
        if self.local_shutdown_script is not None and not self.shutdown_sent:
            return updates + [commit, self._shutdown_msg()]  # a close waited for these updates
        return updates + [commit]

    # ------------------------------------------------------------------ normal operation: peer messages
    def handle_update_add_htlc(self, m: messages.UpdateAddHtlc) -> None:
        if self.state not in (NORMAL, SHUTTING_DOWN):
            raise ChannelError(f"update_add_htlc in state {self.state}")
        if self.shutdown_received:
            raise ChannelError("update_add_htlc after shutdown")
        log = self._require_log()
        amount = m.amount_msat
        if amount == 0 or amount < self.local_config.htlc_minimum_msat:
            raise ChannelError(f"update_add_htlc amount {amount} msat below htlc_minimum_msat "
                               f"{self.local_config.htlc_minimum_msat}")
        if m.cltv_expiry >= CLTV_EXPIRY_LIMIT:
            raise ChannelError(f"update_add_htlc cltv_expiry {m.cltv_expiry} not a block height")
        theirs = [h for h in log.htlcs.values() if h.offerer == REMOTE and h.removal is None]
        if len(theirs) + 1 > self.local_config.max_accepted_htlcs:
            raise ChannelError(f"more than max_accepted_htlcs {self.local_config.max_accepted_htlcs} HTLCs")
        in_flight = sum(h.amount_msat for h in theirs) + amount
        if in_flight > self.local_config.max_htlc_value_in_flight_msat:
            raise ChannelError(f"HTLCs in flight {in_flight} msat above max_htlc_value_in_flight_msat")
        view = log.next_view(LOCAL)
        if view.remote_msat - amount < 0:
            raise ChannelError(f"update_add_htlc of {amount} msat: peer cannot afford it "
                               f"(balance {view.remote_msat} msat)")
        try:
            log.add_htlc(REMOTE, amount, m.payment_hash, m.cltv_expiry, m.onion_routing_packet, htlc_id=m.id)
        except UpdateError as exc:
            raise ChannelError(str(exc)) from None

    def _remove(self, m: messages.UpdateFulfillHtlc | messages.UpdateFailHtlc | messages.UpdateFailMalformedHtlc,
                kind: str, **data: Any) -> Htlc:
        if self.state not in (NORMAL, SHUTTING_DOWN):
            raise ChannelError(f"{m.NAME} in state {self.state}")
        try:
            return self._require_log().remove_htlc(REMOTE, m.id, kind, **data)
        except UpdateError as exc:
            raise ChannelError(str(exc)) from None

    def handle_update_fulfill_htlc(self, m: messages.UpdateFulfillHtlc) -> None:
        log = self._require_log()
        htlc = log.htlcs.get((LOCAL, m.id))
        preimage = m.payment_preimage
        if htlc is None:
            raise ChannelError(f"update_fulfill_htlc of unknown HTLC id {m.id}")
        if hashlib.sha256(preimage).digest() != htlc.payment_hash:
            raise ChannelError(f"update_fulfill_htlc id {m.id}: preimage does not match payment_hash")
        self._remove(m, "fulfill", preimage=preimage)
        self._emit("htlc_fulfilled", htlc)

    def handle_update_fail_htlc(self, m: messages.UpdateFailHtlc) -> None:
        self._remove(m, "fail", reason=m.reason)

    def handle_update_fail_malformed_htlc(self, m: messages.UpdateFailMalformedHtlc) -> None:
        if not m.failure_code & 0x8000:
            raise ChannelError(f"update_fail_malformed_htlc failure_code {m.failure_code} lacks BADONION")
        self._remove(m, "fail_malformed", sha256_of_onion=m.sha256_of_onion, failure_code=m.failure_code)

    def handle_update_fee(self, m: messages.UpdateFee) -> None:
        if self.is_opener():
            raise ChannelError("update_fee from the non-opener")
        if self.state not in (NORMAL, SHUTTING_DOWN, AWAITING_LOCKIN):
            raise ChannelError(f"update_fee in state {self.state}")
        rate = m.feerate_per_kw
        if rate < 253 or rate > 1_000_000:
            raise ChannelWarning(f"update_fee feerate_per_kw {rate} outside 253..1000000")
        self._require_log().update_fee(REMOTE, rate)

    def handle_commitment_signed(self, m: messages.CommitmentSigned) -> list[messages.Message]:
        """Verify the new local commitment and answer revoke_and_ack (then maybe our own signature)."""
        if self.state not in (NORMAL, SHUTTING_DOWN, AWAITING_LOCKIN):
            raise ChannelError(f"commitment_signed in state {self.state}")
        log = self._require_log()
        if not log.pending_for_local():
            raise ChannelError("commitment_signed without any updates")
        snapshot = log.to_json()
        new_ctn = log.receive_commitment()
        try:
            self._verify_local_commitment(new_ctn, m.signature, list(m.htlc_signatures))
        except Exception:
            self.log = UpdateLog.from_json(snapshot)
            raise
        revoke = messages.RevokeAndAck(
            channel_id=self._cid(),
            per_commitment_secret=self.keys.per_commitment_secret(new_ctn - 1),
            next_per_commitment_point=self._our_point(new_ctn + 1),
        )
        self.last_revoke = revoke
        self.revoke_sent_after_commit = bool(self.last_commit_batch)
        self._after_state_change()
        out: list[messages.Message] = [revoke]
        out += self.sign_if_needed()
        self._check_shutdown_progress(out)
        return out

    def handle_revoke_and_ack(self, m: messages.RevokeAndAck) -> list[messages.Message]:
        if self.state not in (NORMAL, SHUTTING_DOWN, AWAITING_LOCKIN):
            raise ChannelError(f"revoke_and_ack in state {self.state}")
        log = self._require_log()
        if not log.awaiting_revoke:
            raise ChannelError("revoke_and_ack without a pending commitment_signed")
        revoked = log.ctn[REMOTE] - 1
        secret = m.per_commitment_secret
        expected_point = self.remote_points.get(revoked)
        try:
            if expected_point is None or per_commitment_point(secret) != expected_point:
                raise ChannelError(f"revoke_and_ack secret does not match commitment {revoked}")
            self.remote_secrets.insert(secret, index_of_commitment(revoked))
        except (ShachainError, ValueError) as exc:
            raise ChannelError(f"bad per_commitment_secret for commitment {revoked}: {exc}") from None
        log.receive_revocation()
        self.remote_points[log.ctn[REMOTE] + 1] = m.next_per_commitment_point
        for old in [k for k in self.remote_points if k < log.ctn[REMOTE]]:
            del self.remote_points[old]
        self.last_commit_batch = []
        self._after_state_change()
        out = self.sign_if_needed()
        self._check_shutdown_progress(out)
        return out

    def _after_state_change(self) -> None:
        """Compact the log; report HTLCs that became actionable or resolved."""
        log = self._require_log()
        for htlc in log.compact():
            if htlc.offerer == LOCAL:
                self._emit("htlc_resolved", htlc)
        for htlc in log.htlcs.values():
            if htlc.offerer == REMOTE and htlc.removal is None and log.irrevocably_committed(htlc):
                self._emit("incoming_htlc", htlc)
            if htlc.offerer == LOCAL and htlc.removal in ("fail", "fail_malformed") \
                    and htlc.removed_at[LOCAL] is not None:
                self._emit("htlc_failed", htlc)

    # ------------------------------------------------------------------ reestablish
    def make_reestablish(self) -> messages.ChannelReestablish:
        log = self._require_log()
        next_revocation = log.oldest_unrevoked(REMOTE)
        last_secret = bytes(32)
        if next_revocation > 0:
            last_secret = self.remote_secrets.get_for_commitment(next_revocation - 1)
        return messages.ChannelReestablish(
            channel_id=self._cid(),
            next_commitment_number=log.ctn[LOCAL] + 1,
            next_revocation_number=next_revocation,
            your_last_per_commitment_secret=last_secret,
            my_current_per_commitment_point=self._our_point(log.ctn[LOCAL]),
        )

    def on_disconnect(self) -> None:
        if self.log is not None:
            self.log.drop_uncommitted_remote_updates()
        if self.state in (SHUTTING_DOWN, CLOSING_SIGEXCHANGE):
            # both sides retransmit shutdown after reestablish; fee negotiation restarts then
            self.state = SHUTTING_DOWN
            self.shutdown_received = False
            self.closing_last_sent_fee = None

    def handle_reestablish(self, m: messages.ChannelReestablish) -> list[messages.Message]:
        """Retransmit what the peer missed (BOLT 2 "Message Retransmission")."""
        log = self._require_log()
        their_next_commit = m.next_commitment_number
        their_next_revoke = m.next_revocation_number
        out: list[messages.Message] = []
        local_ctn = log.ctn[LOCAL]
        if their_next_revoke > local_ctn:
            secret = m.your_last_per_commitment_secret
            if secret == self.keys.per_commitment_secret(their_next_revoke - 1):
                raise DataLossError(
                    f"we lost channel state: the peer proved we revoked commitment {their_next_revoke - 1}, "
                    f"we only know {local_ctn}; waiting for its commitment on chain")
            raise ChannelError(f"next_revocation_number {their_next_revoke} from the future "
                               f"(we revoked {local_ctn})")
        if their_next_revoke > 0:
            expected = self.keys.per_commitment_secret(their_next_revoke - 1)
            if m.your_last_per_commitment_secret != expected:
                raise ChannelError("your_last_per_commitment_secret does not match")
        if their_next_commit == 0:
            raise ChannelError("next_commitment_number is 0")
        resend_revoke = False
        if their_next_revoke == local_ctn - 1:
            if self.last_revoke is None:
                raise ChannelError("peer wants a revoke_and_ack we never sent")
            resend_revoke = True
        elif their_next_revoke != local_ctn:
            raise ChannelError(f"next_revocation_number {their_next_revoke}, expected {local_ctn}")
        resend_commit = False
        if their_next_commit == log.ctn[REMOTE]:
            if not log.awaiting_revoke or not self.last_commit_batch:
                raise ChannelError("peer wants a commitment_signed we cannot retransmit")
            resend_commit = True
        elif their_next_commit != log.ctn[REMOTE] + 1:
            raise ChannelError(
                f"next_commitment_number {their_next_commit}, expected {log.ctn[REMOTE] + 1}")
        if self.channel_ready_sent and their_next_commit == 1 and local_ctn == 0:
            out.append(self._channel_ready_msg())
        if resend_revoke and resend_commit and self.revoke_sent_after_commit and self.last_revoke is not None:
            out += [*self.last_commit_batch, self.last_revoke]
        else:
            if resend_revoke and self.last_revoke is not None:
                out.append(self.last_revoke)
            if resend_commit:
                out += self.last_commit_batch
        if self.shutdown_sent and self.local_shutdown_script is not None:
            out.append(messages.Shutdown(channel_id=self._cid(), scriptpubkey=self.local_shutdown_script))
        out += self.sign_if_needed()
        self._check_shutdown_progress(out)
        # HTLCs that are committed but were waiting for our decision
        self._after_state_change()
        return out

    # ------------------------------------------------------------------ shutdown / mutual close
    def start_shutdown(self, scriptpubkey: bytes) -> list[messages.Message]:
        """Begin a mutual close: send shutdown (after committing our pending updates)."""
        if self.state not in (NORMAL, SHUTTING_DOWN, AWAITING_LOCKIN):
            raise LocalRequestError(f"cannot close a channel in state {self.state}")
        out = self.sign_if_needed()
        if self.local_upfront_script:
            scriptpubkey = self.local_upfront_script
        elif self.local_shutdown_script is not None:
            scriptpubkey = self.local_shutdown_script
        if self.state in (NORMAL, AWAITING_LOCKIN):
            self.state = SHUTTING_DOWN
        if not self.shutdown_sent:
            self.local_shutdown_script = scriptpubkey
            if self.log is not None and any(kind == "add" for kind, _ in self.log.local_update_order):
                # an HTLC add is queued behind a revocation: shutdown follows its commitment_signed
                return out
            out.append(self._shutdown_msg())
        self._check_shutdown_progress(out)
        return out

    def _shutdown_msg(self) -> messages.Shutdown:
        if self.local_shutdown_script is None:
            raise LocalRequestError("shutdown needs our closing script")
        self.shutdown_sent = True
        return messages.Shutdown(channel_id=self._cid(), scriptpubkey=self.local_shutdown_script)

    def handle_shutdown(self, m: messages.Shutdown, our_script: bytes) -> list[messages.Message]:
        if self.state not in (NORMAL, SHUTTING_DOWN, AWAITING_LOCKIN, CLOSING_SIGEXCHANGE):
            raise ChannelError(f"shutdown in state {self.state}")
        script = m.scriptpubkey
        if not channel_tx.is_valid_shutdown_script(script):
            raise ChannelWarning(f"shutdown scriptpubkey {script.hex()} is not a valid form")
        if self.remote_upfront_script and script != self.remote_upfront_script:
            raise ChannelWarning("shutdown scriptpubkey differs from upfront_shutdown_script")
        self.remote_shutdown_script = script
        self.shutdown_received = True
        out: list[messages.Message] = []
        if not self.shutdown_sent:
            out += self.start_shutdown(our_script)
        elif self.state in (NORMAL, AWAITING_LOCKIN):
            self.state = SHUTTING_DOWN
        self._check_shutdown_progress(out)
        return out

    def _quiescent(self) -> bool:
        log = self.log
        return log is not None and not log.htlcs and not log.has_unsettled_updates() \
            and not log.local_update_order

    def _check_shutdown_progress(self, out: list[messages.Message]) -> None:
        """Once both shutdowns are exchanged and nothing is pending, start fee negotiation."""
        if not (self.shutdown_sent and self.shutdown_received) or self.state != SHUTTING_DOWN:
            return
        if not self._quiescent():
            return
        self.state = CLOSING_SIGEXCHANGE
        if self.is_opener():
            out.append(self._closing_signed(self._closing_initial_fee(), with_range=True))

    def _closing_amounts(self) -> tuple[int, int]:
        view = self._require_log().view(LOCAL)
        return view.local_msat // 1000, view.remote_msat // 1000

    def _closing_initial_fee(self) -> int:
        fee = self.closing_feerate_per_kw * channel_tx.CLOSING_WEIGHT // 1000
        ours, _ = self._closing_amounts()
        upper = max(1, ours - self.local_config.dust_limit_sat) if self.is_opener() else fee
        fee = min(fee, upper)
        self.closing_fee_range = (max(1, fee // 2 if fee > 1 else 1), max(fee, min(upper, fee * 10)))
        return fee

    def _closing_tx(self, fee_sat: int, dust_limit_sat: int) -> channel_tx.ClosingTx:
        if self.local_shutdown_script is None or self.remote_shutdown_script is None:
            raise ChannelError("closing needs both shutdown scripts")
        if self.remote_basepoints is None:
            raise ChannelError("channel parameters incomplete")
        view = self._require_log().view(LOCAL)
        try:
            return channel_tx.build_closing(
                funding_txid=self.funding_txid or b"", funding_outnum=self.funding_outnum,
                funding_sat=self.funding_sat,
                local_funding_pubkey=self.local_basepoints.funding_pubkey,
                remote_funding_pubkey=self.remote_basepoints.funding_pubkey,
                local_script=self.local_shutdown_script, remote_script=self.remote_shutdown_script,
                to_local_msat=view.local_msat, to_remote_msat=view.remote_msat, fee_sat=fee_sat,
                local_is_opener=self.is_opener(), dust_limit_sat=dust_limit_sat,
            )
        except channel_tx.TxError as exc:
            raise ChannelError(f"closing transaction with fee {fee_sat} sat: {exc}") from None

    def _closing_signed(self, fee_sat: int, *, with_range: bool) -> messages.ClosingSigned:
        closing = self._closing_tx(fee_sat, self.local_config.dust_limit_sat)
        sig = channel_tx.sign_funding_input(closing, self.keys.funding_privkey)
        self.closing_last_sent_fee = fee_sat
        fee_range = None
        if with_range and self.closing_fee_range is not None:
            fee_range = messages.FeeRange(*self.closing_fee_range)
        return messages.ClosingSigned(channel_id=self._cid(), fee_satoshis=fee_sat, signature=sig,
                                      fee_range=fee_range)

    def handle_closing_signed(self, m: messages.ClosingSigned) -> list[messages.Message]:
        if self.state == SHUTTING_DOWN and self.shutdown_sent and self.shutdown_received \
                and self.log is not None and not self.log.htlcs and not self.log.local_update_order:
            # Only a commitment fee change may still be settling (Core Lightning starts closing
            # right after our revoke_and_ack then); it changes no balance of the closing tx.
            self.state = CLOSING_SIGEXCHANGE
        if self.state != CLOSING_SIGEXCHANGE:
            raise ChannelError(f"closing_signed in state {self.state}")
        if self.remote_basepoints is None:
            raise ChannelError("channel parameters incomplete")
        if self.remote_config is None:
            raise ChannelError("channel parameters incomplete")
        fee = m.fee_satoshis
        closing = self._closing_tx(fee, self.remote_config.dust_limit_sat)
        if not channel_tx.verify_funding_input(closing, self.remote_basepoints.funding_pubkey, m.signature):
            raise ChannelError(f"bad closing_signed signature for fee {fee} sat")
        out: list[messages.Message] = []
        their_range = m.fee_range
        agreed = fee == self.closing_last_sent_fee
        if not agreed:
            if self.closing_fee_range is None:
                self._closing_initial_fee()
            lo, hi = self.closing_fee_range or (1, fee)
            if not self.is_opener():
                # the non-opener does not pay: accept the opener's fee if the peer's range allows it
                if their_range is not None:
                    lo = min(lo, their_range.min_fee_satoshis)
                    hi = max(hi, their_range.max_fee_satoshis)
                if fee >= self.funding_sat:
                    raise ChannelError(f"closing fee {fee} sat is absurd")
                self.closing_fee_range = (lo, hi)
                out.append(self._closing_signed(fee, with_range=True))
            else:
                ours, _ = self._closing_amounts()
                if fee > ours:
                    raise ChannelError(f"closing fee {fee} sat exceeds our balance {ours} sat")
                if their_range is not None and not (
                        max(lo, their_range.min_fee_satoshis) <= fee <= min(hi, their_range.max_fee_satoshis)):
                    raise ChannelError(f"closing fee {fee} sat outside the overlap of our fee_range {lo}..{hi} "
                                       f"and the peer's {their_range.min_fee_satoshis}..{their_range.max_fee_satoshis}")
                out.append(self._closing_signed(fee, with_range=False))
        tx_hex, txid = channel_tx.finalize_closing(closing, self.keys.funding_privkey, m.signature)
        self.closing_tx_hex = tx_hex
        self.closing_txid = txid
        self.close_type = "mutual"
        self.state = CLOSING_COMPLETE
        self._emit("broadcast", tx_hex)
        return out

    # ------------------------------------------------------------------ failing / unilateral
    def lost_state(self, reason: str) -> None:
        """Give up on the channel without broadcasting: our commitment may be revoked."""
        self.error_message = reason
        self.close_type = "unilateral"
        self.state = AWAITING_UNILATERAL

    def force_close(self, reason: str) -> str | None:
        """Give up on the channel: returns our signed latest commitment to broadcast, if any."""
        self.error_message = reason
        if self.state in (CLOSING_COMPLETE, AWAITING_UNILATERAL, FUNDING_SPEND_SEEN, ONCHAIN, CLOSED):
            return self.local_commitment_tx_hex
        if self.log is None or self.local_commit_sig is None or self.state == OPENING:
            self.state = CLOSED
            return None
        tx_hex = self.signed_local_commitment_hex()
        self.local_commitment_tx_hex = tx_hex
        self.close_type = "unilateral"
        self.state = AWAITING_UNILATERAL
        return tx_hex

    # ------------------------------------------------------------------ persistence
    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "peer_id": self.peer_id.hex(),
            "opener": self.opener,
            "local_config": asdict(self.local_config),
            "remote_config": asdict(self.remote_config) if self.remote_config else None,
            "remote_basepoints": {k: v.hex() for k, v in asdict(self.remote_basepoints).items()}
            if self.remote_basepoints else None,
            "remote_points": {str(k): v.hex() for k, v in self.remote_points.items()},
            "remote_secrets": self.remote_secrets.to_bytes().hex(),
            "temporary_channel_id": self.temporary_channel_id.hex(),
            "channel_id": _hex(self.channel_id),
            "chain_hash": self.chain_hash.hex(),
            "funding_sat": self.funding_sat,
            "push_msat": self.push_msat,
            "initial_feerate_per_kw": self.initial_feerate_per_kw,
            "channel_flags": self.channel_flags,
            "channel_type": self.channel_type,
            "min_depth": self.min_depth,
            "funding_txid": _hex(self.funding_txid),
            "funding_outnum": self.funding_outnum,
            "funding_tx_hex": self.funding_tx_hex,
            "funding_height": self.funding_height,
            "funding_tx_index": self.funding_tx_index,
            "state": self.state,
            "log": self.log.to_json() if self.log else None,
            "channel_ready_sent": self.channel_ready_sent,
            "channel_ready_received": self.channel_ready_received,
            "local_commit_sig": _hex(self.local_commit_sig),
            "local_htlc_sigs": [s.hex() for s in self.local_htlc_sigs],
            "last_commit_batch": [_msg_to_json(x) for x in self.last_commit_batch],
            "last_revoke": _msg_to_json(self.last_revoke) if self.last_revoke else None,
            "revoke_sent_after_commit": self.revoke_sent_after_commit,
            "local_upfront_script": self.local_upfront_script.hex(),
            "remote_upfront_script": self.remote_upfront_script.hex(),
            "local_shutdown_script": _hex(self.local_shutdown_script),
            "remote_shutdown_script": _hex(self.remote_shutdown_script),
            "shutdown_sent": self.shutdown_sent,
            "shutdown_received": self.shutdown_received,
            "closing_feerate_per_kw": self.closing_feerate_per_kw,
            "closing_tx_hex": self.closing_tx_hex,
            "closing_txid": self.closing_txid,
            "close_type": self.close_type,
            "local_commitment_tx_hex": self.local_commitment_tx_hex,
            "spend_txid": self.spend_txid,
            "spend_height": self.spend_height,
            "onchain": self.onchain,
            "error_message": self.error_message,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], keys: ChannelKeys) -> Channel:
        chan = cls(
            index=data["index"],
            peer_id=bytes.fromhex(data["peer_id"]),
            keys=keys,
            opener=data["opener"],
            local_config=SideConfig(**data["local_config"]),
            chain_hash=bytes.fromhex(data["chain_hash"]),
        )
        chan.remote_config = SideConfig(**data["remote_config"]) if data["remote_config"] else None
        if data["remote_basepoints"]:
            chan.remote_basepoints = Basepoints(**{k: bytes.fromhex(v) for k, v in data["remote_basepoints"].items()})
        chan.remote_points = {int(k): bytes.fromhex(v) for k, v in data["remote_points"].items()}
        chan.remote_secrets = SecretStore.from_bytes(bytes.fromhex(data["remote_secrets"]))
        chan.temporary_channel_id = bytes.fromhex(data["temporary_channel_id"])
        chan.channel_id = _unhex(data["channel_id"])
        for name in ("funding_sat", "push_msat", "initial_feerate_per_kw", "channel_flags", "channel_type",
                     "min_depth", "funding_outnum", "funding_tx_hex", "funding_height", "funding_tx_index",
                     "state", "channel_ready_sent", "channel_ready_received", "revoke_sent_after_commit",
                     "shutdown_sent", "shutdown_received", "closing_feerate_per_kw", "closing_tx_hex",
                     "closing_txid", "close_type", "local_commitment_tx_hex", "spend_txid", "spend_height",
                     "onchain", "error_message"):
            setattr(chan, name, data[name])
        chan.funding_txid = _unhex(data["funding_txid"])
        chan.log = UpdateLog.from_json(data["log"]) if data["log"] else None
        chan.local_commit_sig = _unhex(data["local_commit_sig"])
        chan.local_htlc_sigs = [bytes.fromhex(s) for s in data["local_htlc_sigs"]]
        chan.last_commit_batch = [_msg_from_json(x) for x in data["last_commit_batch"]]
        last_revoke = _msg_from_json(data["last_revoke"]) if data["last_revoke"] else None
        if last_revoke is not None and not isinstance(last_revoke, messages.RevokeAndAck):
            raise ValueError(f"persisted last_revoke is a {last_revoke.NAME}")
        chan.last_revoke = last_revoke
        chan.local_upfront_script = bytes.fromhex(data["local_upfront_script"])
        chan.remote_upfront_script = bytes.fromhex(data["remote_upfront_script"])
        chan.local_shutdown_script = _unhex(data["local_shutdown_script"])
        chan.remote_shutdown_script = _unhex(data["remote_shutdown_script"])
        return chan
