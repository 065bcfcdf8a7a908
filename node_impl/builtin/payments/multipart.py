"""Sending multi-part payments (BOLT 4 basic_mpp): an amount no single route carries, split
across our channels; the outcomes of its parts; a failed part sent again another way.

Layer: payments. Imports channel (machine, ops, store, updates), gossip (pathfind errors),
services, wire (bolt11), core, and payments/hops and payments/gossip_view.

`plan_split` picks the parts: one per channel of ours, the channels that can send most first,
each part as large as a route through that channel carries (shrinking while none does), until
the parts add up to the amount. Every part goes out with the same payment_hash and
payment_secret and `total_msat` = the whole amount; the payee fulfills them all once they add
up. The payment's record keeps its parts in `data["parts"]` (first channel, HTLC id, amounts,
onion secrets, route, status). A part that fails inside the network is planned again, without
the channel or node that failed it, while the payment's time lasts (BOLT 4: the payer SHOULD
retry or re-divide failed parts); the payee holds the other parts meanwhile. The payment fails
once no part is in flight and none can be sent again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..channel.machine import Channel, LocalRequestError
from ..channel.ops import ChannelOps
from ..channel.store import ChannelStore, PaymentRecord
from ..channel.updates import Htlc
from ..core.jsonrpc import RpcError
from ..core.log import get_logger
from ..gossip import pathfind as routing
from ..gossip.graph import format_scid
from ..services import Services
from ..wire import bolt11 as bolt11_codec
from .gossip_view import GossipView
from .hops import Hop, build_onion

log = get_logger("pay")

SHRINK_STEPS = 8
"""How many times a part that no route through its channel carries is cut by a tenth before
the channel is passed over (a route's fees come on top of the part)."""
MIN_PART_MSAT = 1000
MAX_PART_RETRIES = 10
"""Parts one payment sends again after failures, at most (then it fails as it stands)."""
PAY_DESTINATION_PERM_FAIL = 203
PAY_TRY_OTHER_ROUTE = 204
PAY_ROUTE_NOT_FOUND = 205
PAY_STOPPED_RETRYING = 210
CLTV_SAFETY_BLOCKS = 3


@dataclass(frozen=True)
class PlannedPart:
    """One part: `amount_msat` for the payee, sent over `channel` along `route` (first hop first)."""

    channel: Channel
    amount_msat: int
    route: Sequence[Any]


def plan_split(channels: Sequence[Channel], amount_msat: int,
               route_via: Callable[[Channel, int], Sequence[Any] | None]) -> list[PlannedPart]:
    """Parts over distinct first channels adding up to `amount_msat`, or [] if our channels
    cannot carry it together. `route_via(channel, part_msat)` is a route for the part whose
    first hop is `channel`, or None."""
    parts: list[PlannedPart] = []
    remaining = amount_msat
    for chan in sorted(channels, key=lambda c: c.spendable_msat(), reverse=True):
        if remaining <= 0:
            break
        part = min(remaining, chan.spendable_msat())
        for _ in range(SHRINK_STEPS):
            if part < MIN_PART_MSAT and part < remaining:
                break
            route = route_via(chan, part)
            if route is not None:
                parts.append(PlannedPart(chan, part, route))
                remaining -= part
                break
            part = part * 9 // 10
    return parts if remaining <= 0 else []


def parts_of(record: PaymentRecord) -> dict[str, dict[str, Any]]:
    """The parts of a multi-part payment's record by number; {} for a payment in one part."""
    parts = record.data.get("parts")
    return parts if isinstance(parts, dict) else {}


def summary(record: PaymentRecord) -> tuple[str, int]:
    """Why a multi-part payment failed (each distinct failure of its parts) and the error code
    (the payee's permanent refusal if any part got one, else the first part's)."""
    failures = [p for p in parts_of(record).values() if p["status"] == "failed"]
    reasons = list(dict.fromkeys(p["failure"] for p in failures))
    codes = [p["error_code"] for p in failures]
    code = PAY_DESTINATION_PERM_FAIL if PAY_DESTINATION_PERM_FAIL in codes else (codes[0] if codes else 210)
    return f"{len(failures)} of {len(parts_of(record))} parts failed: " + "; ".join(reasons), code


@dataclass
class _Split:
    """What sending a payment's parts again needs (kept in memory while it is in flight)."""

    record: PaymentRecord
    invoice: bolt11_codec.Invoice
    max_fee_msat: int | None
    max_delay: int | None
    deadline: float
    exclude_channels: set[Any] = field(default_factory=set)
    exclude_nodes: set[bytes] = field(default_factory=set)
    retries: int = 0
    replanning: int = 0


class MultiPartSender:
    """Sends payments in parts and follows them to their outcome."""

    def __init__(self, services: Services, channels: ChannelOps, store: ChannelStore, gossip: GossipView,
                 describe_failure: Callable[[PaymentRecord, Htlc], tuple[str, int]],
                 wake: Callable[[PaymentRecord], None]) -> None:
        self.services = services
        self.channels = channels
        self.store = store
        self.gossip = gossip
        self._describe_failure = describe_failure
        self._wake = wake
        self._splits: dict[bytes, _Split] = {}

    def live(self, payment_hash: bytes) -> PaymentRecord | None:
        """The record of a payment in parts in flight (the one object every change goes to)."""
        split = self._splits.get(payment_hash)
        return split.record if split is not None else None

    async def start(self, invoice: bolt11_codec.Invoice, bolt11: str, amount_msat: int, *, label: str | None,
                    timeout_s: float, max_fee_msat: int | None, max_delay: int | None,
                    no_route: RpcError) -> PaymentRecord:
        """Split the payment and send its parts; returns its (pending) record. Raises
        RpcError(205) when no split carries it."""
        split = _Split(PaymentRecord(
            payment_hash=invoice.payment_hash, bolt11=bolt11, destination=bytes.fromhex(invoice.payee),
            amount_msat=amount_msat, amount_sent_msat=0, status="pending", preimage=None, failure=None,
            created_at=int(time.time()), completed_at=None, channel_id=None, htlc_id=None,
            data={"label": label, "attempt": 1, "parts": {}, "next_part": 0}),
            invoice, max_fee_msat, max_delay, asyncio.get_running_loop().time() + timeout_s)
        usable = self.channels.usable_channels()
        planned = plan_split(usable, amount_msat, lambda chan, msat: self._route_via(split, chan, msat))
        if len(planned) < 2:
            raise RpcError(PAY_ROUTE_NOT_FOUND, f"{no_route.message}; nor split across our {len(usable)} "
                                                "channels")
        self._splits[invoice.payment_hash] = split
        await self._launch(split, planned)
        return split.record

    def _route_via(self, split: _Split, chan: Channel, part_msat: int) -> list[Hop] | None:
        """A route for a part whose first hop is `chan`, or None."""
        scid, invoice = chan.short_channel_id, split.invoice
        destination = bytes.fromhex(invoice.payee)
        if chan.spendable_msat() < part_msat or scid is None or scid in split.exclude_channels:
            return None
        final_cltv = invoice.min_final_cltv_expiry + CLTV_SAFETY_BLOCKS
        if chan.peer_id == destination:
            return [Hop(destination, scid, part_msat, self.services.blockheight + final_cltv)]
        amount = split.record.amount_msat
        fee_share = None if split.max_fee_msat is None else split.max_fee_msat * part_msat // amount
        try:
            hops = self.gossip.find_route(destination, part_msat, final_cltv_delta=final_cltv,
                                          route_hints=invoice.route_hints, max_fee_msat=fee_share,
                                          max_delay=split.max_delay, exclude_channels=split.exclude_channels,
                                          exclude_nodes=split.exclude_nodes,
                                          local_spendable_msat={scid: chan.spendable_msat()})
        except routing.NoRouteError:
            return None
        return [Hop(h.node_id, h.short_channel_id, h.amount_msat, h.cltv_expiry) for h in hops]

    async def _launch(self, split: _Split, planned: list[PlannedPart]) -> None:
        """Offer the planned parts (each recorded, with its onion's secrets, before it leaves)."""
        record = split.record
        parts = parts_of(record)
        log.info("payment %s: sending %d part(s): %s", record.payment_hash.hex(), len(planned),
                 ", ".join(f"{p.amount_msat} msat via {format_scid(p.channel.short_channel_id or 0)}" for p in planned))
        for part in planned:
            key = str(record.data["next_part"])
            record.data["next_part"] += 1
            packet, secrets = build_onion(list(part.route), record.payment_hash, split.invoice.payment_secret,
                                          record.amount_msat)
            first = part.route[0]
            parts[key] = {"channel_id": (part.channel.channel_id or b"").hex(), "htlc_id": None,
                          "amount_msat": part.amount_msat, "sent_msat": first.amount_msat, "status": "pending",
                          "shared_secrets": [s.hex() for s in secrets],
                          "route": [[h.node_id.hex(), h.short_channel_id, h.policy_timestamp] for h in part.route]}
            record.channel_id = record.channel_id or part.channel.channel_id
            record.amount_sent_msat = sum(p["sent_msat"] for p in parts.values() if p["status"] != "failed")
            try:
                await self.channels.add_outgoing_htlc(part.channel, first.amount_msat, record.payment_hash,
                                                      first.cltv_expiry, packet, record)
            except LocalRequestError as exc:
                parts[key].update(status="failed", failure=f"failed: not sent: {exc}", error_code=PAY_TRY_OTHER_ROUTE)
                record.amount_sent_msat -= first.amount_msat
                self.store.save_payment(record)
                continue
            parts[key]["htlc_id"] = record.htlc_id  # set by add_outgoing_htlc
            self.store.save_payment(record)
        self._fail_if_over(split)

    def part_failed(self, record: PaymentRecord, channel_id: bytes | None, htlc: Htlc, why: str | None = None) -> bool:
        """One of our HTLCs failed (`why`: on chain, else decoded from its failure onion): if it
        is a part of `record`, record that, send its amount again when the failure allows, and
        fail the payment when nothing is left in flight. False: not a part of `record`."""
        parts = parts_of(record)
        key = _find_part(parts, channel_id, htlc.htlc_id)
        if key is None:
            return False
        part = parts[key]
        split = self._splits.get(record.payment_hash)
        if why is not None:
            failure, code, retry = f"failed: {why}", PAY_STOPPED_RETRYING, None
        else:
            view = dataclasses.replace(record, data={"shared_secrets": part["shared_secrets"], "route": part["route"]})
            failure, code = self._describe_failure(view, htlc)
            retry = None if view.data.get("final") else view.data.get("retry")
        part.update(status="failed", failure=failure, error_code=code)
        record.amount_sent_msat = sum(p["sent_msat"] for p in parts.values() if p["status"] != "failed")
        log.info("payment %s: part %s (%d msat) %s", record.payment_hash.hex(), key, part["amount_msat"], failure)
        if split is not None and split.record is record and retry and split.retries < MAX_PART_RETRIES \
                and asyncio.get_running_loop().time() < split.deadline:
            kind, ident = retry
            if kind == "node":
                split.exclude_nodes.add(bytes.fromhex(ident))
            else:
                split.exclude_channels.add(ident)
            split.retries += 1
            split.replanning += 1
            self.services.spawn(self._send_again(split, part["amount_msat"]), "mpp-retry")
        self.store.save_payment(record)
        if split is not None:
            self._fail_if_over(split)
        elif not any(p["status"] == "pending" for p in parts.values()):
            self._fail(record)
        return True

    async def _send_again(self, split: _Split, amount_msat: int) -> None:
        """Plan a failed part's amount again (without what failed it) and send it."""
        try:
            planned = plan_split(self.channels.usable_channels(), amount_msat,
                                 lambda chan, msat: self._route_via(split, chan, msat))
        finally:
            split.replanning -= 1
        if split.record.status != "pending" or not planned:
            log.info("payment %s: no other way for %d msat", split.record.payment_hash.hex(), amount_msat)
            self._fail_if_over(split)
            return
        split.record.data["attempt"] = int(split.record.data.get("attempt", 1)) + 1
        await self._launch(split, planned)

    def completed(self, payment_hash: bytes) -> None:
        """The payment completed: nothing more to send for it."""
        self._splits.pop(payment_hash, None)

    def _fail_if_over(self, split: _Split) -> None:
        """Fail the payment once no part is in flight and none is being planned again."""
        if split.replanning or split.record.status != "pending" \
                or any(p["status"] == "pending" for p in parts_of(split.record).values()):
            return
        self._splits.pop(split.record.payment_hash, None)
        self._fail(split.record)

    def _fail(self, record: PaymentRecord) -> None:
        record.failure, code = summary(record)
        record.status = "failed"
        record.completed_at = int(time.time())
        record.data["error_code"] = code
        self.store.save_payment(record)
        log.info("payment %s failed: %s", record.payment_hash.hex(), record.failure)
        self._wake(record)


def _find_part(parts: dict[str, dict[str, Any]], channel_id: bytes | None, htlc_id: int) -> str | None:
    """The pending part sent as HTLC `htlc_id` on `channel_id` (or the one part on that channel
    whose HTLC id was not recorded yet)."""
    cid = (channel_id or b"").hex()
    on_channel = [k for k, p in parts.items() if p["channel_id"] == cid and p["status"] == "pending"]
    exact = [k for k in on_channel if parts[k].get("htlc_id") == htlc_id]
    if exact:
        return exact[0]
    unknown = [k for k in on_channel if parts[k].get("htlc_id") is None]
    return unknown[0] if len(unknown) == 1 else None
