"""What a channel's commitments cost the opener: trimming, base fee, anchors, and the fee rates
it can afford (BOLT 2 update_fee, BOLT 3 "Fee Calculation" and "Fee Payment").

The opener pays the commitment's base fee and, with `option_anchors`, the two 330-sat anchor
outputs, from its own balance, and must keep the reserve the peer asked of it. The opener's
`update_fee` follows the chain's fee estimate within what it can afford; the receiver checks
that the opener can still pay the fee.

Layer: channel. Imports tx and channel.updates only.
"""

from __future__ import annotations

from ..tx import transactions as tx
from .updates import CommitmentView

MIN_FEERATE_PER_KW = 253
"""BOLT 2's floor (1 sat/vbyte rounded up to weight units): no commitment pays less."""
MAX_FEERATE_PER_KW = 1_000_000
"""What a receiver calls unreasonably large."""
ANCHOR_MAX_COMMITMENT_FEERATE_PER_KW = 2_500
"""With anchors the commitment's fee rate only needs to get it into mempools: the opener
caps its update_fee here (10 sat/vbyte, LND's default) and a force close pays the rest
through the anchor (CPFP)."""
FEE_UPDATE_MIN_CHANGE = 0.1
"""The opener sends update_fee only when the rate it wants differs from the current one by
at least this fraction (estimates wobble; every update costs a signature round trip)."""


def is_trimmed(offered_by_owner: bool, amount_msat: int, dust_limit_sat: int, feerate_per_kw: int,
               *, anchors: bool) -> bool:
    """Whether an HTLC gets no output on its owner's commitment (BOLT 3 "Trimmed Outputs")."""
    direction = tx.HtlcDirection.OFFERED if offered_by_owner else tx.HtlcDirection.RECEIVED
    fee_sat = tx.htlc_tx_fee_sat(direction, feerate_per_kw, anchors=anchors)
    return amount_msat // 1000 < dust_limit_sat + fee_sat


def untrimmed_htlcs(view: CommitmentView, dust_limit_sat: int, feerate_per_kw: int, *, anchors: bool) -> int:
    """How many HTLCs of ``view`` (its owner's commitment) get an output at ``feerate_per_kw``."""
    return sum(1 for h in view.htlcs
               if not is_trimmed(h.offerer == view.side, h.amount_msat, dust_limit_sat, feerate_per_kw,
                                 anchors=anchors))


def opener_cost_sat(feerate_per_kw: int, num_untrimmed_htlcs: int, *, anchors: bool) -> int:
    """What a commitment takes from the opener's balance: the base fee, and the anchors."""
    anchors_sat = 2 * tx.ANCHOR_OUTPUT_SAT if anchors else 0
    return tx.commitment_fee_sat(feerate_per_kw, num_untrimmed_htlcs, anchors=anchors) + anchors_sat


def opener_shortfall_msat(view: CommitmentView, *, opener_msat: int, dust_limit_sat: int,
                          feerate_per_kw: int, reserve_sat: int, anchors: bool) -> int:
    """How much the opener lacks to pay commitment ``view`` at ``feerate_per_kw`` and keep
    ``reserve_sat`` (0 when it can)."""
    untrimmed = untrimmed_htlcs(view, dust_limit_sat, feerate_per_kw, anchors=anchors)
    needed_msat = (opener_cost_sat(feerate_per_kw, untrimmed, anchors=anchors) + reserve_sat) * 1000
    return max(0, needed_msat - opener_msat)


def highest_affordable_feerate(views: list[tuple[CommitmentView, int, int]], *, reserve_sat: int,
                               anchors: bool, up_to: int) -> int | None:
    """The highest fee rate, at most ``up_to``, at which the opener pays every commitment of
    ``views`` [(view, opener's balance in it, its owner's dust limit)] and keeps
    ``reserve_sat``; None when it cannot even pay the floor."""
    def affordable(rate: int) -> bool:
        return all(opener_shortfall_msat(view, opener_msat=opener_msat, dust_limit_sat=dust,
                                         feerate_per_kw=rate, reserve_sat=reserve_sat, anchors=anchors) == 0
                   for view, opener_msat, dust in views)

    low, high = MIN_FEERATE_PER_KW, max(MIN_FEERATE_PER_KW, up_to)
    if not affordable(low):
        return None
    while low < high:  # the cost grows with the rate (trimming only ever lowers it a little)
        middle = (low + high + 1) // 2
        if affordable(middle):
            low = middle
        else:
            high = middle - 1
    return low


def commitment_feerate_target(estimate_per_kw: int, *, anchors: bool) -> int:
    """The commitment fee rate the opener wants for a chain estimate: the estimate (at least
    the floor); with anchors at most ANCHOR_MAX_COMMITMENT_FEERATE_PER_KW."""
    target = max(MIN_FEERATE_PER_KW, estimate_per_kw)
    return min(target, ANCHOR_MAX_COMMITMENT_FEERATE_PER_KW) if anchors else target


def worth_updating(current_per_kw: int, wanted_per_kw: int) -> bool:
    """Whether moving from ``current_per_kw`` to ``wanted_per_kw`` is worth an update_fee."""
    return abs(wanted_per_kw - current_per_kw) >= FEE_UPDATE_MIN_CHANGE * current_per_kw
