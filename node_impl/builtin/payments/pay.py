"""Outgoing payments (pay, listpays): routes, onions, attempts, retries, outcomes.

Layer: payments. Imports channel (ops, store, machine errors, updates), gossip (types, via
payments/gossip_view.GossipView), services, wire, core.

Outgoing payments go over our channel with the payee when it can carry the amount, else
along a route from the gossip graph (BOLT 4 onion: forwarding payloads, then the final one
with amt_to_forward, outgoing_cltv_value and payment_data); ``pay`` waits for the fulfill
(returning the preimage) or the failure (decoded from the failure onion), retrying other
routes after a failure inside the network — with the policy of a valid, newer channel_update
the failure carried (for that payment only, as BOLT 4 says), else without the failing
channel or node. The amount goes one way: pay -> Payments -> ChannelOps.add_outgoing_htlc.
Incoming HTLCs are decided in payments/htlcs.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from dataclasses import dataclass, field
from typing import Any

from ..channel.machine import LocalRequestError
from ..channel.ops import ChannelOps
from ..channel.store import ChannelStore, PaymentRecord
from ..channel.updates import Htlc
from ..core.jsonrpc import RpcError
from ..core.log import get_logger
from ..gossip import pathfind as routing
from ..gossip.announce import policy_from_update
from ..gossip.graph import ChannelPolicy, format_scid
from ..services import Services
from ..wire import bolt11 as bolt11_codec
from ..wire.codec import WireError
from ..wire.messages import ChannelUpdate
from ..wire.messages import decode as decode_message
from . import multipart, onion, onion_failures
from .gossip_view import GossipView
from .hops import Hop, build_onion
from .invoices import InvoiceStore, PaymentRejected
from .multipart import MultiPartSender

log = get_logger("pay")

# Core Lightning's pay error codes
PAY_IN_PROGRESS = 200
PAY_RHASH_ALREADY_USED = 201
PAY_DESTINATION_PERM_FAIL = 203
PAY_TRY_OTHER_ROUTE = 204
PAY_ROUTE_NOT_FOUND = 205
PAY_INVOICE_EXPIRED = 207
PAY_STOPPED_RETRYING = 210
PAY_UNPARSEABLE_ONION = 202
CLTV_SAFETY_BLOCKS = 3  # tolerance for a payee whose chain view is a block or two ahead
KEYSEND_FINAL_CLTV = 40
"""Blocks the final HTLC of a keysend leaves the payee (no invoice says; LND's default)."""
MAX_UPDATES_PER_CHANNEL = 2
"""Retries one payment makes with newer channel_updates from failures of one channel before
it avoids that channel (a hop that keeps failing with fresh updates is not retried forever)."""


@dataclass(frozen=True)
class RouteHop:
    """One hop of a caller's route (sendpay): the HTLC to node_id over short_channel_id, carrying
    amount_msat and expiring `delay` blocks after the next block."""

    node_id: bytes
    short_channel_id: int
    amount_msat: int
    delay: int


@dataclass
class PendingPayment:
    """What the payer keeps to read a failure and wake the caller."""

    record: PaymentRecord | None  # None: a payment in parts (multipart.py keeps its record)
    shared_secrets: list[bytes]
    done: asyncio.Future[PaymentRecord]


@dataclass
class RetryPlan:
    """What the failed attempts of one payment taught its retries: channels and nodes to avoid,
    and the policies of channel_updates carried by failures. BOLT 4 lets the payer consider
    those for retrying the failed payment only, never in its graph or gossip, so they live
    here, for one payment."""

    exclude_channels: set[Any] = field(default_factory=set)
    exclude_nodes: set[bytes] = field(default_factory=set)
    policies: dict[tuple[int, int], ChannelPolicy] = field(default_factory=dict)
    updates_used: dict[tuple[int, int], int] = field(default_factory=dict)

    def use_update(self, short_channel_id: int, direction: int, policy: ChannelPolicy,
                   used_timestamp: int) -> bool:
        """Take a (verified) channel_update's policy for the retries if it is newer than the
        one the failed route used (its timestamp; 0 for a route hint's) and than one taken
        earlier, at most MAX_UPDATES_PER_CHANNEL times per channel direction. False: avoid
        the channel instead."""
        key = (short_channel_id, direction)
        taken = self.policies.get(key)
        if policy.timestamp <= max(used_timestamp, taken.timestamp if taken is not None else 0):
            return False
        if self.updates_used.get(key, 0) >= MAX_UPDATES_PER_CHANNEL:
            return False
        self.updates_used[key] = self.updates_used.get(key, 0) + 1
        self.policies[key] = policy
        return True

    def avoid(self, kind: str, ident: Any) -> None:
        """Leave out a node (hex id) or a channel (scid, or [scid, direction]) from now on."""
        if kind == "node":
            self.exclude_nodes.add(bytes.fromhex(ident))
        else:
            self.exclude_channels.add(ident if kind == "channel" else tuple(ident))


class Payments:
    """Outgoing payments of one node."""

    def __init__(self, services: Services, channels: ChannelOps, store: ChannelStore,
                 gossip: GossipView, invoices: InvoiceStore) -> None:
        self.services = services
        self.channels = channels
        self.store = store
        self.gossip = gossip
        self.invoices = invoices
        self._pending: dict[bytes, PendingPayment] = {}
        self.multipart = MultiPartSender(services, channels, store, gossip, self._describe_failure, self._wake)

    # ------------------------------------------------------------------ outgoing
    async def pay(self, invoice: bolt11_codec.Invoice, bolt11: str, amount_msat: int, *,
                  label: str | None = None, timeout_s: float = 60.0, max_fee_msat: int | None = None,
                  max_delay: int | None = None, description: str | None = None) -> PaymentRecord:
        """Pay a decoded BOLT 11 invoice (``amount_msat``: the invoice's, or the caller's for an
        invoice without one); returns the complete record, else raises RpcError with Core
        Lightning's pay error code. A payment already made or in flight is not made again.
        ``description`` (checked by the caller) is kept with a single-part payment."""
        if invoice.is_expired():
            ago = max(1, int(time.time()) - invoice.expires_at)
            raise RpcError(PAY_INVOICE_EXPIRED, f"Invoice expired {ago} seconds ago "
                                                f"(expired at {invoice.expires_at})")
        existing = self.store.payment(invoice.payment_hash)
        if existing is not None and existing.status == "complete":
            return existing
        if existing is not None and existing.status == "pending":
            pending = self._pending.get(invoice.payment_hash)
            if pending is None:
                raise RpcError(PAY_STOPPED_RETRYING, "a payment for this hash is already pending")
            return self._complete_or_raise(await asyncio.shield(pending.done))
        if bytes.fromhex(invoice.payee) == self.services.identity.node_id:
            return await self._pay_self(invoice, bolt11, amount_msat, label)
        try:
            record = await self.send_direct(
                destination=bytes.fromhex(invoice.payee), amount_msat=amount_msat, payment_hash=invoice.payment_hash,
                payment_secret=invoice.payment_secret, min_final_cltv_expiry=invoice.min_final_cltv_expiry,
                bolt11=bolt11, timeout=timeout_s, route_hints=invoice.route_hints, max_fee_msat=max_fee_msat,
                max_delay=max_delay, label=label, tags={"description": description} if description else None)
        except RpcError as exc:
            if exc.code != PAY_ROUTE_NOT_FOUND or not _accepts_parts(invoice):
                raise
            log.info("payment %s: no single route (%s): splitting it", invoice.payment_hash.hex(), exc.message)
            record = await self._pay_in_parts(invoice, bolt11, amount_msat, label=label, timeout_s=timeout_s,
                                              max_fee_msat=max_fee_msat, max_delay=max_delay, no_route=exc)
        return self._complete_or_raise(record)

    async def _pay_in_parts(self, invoice: bolt11_codec.Invoice, bolt11: str, amount_msat: int, *,
                            label: str | None, timeout_s: float, max_fee_msat: int | None, max_delay: int | None,
                            no_route: RpcError) -> PaymentRecord:
        """Pay an invoice offering basic_mpp in parts over several of our channels (see
        multipart.py); returns the settled record."""
        done: asyncio.Future[PaymentRecord] = asyncio.get_running_loop().create_future()
        self._pending[invoice.payment_hash] = PendingPayment(None, [], done)
        try:
            await self.multipart.start(invoice, bolt11, amount_msat, label=label, timeout_s=timeout_s,
                                       max_fee_msat=max_fee_msat, max_delay=max_delay, no_route=no_route)
        except RpcError:
            self._pending.pop(invoice.payment_hash, None)
            raise
        try:
            return await asyncio.wait_for(asyncio.shield(done), timeout_s)
        except asyncio.TimeoutError:
            raise RpcError(PAY_STOPPED_RETRYING,
                           f"payment {invoice.payment_hash.hex()} still pending after the retry time") from None

    async def keysend(self, destination: bytes, amount_msat: int, *, label: str | None = None,
                      timeout_s: float = 60.0, max_fee_msat: int | None = None, max_delay: int | None = None,
                      extra_records: tuple[tuple[int, bytes], ...] = ()) -> PaymentRecord:
        """A spontaneous payment: a fresh preimage travels to ``destination`` in the final
        payload (TLV 5482373484, with the caller's ``extra_records``), no payment_secret.
        Returns the complete record, else raises RpcError with Core Lightning's code."""
        if onion.KEYSEND_PREIMAGE_TYPE in {t for t, _ in extra_records}:
            raise ValueError(f"extra records may not carry type {onion.KEYSEND_PREIMAGE_TYPE} (the preimage)")
        preimage = os.urandom(32)
        payment_hash = hashlib.sha256(preimage).digest()
        log.info("keysend of %d msat to %s (hash %s)", amount_msat, destination.hex(), payment_hash.hex())
        record = await self.send_direct(
            destination=destination, amount_msat=amount_msat, payment_hash=payment_hash, payment_secret=None,
            min_final_cltv_expiry=KEYSEND_FINAL_CLTV, bolt11=None, timeout=timeout_s,
            max_fee_msat=max_fee_msat, max_delay=max_delay, label=label,
            final_records=((onion.KEYSEND_PREIMAGE_TYPE, preimage), *extra_records), tags={"keysend": True})
        if record.status == "failed" and "INVALID_ONION_PAYLOAD" in (record.failure or "") \
                and record.data.get("final"):
            raise RpcError(PAY_DESTINATION_PERM_FAIL, f"Recipient {destination.hex()} reported an invalid "
                                                      "payload: it probably does not support keysend")
        return self._complete_or_raise(record)

    async def _pay_self(self, invoice: bolt11_codec.Invoice, bolt11: str, amount_msat: int,
                        label: str | None) -> PaymentRecord:
        """Pay one of our own invoices (as Core Lightning does): no HTLC, the invoice is
        marked paid and the payment recorded complete with its preimage; an invoice we do
        not hold (deleted) is 203 "Unknown invoice"."""
        own = self.invoices.lookup(invoice.payment_hash)
        if own is None:
            raise RpcError(PAY_DESTINATION_PERM_FAIL, "Unknown invoice: we hold no invoice "
                                                      f"with hash {invoice.payment_hash.hex()}")
        height = self.services.blockheight
        try:
            self.invoices.check_payment(invoice.payment_hash, invoice.payment_secret, amount_msat,
                                        height + own.min_final_cltv_expiry, height)
        except PaymentRejected as exc:
            raise RpcError(PAY_DESTINATION_PERM_FAIL, f"paying ourselves: {exc}") from None
        await self.invoices.mark_paid(invoice.payment_hash, amount_msat)
        now = int(time.time())
        record = PaymentRecord(
            payment_hash=invoice.payment_hash, bolt11=bolt11, destination=self.services.identity.node_id,
            amount_msat=amount_msat, amount_sent_msat=amount_msat, status="complete",
            preimage=own.payment_preimage, failure=None, created_at=now, completed_at=now,
            channel_id=None, htlc_id=None, data={"label": label, "attempt": 1})
        self.store.save_payment(record)
        log.info("paid our own invoice %r: %d msat", own.label, amount_msat)
        return record

    def _complete_or_raise(self, record: PaymentRecord) -> PaymentRecord:
        if record.status == "complete":
            return record
        code = record.data.get("error_code", PAY_STOPPED_RETRYING)
        raise RpcError(code, record.failure or "payment failed")

    async def send_direct(
        self, *, destination: bytes, amount_msat: int, payment_hash: bytes, payment_secret: bytes | None,
        min_final_cltv_expiry: int, bolt11: str | None, timeout: float, route_hints: Any = (),
        max_fee_msat: int | None = None, max_delay: int | None = None, label: str | None = None,
        final_records: tuple[tuple[int, bytes], ...] = (), tags: dict[str, Any] | None = None,
    ) -> PaymentRecord:
        """Pay ``destination``: over a channel with it if we have one that can carry the amount,
        else along a route from the gossip graph; retries other routes until ``timeout``.
        ``final_records`` are raw TLV records for the final hop's payload (keysend's preimage,
        a caller's extra records). Returns the settled record (complete or failed)."""
        deadline = asyncio.get_running_loop().time() + timeout
        plan = RetryPlan()
        attempt = 0
        last: PaymentRecord | None = None
        while True:
            attempt += 1
            try:
                route = self._route(destination, amount_msat, min_final_cltv_expiry, route_hints, plan,
                                    max_fee_msat, max_delay)
            except RpcError:
                if last is not None:  # no other route: report why the last attempt failed
                    return last
                raise
            record = await self._attempt(route, destination=destination, amount_msat=amount_msat,
                                         payment_hash=payment_hash, payment_secret=payment_secret,
                                         bolt11=bolt11, deadline=deadline, label=label, attempt=attempt,
                                         final_records=final_records, tags=tags)
            last = record
            if record.status != "failed" or record.data.get("final"):
                return record
            retry = record.data.get("retry")
            if not retry or asyncio.get_running_loop().time() >= deadline:
                return record
            kind, ident = retry
            if self._use_failure_update(plan, record):
                log.info("payment %s: attempt %d failed (%s), retrying with the channel_update it carried",
                         payment_hash.hex(), attempt, record.failure)
                continue
            plan.avoid(kind, ident)
            log.info("payment %s: attempt %d failed (%s), retrying without %s %s", payment_hash.hex(),
                     attempt, record.failure, kind, ident)

    def _use_failure_update(self, plan: RetryPlan, record: PaymentRecord) -> bool:
        """Whether the failure carried a valid channel_update the retries take (see RetryPlan)."""
        carried = record.data.get("channel_update")
        if carried is None:
            return False
        scid, direction, raw = carried["short_channel_id"], carried["direction"], bytes.fromhex(carried["raw"])
        used_timestamp = carried["used_timestamp"]
        try:
            policy = policy_from_update(_decode_update(raw))
        except (WireError, ValueError) as exc:  # stored after verification: should not happen
            log.warning("payment %s: stored channel_update unreadable: %s", record.payment_hash.hex(), exc)
            return False
        if plan.use_update(scid, direction, policy, used_timestamp):
            return True
        log.info("payment %s: the channel_update for %s/%d in the failure is not newer than the one used "
                 "(or the channel failed with updates %d times): avoiding the channel",
                 record.payment_hash.hex(), format_scid(scid), direction, MAX_UPDATES_PER_CHANNEL)
        return False

    def _route(self, destination: bytes, amount_msat: int, final_cltv: int, route_hints: Any,
               plan: RetryPlan, max_fee_msat: int | None = None, max_delay: int | None = None) -> list[Hop]:
        final_expiry = self.services.blockheight + final_cltv + CLTV_SAFETY_BLOCKS
        chan = self.channels.channel_to(destination, amount_msat)
        if chan is not None and chan.short_channel_id not in plan.exclude_channels \
                and chan.spendable_msat() >= amount_msat:
            return [Hop(destination, chan.short_channel_id, amount_msat, final_expiry)]
        spendable = {c.short_channel_id: c.spendable_msat() for c in self.channels.usable_channels()}
        try:
            hops = self.gossip.find_route(destination, amount_msat, final_cltv_delta=final_cltv + CLTV_SAFETY_BLOCKS,
                                     route_hints=route_hints, exclude_channels=plan.exclude_channels,
                                     exclude_nodes=plan.exclude_nodes, local_spendable_msat=spendable,
                                     max_fee_msat=max_fee_msat, max_delay=max_delay,
                                     policy_overrides=plan.policies)
        except routing.NoRouteError as exc:
            if chan is not None:
                raise RpcError(PAY_ROUTE_NOT_FOUND,
                               f"No route found: {amount_msat} msat exceeds what the channel with "
                               f"{destination.hex()} can send now ({chan.spendable_msat()} msat)") from None
            raise RpcError(PAY_ROUTE_NOT_FOUND, f"No route found to {destination.hex()} for "
                                                f"{amount_msat} msat: {exc}") from None
        return [Hop(h.node_id, h.short_channel_id, h.amount_msat, h.cltv_expiry,
                     self._policy_timestamp(plan, h.short_channel_id, h.direction)) for h in hops]

    def _policy_timestamp(self, plan: RetryPlan, short_channel_id: int, direction: int) -> int:
        """Timestamp of the policy routing uses for a channel direction: the newer of the graph's
        and one a failure of this payment taught (0 if neither: a route hint)."""
        channel = self.gossip.graph.get_channel(short_channel_id)
        known = [p.timestamp for p in (channel.policies[direction] if channel is not None else None,
                                       plan.policies.get((short_channel_id, direction))) if p is not None]
        return max(known, default=0)

    async def _attempt(self, route: list[Hop], *, destination: bytes, amount_msat: int, payment_hash: bytes,
                       payment_secret: bytes | None, bolt11: str | None, deadline: float,
                       label: str | None = None, attempt: int = 1,
                       final_records: tuple[tuple[int, bytes], ...] = (),
                       tags: dict[str, Any] | None = None) -> PaymentRecord:
        record, done = await self._launch(route, destination=destination, amount_msat=amount_msat,
                                          payment_hash=payment_hash, payment_secret=payment_secret,
                                          bolt11=bolt11, label=label, attempt=attempt,
                                          final_records=final_records, tags=tags)
        remaining = max(0.0, deadline - asyncio.get_running_loop().time())
        try:
            return await asyncio.wait_for(asyncio.shield(done), max(remaining, 1.0))
        except asyncio.TimeoutError:
            raise RpcError(PAY_STOPPED_RETRYING,
                           f"payment {payment_hash.hex()} still pending after the retry time") from None

    async def send_route(self, hops: list[RouteHop], *, payment_hash: bytes, payment_secret: bytes | None,
                         amount_msat: int, bolt11: str | None, label: str | None, groupid: int = 1,
                         description: str | None = None) -> PaymentRecord:
        """Offer an HTLC along the caller's route (Core Lightning's sendpay): each hop's amount and
        delay as given, the cltv_expiry of a hop the current height + 1 + its delay. Returns the
        pending record at once; its outcome is stored as pay's (waitsendpay, listsendpays)."""
        existing = self.store.payment(payment_hash)
        if existing is not None:  # Core Lightning's line for each earlier payment of the hash
            log.info("Payment: %dmsat %s", existing.amount_msat, existing.status.upper())
        if existing is not None and existing.status == "complete":
            if existing.amount_msat == amount_msat and existing.destination == hops[-1].node_id:
                return existing
            raise RpcError(PAY_RHASH_ALREADY_USED, "Already succeeded with amount "
                                                   f"{existing.amount_msat}msat to {existing.destination.hex()}")
        if existing is not None and existing.status == "pending":
            raise RpcError(PAY_IN_PROGRESS, f"Already have pending payment for {payment_hash.hex()}")
        base = self.services.blockheight + 1
        route = [Hop(h.node_id, h.short_channel_id, h.amount_msat, base + h.delay) for h in hops]
        below = self._below_minimum(route[0])
        if below is not None:  # as Core Lightning's channeld: a local failure waitsendpay reports
            return self._failed_at_once(route, payment_hash=payment_hash, amount_msat=amount_msat,
                                        bolt11=bolt11, label=label, reason=below,
                                        tags={"groupid": groupid, "description": description})
        log.info("Sending %dmsat over %d hops to deliver %dmsat", route[0].amount_msat, len(route),
                 amount_msat)  # Core Lightning's words, which its tests wait for
        record, _ = await self._launch(route, destination=route[-1].node_id, amount_msat=amount_msat,
                                       payment_hash=payment_hash, payment_secret=payment_secret,
                                       bolt11=bolt11, label=label, attempt=1,
                                       tags={"groupid": groupid, "description": description})
        return record

    def _below_minimum(self, first: Hop) -> str | None:
        """Why the first hop's HTLC is below what our channel with its peer accepts (at least
        1 msat, at least the peer's htlc_minimum_msat), or None."""
        chan = self.channels.channel_by_scid(first.short_channel_id, first.node_id)
        if chan is None or chan.remote_config is None:
            return None
        minimum = max(1, chan.remote_config.htlc_minimum_msat)
        if first.amount_msat >= minimum:
            return None
        return (f"failed: WIRE_AMOUNT_BELOW_MINIMUM (htlc_msat={first.amount_msat}, below the "
                f"peer's htlc_minimum_msat {minimum})")

    def _failed_at_once(self, route: list[Hop], *, payment_hash: bytes, amount_msat: int,
                        bolt11: str | None, label: str | None, reason: str,
                        tags: dict[str, Any]) -> PaymentRecord:
        """Record a payment that failed before any HTLC was offered (waitsendpay reports it)."""
        now = int(time.time())
        record = PaymentRecord(
            payment_hash=payment_hash, bolt11=bolt11, destination=route[-1].node_id,
            amount_msat=amount_msat, amount_sent_msat=route[0].amount_msat, status="failed",
            preimage=None, failure=reason, created_at=now, completed_at=now, channel_id=None,
            htlc_id=None, data={"route": [[h.node_id.hex(), h.short_channel_id, h.policy_timestamp]
                                          for h in route],
                                "label": label, "attempt": 1, "error_code": PAY_TRY_OTHER_ROUTE,
                                **tags})
        self.store.save_payment(record)
        log.info("payment %s failed: %s", payment_hash.hex(), reason)
        return record

    async def _launch(self, route: list[Hop], *, destination: bytes, amount_msat: int, payment_hash: bytes,
                      payment_secret: bytes | None, bolt11: str | None, label: str | None,
                      attempt: int, tags: dict[str, Any] | None = None,
                      final_records: tuple[tuple[int, bytes], ...] = (),
                      ) -> tuple[PaymentRecord, asyncio.Future[PaymentRecord]]:
        """Record the payment and offer the HTLC of one attempt; the future settles with the record."""
        first = route[0]
        chan = self.channels.channel_by_scid(first.short_channel_id, first.node_id)
        log.debug("paying %d msat to %s (hash %s) via %s", amount_msat, destination.hex(), payment_hash.hex(),
                  " -> ".join(f"{h.node_id.hex()[:8]}@{h.short_channel_id}" for h in route))
        if chan is None:
            raise RpcError(PAY_ROUTE_NOT_FOUND, f"No route found: no usable channel {first.short_channel_id} "
                                                f"with {first.node_id.hex()}")
        packet, secrets = build_onion(route, payment_hash, payment_secret, amount_msat, final_records)
        record = PaymentRecord(
            payment_hash=payment_hash, bolt11=bolt11, destination=destination, amount_msat=amount_msat,
            amount_sent_msat=first.amount_msat, status="pending", preimage=None, failure=None,
            created_at=int(time.time()), completed_at=None, channel_id=chan.channel_id, htlc_id=None,
            data={"shared_secrets": [s.hex() for s in secrets],
                  "route": [[h.node_id.hex(), h.short_channel_id, h.policy_timestamp] for h in route],
                  "label": label, "attempt": attempt, **(tags or {})})
        done: asyncio.Future[PaymentRecord] = asyncio.get_running_loop().create_future()
        self._pending[payment_hash] = PendingPayment(record, secrets, done)
        try:
            await self.channels.add_outgoing_htlc(chan, first.amount_msat, payment_hash, first.cltv_expiry,
                                                  packet, record)
        except LocalRequestError as exc:
            self._pending.pop(payment_hash, None)
            raise RpcError(PAY_ROUTE_NOT_FOUND, f"No route found: cannot pay over channel "
                                                f"{chan.channel_id.hex() if chan.channel_id else '?'}: {exc}") \
                from None
        return record, done

    def on_fulfilled(self, htlc: Htlc, preimage: bytes) -> None:
        """Our HTLC was fulfilled: the payment is complete (persisted before waking the caller)."""
        record = self.multipart.live(htlc.payment_hash) or self.store.payment(htlc.payment_hash)
        self.multipart.completed(htlc.payment_hash)
        if record is None or record.status == "complete":
            return
        record.status = "complete"
        record.preimage = preimage
        record.completed_at = int(time.time())
        self.store.save_payment(record)
        log.info("payment %s complete", htlc.payment_hash.hex())
        self._wake(record)

    def on_failed(self, htlc: Htlc, channel_id: bytes | None = None) -> None:
        """Our HTLC (on `channel_id`) was removed by a failure: decode why and fail the payment
        (a multi-part payment once none of its parts is left in flight)."""
        record = self.multipart.live(htlc.payment_hash) or self.store.payment(htlc.payment_hash)
        if record is None or record.status != "pending":
            return
        if multipart.parts_of(record):
            self.multipart.part_failed(record, channel_id, htlc)
            return
        reason, code = self._describe_failure(record, htlc)
        record.status = "failed"
        record.failure = reason
        record.completed_at = int(time.time())
        record.data["error_code"] = code
        self.store.save_payment(record)
        log.info("payment %s failed: %s", htlc.payment_hash.hex(), reason)
        self._wake(record)

    def on_chain_timeout(self, htlc: Htlc, channel_id: bytes | None = None) -> None:
        """Our HTLC was taken back on chain after its expiry: the payment failed."""
        self.on_chain_failed(htlc, f"HTLC timed out on chain at cltv_expiry {htlc.cltv_expiry}", channel_id)

    def on_chain_failed(self, htlc: Htlc, why: str, channel_id: bytes | None = None) -> None:
        """Our HTLC can never be fulfilled (closed channel): the payment failed."""
        record = self.multipart.live(htlc.payment_hash) or self.store.payment(htlc.payment_hash)
        if record is not None and record.status == "pending" and multipart.parts_of(record):
            self.multipart.part_failed(record, channel_id, htlc, why)
            return
        if record is None or record.status != "pending" or record.htlc_id != htlc.htlc_id:
            return
        record.status = "failed"
        record.failure = f"failed: {why}"
        record.completed_at = int(time.time())
        record.data["error_code"] = PAY_STOPPED_RETRYING
        record.data["final"] = True
        self.store.save_payment(record)
        log.info("payment %s failed: %s", htlc.payment_hash.hex(), record.failure)
        self._wake(record)

    def _describe_failure(self, record: PaymentRecord, htlc: Htlc) -> tuple[str, int]:
        if htlc.removal == "fail_malformed":
            code = htlc.removal_data.get("failure_code", 0)
            name = onion_failures.FAILURE_NAMES.get(code, f"0x{code:04x}")
            return f"failed: WIRE_{name.upper()} (the peer could not read our onion)", PAY_TRY_OTHER_ROUTE
        secrets = [bytes.fromhex(s) for s in record.data.get("shared_secrets", [])]
        try:
            failure = onion.decrypt_failure_packet(secrets, htlc.removal_data.get("reason", b""))
            message = failure.decode()
        except onion_failures.OnionError as exc:
            return f"failed: unreadable failure onion ({exc})", PAY_UNPARSEABLE_ONION
        shown = {k: v for k, v in message.fields.items() if k != "channel_update"}
        detail = ", ".join(f"{k}={v.hex() if isinstance(v, bytes) else v}" for k, v in shown.items())
        text = f"failed: WIRE_{message.name.upper()}" + (f" ({detail})" if detail else "")
        route = record.data.get("route", [])
        at_destination = failure.hop_index == len(secrets) - 1
        if at_destination:
            record.data["final"] = True
            code = PAY_DESTINATION_PERM_FAIL if message.is_permanent else PAY_STOPPED_RETRYING
            return text, code
        erring = route[failure.hop_index] if failure.hop_index < len(route) else None
        text += f" at hop {failure.hop_index}" + (f" ({erring[0]})" if erring else "")
        if erring is not None:
            if message.is_node_failure:
                record.data["retry"] = ["node", erring[0]]
            elif failure.hop_index + 1 < len(route):
                outgoing = route[failure.hop_index + 1]
                record.data["retry"] = ["channel", outgoing[1]]
                if message.channel_update:
                    used_timestamp = outgoing[2] if len(outgoing) > 2 else 0
                    self._keep_failure_update(record, message.channel_update, bytes.fromhex(erring[0]),
                                              bytes.fromhex(outgoing[0]), outgoing[1], used_timestamp)
        return text, PAY_TRY_OTHER_ROUTE

    def _keep_failure_update(self, record: PaymentRecord, raw: bytes, erring_node_id: bytes, next_node_id: bytes,
                             short_channel_id: int | None, used_timestamp: int) -> None:
        """Verify the channel_update an intermediate hop's failure carried (BOLT 7 checks: the
        erring node's signature for the channel and direction it failed to forward over) and
        keep it in the record for the retry; a forged or mismatched one is logged and ignored."""
        if short_channel_id is None:
            return
        policy = self.gossip.failure_update_policy(raw, short_channel_id=short_channel_id,
                                              erring_node_id=erring_node_id, next_node_id=next_node_id)
        if policy is None or policy.raw_update is None:
            return
        log.info("payment %s: the failure from %s carried a valid channel_update for %s (fee %d msat + %d ppm, "
                  "cltv_expiry_delta %d, timestamp %d)", record.payment_hash.hex(), erring_node_id.hex(),
                  format_scid(short_channel_id), policy.fee_base_msat, policy.fee_proportional_millionths,
                  policy.cltv_expiry_delta, policy.timestamp)
        record.data["channel_update"] = {"short_channel_id": short_channel_id, "direction": policy.channel_flags & 1,
                                         "raw": policy.raw_update.hex(), "used_timestamp": used_timestamp}

    def _wake(self, record: PaymentRecord) -> None:
        pending = self._pending.pop(record.payment_hash, None)
        if pending is not None and not pending.done.done():
            pending.done.set_result(record)

    def listpays(self, *, bolt11: str | None = None, payment_hash: bytes | None = None,
                 status: str | None = None) -> list[PaymentRecord]:
        """Outgoing payments, optionally only those of one invoice, hash or status."""
        records = self.store.payments()
        if bolt11 is not None:
            records = [r for r in records if r.bolt11 == bolt11]
        if payment_hash is not None:
            records = [r for r in records if r.payment_hash == payment_hash]
        if status is not None:
            records = [r for r in records if r.status == status]
        return records


def _accepts_parts(invoice: bolt11_codec.Invoice) -> bool:
    """Whether the invoice lets us pay it in parts: basic_mpp offered, a payment_secret."""
    return invoice.payment_secret is not None and bool(
        {bolt11_codec.FEATURE_BASIC_MPP, bolt11_codec.FEATURE_BASIC_MPP + 1} & set(invoice.features))


def _decode_update(raw: bytes) -> ChannelUpdate:
    """A stored channel_update (type prefix included) decoded."""
    msg = decode_message(raw)
    if not isinstance(msg, ChannelUpdate):
        raise ValueError(f"not a channel_update: {type(msg).__name__}")
    return msg
