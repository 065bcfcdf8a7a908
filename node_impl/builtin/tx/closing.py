"""BOLT 3 legacy closing transaction (closing_signed): the funding output split between the
two sides, the opener paying the fee.

Layer: tx. Imports tx.transactions only.
"""

from __future__ import annotations

from dataclasses import dataclass

from bitcoin.core import CTransaction, CTxIn, CTxOut
from bitcoin.core.script import CScript

from .transactions import Funding, TxError

# Witness of a 2-of-2 funding input with 73-byte signatures, and marker/flag.
_FUNDING_WITNESS_WEIGHT = 224


@dataclass(frozen=True)
class ClosingTx:
    """An unsigned legacy (closing_signed) closing tx."""

    tx: CTransaction
    funding: Funding
    fee_sat: int
    local_output_index: int | None
    remote_output_index: int | None

    @property
    def witness_script(self) -> bytes:
        return self.funding.witness_script

    @property
    def amount_sat(self) -> int:
        return self.funding.amount_sat


def closing_tx_weight(local_script: bytes, remote_script: bytes) -> int:
    """Expected weight of a closing tx with both outputs and 73-byte signatures."""
    outputs_size = sum(8 + 1 + len(s) for s in (local_script, remote_script))
    base_size = 4 + 1 + 41 + 1 + outputs_size + 4
    return 4 * base_size + _FUNDING_WITNESS_WEIGHT


def build_closing_tx(
    funding: Funding,
    *,
    local_script: bytes,
    remote_script: bytes,
    to_local_msat: int,
    to_remote_msat: int,
    fee_sat: int,
    local_is_opener: bool,
    dust_limit_sat: int,
) -> ClosingTx:
    """Legacy closing tx: the opener pays ``fee_sat``; outputs below ``dust_limit_sat``
    (the signer's) are left out; BIP69 order."""
    to_local_sat = to_local_msat // 1000
    to_remote_sat = to_remote_msat // 1000
    if local_is_opener:
        to_local_sat -= fee_sat
    else:
        to_remote_sat -= fee_sat
    if fee_sat < 0:
        raise TxError(f"closing fee must not be negative, got {fee_sat} sat")
    if min(to_local_sat, to_remote_sat) < 0:
        raise TxError(f"closing fee {fee_sat} sat exceeds the opener's balance")
    entries = []
    if to_local_sat >= dust_limit_sat:
        entries.append(("local", CTxOut(to_local_sat, CScript(local_script))))
    if to_remote_sat >= dust_limit_sat:
        entries.append(("remote", CTxOut(to_remote_sat, CScript(remote_script))))
    if not entries:
        raise TxError("closing tx would have no output above the dust limit")
    entries.sort(key=lambda e: (e[1].nValue, bytes(e[1].scriptPubKey)))
    tx = CTransaction(
        [CTxIn(funding.outpoint.to_coutpoint(), nSequence=0xFFFFFFFF)],
        [e[1] for e in entries],
        nLockTime=0,
        nVersion=2,
    )
    index = {side: i for i, (side, _) in enumerate(entries)}
    return ClosingTx(
        tx=tx,
        funding=funding,
        fee_sat=funding.amount_sat - sum(e[1].nValue for e in entries),
        local_output_index=index.get("local"),
        remote_output_index=index.get("remote"),
    )
