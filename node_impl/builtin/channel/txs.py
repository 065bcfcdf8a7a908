"""The channel's view of BOLT 3 transactions: thin glue over transactions.py and keys.py.

Builds a side's commitment from balances and HTLCs, signs and verifies the
funding input and HTLC transactions in the 64-byte wire form, and finishes
closing and commitment transactions for broadcast.

Layer: channel. Imports wire, keys, tx, core only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bitcoin.core import b2lx, b2x

from ..keys.derivation import Basepoints, derive_commitment_keys, derive_privkey, derive_pubkey
from ..tx import closing as closing_txs
from ..tx import htlc_txs, signing
from ..tx import transactions as tx
from ..tx.scripts import funding_script as _funding_script
from ..tx.scripts import is_valid_shutdown_script as _is_valid_shutdown_script

# Weight of a closing tx with two P2WPKH/P2TR outputs (what fees are estimated with).
CLOSING_WEIGHT = closing_txs.closing_tx_weight(bytes(22), bytes(34))


def funding_script(pubkey_a: bytes, pubkey_b: bytes) -> bytes:
    """The 2-of-2 witness script of the funding output."""
    return bytes(_funding_script(pubkey_a, pubkey_b))


def funding_output_script(pubkey_a: bytes, pubkey_b: bytes) -> bytes:
    """The P2WSH scriptPubKey of the funding output."""
    return bytes(tx.funding_output(pubkey_a, pubkey_b, 0).scriptPubKey)


def is_valid_shutdown_script(script: bytes) -> bool:
    return _is_valid_shutdown_script(script, anysegwit=True)


@dataclass(frozen=True)
class CommitmentHtlc:
    """An HTLC as the commitment owner sees it; ``key`` identifies it in the update log."""

    offered_by_owner: bool
    amount_msat: int
    payment_hash: bytes
    cltv_expiry: int
    key: Any


@dataclass(frozen=True)
class Commitment:
    """A built commitment tx and, per HTLC output (output order), the log key of its HTLC."""

    built: tx.CommitmentTx
    htlc_keys: tuple[Any, ...]

    @property
    def tx(self) -> Any:
        return self.built.tx

    @property
    def txid_hex(self) -> str:
        return b2lx(self.built.txid)


def build_commitment(
    *,
    funding_txid: bytes,
    funding_outnum: int,
    funding_sat: int,
    owner: Basepoints,
    other: Basepoints,
    per_commitment_point: bytes,
    owner_is_opener: bool,
    opener_payment_basepoint: bytes,
    acceptor_payment_basepoint: bytes,
    commitment_number: int,
    to_self_delay: int,
    dust_limit_sat: int,
    feerate_per_kw: int,
    owner_msat: int,
    other_msat: int,
    htlcs: Sequence[CommitmentHtlc],
    anchors: bool,
) -> Commitment:
    """The commitment tx held by ``owner`` (``anchors``: the channel type is option_anchors)."""
    funding = tx.Funding(tx.Outpoint(funding_txid, funding_outnum), funding_sat,
                         owner.funding_pubkey, other.funding_pubkey)
    params = tx.CommitmentParams(
        funding=funding,
        obscuring_factor=tx.obscuring_factor(opener_payment_basepoint, acceptor_payment_basepoint),
        to_self_delay=to_self_delay,
        dust_limit_sat=dust_limit_sat,
        local_is_opener=owner_is_opener,
        anchors=anchors,
    )
    keys = derive_commitment_keys(owner, other, per_commitment_point)
    tx_htlcs = [
        tx.Htlc(tx.HtlcDirection.OFFERED if h.offered_by_owner else tx.HtlcDirection.RECEIVED,
                h.amount_msat, h.payment_hash, h.cltv_expiry)
        for h in htlcs
    ]
    built = tx.build_commitment_tx(params, keys, commitment_number=commitment_number,
                                   to_local_msat=owner_msat, to_remote_msat=other_msat,
                                   feerate_per_kw=feerate_per_kw, htlcs=tx_htlcs)
    htlc_keys = tuple(htlcs[out.htlc_index].key for out in built.htlc_outputs if out.htlc_index is not None)
    return Commitment(built, htlc_keys)


def _spend_of(item: Commitment | closing_txs.ClosingTx) -> signing.SingleInputSpend:
    return item.built if isinstance(item, Commitment) else item


def sign_funding_input(item: Commitment | closing_txs.ClosingTx, funding_privkey: bytes) -> bytes:
    """64-byte signature of the funding input of a commitment or closing tx."""
    return signing.der_to_compact(signing.sign_tx(_spend_of(item), funding_privkey))


def verify_funding_input(item: Commitment | closing_txs.ClosingTx, pubkey: bytes, signature: bytes) -> bool:
    """Whether a 64-byte signature by ``pubkey`` signs the funding input (low-S only)."""
    if len(signature) != 64:
        return False
    if int.from_bytes(signature[32:], "big") > tx_half_order():
        return False
    try:
        der = signing.compact_to_der(signature)
    except (ValueError, TypeError):
        return False
    return signing.verify_tx_sig(_spend_of(item), pubkey, der)


def tx_half_order() -> int:
    return 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


def sign_htlc_txs(commitment: Commitment, htlc_basepoint_secret: bytes, per_commitment_point: bytes) -> list[bytes]:
    """Our signatures of the owner's HTLC txs (we are the owner's "remote"), output order."""
    privkey = derive_privkey(htlc_basepoint_secret, per_commitment_point)
    return [signing.der_to_compact(signing.sign_remote_htlc_tx(h, privkey))
            for h in htlc_txs.build_htlc_txs(commitment.built)]


def verify_htlc_sigs(commitment: Commitment, remote_htlc_basepoint: bytes, per_commitment_point: bytes,
                     signatures: Sequence[bytes]) -> str | None:
    """None if ``signatures`` sign our HTLC txs in output order, else what is wrong."""
    built = htlc_txs.build_htlc_txs(commitment.built)
    if len(signatures) != len(built):
        return f"{len(signatures)} htlc signatures for {len(built)} HTLC outputs"
    pubkey = derive_pubkey(remote_htlc_basepoint, per_commitment_point)
    for i, (htlc_tx, sig) in enumerate(zip(built, signatures, strict=True)):
        try:
            ok = len(sig) == 64 and signing.verify_remote_htlc_sig(htlc_tx, pubkey, signing.compact_to_der(sig))
        except (ValueError, TypeError):
            ok = False
        if not ok:
            return f"htlc signature {i} is invalid"
    return None


def finalize_commitment(commitment: Commitment, funding_privkey: bytes, remote_sig64: bytes) -> tuple[str, str]:
    """(raw hex, txid) of our commitment with both funding signatures."""
    local_sig = signing.sign_tx(commitment.built, funding_privkey)
    final = signing.finalize_commitment_tx(commitment.built, local_sig, signing.compact_to_der(remote_sig64))
    return b2x(final.serialize()), b2lx(final.GetTxid())


def build_closing(
    *,
    funding_txid: bytes,
    funding_outnum: int,
    funding_sat: int,
    local_funding_pubkey: bytes,
    remote_funding_pubkey: bytes,
    local_script: bytes,
    remote_script: bytes,
    to_local_msat: int,
    to_remote_msat: int,
    fee_sat: int,
    local_is_opener: bool,
    dust_limit_sat: int,
) -> closing_txs.ClosingTx:
    funding = tx.Funding(tx.Outpoint(funding_txid, funding_outnum), funding_sat,
                         local_funding_pubkey, remote_funding_pubkey)
    return closing_txs.build_closing_tx(funding, local_script=local_script, remote_script=remote_script,
                               to_local_msat=to_local_msat, to_remote_msat=to_remote_msat,
                               fee_sat=fee_sat, local_is_opener=local_is_opener,
                               dust_limit_sat=dust_limit_sat)


def finalize_closing(closing: closing_txs.ClosingTx, funding_privkey: bytes, remote_sig64: bytes) -> tuple[str, str]:
    """(raw hex, txid) of the closing tx with both funding signatures."""
    local_sig = signing.sign_tx(closing, funding_privkey)
    final = signing.finalize_closing_tx(closing, local_sig, signing.compact_to_der(remote_sig64))
    return b2x(final.serialize()), b2lx(final.GetTxid())


TxError = tx.TxError
ClosingTx = closing_txs.ClosingTx
