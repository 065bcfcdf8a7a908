"""Sending multi-part payments: how an amount is split across our channels, and only for
invoices that offer basic_mpp (BOLT 11: a reader MUST NOT use it otherwise)."""
from __future__ import annotations

from types import SimpleNamespace

from lnharness.node_impl.builtin.payments.multipart import plan_split
from lnharness.node_impl.builtin.payments.pay import _accepts_parts
from lnharness.node_impl.builtin.wire import bolt11, bolt11_decode

KEY = bytes.fromhex("e126f68f7eafcc8b74f54d269fe206be715000f94dac067d1c04a8ca3b2db734")


def _chan(name: str, spendable_msat: int) -> SimpleNamespace:
    return SimpleNamespace(name=name, spendable_msat=lambda: spendable_msat)


def test_parts_take_the_largest_channels_first_until_the_amount_is_covered():
    a, b, c = _chan("a", 300_000), _chan("b", 500_000), _chan("c", 200_000)
    parts = plan_split([a, b, c], 700_000, lambda chan, msat: ["route"])
    assert [(p.channel.name, p.amount_msat) for p in parts] == [("b", 500_000), ("a", 200_000)]


def test_a_part_shrinks_until_a_route_through_its_channel_carries_it():
    # routes cost fees on top of the part: a channel carries only up to 90% of what it can send
    a, b = _chan("a", 500_000), _chan("b", 500_000)
    parts = plan_split([a, b], 800_000, lambda chan, msat: ["route"] if msat <= 450_000 else None)
    assert [p.amount_msat for p in parts] == [450_000, 350_000]
    assert sum(p.amount_msat for p in parts) == 800_000


def test_no_split_when_the_channels_together_cannot_carry_it():
    a, b = _chan("a", 300_000), _chan("b", 300_000)
    assert plan_split([a, b], 700_000, lambda chan, msat: ["route"]) == []
    assert plan_split([a, b], 500_000, lambda chan, msat: None) == []


def _invoice(features: frozenset[int]) -> bolt11.Invoice:
    text = bolt11.create_invoice(private_key=KEY, network="regtest", payment_hash=b"\x01" * 32,
                                 payment_secret=b"\x02" * 32, amount_msat=1_000, description="x",
                                 features=features)
    return bolt11_decode.decode_invoice(text, network="regtest")


def test_only_invoices_offering_basic_mpp_are_paid_in_parts():
    assert 17 in bolt11.DEFAULT_INVOICE_FEATURES  # ours offer it
    assert _accepts_parts(_invoice(frozenset({8, 14, 17})))
    assert _accepts_parts(_invoice(frozenset({8, 14, 16})))
    assert not _accepts_parts(_invoice(frozenset({8, 14})))
