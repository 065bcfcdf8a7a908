"""BOLT 3 HTLC-timeout and HTLC-success transactions (second stage of an HTLC output of the
owner's commitment).

Layer: tx. Imports tx.scripts and tx.transactions only.

Without anchors they pay their own fee (feerate_per_kw x 663 / 703 weight). With
``option_anchors`` they pay none, their input waits one block (nSequence 1) and the peer
signs them SIGHASH_SINGLE|SIGHASH_ANYONECANPAY, so whoever broadcasts one adds inputs and
outputs to pay its fee (BOLT 5 "Generation of HTLC Transactions").
"""

from __future__ import annotations

from dataclasses import dataclass

from bitcoin.core import COutPoint, CTransaction, CTxIn, CTxOut
from bitcoin.core.script import SIGHASH_ALL, SIGHASH_ANYONECANPAY, SIGHASH_SINGLE

from .scripts import p2wsh, to_local_script
from .transactions import (
    CommitmentOutput,
    CommitmentTx,
    Htlc,
    HtlcDirection,
    TxError,
    htlc_tx_fee_sat,
)

ANCHORS_REMOTE_SIGHASH = SIGHASH_SINGLE | SIGHASH_ANYONECANPAY


@dataclass(frozen=True)
class HtlcTx:
    """An unsigned HTLC-timeout (offered HTLC) or HTLC-success (received HTLC) tx."""

    tx: CTransaction
    htlc: Htlc
    htlc_index: int
    commitment_output_index: int
    witness_script: bytes
    amount_sat: int
    output_witness_script: bytes
    anchors: bool = False

    @property
    def is_success(self) -> bool:
        return self.htlc.direction is HtlcDirection.RECEIVED

    @property
    def remote_sighash(self) -> int:
        """The sighash type of the signature the commitment owner's peer gives for it."""
        return ANCHORS_REMOTE_SIGHASH if self.anchors else SIGHASH_ALL


def build_htlc_tx(commitment: CommitmentTx, output: CommitmentOutput) -> HtlcTx:
    """The second-stage tx spending HTLC ``output`` of ``commitment``."""
    htlc = output.htlc
    if htlc is None or output.witness_script is None or output.htlc_index is None:
        raise TxError(f"commitment output {output.index} ({output.kind.value}) is not an HTLC")
    keys = commitment.keys
    anchors = commitment.params.anchors
    out_script = to_local_script(
        keys.revocation_pubkey, commitment.params.to_self_delay, keys.local_delayed_pubkey
    )
    fee_sat = htlc_tx_fee_sat(htlc.direction, commitment.feerate_per_kw, anchors=anchors)
    if output.amount_sat - fee_sat <= 0:
        raise TxError(
            f"HTLC output {output.index} of {output.amount_sat} sat cannot pay {fee_sat} sat fee"
        )
    locktime = htlc.cltv_expiry if htlc.direction is HtlcDirection.OFFERED else 0
    tx = CTransaction(
        [CTxIn(COutPoint(commitment.txid, output.index), nSequence=1 if anchors else 0)],
        [CTxOut(output.amount_sat - fee_sat, p2wsh(out_script))],
        nLockTime=locktime,
        nVersion=2,
    )
    return HtlcTx(
        tx=tx,
        htlc=htlc,
        htlc_index=output.htlc_index,
        commitment_output_index=output.index,
        witness_script=output.witness_script,
        amount_sat=output.amount_sat,
        output_witness_script=out_script,
        anchors=anchors,
    )


def build_htlc_txs(commitment: CommitmentTx) -> list[HtlcTx]:
    """HTLC txs of every HTLC output, in output order (the ``htlc_signatures`` order)."""
    return [build_htlc_tx(commitment, out) for out in commitment.htlc_outputs]
