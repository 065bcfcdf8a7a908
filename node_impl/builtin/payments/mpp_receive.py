"""Receiving multi-part payments (BOLT 4 basic_mpp): HTLC sets held until their total arrives.

Layer: payments. Imports channel (ops, machine, updates), services, core.

Every incoming HTLC whose final payload says `total_msat` above its own `amt_to_forward` joins
the set of its payment hash. Nothing in a set is fulfilled until the parts add up to
`total_msat`; then every part is (the channels holding them are asked to decide again). A set
whose total has not arrived `--mpp-timeout` seconds (60 by default) after its first part fails
every part with `mpp_timeout`, and so does a part that disagrees on `total_msat`. Sets live in
memory: after a restart the undecided HTLCs are decided again and the sets collected anew.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..channel.machine import Channel
from ..channel.ops import ChannelOps
from ..channel.updates import Htlc
from ..core.log import get_logger
from ..services import Services

log = get_logger("mpp")

COLLECTING = "collecting"
COMPLETE = "complete"
FAILED = "failed"

_KEEP_SETTLED = 1000  # totals of completed sets kept for invoice_settled


@dataclass
class HtlcSet:
    """The parts of one multi-part payment we hold, and what became of the set."""

    payment_hash: bytes
    total_msat: int
    parts: dict[tuple[bytes, int], int] = field(default_factory=dict)  # (channel_id, htlc_id) -> msat
    state: str = COLLECTING
    why: str = ""
    timer: asyncio.TimerHandle | None = None

    @property
    def received_msat(self) -> int:
        return sum(self.parts.values())


class HtlcSets:
    """The HTLC sets of the multi-part payments being received."""

    def __init__(self, services: Services, channels: ChannelOps) -> None:
        self.services = services
        self.channels = channels
        self._sets: dict[bytes, HtlcSet] = {}
        self._settled: dict[bytes, int] = {}  # payment hash -> msat received by a completed set

    def decided(self, chan: Channel, htlc: Htlc) -> tuple[str, str] | None:
        """(COMPLETE: fulfill it, or FAILED: fail it; why) for a part of a set that was decided;
        the part leaves the set. None: the HTLC is in no decided set."""
        held = self._sets.get(htlc.payment_hash)
        if held is None or held.state == COLLECTING or _key(chan, htlc) not in held.parts:
            return None
        self._take(held, _key(chan, htlc))
        return held.state, held.why

    def add(self, chan: Channel, htlc: Htlc, *, amount_msat: int, total_msat: int) -> tuple[str, str]:
        """Put a part in its set; returns the set's state afterwards and why: COLLECTING (hold
        the part), COMPLETE (the parts reached `total_msat`: fulfill them all) or FAILED (fail
        them all). A decided part leaves the set (its caller settles it now)."""
        held = self._sets.get(htlc.payment_hash)
        if held is None or held.state != COLLECTING and not held.parts:
            held = HtlcSet(htlc.payment_hash, total_msat)
            self._sets[htlc.payment_hash] = held
            held.timer = asyncio.get_running_loop().call_later(
                self.services.config.mpp_timeout_s, self._time_out, held)
        held.parts[_key(chan, htlc)] = amount_msat
        if held.state != COLLECTING:
            self._take(held, _key(chan, htlc))
            return held.state, held.why
        if total_msat != held.total_msat:
            self._finish(held, FAILED, f"a part says total_msat {total_msat}, the first said {held.total_msat}")
        elif held.received_msat >= held.total_msat:
            self._settled[held.payment_hash] = held.received_msat
            while len(self._settled) > _KEEP_SETTLED:
                self._settled.pop(next(iter(self._settled)))
            self._finish(held, COMPLETE, f"{len(held.parts)} parts reached {held.total_msat} msat")
        else:
            log.info("payment %s: holding part %d on %s (%d of %d msat in %d parts)", htlc.payment_hash.hex(),
                     htlc.htlc_id, _cid(chan), held.received_msat, held.total_msat, len(held.parts))
        if held.state != COLLECTING:
            self._take(held, _key(chan, htlc))
        return held.state, held.why

    def _take(self, held: HtlcSet, key: tuple[bytes, int]) -> None:
        """A decided part leaves its set; the set goes once empty."""
        held.parts.pop(key, None)
        if not held.parts and self._sets.get(held.payment_hash) is held:
            del self._sets[held.payment_hash]

    def settled_msat(self, payment_hash: bytes) -> int | None:
        """What a completed set received (for the invoice it paid), if one did."""
        return self._settled.get(payment_hash)

    def _time_out(self, held: HtlcSet) -> None:
        if held.state == COLLECTING and self._sets.get(held.payment_hash) is held:
            self._finish(held, FAILED, f"only {held.received_msat} of {held.total_msat} msat arrived within "
                                       f"{self.services.config.mpp_timeout_s:g} s (mpp_timeout)")

    def _finish(self, held: HtlcSet, state: str, why: str) -> None:
        """Decide the whole set; the channels holding its parts settle them."""
        held.state, held.why = state, why
        if held.timer is not None:
            held.timer.cancel()
        log.info("payment %s: multi-part set %s: %s", held.payment_hash.hex(), state, why)
        for channel_id in {channel_id for channel_id, _ in held.parts}:
            chan = self.channels.channel_by_id(channel_id)
            if chan is not None:
                self.services.spawn(self.channels.resettle(chan), f"mpp-{state}")


def _key(chan: Channel, htlc: Htlc) -> tuple[bytes, int]:
    return (chan.channel_id or b"", htlc.htlc_id)


def _cid(chan: Channel) -> str:
    return (chan.channel_id or chan.temporary_channel_id).hex()
