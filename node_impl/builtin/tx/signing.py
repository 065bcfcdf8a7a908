"""Signatures and witnesses for BOLT 3 transactions (BIP143; SIGHASH_ALL, and the peer's
SIGHASH_SINGLE|SIGHASH_ANYONECANPAY on anchor channels' HTLC transactions).

Layer: tx. Imports keys, tx.scripts, tx.transactions, tx.htlc_txs and tx.closing only.

Signatures are DER-encoded without the sighash byte (what BOLT 3 vectors show); the
64-byte wire form of BOLT 2 messages converts with `der_to_compact` / `compact_to_der`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

from bitcoin.core import (
    CTransaction,
    CTxInWitness,
    CTxWitness,
)
from bitcoin.core.script import (
    SIGHASH_ALL,
    SIGVERSION_WITNESS_V0,
    CScript,
    CScriptWitness,
    SignatureHash,
)
from coincurve import PrivateKey, PublicKey
from coincurve.ecdsa import cdata_to_der, der_to_cdata, deserialize_compact, serialize_compact

from .closing import ClosingTx
from .htlc_txs import HtlcTx
from .transactions import CommitmentTx, Funding, TxError


class SingleInputSpend(Protocol):
    """A built tx whose input 0 spends ``witness_script`` holding ``amount_sat``."""

    @property
    def tx(self) -> CTransaction: ...

    @property
    def witness_script(self) -> bytes: ...

    @property
    def amount_sat(self) -> int: ...


def sighash(tx: CTransaction, input_index: int, script_code: bytes, amount_sat: int,
            sighash_type: int = SIGHASH_ALL) -> bytes:
    """BIP143 (segwit v0) digest of input ``input_index``."""
    return SignatureHash(
        CScript(script_code), tx, input_index, sighash_type, amount_sat, SIGVERSION_WITNESS_V0
    )


def sign_input(
    tx: CTransaction, input_index: int, script_code: bytes, amount_sat: int, privkey: bytes,
    sighash_type: int = SIGHASH_ALL,
) -> bytes:
    """DER signature (RFC6979, low-S, no sighash byte) of a segwit v0 input."""
    digest = sighash(tx, input_index, script_code, amount_sat, sighash_type)
    return PrivateKey(privkey).sign(digest, hasher=None)


def verify_sig(
    tx: CTransaction,
    input_index: int,
    script_code: bytes,
    amount_sat: int,
    pubkey: bytes,
    signature: bytes,
    sighash_type: int = SIGHASH_ALL,
) -> bool:
    """Whether DER ``signature`` (no sighash byte) by ``pubkey`` signs the input."""
    digest = sighash(tx, input_index, script_code, amount_sat, sighash_type)
    try:
        return PublicKey(pubkey).verify(signature, digest, hasher=None)
    except (ValueError, TypeError):
        return False


def sign_tx(spend: SingleInputSpend, privkey: bytes, sighash_type: int = SIGHASH_ALL) -> bytes:
    """Sign input 0 of a commitment, HTLC or closing tx."""
    return sign_input(spend.tx, 0, spend.witness_script, spend.amount_sat, privkey, sighash_type)


def verify_tx_sig(spend: SingleInputSpend, pubkey: bytes, signature: bytes,
                  sighash_type: int = SIGHASH_ALL) -> bool:
    """Check a signature on input 0 of a commitment, HTLC or closing tx."""
    return verify_sig(spend.tx, 0, spend.witness_script, spend.amount_sat, pubkey, signature, sighash_type)


def sign_remote_htlc_tx(htlc_tx: HtlcTx, privkey: bytes) -> bytes:
    """Our signature of the peer's HTLC tx (we are its owner's "remote"): SIGHASH_ALL, or
    SIGHASH_SINGLE|SIGHASH_ANYONECANPAY on an anchor channel."""
    return sign_tx(htlc_tx, privkey, htlc_tx.remote_sighash)


def verify_remote_htlc_sig(htlc_tx: HtlcTx, pubkey: bytes, signature: bytes) -> bool:
    """Whether the peer's signature of our HTLC tx is valid, with the sighash type the
    channel type asks for."""
    return verify_tx_sig(htlc_tx, pubkey, signature, htlc_tx.remote_sighash)


def der_to_compact(signature: bytes) -> bytes:
    """DER signature -> the 64-byte ``signature`` of BOLT messages."""
    return serialize_compact(der_to_cdata(signature))


def compact_to_der(signature: bytes) -> bytes:
    """64-byte BOLT ``signature`` -> DER."""
    if len(signature) != 64:
        raise ValueError(f"compact signature must be 64 bytes, got {len(signature)}")
    return cdata_to_der(deserialize_compact(signature))


def with_sighash_byte(signature: bytes, sighash_type: int = SIGHASH_ALL) -> bytes:
    return signature + bytes([sighash_type])


def with_witnesses(tx: CTransaction, stacks: Sequence[Sequence[bytes]]) -> CTransaction:
    witness = CTxWitness([CTxInWitness(CScriptWitness(list(stack))) for stack in stacks])
    return CTransaction(
        tx.vin, tx.vout, nLockTime=tx.nLockTime, nVersion=tx.nVersion, witness=witness
    )


def funding_witness(funding: Funding, local_sig: bytes, remote_sig: bytes) -> list[bytes]:
    """Witness stack ``0 <sig for pubkey1> <sig for pubkey2> <script>``."""
    sigs = sorted(
        [(funding.local_funding_pubkey, local_sig), (funding.remote_funding_pubkey, remote_sig)]
    )
    return [b"", with_sighash_byte(sigs[0][1]), with_sighash_byte(sigs[1][1]), funding.witness_script]


def finalize_commitment_tx(
    commitment: CommitmentTx, local_sig: bytes, remote_sig: bytes
) -> CTransaction:
    """The commitment tx with its funding witness, ready to broadcast."""
    return with_witnesses(
        commitment.tx, [funding_witness(commitment.params.funding, local_sig, remote_sig)]
    )


def finalize_closing_tx(closing: ClosingTx, local_sig: bytes, remote_sig: bytes) -> CTransaction:
    """The closing tx with its funding witness, ready to broadcast."""
    return with_witnesses(closing.tx, [funding_witness(closing.funding, local_sig, remote_sig)])


def htlc_tx_witness(
    htlc_tx: HtlcTx, local_sig: bytes, remote_sig: bytes, payment_preimage: bytes | None = None
) -> list[bytes]:
    """Witness stack of the HTLC tx's input: ``0 <remotesig> <localsig> <preimage or empty>
    <script>``; HTLC-success needs the ``payment_preimage``. Our own signature is SIGHASH_ALL."""
    if htlc_tx.is_success:
        if payment_preimage is None:
            raise TxError("HTLC-success transaction needs the payment preimage")
        if hashlib.sha256(payment_preimage).digest() != htlc_tx.htlc.payment_hash:
            raise TxError("payment preimage does not match the HTLC's payment_hash")
        last = payment_preimage
    else:
        if payment_preimage is not None:
            raise TxError("HTLC-timeout transaction takes no payment preimage")
        last = b""
    return [b"", with_sighash_byte(remote_sig, htlc_tx.remote_sighash), with_sighash_byte(local_sig), last,
            htlc_tx.witness_script]


def finalize_htlc_tx(
    htlc_tx: HtlcTx, local_sig: bytes, remote_sig: bytes, payment_preimage: bytes | None = None
) -> CTransaction:
    """The HTLC tx with its witness; HTLC-success needs the ``payment_preimage``."""
    return with_witnesses(htlc_tx.tx, [htlc_tx_witness(htlc_tx, local_sig, remote_sig, payment_preimage)])
