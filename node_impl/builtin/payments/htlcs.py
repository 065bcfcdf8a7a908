"""What happens to HTLCs: the payments layer's side of channel/ops.HtlcHandler.

Layer: payments. Imports channel (ops, machine, updates), services, core, and the payments
modules it routes to (pay, forward, invoices, onion).

The channel manager asks `decide_incoming` how to settle an HTLC committed to us: the onion
is peeled with the node key; a final payload is checked against our invoices and fulfilled
or failed; a forwarding payload goes to forward.Forwarding. It reports the outcomes of the
HTLCs we offered, which go to the forward they carry (its incoming side settles from it) or
else to our payment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from ..channel.machine import Channel
from ..channel.ops import ChannelOps, IncomingDecision
from ..channel.updates import Htlc
from ..core.log import get_logger
from ..services import Services
from . import onion, onion_failures
from .forward import Forwarding
from .invoices import InvoiceError, InvoiceStore, PaymentRejected
from .mpp_receive import COLLECTING, FAILED, HtlcSets
from .pay import Payments

log = get_logger("pay")


class HtlcOutcomes:
    """Decides incoming HTLCs and routes the outcomes of ours (implements ops.HtlcHandler)."""

    def __init__(self, services: Services, channels: ChannelOps, payments: Payments, forwarding: Forwarding,
                 invoices: InvoiceStore, mpp: HtlcSets) -> None:
        self.services = services
        self.channels = channels
        self.payments = payments
        self.forwarding = forwarding
        self.invoices = invoices
        self.mpp = mpp

    # ------------------------------------------------------------------ outcomes of ours
    def outgoing_fulfilled(self, chan: Channel, htlc: Htlc, preimage: bytes) -> None:
        """An HTLC we offered was fulfilled (by message or on chain): complete the payment or
        settle the forward's incoming side."""
        if not self.forwarding.is_forward(chan, htlc):  # a payment of ours with the same hash is not paid
            self.payments.on_fulfilled(htlc, preimage)
        incoming = self.forwarding.on_out_fulfilled(chan, htlc, preimage)
        if incoming is not None:
            self.services.spawn(self.channels.resettle(incoming), "resettle")

    def outgoing_failed(self, chan: Channel, htlc: Htlc) -> None:
        """An HTLC we offered failed (by message or timed out on chain)."""
        if self.forwarding.is_forward(chan, htlc):
            pass  # not one of our payments (one of ours may have the same payment hash)
        elif htlc.removal == "timeout":
            self.payments.on_chain_timeout(htlc, chan.channel_id)
        else:
            self.payments.on_failed(htlc, chan.channel_id)
        incoming = self.forwarding.on_out_failed(chan, htlc)
        if incoming is not None:
            self.services.spawn(self.channels.resettle(incoming), "resettle")

    def outgoing_stranded(self, chan: Channel, htlc: Htlc, why: str) -> None:
        """Our payment whose HTLC went nowhere on a closed channel fails (a forward's is failed
        back by Forwarding.on_block)."""
        if not self.forwarding.is_forward(chan, htlc):
            self.payments.on_chain_failed(htlc, why, chan.channel_id)

    async def on_block(self, height: int) -> None:
        """Fail back forwards that can no longer resolve."""
        await self.forwarding.on_block(height)

    # ------------------------------------------------------------------ preimages and invoices
    def preimage_for(self, payment_hash: bytes) -> bytes | None:
        """Our invoice's preimage, else one a forward learnt downstream."""
        record = self.invoices.lookup(payment_hash)
        if record is not None:
            return record.payment_preimage
        return self.forwarding.preimage_for(payment_hash)

    async def invoice_settled(self, payment_hash: bytes, amount_msat: int) -> None:
        """The HTLC paying our invoice was fulfilled: the invoice is paid (with what all the
        parts of a multi-part payment brought)."""
        await self.invoices.mark_paid(payment_hash, self.mpp.settled_msat(payment_hash) or amount_msat)

    async def claimed_on_chain(self, payment_hash: bytes, amount_msat: int) -> None:
        """Our on-chain claim confirmed: an invoice of ours is paid (a forward has no invoice)."""
        if self.invoices.lookup(payment_hash) is not None:
            await self.invoices.mark_paid(payment_hash, amount_msat)

    # ------------------------------------------------------------------ incoming
    def decide_incoming(self, chan: Channel, htlc: Htlc) -> IncomingDecision:
        """Peel the onion of an HTLC committed to us and decide how to settle it.

        A bug while deciding leaves the HTLC undecided (logged): no funds move, and the
        decision is tried again at the next state change or reestablish."""
        try:
            return self._decide_incoming(chan, htlc)
        except Exception as exc:
            log.error("deciding HTLC %d on %s failed: %r", htlc.htlc_id,
                      chan.channel_id.hex() if chan.channel_id else "?", exc, exc_info=True)
            return IncomingDecision(pending=True)

    def _decide_incoming(self, chan: Channel, htlc: Htlc) -> IncomingDecision:
        try:
            processed = onion.process_onion(htlc.onion, self.services.identity.node_privkey, htlc.payment_hash)
        except onion.BadOnionError as exc:
            log.info("HTLC %d on %s: bad onion: %s", htlc.htlc_id, chan.channel_id.hex(), exc)
            return IncomingDecision(malformed_code=exc.failure_code, sha256_of_onion=exc.sha256_of_onion)
        except onion.InvalidOnionPayloadError as exc:
            if exc.shared_secret is None:
                return IncomingDecision(malformed_code=onion_failures.INVALID_ONION_HMAC,
                                        sha256_of_onion=hashlib.sha256(htlc.onion).digest())
            return IncomingDecision(reason=onion.create_failure_packet(exc.shared_secret, exc.failure_message))
        except onion_failures.OnionError:
            return IncomingDecision(malformed_code=onion_failures.INVALID_ONION_VERSION,
                                    sha256_of_onion=hashlib.sha256(htlc.onion).digest())
        secret = processed.shared_secret
        try:
            payload = onion.decode_hop_payload(processed.payload, is_final=processed.is_final)
        except onion.InvalidOnionPayloadError as exc:
            return IncomingDecision(reason=onion.create_failure_packet(secret, exc.failure_message))
        if not processed.is_final:
            return self.forward_htlc(chan, htlc, payload, processed)
        return self._decide_final(chan, htlc, payload, secret)

    def forward_htlc(self, chan: Channel, htlc: Htlc, payload: onion.HopPayload,
                     processed: onion.ProcessedOnion) -> IncomingDecision:
        """An HTLC for another node: forwarding.py decides (and offers it onwards)."""
        return self.forwarding.decide(chan, htlc, payload, processed)

    def _decide_final(self, chan: Channel, htlc: Htlc, payload: onion.HopPayload,
                      secret: bytes) -> IncomingDecision:
        height = self.services.blockheight

        def fail(message: onion_failures.FailureMessage, why: str) -> IncomingDecision:
            log.info("failing HTLC %d (%s): %s", htlc.htlc_id, htlc.payment_hash.hex(), why)
            return IncomingDecision(reason=onion.create_failure_packet(secret, message))

        if payload.amt_to_forward_msat > htlc.amount_msat:
            return fail(onion_failures.failure_message(onion_failures.FINAL_INCORRECT_HTLC_AMOUNT,
                                              incoming_htlc_amt=htlc.amount_msat),
                        f"amt_to_forward {payload.amt_to_forward_msat} > HTLC amount {htlc.amount_msat}")
        if payload.outgoing_cltv_value > htlc.cltv_expiry:
            return fail(onion_failures.failure_message(onion_failures.FINAL_INCORRECT_CLTV_EXPIRY, cltv_expiry=htlc.cltv_expiry),
                        f"outgoing_cltv_value {payload.outgoing_cltv_value} > cltv_expiry {htlc.cltv_expiry}")
        details = onion_failures.failure_message(onion_failures.INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS,
                                        htlc_msat=htlc.amount_msat, height=height)
        if payload.keysend_preimage is not None:
            return self._decide_keysend(htlc, payload, fail, details)
        multipart = payload.total_msat is not None and payload.total_msat != payload.amt_to_forward_msat
        if multipart:
            decided = self.mpp.decided(chan, htlc)
            if decided is not None:
                return self._settle_part(htlc, decided, fail)
        total_msat = payload.total_msat if multipart and payload.total_msat is not None else htlc.amount_msat
        try:
            record = self.invoices.check_payment(htlc.payment_hash, payload.payment_secret,
                                                 total_msat, htlc.cltv_expiry, height)
        except PaymentRejected as exc:
            return fail(details, str(exc))
        if multipart and record.paid_at is not None:
            # a part of a set we fulfilled before a restart: the rest of the set is fulfilled too
            return IncomingDecision(preimage=record.payment_preimage)
        if record.paid_at is not None:
            return fail(details, f"invoice {record.label!r} is already paid")
        if multipart:
            state = self.mpp.add(chan, htlc, amount_msat=payload.amt_to_forward_msat, total_msat=total_msat)
            return self._settle_part(htlc, state, fail, preimage=record.payment_preimage)
        return IncomingDecision(preimage=record.payment_preimage, settles_invoice=True)

    def _settle_part(self, htlc: Htlc, state: tuple[str, str], fail: Callable[..., IncomingDecision], *,
                     preimage: bytes | None = None) -> IncomingDecision:
        """How to settle a part of a multi-part payment, given its set's (state, why)."""
        status, why = state
        if status == COLLECTING:
            return IncomingDecision(pending=True)
        if status == FAILED:
            return fail(onion_failures.failure_message(onion_failures.MPP_TIMEOUT), why)
        if preimage is None:
            record = self.invoices.lookup(htlc.payment_hash)
            if record is None:
                return fail(onion_failures.failure_message(onion_failures.MPP_TIMEOUT), "its invoice is gone")
            preimage = record.payment_preimage
        return IncomingDecision(preimage=preimage, settles_invoice=True)

    def _decide_keysend(self, htlc: Htlc, payload: onion.HopPayload, fail: Callable[..., IncomingDecision],
                        details: onion_failures.FailureMessage) -> IncomingDecision:
        """A spontaneous payment: its preimage came in the onion. As Core Lightning does, an
        invoice (label keysend-<time>) records it, paid once the HTLC is fulfilled."""
        preimage = payload.keysend_preimage
        if preimage is None or hashlib.sha256(preimage).digest() != htlc.payment_hash:
            return fail(details, "keysend preimage does not match the payment hash")
        if payload.total_msat is not None and payload.total_msat != payload.amt_to_forward_msat:
            return fail(details, "multi-part keysend is not supported")
        minimum = self.services.blockheight + self.services.config.cltv_final
        if htlc.cltv_expiry < minimum:
            return fail(details, f"keysend cltv_expiry {htlc.cltv_expiry} below {minimum}")
        record = self.invoices.lookup(htlc.payment_hash)
        if record is not None and record.payment_preimage != preimage:
            return fail(details, "an invoice of ours has this payment hash")
        if record is None:
            try:
                record = self.invoices.create_keysend(preimage, amount_msat=payload.amt_to_forward_msat,
                                                      description=_description(payload.unknown_records))
            except InvoiceError as exc:
                return fail(details, f"cannot record the keysend: {exc}")
        log.info("accepting keysend of %d msat (%s)", htlc.amount_msat, htlc.payment_hash.hex())
        return IncomingDecision(preimage=preimage, settles_invoice=True)


def _description(records: tuple[tuple[int, bytes], ...]) -> str:
    """The longest UTF-8 text among a keysend's extra records (Core Lightning's rule), else "keysend"."""
    texts = []
    for _, value in records:
        try:
            texts.append(value.decode())
        except UnicodeDecodeError:
            continue
    return max(texts, key=len, default="") or "keysend"
