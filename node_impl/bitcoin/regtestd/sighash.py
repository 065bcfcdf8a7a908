"""Signature hashes: BIP143 (segwit v0) and BIP341 key-path (taproot)."""

from __future__ import annotations

import struct

from .primitives import Tx, TxOut, dsha256, ser_bytes, sha256, tagged_hash

SIGHASH_DEFAULT = 0x00
SIGHASH_ALL = 0x01
SIGHASH_NONE = 0x02
SIGHASH_SINGLE = 0x03
SIGHASH_ANYONECANPAY = 0x80

SIGHASH_NAMES = {
    "DEFAULT": SIGHASH_DEFAULT,
    "ALL": SIGHASH_ALL,
    "NONE": SIGHASH_NONE,
    "SINGLE": SIGHASH_SINGLE,
    "ALL|ANYONECANPAY": SIGHASH_ALL | SIGHASH_ANYONECANPAY,
    "NONE|ANYONECANPAY": SIGHASH_NONE | SIGHASH_ANYONECANPAY,
    "SINGLE|ANYONECANPAY": SIGHASH_SINGLE | SIGHASH_ANYONECANPAY,
}


def p2wpkh_script_code(pubkey_hash: bytes) -> bytes:
    return b"\x76\xa9\x14" + pubkey_hash + b"\x88\xac"


def bip143_sighash(tx: Tx, input_index: int, script_code: bytes, amount_sat: int, hash_type: int) -> bytes:
    """Signature hash of a segwit v0 input."""
    base = hash_type & 0x1F
    anyone = bool(hash_type & SIGHASH_ANYONECANPAY)
    zero = b"\x00" * 32
    hash_prevouts = zero if anyone else dsha256(
        b"".join(i.prev_txid + struct.pack("<I", i.prev_vout) for i in tx.vin)
    )
    hash_sequence = zero
    if not anyone and base not in (SIGHASH_SINGLE, SIGHASH_NONE):
        hash_sequence = dsha256(b"".join(struct.pack("<I", i.sequence) for i in tx.vin))
    if base not in (SIGHASH_SINGLE, SIGHASH_NONE):
        hash_outputs = dsha256(b"".join(o.serialize() for o in tx.vout))
    elif base == SIGHASH_SINGLE and input_index < len(tx.vout):
        hash_outputs = dsha256(tx.vout[input_index].serialize())
    else:
        hash_outputs = zero
    txin = tx.vin[input_index]
    preimage = b"".join([
        struct.pack("<i", tx.version),
        hash_prevouts,
        hash_sequence,
        txin.prev_txid + struct.pack("<I", txin.prev_vout),
        ser_bytes(script_code),
        struct.pack("<q", amount_sat),
        struct.pack("<I", txin.sequence),
        hash_outputs,
        struct.pack("<I", tx.locktime),
        struct.pack("<I", hash_type),
    ])
    return dsha256(preimage)


def bip341_keypath_sighash(tx: Tx, input_index: int, spent_outputs: list[TxOut], hash_type: int) -> bytes:
    """Signature hash of a taproot key-path input (no annex)."""
    if hash_type not in (0, 1, 2, 3, 0x81, 0x82, 0x83):
        raise ValueError(f"invalid taproot sighash type {hash_type}")
    base = hash_type & 0x03
    anyone = bool(hash_type & SIGHASH_ANYONECANPAY)
    parts = [b"\x00", bytes([hash_type]), struct.pack("<i", tx.version), struct.pack("<I", tx.locktime)]
    if not anyone:
        parts.append(sha256(b"".join(i.prev_txid + struct.pack("<I", i.prev_vout) for i in tx.vin)))
        parts.append(sha256(b"".join(struct.pack("<q", o.value_sat) for o in spent_outputs)))
        parts.append(sha256(b"".join(ser_bytes(o.script_pubkey) for o in spent_outputs)))
        parts.append(sha256(b"".join(struct.pack("<I", i.sequence) for i in tx.vin)))
    if base not in (SIGHASH_NONE, SIGHASH_SINGLE):
        parts.append(sha256(b"".join(o.serialize() for o in tx.vout)))
    parts.append(b"\x00")  # spend_type: key path, no annex
    if anyone:
        txin = tx.vin[input_index]
        spent = spent_outputs[input_index]
        parts.append(txin.prev_txid + struct.pack("<I", txin.prev_vout))
        parts.append(struct.pack("<q", spent.value_sat) + ser_bytes(spent.script_pubkey))
        parts.append(struct.pack("<I", txin.sequence))
    else:
        parts.append(struct.pack("<I", input_index))
    if base == SIGHASH_SINGLE:
        if input_index >= len(tx.vout):
            raise ValueError("SIGHASH_SINGLE without matching output")
        parts.append(sha256(tx.vout[input_index].serialize()))
    return tagged_hash("TapSighash", b"".join(parts))
