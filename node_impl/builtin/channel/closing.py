"""Ending a channel: shutdown and closing_signed fee negotiation (BOLT 2 "Channel Close"),
or failing it with our latest commitment (unilateral close).

Mutual close: :meth:`ChannelClosing.start_shutdown` (local request) or
``handle_shutdown``; once both shutdowns are exchanged and no update is pending,
the opener proposes a fee with its fee_range and ``handle_closing_signed``
converges on one, then queues the closing tx to broadcast.  A mixin of
:class:`machine.Channel` over :class:`state.ChannelState`.

Layer: channel. Imports wire, keys, tx, core only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..wire import messages
from . import txs as channel_tx
from .state import (
    AWAITING_LOCKIN,
    AWAITING_UNILATERAL,
    CLOSED,
    CLOSING_COMPLETE,
    CLOSING_SIGEXCHANGE,
    FUNDING_SPEND_SEEN,
    NORMAL,
    ONCHAIN,
    OPENING,
    SHUTTING_DOWN,
    ChannelError,
    ChannelState,
    ChannelWarning,
    LocalRequestError,
)
from .updates import LOCAL


class ChannelClosing(ChannelState):
    """shutdown .. closing_signed, and giving up on the channel."""

    if TYPE_CHECKING:
        def sign_if_needed(self) -> list[messages.Message]:
            """Defined by machine.Channel (normal operation): our pending updates, signed."""

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
