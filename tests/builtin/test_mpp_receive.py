"""Receiving multi-part payments (BOLT 4 basic_mpp): HTLC sets held until their total arrives,
failed together after the MPP timeout (a short one here), and the channels asked to settle."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

from lnharness.node_impl.builtin.payments.mpp_receive import COLLECTING, COMPLETE, FAILED, HtlcSets

HASH = b"\x01" * 32


class FakeChannels:
    """The ChannelOps a set needs: channels by id, and resettle (recorded)."""

    def __init__(self) -> None:
        self.resettled: list[bytes] = []

    def channel_by_id(self, channel_id: bytes) -> SimpleNamespace:
        return _chan(channel_id)

    async def resettle(self, chan: SimpleNamespace) -> None:
        self.resettled.append(chan.channel_id)


def _chan(channel_id: bytes) -> SimpleNamespace:
    return SimpleNamespace(channel_id=channel_id, temporary_channel_id=channel_id)


def _htlc(htlc_id: int) -> SimpleNamespace:
    return SimpleNamespace(payment_hash=HASH, htlc_id=htlc_id)


def _sets(timeout_s: float) -> tuple[HtlcSets, FakeChannels]:
    channels = FakeChannels()
    services = SimpleNamespace(config=SimpleNamespace(mpp_timeout_s=timeout_s),
                               spawn=lambda coro, name: asyncio.ensure_future(coro))
    return HtlcSets(services, channels), channels


def test_parts_are_held_until_the_total_arrives_then_all_fulfilled():
    async def run() -> None:
        sets, channels = _sets(timeout_s=30)
        a, b = _chan(b"A"), _chan(b"B")
        assert sets.add(a, _htlc(0), amount_msat=40_000, total_msat=100_000)[0] == COLLECTING
        assert sets.add(b, _htlc(0), amount_msat=35_000, total_msat=100_000)[0] == COLLECTING
        assert sets.decided(a, _htlc(0)) is None  # still collecting: nothing to settle
        state, why = sets.add(b, _htlc(1), amount_msat=25_000, total_msat=100_000)
        assert state == COMPLETE and "3 parts reached 100000 msat" in why
        await asyncio.sleep(0)
        assert sorted(channels.resettled) == [b"A", b"B"]  # both channels settle their parts
        assert sets.decided(a, _htlc(0))[0] == COMPLETE
        assert sets.decided(b, _htlc(0))[0] == COMPLETE
        assert sets.decided(b, _htlc(1)) is None  # fulfilled by its own add
        assert sets.settled_msat(HASH) == 100_000
    asyncio.run(run())


def test_an_incomplete_set_fails_every_part_after_the_timeout():
    async def run() -> None:
        sets, channels = _sets(timeout_s=0.2)
        a, b = _chan(b"A"), _chan(b"B")
        sets.add(a, _htlc(0), amount_msat=40_000, total_msat=100_000)
        sets.add(b, _htlc(7), amount_msat=40_000, total_msat=100_000)
        await asyncio.sleep(0.1)
        assert sets.decided(a, _htlc(0)) is None and channels.resettled == []  # not yet
        await asyncio.sleep(0.2)
        assert sorted(channels.resettled) == [b"A", b"B"]
        state, why = sets.decided(a, _htlc(0))
        assert state == FAILED and "only 80000 of 100000 msat arrived within 0.2 s" in why
        assert sets.decided(b, _htlc(7))[0] == FAILED
        assert sets.settled_msat(HASH) is None
        # the set is gone: a new attempt for the same hash starts a new set
        assert sets.add(a, _htlc(1), amount_msat=100_000, total_msat=100_000)[0] == COMPLETE
    asyncio.run(run())


def test_a_part_disagreeing_on_total_msat_fails_the_whole_set():
    async def run() -> None:
        sets, channels = _sets(timeout_s=30)
        a = _chan(b"A")
        sets.add(a, _htlc(0), amount_msat=10_000, total_msat=50_000)
        state, why = sets.add(a, _htlc(1), amount_msat=10_000, total_msat=60_000)
        assert state == FAILED and "total_msat 60000" in why
        assert sets.decided(a, _htlc(0))[0] == FAILED
    asyncio.run(run())
