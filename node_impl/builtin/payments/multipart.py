"""Sending multi-part payments (BOLT 4 basic_mpp): an amount no single route carries, split
across our channels, and the outcomes of its parts.

Layer: payments. Imports channel (machine, store) only.

`plan_split` picks the parts: one per channel of ours, the channels that can send most first,
each part as large as a route through that channel carries (shrinking while none does), until
the parts add up to the amount. Every part goes out with the same payment_hash and
payment_secret and `total_msat` = the whole amount; the payee fulfills them all once they add
up. The payment's record keeps the parts (by first channel) in `data["parts"]`; `part_failed`
records one part's failure and says when none is left in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..channel.machine import Channel
from ..channel.store import PaymentRecord

SHRINK_STEPS = 8
"""How many times a part that no route through its channel carries is cut by a tenth before
the channel is passed over (a route's fees come on top of the part)."""
MIN_PART_MSAT = 1000


@dataclass(frozen=True)
class PlannedPart:
    """One part: `amount_msat` for the payee, sent over `channel` along `route` (the
    route-finder's hops, first hop first)."""

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
    """The parts of a multi-part payment's record by first channel id (hex); {} for one part."""
    parts = record.data.get("parts")
    return parts if isinstance(parts, dict) else {}


def part_failed(record: PaymentRecord, channel_id: bytes | None, failure: str, error_code: int) -> bool | None:
    """Record that the part sent over `channel_id` failed. None: not a part of this record (or
    already resolved); True: no part is left in flight, the payment has failed; False: others are."""
    part = parts_of(record).get(channel_id.hex() if channel_id else "")
    if part is None or part["status"] != "pending":
        return None
    part.update(status="failed", failure=failure, error_code=error_code)
    return not any(p["status"] == "pending" for p in parts_of(record).values())


def summary(record: PaymentRecord) -> tuple[str, int]:
    """Why a multi-part payment failed (each distinct failure of its parts) and the error code
    (the payee's permanent refusal if any part got one, else the first part's)."""
    failures = [p for p in parts_of(record).values() if p["status"] == "failed"]
    reasons = list(dict.fromkeys(p["failure"] for p in failures))
    codes = [p["error_code"] for p in failures]
    code = 203 if 203 in codes else (codes[0] if codes else 210)
    return f"{len(failures)} of {len(parts_of(record))} parts failed: " + "; ".join(reasons), code
