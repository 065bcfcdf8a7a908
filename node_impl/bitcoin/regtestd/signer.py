"""Signing transaction inputs with known keys: P2WPKH (BIP143) and P2TR key path (BIP341)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from .keys import WalletKey
from .primitives import Tx, TxOut
from .sighash import (
    SIGHASH_ALL,
    SIGHASH_DEFAULT,
    bip143_sighash,
    bip341_keypath_sighash,
    p2wpkh_script_code,
)


def _error(txin, message: str) -> dict:
    return {
        "txid": txin.prev_txid[::-1].hex(),
        "vout": txin.prev_vout,
        "witness": [w.hex() for w in txin.witness],
        "scriptSig": txin.script_sig.hex(),
        "sequence": txin.sequence,
        "error": message,
    }


def sign_inputs(
    tx: Tx,
    spent_outputs: list[TxOut | None],
    keys: Mapping[bytes, WalletKey],
    sighash_type: int | None = None,
) -> list[dict]:
    """Sign (in place) every input whose spent script has a key; bitcoind-style errors for the rest.

    sighash_type None means bitcoind's "DEFAULT": SIGHASH_DEFAULT for taproot, ALL for segwit v0.
    """
    errors = []
    all_known = all(o is not None for o in spent_outputs)
    for index, (txin, spent) in enumerate(zip(tx.vin, spent_outputs, strict=True)):
        key = keys.get(spent.script_pubkey) if spent is not None else None
        if key is None or spent is None:
            if not txin.witness and not txin.script_sig:
                message = ("Input not found or already spent" if spent is None
                           else "Unable to sign input, invalid stack size (possibly missing key)")
                errors.append(_error(txin, message))
            continue
        if key.kind == "bech32":
            hash_type = SIGHASH_ALL if sighash_type in (None, SIGHASH_DEFAULT) else sighash_type
            script_code = p2wpkh_script_code(spent.script_pubkey[2:])
            digest = bip143_sighash(tx, index, script_code, spent.value_sat, hash_type)
            txin.witness = [key.sign_ecdsa(digest) + bytes([hash_type]), key.pubkey]
        else:
            if not all_known:
                errors.append(_error(txin, "Unable to sign input: taproot needs every spent output"))
                continue
            hash_type = SIGHASH_DEFAULT if sighash_type is None else sighash_type
            known = [o for o in spent_outputs if o is not None]
            digest = bip341_keypath_sighash(tx, index, known, hash_type)
            signature = key.sign_schnorr_keypath(digest, os.urandom(32))
            txin.witness = [signature if hash_type == SIGHASH_DEFAULT else signature + bytes([hash_type])]
        tx.invalidate()
    return errors
