"""Our own sweeps and penalty spends: outputs we spend alone with one signature.

Layer: tx. Imports keys, tx.scripts, tx.transactions and tx.signing only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bitcoin.core import (
    CTransaction,
    CTxIn,
    CTxOut,
)
from bitcoin.core.script import (
    CScript,
)

from ..keys.derivation import pubkey_of
from .scripts import (
    anchor_script,
    p2pkh,
    to_remote_anchors_script,
)
from .signing import sign_input, with_sighash_byte, with_witnesses
from .transactions import ANCHOR_OUTPUT_SAT, MAX_SIG_LEN, Outpoint, TxError, tx_weight

CSV_OF_ONE = 1
"""nSequence of an input spending an anchor channel's to_remote or HTLC output (BOLT 3)."""


@dataclass(frozen=True)
class SpendInput:
    """An output we can spend alone with one signature.

    The witness is ``<sig> *witness_after_sig <witness_script>``, or
    ``<sig> <pubkey>`` for P2WPKH (``witness_script`` None). ``locktime`` is the
    minimum nLockTime the spending tx needs.
    """

    outpoint: Outpoint
    amount_sat: int
    privkey: bytes
    witness_script: bytes | None
    witness_after_sig: tuple[bytes, ...] = ()
    sequence: int = 0xFFFFFFFD
    locktime: int = 0

    @property
    def script_code(self) -> bytes:
        if self.witness_script is None:
            return p2pkh(pubkey_of(self.privkey))
        return self.witness_script

    def witness(self, signature: bytes) -> list[bytes]:
        if self.witness_script is None:
            return [with_sighash_byte(signature), pubkey_of(self.privkey)]
        return [with_sighash_byte(signature), *self.witness_after_sig, self.witness_script]

    @property
    def witness_weight(self) -> int:
        """Weight of this input's witness, counting a 73-byte signature."""
        return stack_weight(self.witness(b"\x30" * (MAX_SIG_LEN - 1)))


def stack_weight(stack: Sequence[bytes]) -> int:
    """Serialized size (= weight) of one input's witness stack."""
    return _compact_size(len(stack)) + sum(_compact_size(len(item)) + len(item) for item in stack)


def _compact_size(n: int) -> int:
    return 1 if n < 0xFD else 3 if n <= 0xFFFF else 5


def p2wpkh_spend(outpoint: Outpoint, amount_sat: int, privkey: bytes) -> SpendInput:
    """Spend a P2WPKH output, e.g. our to_remote output on the peer's commitment
    (``privkey`` = our payment_basepoint secret) or a wallet coin."""
    return SpendInput(outpoint, amount_sat, privkey, None)


def to_remote_anchors_spend(outpoint: Outpoint, amount_sat: int, payment_privkey: bytes) -> SpendInput:
    """Spend our to_remote output on the peer's anchor-channel commitment (P2WSH, one block
    after it confirmed); ``payment_privkey`` = our payment_basepoint secret."""
    script = to_remote_anchors_script(pubkey_of(payment_privkey))
    return SpendInput(outpoint, amount_sat, payment_privkey, script, (), sequence=CSV_OF_ONE)


def anchor_spend(outpoint: Outpoint, funding_privkey: bytes) -> SpendInput:
    """Spend our 330-sat anchor output with our funding key (CPFP of the commitment)."""
    script = anchor_script(pubkey_of(funding_privkey))
    return SpendInput(outpoint, ANCHOR_OUTPUT_SAT, funding_privkey, script, ())


def to_local_spend(
    outpoint: Outpoint,
    amount_sat: int,
    witness_script: bytes,
    delayed_privkey: bytes,
    to_self_delay: int,
) -> SpendInput:
    """Spend our to_local (or HTLC tx) output after ``to_self_delay`` blocks (CSV)."""
    return SpendInput(
        outpoint, amount_sat, delayed_privkey, witness_script, (b"",), sequence=to_self_delay
    )


def revoked_to_local_spend(
    outpoint: Outpoint, amount_sat: int, witness_script: bytes, revocation_privkey: bytes
) -> SpendInput:
    """Penalty: take a revoked to_local (or HTLC tx) output with the revocation key."""
    return SpendInput(outpoint, amount_sat, revocation_privkey, witness_script, (b"\x01",))


def revoked_htlc_spend(
    outpoint: Outpoint, amount_sat: int, witness_script: bytes, revocation_privkey: bytes
) -> SpendInput:
    """Penalty: take an HTLC output of a revoked commitment with the revocation key."""
    return SpendInput(
        outpoint, amount_sat, revocation_privkey, witness_script, (pubkey_of(revocation_privkey),)
    )


def htlc_preimage_spend(
    outpoint: Outpoint,
    amount_sat: int,
    witness_script: bytes,
    htlc_privkey: bytes,
    payment_preimage: bytes,
    *,
    anchors: bool = False,
) -> SpendInput:
    """Claim, with the preimage, an HTLC the peer offered us on its own commitment (one
    block after it confirmed, with ``anchors``)."""
    return SpendInput(outpoint, amount_sat, htlc_privkey, witness_script, (payment_preimage,),
                      sequence=CSV_OF_ONE if anchors else 0xFFFFFFFD)


def htlc_timeout_spend(
    outpoint: Outpoint,
    amount_sat: int,
    witness_script: bytes,
    htlc_privkey: bytes,
    cltv_expiry: int,
    *,
    anchors: bool = False,
) -> SpendInput:
    """Take back, after ``cltv_expiry``, an HTLC we offered, from the peer's commitment (and
    one block after it confirmed, with ``anchors``)."""
    return SpendInput(
        outpoint, amount_sat, htlc_privkey, witness_script, (b"",), locktime=cltv_expiry,
        sequence=CSV_OF_ONE if anchors else 0xFFFFFFFD,
    )


def dust_threshold_sat(script_pubkey: bytes) -> int:
    """Bitcoin Core's dust threshold for an output paying ``script_pubkey`` (BOLT 3 table)."""
    s = bytes(script_pubkey)
    if len(s) == 22 and s[:2] == b"\x00\x14":
        return 294
    if len(s) == 34 and s[:2] == b"\x00\x20":
        return 330
    if len(s) == 25 and s[:3] == b"\x76\xa9\x14":
        return 546
    if len(s) == 23 and s[:2] == b"\xa9\x14":
        return 540
    if s[:1] == b"\x6a":
        return 0
    return 354


def _sweep_tx(spends: Sequence[SpendInput], dest_script: bytes, amount_sat: int) -> CTransaction:
    return CTransaction(
        [CTxIn(s.outpoint.to_coutpoint(), nSequence=s.sequence) for s in spends],
        [CTxOut(amount_sat, CScript(dest_script))],
        nLockTime=max(s.locktime for s in spends),
        nVersion=2,
    )


def sweep_weight(spends: Sequence[SpendInput], dest_script: bytes) -> int:
    """Weight of the sweep tx, counting 73-byte signatures."""
    tx = _sweep_tx(spends, dest_script, 0)
    dummy = b"\x30" * (MAX_SIG_LEN - 1)
    return tx_weight(with_witnesses(tx, [s.witness(dummy) for s in spends]))


def build_sweep_tx(
    spends: Sequence[SpendInput], dest_script: bytes, feerate_per_kw: int
) -> CTransaction:
    """A signed tx moving every ``spends`` output to ``dest_script``, paying
    ``feerate_per_kw``; raises TxError if what is left is dust."""
    if not spends:
        raise TxError("sweep needs at least one input")
    fee_sat = feerate_per_kw * sweep_weight(spends, dest_script) // 1000
    amount_sat = sum(s.amount_sat for s in spends) - fee_sat
    if amount_sat < dust_threshold_sat(dest_script):
        raise TxError(
            f"sweep of {sum(s.amount_sat for s in spends)} sat at {feerate_per_kw} sat/kw "
            f"leaves {amount_sat} sat, below dust"
        )
    tx = _sweep_tx(spends, dest_script, amount_sat)
    stacks = [
        s.witness(sign_input(tx, i, s.script_code, s.amount_sat, s.privkey))
        for i, s in enumerate(spends)
    ]
    return with_witnesses(tx, stacks)
