"""Input script verification through libbitcoinkernel."""

from __future__ import annotations

import ctypes

import pbk
import pbk.capi.bindings as _k
from pbk.script import PrecomputedTransactionData

from .primitives import Tx, TxOut

VERIFY_FLAGS = pbk.ScriptVerificationFlags.ALL


def _kernel_tx(raw: bytes) -> pbk.Transaction:
    buf = (ctypes.c_ubyte * len(raw)).from_buffer_copy(raw)
    ptr = _k.btck_transaction_create(buf, len(raw))
    if not ptr:
        raise ValueError("kernel could not parse transaction")
    return pbk.Transaction._from_handle(ptr)


def _kernel_spk(spk: bytes) -> pbk.ScriptPubkey:
    buf = (ctypes.c_ubyte * max(len(spk), 1)).from_buffer_copy(spk or b"\x00")
    ptr = _k.btck_script_pubkey_create(buf, len(spk))
    if not ptr:
        raise ValueError("kernel could not create script")
    return pbk.ScriptPubkey._from_handle(ptr)


def first_failing_input(tx: Tx, spent_outputs: list[TxOut]) -> int | None:
    """Index of the first input whose script fails consensus verification, None when all pass."""
    ktx = _kernel_tx(tx.serialize())
    spks = [_kernel_spk(out.script_pubkey) for out in spent_outputs]
    kouts = [pbk.TransactionOutput(spk, out.value_sat) for spk, out in zip(spks, spent_outputs, strict=True)]
    precomputed = PrecomputedTransactionData(ktx, kouts)
    for index, (spk, out) in enumerate(zip(spks, spent_outputs, strict=True)):
        try:
            ok = spk.verify(out.value_sat, ktx, precomputed, index, VERIFY_FLAGS)
        except pbk.ScriptVerifyException:
            ok = False
        if not ok:
            return index
    return None
