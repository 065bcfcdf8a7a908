"""Payments: outgoing (pay, listpays) and the decision on incoming HTLCs.

Outgoing payments go over our channel with the payee when it can carry the amount, else
along a route from the gossip graph (BOLT 4 onion: forwarding payloads, then the final one
with amt_to_forward, outgoing_cltv_value and payment_data); ``pay`` waits for the fulfill
(returning the preimage) or the failure (decoded from the failure onion), retrying other
routes after a failure inside the network — with the policy of a valid, newer channel_update
the failure carried (for that payment only, as BOLT 4 says), else without the failing
channel or node.

Incoming HTLCs: the onion is peeled with the node key; a final payload is checked
against our invoices and fulfilled or failed; a forwarding payload goes to
``forward_htlc`` — the seam for multi-hop forwarding, which for now fails with
unknown_next_peer.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..channel.machine import Channel, LocalRequestError
from ..channel.store import PaymentRecord
from ..channel.updates import Htlc
from ..core.jsonrpc import RpcError, param_error
from ..core.log import get_logger
from ..gossip import pathfind as routing
from ..gossip.announce import policy_from_update
from ..gossip.graph import ChannelPolicy, format_scid
from ..wire import bolt11 as bolt11_codec
from ..wire.codec import WireError
from ..wire.messages import ChannelUpdate
from ..wire.messages import decode as decode_message
from . import onion
from .invoices import PaymentRejected

if TYPE_CHECKING:
    from ..channel.manager import ChannelManager

log = get_logger("pay")

# Core Lightning's pay error codes
PAY_DESTINATION_PERM_FAIL = 203
PAY_TRY_OTHER_ROUTE = 204
PAY_ROUTE_NOT_FOUND = 205
PAY_INVOICE_EXPIRED = 207
PAY_STOPPED_RETRYING = 210
PAY_UNPARSEABLE_ONION = 202
CLTV_SAFETY_BLOCKS = 3  # tolerance for a payee whose chain view is a block or two ahead
MAX_UPDATES_PER_CHANNEL = 2
"""Retries one payment makes with newer channel_updates from failures of one channel before
it avoids that channel (a hop that keeps failing with fresh updates is not retried forever)."""


@dataclass(frozen=True)
class _Hop:
    """One hop of the route an attempt takes: the HTLC to node_id over short_channel_id."""

    node_id: bytes
    short_channel_id: int | None
    amount_msat: int
    cltv_expiry: int
    policy_timestamp: int = 0
    """Timestamp of the channel_update routing used for this channel (0: a route hint's or ours)."""


@dataclass
class PendingPayment:
    """What the payer keeps to read a failure and wake the caller."""

    record: PaymentRecord
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


@dataclass(frozen=True)
class IncomingDecision:
    """How to settle an incoming HTLC: fulfill with a preimage, fail with a reason onion,
    or fail as malformed."""

    preimage: bytes | None = None
    reason: bytes | None = None
    malformed_code: int | None = None
    sha256_of_onion: bytes | None = None
    settles_invoice: bool = False
    pending: bool = False  # a forward is in flight: decide later


class Payments:
    """Outgoing payments and incoming HTLC decisions of one node."""

    def __init__(self, manager: ChannelManager) -> None:
        self.manager = manager
        self.node = manager.node
        self.store = manager.store
        self._pending: dict[bytes, PendingPayment] = {}

    # ------------------------------------------------------------------ outgoing
    async def pay(self, bolt11: Any, amount_msat: Any = None, label: Any = None, maxfeepercent: Any = 0.5,
                  retry_for: Any = None, maxdelay: Any = None, exemptfee: Any = 5000) -> dict[str, Any]:
        """Pay a BOLT 11 invoice (to a peer we have a channel with); returns the preimage."""
        if not isinstance(bolt11, str):
            raise param_error("bolt11", "expected a bolt11 string")
        try:
            invoice = bolt11_codec.decode_invoice(bolt11, network=self.node.network)
        except bolt11_codec.Bolt11Error as exc:
            raise param_error("bolt11", f"invalid invoice: {exc}") from None
        if invoice.amount_msat is None:
            if amount_msat is None:
                raise param_error("amount_msat", "required for an invoice without an amount")
            amount = _parse_msat(amount_msat)
        else:
            if amount_msat is not None:
                raise param_error("amount_msat", "must not be given: the invoice has an amount")
            amount = invoice.amount_msat
        if invoice.is_expired():
            raise RpcError(PAY_INVOICE_EXPIRED, f"Invoice expired (expired at {invoice.expires_at})")
        existing = self.store.payment(invoice.payment_hash)
        if existing is not None and existing.status == "complete":
            return _pay_result(existing)
        if existing is not None and existing.status == "pending":
            pending = self._pending.get(invoice.payment_hash)
            if pending is None:
                raise RpcError(PAY_STOPPED_RETRYING, "a payment for this hash is already pending")
            return self._result_or_raise(await asyncio.shield(pending.done))
        timeout = _positive_number(retry_for, "retry_for") if retry_for is not None else 60.0
        fee_percent = _positive_number(maxfeepercent, "maxfeepercent", allow_zero=True)
        max_fee_msat = max(int(amount * fee_percent / 100), int(_positive_number(exemptfee, "exemptfee",
                                                                                 allow_zero=True)))
        max_delay = int(_positive_number(maxdelay, "maxdelay")) if maxdelay is not None else None
        if label is not None and not isinstance(label, str):
            raise param_error("label", "expected a string")
        record = await self.send_direct(
            destination=bytes.fromhex(invoice.payee), amount_msat=amount, payment_hash=invoice.payment_hash,
            payment_secret=invoice.payment_secret, min_final_cltv_expiry=invoice.min_final_cltv_expiry,
            bolt11=bolt11, timeout=timeout, route_hints=invoice.route_hints, max_fee_msat=max_fee_msat,
            max_delay=max_delay, label=label)
        return self._result_or_raise(record)

    def _result_or_raise(self, record: PaymentRecord) -> dict[str, Any]:
        if record.status == "complete":
            return _pay_result(record)
        code = record.data.get("error_code", PAY_STOPPED_RETRYING)
        raise RpcError(code, record.failure or "payment failed")

    async def send_direct(
        self, *, destination: bytes, amount_msat: int, payment_hash: bytes, payment_secret: bytes,
        min_final_cltv_expiry: int, bolt11: str | None, timeout: float, route_hints: Any = (),
        max_fee_msat: int | None = None, max_delay: int | None = None, label: str | None = None,
    ) -> PaymentRecord:
        """Pay ``destination``: over a channel with it if we have one that can carry the amount,
        else along a route from the gossip graph; retries other routes until ``timeout``.
        Returns the settled record (complete or failed)."""
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
                                         bolt11=bolt11, deadline=deadline, label=label)
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
               plan: RetryPlan, max_fee_msat: int | None = None, max_delay: int | None = None) -> list[_Hop]:
        final_expiry = self.node.blockheight + final_cltv + CLTV_SAFETY_BLOCKS
        chan = self.manager.channel_to(destination, amount_msat)
        gossip = self._gossip()
        if chan is not None and chan.short_channel_id not in plan.exclude_channels \
                and (chan.spendable_msat() >= amount_msat or gossip is None):
            return [_Hop(destination, chan.short_channel_id, amount_msat, final_expiry)]
        if gossip is None:
            raise RpcError(PAY_ROUTE_NOT_FOUND, f"No route found: no usable channel with destination "
                                                f"{destination.hex()} for {amount_msat} msat")
        spendable = {c.short_channel_id: c.spendable_msat() for c in self.manager.usable_channels()}
        try:
            hops = gossip.find_route(destination, amount_msat, final_cltv_delta=final_cltv + CLTV_SAFETY_BLOCKS,
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
        return [_Hop(h.node_id, h.short_channel_id, h.amount_msat, h.cltv_expiry,
                     self._policy_timestamp(plan, h.short_channel_id, h.direction)) for h in hops]

    def _policy_timestamp(self, plan: RetryPlan, short_channel_id: int, direction: int) -> int:
        """Timestamp of the policy routing uses for a channel direction: the newer of the graph's
        and one a failure of this payment taught (0 if neither: a route hint)."""
        gossip = self._gossip()
        channel = gossip.graph.get_channel(short_channel_id) if gossip is not None else None
        known = [p.timestamp for p in (channel.policies[direction] if channel is not None else None,
                                       plan.policies.get((short_channel_id, direction))) if p is not None]
        return max(known, default=0)

    def _gossip(self) -> Any:
        gossip = getattr(self.node, "gossip", None)
        return gossip if gossip is not None and hasattr(gossip, "find_route") else None

    async def _attempt(self, route: list[_Hop], *, destination: bytes, amount_msat: int, payment_hash: bytes,
                       payment_secret: bytes, bolt11: str | None, deadline: float,
                       label: str | None = None) -> PaymentRecord:
        first = route[0]
        chan = self.manager.channel_by_scid(first.short_channel_id, first.node_id)
        log.debug("paying %d msat to %s (hash %s) via %s", amount_msat, destination.hex(), payment_hash.hex(),
                  " -> ".join(f"{h.node_id.hex()[:8]}@{h.short_channel_id}" for h in route))
        if chan is None:
            raise RpcError(PAY_ROUTE_NOT_FOUND, f"No route found: no usable channel {first.short_channel_id} "
                                                f"with {first.node_id.hex()}")
        payloads = []
        for i, hop in enumerate(route):
            if i + 1 < len(route):
                nxt = route[i + 1]
                payloads.append(onion.HopPayload(amt_to_forward_msat=nxt.amount_msat,
                                                 outgoing_cltv_value=nxt.cltv_expiry,
                                                 short_channel_id=nxt.short_channel_id))
            else:
                payloads.append(onion.HopPayload(amt_to_forward_msat=hop.amount_msat,
                                                 outgoing_cltv_value=hop.cltv_expiry,
                                                 payment_secret=payment_secret, total_msat=amount_msat))
        session_key = os.urandom(32)
        packet = onion.construct_onion(
            session_key, [onion.OnionHop(h.node_id, p.encode()) for h, p in zip(route, payloads, strict=True)],
            payment_hash)
        secrets = onion.hop_shared_secrets(session_key, [h.node_id for h in route])
        record = PaymentRecord(
            payment_hash=payment_hash, bolt11=bolt11, destination=destination, amount_msat=amount_msat,
            amount_sent_msat=first.amount_msat, status="pending", preimage=None, failure=None,
            created_at=int(time.time()), completed_at=None, channel_id=chan.channel_id, htlc_id=None,
            data={"shared_secrets": [s.hex() for s in secrets],
                  "route": [[h.node_id.hex(), h.short_channel_id, h.policy_timestamp] for h in route],
                  "label": label})
        done: asyncio.Future[PaymentRecord] = asyncio.get_running_loop().create_future()
        self._pending[payment_hash] = PendingPayment(record, secrets, done)
        try:
            await self.manager.add_outgoing_htlc(chan, first.amount_msat, payment_hash, first.cltv_expiry, packet,
                                                 record)
        except LocalRequestError as exc:
            self._pending.pop(payment_hash, None)
            raise RpcError(PAY_ROUTE_NOT_FOUND, f"No route found: cannot pay over channel "
                                                f"{chan.channel_id.hex() if chan.channel_id else '?'}: {exc}") \
                from None
        remaining = max(0.0, deadline - asyncio.get_running_loop().time())
        try:
            return await asyncio.wait_for(asyncio.shield(done), max(remaining, 1.0))
        except asyncio.TimeoutError:
            raise RpcError(PAY_STOPPED_RETRYING,
                           f"payment {payment_hash.hex()} still pending after the retry time") from None

    def on_fulfilled(self, htlc: Htlc, preimage: bytes) -> None:
        """Our HTLC was fulfilled: the payment is complete (persisted before waking the caller)."""
        record = self.store.payment(htlc.payment_hash)
        if record is None or record.status == "complete":
            return
        record.status = "complete"
        record.preimage = preimage
        record.completed_at = int(time.time())
        self.store.save_payment(record)
        log.info("payment %s complete", htlc.payment_hash.hex())
        self._wake(record)

    def on_failed(self, htlc: Htlc) -> None:
        """Our HTLC was removed by a failure: decode why and fail the payment."""
        record = self.store.payment(htlc.payment_hash)
        if record is None or record.status != "pending":
            return
        reason, code = self._describe_failure(record, htlc)
        record.status = "failed"
        record.failure = reason
        record.completed_at = int(time.time())
        record.data["error_code"] = code
        self.store.save_payment(record)
        log.info("payment %s failed: %s", htlc.payment_hash.hex(), reason)
        self._wake(record)

    def on_chain_timeout(self, htlc: Htlc) -> None:
        """Our HTLC was taken back on chain after its expiry: the payment failed."""
        self.on_chain_failed(htlc, f"HTLC timed out on chain at cltv_expiry {htlc.cltv_expiry}")

    def on_chain_failed(self, htlc: Htlc, why: str) -> None:
        """Our HTLC can never be fulfilled (closed channel): the payment failed."""
        record = self.store.payment(htlc.payment_hash)
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
            name = onion.FAILURE_NAMES.get(code, f"0x{code:04x}")
            return f"failed: WIRE_{name.upper()} (the peer could not read our onion)", PAY_TRY_OTHER_ROUTE
        secrets = [bytes.fromhex(s) for s in record.data.get("shared_secrets", [])]
        try:
            failure = onion.decrypt_failure_packet(secrets, htlc.removal_data.get("reason", b""))
            message = failure.decode()
        except onion.OnionError as exc:
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
        gossip = self._gossip()
        if gossip is None or short_channel_id is None:
            return
        policy = gossip.failure_update_policy(raw, short_channel_id=short_channel_id,
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

    async def listpays(self, bolt11: Any = None, payment_hash: Any = None, status: Any = None) -> dict[str, Any]:
        """Outgoing payments, optionally only those of one invoice, hash or status."""
        records = self.store.payments()
        if bolt11 is not None:
            records = [r for r in records if r.bolt11 == bolt11]
        if payment_hash is not None:
            records = [r for r in records if r.payment_hash.hex() == payment_hash]
        if status is not None:
            records = [r for r in records if r.status == status]
        return {"pays": [r.to_rpc() for r in records]}

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
            processed = onion.process_onion(htlc.onion, self.node.node_privkey, htlc.payment_hash)
        except onion.BadOnionError as exc:
            log.info("HTLC %d on %s: bad onion: %s", htlc.htlc_id, chan.channel_id.hex(), exc)
            return IncomingDecision(malformed_code=exc.failure_code, sha256_of_onion=exc.sha256_of_onion)
        except onion.InvalidOnionPayloadError as exc:
            if exc.shared_secret is None:
                return IncomingDecision(malformed_code=onion.INVALID_ONION_HMAC,
                                        sha256_of_onion=hashlib.sha256(htlc.onion).digest())
            return IncomingDecision(reason=onion.create_failure_packet(exc.shared_secret, exc.failure_message))
        except onion.OnionError:
            return IncomingDecision(malformed_code=onion.INVALID_ONION_VERSION,
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
        return self.manager.forwarding.decide(chan, htlc, payload, processed)

    def _decide_final(self, htlc: Htlc, payload: onion.HopPayload, secret: bytes) -> IncomingDecision:
        height = self.node.blockheight

        def fail(message: onion.FailureMessage, why: str) -> IncomingDecision:
            log.info("failing HTLC %d (%s): %s", htlc.htlc_id, htlc.payment_hash.hex(), why)
            return IncomingDecision(reason=onion.create_failure_packet(secret, message))

        if payload.amt_to_forward_msat > htlc.amount_msat:
            return fail(onion.failure_message(onion.FINAL_INCORRECT_HTLC_AMOUNT,
                                              incoming_htlc_amt=htlc.amount_msat),
                        f"amt_to_forward {payload.amt_to_forward_msat} > HTLC amount {htlc.amount_msat}")
        if payload.outgoing_cltv_value > htlc.cltv_expiry:
            return fail(onion.failure_message(onion.FINAL_INCORRECT_CLTV_EXPIRY, cltv_expiry=htlc.cltv_expiry),
                        f"outgoing_cltv_value {payload.outgoing_cltv_value} > cltv_expiry {htlc.cltv_expiry}")
        details = onion.failure_message(onion.INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS,
                                        htlc_msat=htlc.amount_msat, height=height)
        if payload.total_msat is not None and payload.total_msat != payload.amt_to_forward_msat:
            return fail(details, "multi-part payments are not supported")
        try:
            record = self.node.invoices.check_payment(htlc.payment_hash, payload.payment_secret,
                                                      htlc.amount_msat, htlc.cltv_expiry, height)
        except PaymentRejected as exc:
            return fail(details, str(exc))
        if record.paid_at is not None:
            return fail(details, f"invoice {record.label!r} is already paid")
        return IncomingDecision(preimage=record.payment_preimage, settles_invoice=True)


def _decode_update(raw: bytes) -> ChannelUpdate:
    """A stored channel_update (type prefix included) decoded."""
    msg = decode_message(raw)
    if not isinstance(msg, ChannelUpdate):
        raise ValueError(f"not a channel_update: {type(msg).__name__}")
    return msg


def _positive_number(value: Any, name: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (value == 0 and not allow_zero):
        raise param_error(name, f"expected a {'non-negative' if allow_zero else 'positive'} number, got {value!r}")
    return float(value)


def _parse_msat(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.endswith("msat") and value[:-4].isdigit():
        return int(value[:-4])
    raise param_error("amount_msat", f"expected a positive amount in msat, got {value!r}")


def _pay_result(record: PaymentRecord) -> dict[str, Any]:
    return {
        "payment_preimage": record.preimage.hex() if record.preimage else None,
        "payment_hash": record.payment_hash.hex(),
        "status": "complete",
        "amount_msat": record.amount_msat,
        "amount_sent_msat": record.amount_sent_msat,
        "destination": record.destination.hex(),
        "created_at": record.created_at,
        "parts": 1,
    }
