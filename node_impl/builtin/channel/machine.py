"""One Lightning channel: the BOLT 2 state machine, without I/O.

A :class:`Channel` consumes peer messages (the typed dataclasses of
wire/messages.py) and returns the messages to send, in order.  Things the
manager must act on (funding to broadcast, an incoming HTLC to decide on, a
payment resolved, a closing transaction to broadcast) are queued in
``channel.events``.  The manager persists :meth:`Channel.to_json` before it sends
anything a call returned (persist before you send).

This module holds normal operation (HTLC updates, update_fee,
commitment_signed / revoke_and_ack) and reestablish; the other phases are
mixins: opening.py (open/accept/funding/channel_ready), closing.py (shutdown,
closing_signed, failing the channel); state.py has the fields, commitments,
persistence, states and errors (re-exported here: import them from machine).

Layer: channel. Imports wire, keys, tx, core only.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..keys.derivation import per_commitment_point
from ..keys.shachain import ShachainError, index_of_commitment
from ..wire import messages
from . import fees
from .closing import ChannelClosing
from .opening import ChannelOpening
from .state import (
    ACTIVE_STATES,
    AWAITING_LOCKIN,
    AWAITING_UNILATERAL,
    CHANNEL_TYPE_ANCHORS,
    CHANNEL_TYPE_NAMES,
    CHANNEL_TYPE_STATIC_REMOTEKEY,
    CHANNEL_TYPES,
    CLOSED,
    CLOSED_STATES,
    CLOSING_COMPLETE,
    CLOSING_SIGEXCHANGE,
    CLTV_EXPIRY_LIMIT,
    FUNDING_SPEND_SEEN,
    MAX_ACCEPTED_HTLCS_LIMIT,
    MAX_FUNDING_SAT,
    MAX_TO_SELF_DELAY,
    MIN_DUST_LIMIT_SAT,
    MIN_FUNDING_SAT,
    NORMAL,
    ONCHAIN,
    OPENING,
    SHUTTING_DOWN,
    ChannelError,
    ChannelWarning,
    DataLossError,
    LocalRequestError,
    SideConfig,
    channel_id_from_funding,
    decode_channel_type,
    describe_channel_type,
    encode_channel_type,
)
from .updates import LOCAL, REMOTE, Htlc, UpdateError, UpdateLog

__all__ = [
    "ACTIVE_STATES", "AWAITING_LOCKIN", "AWAITING_UNILATERAL", "CHANNEL_TYPE_ANCHORS", "CHANNEL_TYPE_NAMES",
    "CHANNEL_TYPE_STATIC_REMOTEKEY", "CHANNEL_TYPES", "CLOSED", "CLOSED_STATES", "CLOSING_COMPLETE", "CLOSING_SIGEXCHANGE",
    "CLTV_EXPIRY_LIMIT", "FUNDING_SPEND_SEEN", "MAX_ACCEPTED_HTLCS_LIMIT", "MAX_FUNDING_SAT", "MAX_TO_SELF_DELAY",
    "MIN_DUST_LIMIT_SAT", "MIN_FUNDING_SAT", "NORMAL", "ONCHAIN", "OPENING", "SHUTTING_DOWN", "Channel",
    "ChannelError", "ChannelWarning", "DataLossError", "LocalRequestError", "SideConfig",
    "channel_id_from_funding", "decode_channel_type", "describe_channel_type", "encode_channel_type",
]


class Channel(ChannelOpening, ChannelClosing):
    """State of one channel with one peer; see the module docstring for the contract."""

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
                untrimmed = fees.untrimmed_htlcs(view, dust, view.feerate_per_kw, anchors=self.anchors)
                # room for one more HTLC at twice the fee rate (fee spike buffer)
                ours -= fees.opener_cost_sat(2 * view.feerate_per_kw, untrimmed + 2, anchors=self.anchors) * 1000
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
            theirs -= fees.opener_cost_sat(2 * view.feerate_per_kw, len(view.htlcs) + 2, anchors=self.anchors) * 1000
        return max(0, theirs)

    def propose_feerate(self, estimate_per_kw: int) -> int | None:
        """As the opener of a normal channel, queue an update_fee (sent by the next
        :meth:`sign_if_needed`) towards the chain's fee estimate: the rate fees.py wants for
        it, or the highest we can pay while keeping our reserve on both commitments, when it
        differs enough from the current rate. Returns the rate queued, else None."""
        if not self.is_opener() or self.state != NORMAL or self.log is None or self.remote_config is None:
            return None
        log = self.log
        current = log.next_view(LOCAL).feerate_per_kw
        wanted = fees.commitment_feerate_target(estimate_per_kw, anchors=self.anchors)
        views = [(log.next_view(LOCAL), log.next_view(LOCAL).local_msat, self.local_config.dust_limit_sat),
                 (log.next_view(REMOTE), log.next_view(REMOTE).local_msat, self.remote_config.dust_limit_sat)]
        rate = fees.highest_affordable_feerate(views, reserve_sat=self.remote_config.channel_reserve_sat,
                                               anchors=self.anchors, up_to=wanted)
        if rate is None or (rate < current < wanted) or not fees.worth_updating(current, rate):
            return None
        log.update_fee(LOCAL, rate)
        return rate

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
        if rate < fees.MIN_FEERATE_PER_KW or rate > fees.MAX_FEERATE_PER_KW:
            raise ChannelWarning(f"update_fee feerate_per_kw {rate} outside "
                                 f"{fees.MIN_FEERATE_PER_KW}..{fees.MAX_FEERATE_PER_KW}")
        log = self._require_log()
        view = log.next_view(LOCAL)
        shortfall = fees.opener_shortfall_msat(view, opener_msat=view.remote_msat,
                                               dust_limit_sat=self.local_config.dust_limit_sat,
                                               feerate_per_kw=rate, reserve_sat=0, anchors=self.anchors)
        if shortfall:
            raise ChannelWarning(f"update_fee feerate_per_kw {rate}: the opener cannot afford it on our "
                                 f"commitment ({shortfall} msat short)")
        log.update_fee(REMOTE, rate)

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
