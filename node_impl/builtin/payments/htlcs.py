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

from ..channel.machine import Channel
from ..channel.ops import ChannelOps, IncomingDecision
from ..channel.updates import Htlc
from ..core.log import get_logger
from ..services import Services
from . import onion, onion_failures
from .forward import Forwarding
from .invoices import InvoiceStore, PaymentRejected
from .pay import Payments

log = get_logger("pay")


class HtlcOutcomes:
    """Decides incoming HTLCs and routes the outcomes of ours (implements ops.HtlcHandler)."""

    def __init__(self, services: Services, channels: ChannelOps, payments: Payments, forwarding: Forwarding,
                 invoices: InvoiceStore) -> None:
        self.services = services
        self.channels = channels
        self.payments = payments
        self.forwarding = forwarding
        self.invoices = invoices

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
            self.payments.on_chain_timeout(htlc)
        else:
            self.payments.on_failed(htlc)
        incoming = self.forwarding.on_out_failed(chan, htlc)
        if incoming is not None:
            self.services.spawn(self.channels.resettle(incoming), "resettle")

    def outgoing_stranded(self, chan: Channel, htlc: Htlc, why: str) -> None:
        """Our payment whose HTLC went nowhere on a closed channel fails (a forward's is failed
        back by Forwarding.on_block)."""
        if not self.forwarding.is_forward(chan, htlc):
            self.payments.on_chain_failed(htlc, why)

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
        """The HTLC paying our invoice was fulfilled: the invoice is paid."""
        await self.invoices.mark_paid(payment_hash, amount_msat)

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
        return self._decide_final(htlc, payload, secret)

    def forward_htlc(self, chan: Channel, htlc: Htlc, payload: onion.HopPayload,
                     processed: onion.ProcessedOnion) -> IncomingDecision:
        """An HTLC for another node: forwarding.py decides (and offers it onwards)."""
        return self.forwarding.decide(chan, htlc, payload, processed)

    def _decide_final(self, htlc: Htlc, payload: onion.HopPayload, secret: bytes) -> IncomingDecision:
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
        if payload.total_msat is not None and payload.total_msat != payload.amt_to_forward_msat:
            return fail(details, "multi-part payments are not supported")
        try:
            record = self.invoices.check_payment(htlc.payment_hash, payload.payment_secret,
                                                 htlc.amount_msat, htlc.cltv_expiry, height)
        except PaymentRejected as exc:
            return fail(details, str(exc))
        if record.paid_at is not None:
            return fail(details, f"invoice {record.label!r} is already paid")
        return IncomingDecision(preimage=record.payment_preimage, settles_invoice=True)
