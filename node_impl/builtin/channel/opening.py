"""Opening a channel (BOLT 2 "Channel Establishment" v1): open_channel/accept_channel parameter
checks, funding_created/funding_signed, and lock-in with channel_ready.

The opener calls :meth:`ChannelOpening.make_open_channel`, then
``handle_accept_channel``, ``make_funding_created`` and ``handle_funding_signed``
(which queues the funding tx to broadcast); the acceptor answers with
``handle_open_channel`` and ``handle_funding_created``.  Both then wait for
``funding_confirmed`` and the peer's channel_ready.  A mixin of
:class:`machine.Channel` over :class:`state.ChannelState`.

Layer: channel. Imports wire, keys, tx, core only.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..keys.derivation import Basepoints
from ..wire import messages
from ..wire.codec import ShortChannelId
from . import fees
from .state import (
    AWAITING_LOCKIN,
    CHANNEL_TYPE_ANCHORS,
    CHANNEL_TYPE_NAMES,
    CHANNEL_TYPE_STATIC_REMOTEKEY,
    CHANNEL_TYPES,
    MAX_ACCEPTED_HTLCS_LIMIT,
    MAX_FUNDING_SAT,
    MAX_TO_SELF_DELAY,
    MIN_DUST_LIMIT_SAT,
    MIN_FUNDING_SAT,
    NORMAL,
    OPENING,
    SHUTTING_DOWN,
    ChannelError,
    ChannelState,
    SideConfig,
    channel_id_from_funding,
    decode_channel_type,
    encode_channel_type,
)


class ChannelOpening(ChannelState):
    """open_channel .. channel_ready, from either side."""

    # ------------------------------------------------------------------ opening (opener)
    def make_open_channel(
        self, *, funding_sat: int, push_msat: int, feerate_per_kw: int, announce: bool,
        upfront_shutdown_script: bytes = b"", channel_type: int = CHANNEL_TYPE_STATIC_REMOTEKEY,
    ) -> messages.OpenChannel:
        """The open_channel message for a channel we fund, of ``channel_type`` (one of
        CHANNEL_TYPES)."""
        if channel_type not in CHANNEL_TYPES:
            raise ValueError(f"channel_type {encode_channel_type(channel_type).hex()} is not one we make")
        self.channel_type = channel_type
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
            raise ChannelError(f"channel_type {channel_type.hex()} is not the one of open_channel "
                               f"({encode_channel_type(self.channel_type).hex()})")
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
    def handle_open_channel(self, m: messages.OpenChannel, *, min_depth: int,
                            accept_anchors: bool = True) -> messages.AcceptChannel:
        """Validate open_channel and answer accept_channel (acceptor). The channel types we
        take: static_remotekey, and anchors unless ``accept_anchors`` is false."""
        if m.chain_hash != self.chain_hash:
            raise ChannelError(f"unknown chain_hash {m.chain_hash.hex()}")
        if m.channel_type is None:
            raise ChannelError("Did not set channel_type")
        wanted = decode_channel_type(m.channel_type)
        acceptable = [t for t in CHANNEL_TYPES if accept_anchors or t != CHANNEL_TYPE_ANCHORS]
        if wanted not in acceptable:
            raise ChannelError(
                f"channel_type {m.channel_type.hex()} is not supported (we take "
                + " or ".join(f"{CHANNEL_TYPE_NAMES[t]} {encode_channel_type(t).hex()}" for t in acceptable) + ")")
        self.channel_type = wanted
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

    def _check_initial_balances(self) -> None:
        opener_msat, other_msat = self._funder_msat()
        fee_msat = fees.opener_cost_sat(self.initial_feerate_per_kw, 0, anchors=self.anchors) * 1000
        if opener_msat < fee_msat:
            raise ChannelError(
                f"funder's amount {opener_msat} msat cannot pay the commitment fee {fee_msat} msat")
        if self.remote_config is None:
            return
        reserve_msat = max(self.local_config.channel_reserve_sat, self.remote_config.channel_reserve_sat) * 1000
        if opener_msat - fee_msat <= reserve_msat and other_msat <= reserve_msat:
            raise ChannelError("both to_local and to_remote would be at or below the channel reserve")

    # ------------------------------------------------------------------ lock-in
    def funding_confirmed(self, height: int, tx_index: int, depth: int) -> list[messages.Message]:
        """The funding tx has ``depth`` confirmations: maybe send channel_ready."""
        self.funding_height = height
        self.funding_tx_index = tx_index
        if self.state != AWAITING_LOCKIN or self.channel_ready_sent or depth < self.min_depth:
            return []
        self.channel_ready_sent = True
        out: list[messages.Message] = [self._channel_ready_msg()]
        self._maybe_normal()
        return out

    def _channel_ready_msg(self) -> messages.ChannelReady:
        """channel_ready with our scid alias (made once, from the channel id and our second
        per-commitment point: the peer's differs, ours is the same after a restart), which we
        also accept in onions for this channel."""
        if self.local_alias is None:
            self.local_alias = scid_alias(self._cid() + self._our_point(1))
        return messages.ChannelReady(channel_id=self._cid(), second_per_commitment_point=self._our_point(1),
                                     alias_scid=ShortChannelId.from_int(self.local_alias))

    def handle_channel_ready(self, m: messages.ChannelReady) -> list[messages.Message]:
        if self.state not in (AWAITING_LOCKIN, NORMAL, SHUTTING_DOWN):
            return []
        if m.alias_scid is not None:
            self.remote_alias = m.alias_scid.to_int()
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


ALIAS_MIN_BLOCK = 1 << 23
"""Block height of our aliases: at least this (8388608), far above any regtest chain's, so an
alias never reads as a real short_channel_id of ours."""


def scid_alias(seed: bytes) -> int:
    """A scid alias: a block height of at least ALIAS_MIN_BLOCK and the rest from the hash of
    `seed` (what makes it ours and this channel's)."""
    value = int.from_bytes(hashlib.sha256(b"lnharness scid alias" + seed).digest()[:8], "big")
    return value | (ALIAS_MIN_BLOCK << 40)
