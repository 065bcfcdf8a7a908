"""BOLT 3 scripts: funding 2-of-2, to_local, to_remote, HTLC outputs; script checks.

Layer: tx. Imports nothing of the node.

Every function returns the raw script bytes (python-bitcoinlib ``CScript``,
a ``bytes`` subclass). Witness scripts are wrapped into output scripts with
:func:`p2wsh`; keys are 33-byte compressed public keys.
"""

from __future__ import annotations

import hashlib

from bitcoin.core.contrib.ripemd160 import ripemd160 as _pure_python_ripemd160
from bitcoin.core.script import (
    OP_0,
    OP_1,
    OP_2,
    OP_16,
    OP_CHECKLOCKTIMEVERIFY,
    OP_CHECKMULTISIG,
    OP_CHECKSEQUENCEVERIFY,
    OP_CHECKSIG,
    OP_CHECKSIGVERIFY,
    OP_DROP,
    OP_DUP,
    OP_ELSE,
    OP_ENDIF,
    OP_EQUAL,
    OP_EQUALVERIFY,
    OP_HASH160,
    OP_IF,
    OP_IFDUP,
    OP_NOTIF,
    OP_RETURN,
    OP_SIZE,
    OP_SWAP,
    CScript,
)


def ripemd160(data: bytes) -> bytes:
    """RIPEMD-160 from OpenSSL when it has it (python-bitcoinlib's pure-Python one costs
    0.3 ms a call, and a node hashes every wallet key at start), else the pure-Python one."""
    try:
        return hashlib.new("ripemd160", data).digest()
    except ValueError:  # OpenSSL 3 without its legacy provider
        return _pure_python_ripemd160(data)


def hash160(data: bytes) -> bytes:
    """RIPEMD-160 of SHA-256, as OP_HASH160 computes it."""
    return ripemd160(hashlib.sha256(data).digest())


def _check_pubkey(pubkey: bytes, what: str) -> None:
    if len(pubkey) != 33 or pubkey[0] not in (2, 3):
        raise ValueError(f"{what} must be a 33-byte compressed public key")


def _check_hash(payment_hash: bytes) -> None:
    if len(payment_hash) != 32:
        raise ValueError(f"payment_hash must be 32 bytes, got {len(payment_hash)}")


# --- output wrappers -----------------------------------------------------------


def p2wsh(witness_script: bytes) -> CScript:
    """``OP_0 <SHA256(witness_script)>``."""
    return CScript([OP_0, hashlib.sha256(witness_script).digest()])


def p2wpkh(pubkey: bytes) -> CScript:
    """``OP_0 <HASH160(pubkey)>``."""
    _check_pubkey(pubkey, "P2WPKH pubkey")
    return CScript([OP_0, hash160(pubkey)])


def p2pkh(pubkey: bytes) -> CScript:
    """``OP_DUP OP_HASH160 <HASH160(pubkey)> OP_EQUALVERIFY OP_CHECKSIG`` (also the
    BIP143 scriptCode of a P2WPKH input)."""
    return CScript([OP_DUP, OP_HASH160, hash160(pubkey), OP_EQUALVERIFY, OP_CHECKSIG])


# --- BOLT 3 witness scripts ---------------------------------------------------------


def funding_script(pubkey_a: bytes, pubkey_b: bytes) -> CScript:
    """The 2-of-2 funding witness script, keys sorted lexicographically."""
    _check_pubkey(pubkey_a, "funding pubkey")
    _check_pubkey(pubkey_b, "funding pubkey")
    first, second = sorted((pubkey_a, pubkey_b))
    return CScript([OP_2, first, second, OP_2, OP_CHECKMULTISIG])


def to_local_script(
    revocation_pubkey: bytes, to_self_delay: int, local_delayed_pubkey: bytes
) -> CScript:
    """to_local witness script; also the output script of HTLC-timeout/success txs."""
    _check_pubkey(revocation_pubkey, "revocation_pubkey")
    _check_pubkey(local_delayed_pubkey, "local_delayedpubkey")
    if not 0 < to_self_delay < 0x10000:
        raise ValueError(f"to_self_delay {to_self_delay} outside 1..65535")
    return CScript(
        [
            OP_IF,
            revocation_pubkey,
            OP_ELSE,
            to_self_delay,
            OP_CHECKSEQUENCEVERIFY,
            OP_DROP,
            local_delayed_pubkey,
            OP_ENDIF,
            OP_CHECKSIG,
        ]
    )


def to_remote_script(remote_payment_pubkey: bytes) -> CScript:
    """to_remote output script (not anchors): P2WPKH of the remote payment key."""
    return p2wpkh(remote_payment_pubkey)


def to_remote_anchors_script(remote_payment_pubkey: bytes) -> CScript:
    """to_remote witness script with anchors: the remote payment key, spendable one block
    after the commitment confirms (``<key> OP_CHECKSIGVERIFY 1 OP_CHECKSEQUENCEVERIFY``)."""
    _check_pubkey(remote_payment_pubkey, "remotepubkey")
    return CScript([remote_payment_pubkey, OP_CHECKSIGVERIFY, 1, OP_CHECKSEQUENCEVERIFY])


def anchor_script(funding_pubkey: bytes) -> CScript:
    """to_local_anchor / to_remote_anchor witness script: the side's funding key, or anyone
    16 blocks after the commitment confirms."""
    _check_pubkey(funding_pubkey, "funding_pubkey")
    return CScript([funding_pubkey, OP_CHECKSIG, OP_IFDUP, OP_NOTIF, OP_16, OP_CHECKSEQUENCEVERIFY,
                    OP_ENDIF])


def offered_htlc_script(
    revocation_pubkey: bytes,
    local_htlc_pubkey: bytes,
    remote_htlc_pubkey: bytes,
    payment_hash: bytes,
    *,
    anchors: bool = False,
) -> CScript:
    """Witness script of an HTLC offered by the commitment owner; with ``anchors`` its
    non-revocation spends wait one block (``1 OP_CHECKSEQUENCEVERIFY OP_DROP``)."""
    _check_pubkey(revocation_pubkey, "revocation_pubkey")
    _check_pubkey(local_htlc_pubkey, "local_htlcpubkey")
    _check_pubkey(remote_htlc_pubkey, "remote_htlcpubkey")
    _check_hash(payment_hash)
    return CScript(
        [
            OP_DUP,
            OP_HASH160,
            hash160(revocation_pubkey),
            OP_EQUAL,
            OP_IF,
            OP_CHECKSIG,
            OP_ELSE,
            remote_htlc_pubkey,
            OP_SWAP,
            OP_SIZE,
            32,
            OP_EQUAL,
            OP_NOTIF,
            OP_DROP,
            2,
            OP_SWAP,
            local_htlc_pubkey,
            2,
            OP_CHECKMULTISIG,
            OP_ELSE,
            OP_HASH160,
            ripemd160(payment_hash),
            OP_EQUALVERIFY,
            OP_CHECKSIG,
            OP_ENDIF,
            *_csv_of_one(anchors),
            OP_ENDIF,
        ]
    )


def _csv_of_one(anchors: bool) -> list[int]:
    """What anchors add at the end of an HTLC script's non-revocation branch."""
    return [1, OP_CHECKSEQUENCEVERIFY, OP_DROP] if anchors else []


def received_htlc_script(
    revocation_pubkey: bytes,
    local_htlc_pubkey: bytes,
    remote_htlc_pubkey: bytes,
    payment_hash: bytes,
    cltv_expiry: int,
    *,
    anchors: bool = False,
) -> CScript:
    """Witness script of an HTLC received by the commitment owner; with ``anchors`` its
    non-revocation spends wait one block (``1 OP_CHECKSEQUENCEVERIFY OP_DROP``)."""
    _check_pubkey(revocation_pubkey, "revocation_pubkey")
    _check_pubkey(local_htlc_pubkey, "local_htlcpubkey")
    _check_pubkey(remote_htlc_pubkey, "remote_htlcpubkey")
    _check_hash(payment_hash)
    if not 0 <= cltv_expiry < 500_000_000:
        raise ValueError(f"cltv_expiry {cltv_expiry} is not a block height")
    return CScript(
        [
            OP_DUP,
            OP_HASH160,
            hash160(revocation_pubkey),
            OP_EQUAL,
            OP_IF,
            OP_CHECKSIG,
            OP_ELSE,
            remote_htlc_pubkey,
            OP_SWAP,
            OP_SIZE,
            32,
            OP_EQUAL,
            OP_IF,
            OP_HASH160,
            ripemd160(payment_hash),
            OP_EQUALVERIFY,
            2,
            OP_SWAP,
            local_htlc_pubkey,
            2,
            OP_CHECKMULTISIG,
            OP_ELSE,
            OP_DROP,
            cltv_expiry,
            OP_CHECKLOCKTIMEVERIFY,
            OP_DROP,
            OP_CHECKSIG,
            OP_ENDIF,
            *_csv_of_one(anchors),
            OP_ENDIF,
        ]
    )


# --- shutdown scriptpubkey checks ------------------------------------------------------


def is_p2wpkh(script: bytes) -> bool:
    """``OP_0 <20 bytes>``."""
    return len(script) == 22 and script[0] == OP_0 and script[1] == 20


def is_p2wsh(script: bytes) -> bool:
    """``OP_0 <32 bytes>``."""
    return len(script) == 34 and script[0] == OP_0 and script[1] == 32


def _is_future_segwit(script: bytes) -> bool:
    # OP_1..OP_16 then a single push of 2..40 bytes.
    return (
        4 <= len(script) <= 42
        and OP_1 <= script[0] <= OP_16
        and script[1] == len(script) - 2
        and 2 <= script[1] <= 40
    )


def _is_legacy(script: bytes) -> bool:
    p2pkh_form = (
        len(script) == 25
        and script[:3] == bytes([OP_DUP, OP_HASH160, 20])
        and script[23:] == bytes([OP_EQUALVERIFY, OP_CHECKSIG])
    )
    p2sh_form = (
        len(script) == 23 and script[:2] == bytes([OP_HASH160, 20]) and script[22] == OP_EQUAL
    )
    return p2pkh_form or p2sh_form


def _is_op_return(script: bytes) -> bool:
    if len(script) < 2 or script[0] != OP_RETURN:
        return False
    if 6 <= script[1] <= 75:
        return len(script) == 2 + script[1]
    if script[1] == 76 and len(script) >= 3 and 76 <= script[2] <= 80:
        return len(script) == 3 + script[2]
    return False


def is_valid_shutdown_script(
    script: bytes,
    *,
    anysegwit: bool,
    simple_close: bool = False,
    allow_legacy: bool = False,
) -> bool:
    """Whether ``script`` is an acceptable ``shutdown`` scriptpubkey (BOLT 2).

    P2WPKH and P2WSH always; segwit v1..v16 with ``option_shutdown_anysegwit``;
    ``OP_RETURN`` with ``option_simple_close``; P2PKH/P2SH only when the caller
    accepts them for backwards compatibility (``allow_legacy``).
    """
    if is_p2wpkh(script) or is_p2wsh(script):
        return True
    if anysegwit and _is_future_segwit(script):
        return True
    if simple_close and _is_op_return(script):
        return True
    return allow_legacy and _is_legacy(script)
