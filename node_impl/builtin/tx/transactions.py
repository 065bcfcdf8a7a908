"""BOLT 3 funding output and commitment transactions, static_remotekey and anchors
(``option_anchors``: two 330-sat anchor outputs, to_remote behind a CSV of 1, HTLC outputs
whose spends wait one block, zero-fee HTLC transactions).

Layer: tx. Imports keys and tx.scripts only.

HTLC-timeout/success transactions are in tx/htlc_txs.py, legacy closing transactions in
tx/closing.py, signing and final witnesses in tx/signing.py, our own sweeps and penalties in
tx/sweeps.py.

Conventions:
- A commitment transaction is described from its owner's view: "local" is
  the side that holds (and can broadcast) it. To build the peer's
  commitment, pass the peer as local (its balance as ``to_local_msat``, its
  keys in :class:`~lnharness.node_impl.builtin.keys.derivation.CommitmentKeys`, HTLCs with the
  direction seen by the peer).
- Signatures are DER-encoded *without* the sighash byte (what BOLT 3 vectors
  show); the 64-byte wire form of BOLT 2 messages converts with
  :func:`der_to_compact` / :func:`compact_to_der`.
- Transaction ids are ``bytes`` in internal order (as in ``COutPoint.hash``
  and in BOLT 2 ``funding_txid``); :class:`Outpoint` converts from display hex.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from bitcoin.core import (
    COutPoint,
    CTransaction,
    CTxIn,
    CTxOut,
    b2lx,
    lx,
)
from bitcoin.core.script import (
    CScript,
)

from ..keys.derivation import CommitmentKeys
from .scripts import (
    anchor_script,
    funding_script,
    offered_htlc_script,
    p2wsh,
    received_htlc_script,
    to_local_script,
    to_remote_anchors_script,
    to_remote_script,
)

COMMITMENT_BASE_WEIGHT = 724
ANCHOR_COMMITMENT_BASE_WEIGHT = 1124
ANCHOR_OUTPUT_SAT = 330
HTLC_OUTPUT_WEIGHT = 172
HTLC_TIMEOUT_WEIGHT = 663
HTLC_SUCCESS_WEIGHT = 703
MAX_SIG_LEN = 73  # DER plus sighash byte, the size fees are estimated with
_MAX_48_BITS = (1 << 48) - 1


class TxError(ValueError):
    """Inputs that cannot make a valid transaction (bad balances, dust sweep...)."""


# --- small types ------------------------------------------------------------------


@dataclass(frozen=True)
class Outpoint:
    """A transaction output: ``txid`` in internal byte order, and its index."""

    txid: bytes
    index: int

    def __post_init__(self) -> None:
        if len(self.txid) != 32:
            raise ValueError(f"txid must be 32 bytes, got {len(self.txid)}")
        if not 0 <= self.index <= 0xFFFFFFFF:
            raise ValueError(f"output index {self.index} out of range")

    @classmethod
    def from_hex(cls, txid_hex: str, index: int) -> Outpoint:
        """From a txid as shown by bitcoind (display order hex)."""
        return cls(lx(txid_hex), index)

    @property
    def txid_hex(self) -> str:
        """The txid as shown by bitcoind."""
        return b2lx(self.txid)

    def to_coutpoint(self) -> COutPoint:
        return COutPoint(self.txid, self.index)


def txid_of(tx: CTransaction) -> bytes:
    """The txid of ``tx`` in internal byte order."""
    return tx.GetTxid()


def tx_weight(tx: CTransaction) -> int:
    """BIP141 weight of ``tx`` as serialized (with its current witness)."""
    base = len(tx.serialize(params={"include_witness": False}))
    total = len(tx.serialize())
    return base * 3 + total


class HtlcDirection(Enum):
    """Seen from the commitment owner: it OFFERED the HTLC or RECEIVED it."""

    OFFERED = "offered"
    RECEIVED = "received"


@dataclass(frozen=True)
class Htlc:
    """An HTLC committed to a commitment transaction."""

    direction: HtlcDirection
    amount_msat: int
    payment_hash: bytes
    cltv_expiry: int

    def flipped(self) -> Htlc:
        """The same HTLC seen from the other side's commitment."""
        other = (
            HtlcDirection.RECEIVED
            if self.direction is HtlcDirection.OFFERED
            else HtlcDirection.OFFERED
        )
        return Htlc(other, self.amount_msat, self.payment_hash, self.cltv_expiry)

    def __post_init__(self) -> None:
        if len(self.payment_hash) != 32:
            raise ValueError(f"payment_hash must be 32 bytes, got {len(self.payment_hash)}")
        if self.amount_msat <= 0:
            raise ValueError(f"HTLC amount_msat must be positive, got {self.amount_msat}")


@dataclass(frozen=True)
class Funding:
    """The channel's funding output. "local" is the owner of the tx being built."""

    outpoint: Outpoint
    amount_sat: int
    local_funding_pubkey: bytes
    remote_funding_pubkey: bytes

    @property
    def witness_script(self) -> CScript:
        return funding_script(self.local_funding_pubkey, self.remote_funding_pubkey)

    @property
    def script_pubkey(self) -> CScript:
        return p2wsh(self.witness_script)

    def swapped(self) -> Funding:
        """The same funding seen from the other side."""
        return Funding(
            self.outpoint, self.amount_sat, self.remote_funding_pubkey, self.local_funding_pubkey
        )


def funding_output(
    local_funding_pubkey: bytes, remote_funding_pubkey: bytes, amount_sat: int
) -> CTxOut:
    """The P2WSH 2-of-2 funding output."""
    script = p2wsh(funding_script(local_funding_pubkey, remote_funding_pubkey))
    return CTxOut(amount_sat, script)


def sort_outputs(outputs: Sequence[CTxOut]) -> list[CTxOut]:
    """BIP69 order: amount, then scriptPubKey bytes."""
    return sorted(outputs, key=lambda out: (out.nValue, bytes(out.scriptPubKey)))


def obscuring_factor(opener_payment_basepoint: bytes, accepter_payment_basepoint: bytes) -> int:
    """Lower 48 bits of SHA256(opener payment_basepoint || accepter payment_basepoint)."""
    digest = hashlib.sha256(opener_payment_basepoint + accepter_payment_basepoint).digest()
    return int.from_bytes(digest[-6:], "big")


# --- fees and trimming ----------------------------------------------------------


def commitment_weight(num_untrimmed_htlcs: int, *, anchors: bool = False) -> int:
    """Expected weight of a commitment tx (Appendix A): 724 (1124 with anchors) + 172 per HTLC."""
    base = ANCHOR_COMMITMENT_BASE_WEIGHT if anchors else COMMITMENT_BASE_WEIGHT
    return base + HTLC_OUTPUT_WEIGHT * num_untrimmed_htlcs


def commitment_fee_sat(feerate_per_kw: int, num_untrimmed_htlcs: int, *, anchors: bool = False) -> int:
    """Base commitment fee (Appendix A weights)."""
    return feerate_per_kw * commitment_weight(num_untrimmed_htlcs, anchors=anchors) // 1000


def htlc_timeout_fee_sat(feerate_per_kw: int, *, anchors: bool = False) -> int:
    """Fee of an HTLC-timeout transaction (zero with anchors: its spender adds the fee)."""
    return 0 if anchors else feerate_per_kw * HTLC_TIMEOUT_WEIGHT // 1000


def htlc_success_fee_sat(feerate_per_kw: int, *, anchors: bool = False) -> int:
    """Fee of an HTLC-success transaction (zero with anchors: its spender adds the fee)."""
    return 0 if anchors else feerate_per_kw * HTLC_SUCCESS_WEIGHT // 1000


def htlc_tx_fee_sat(direction: HtlcDirection, feerate_per_kw: int, *, anchors: bool = False) -> int:
    """Fee of the second-stage transaction of an HTLC in ``direction``."""
    if direction is HtlcDirection.OFFERED:
        return htlc_timeout_fee_sat(feerate_per_kw, anchors=anchors)
    return htlc_success_fee_sat(feerate_per_kw, anchors=anchors)


def is_htlc_trimmed(htlc: Htlc, dust_limit_sat: int, feerate_per_kw: int, *, anchors: bool = False) -> bool:
    """Whether ``htlc`` gets no output: its amount minus its HTLC tx fee is below dust."""
    fee_sat = htlc_tx_fee_sat(htlc.direction, feerate_per_kw, anchors=anchors)
    return htlc.amount_msat // 1000 - fee_sat < dust_limit_sat


def commitment_fee_for_htlcs_sat(
    feerate_per_kw: int, htlcs: Sequence[Htlc], dust_limit_sat: int, *, anchors: bool = False
) -> int:
    """Base commitment fee with ``htlcs`` committed (trimmed ones do not count)."""
    untrimmed = sum(
        1 for h in htlcs if not is_htlc_trimmed(h, dust_limit_sat, feerate_per_kw, anchors=anchors)
    )
    return commitment_fee_sat(feerate_per_kw, untrimmed, anchors=anchors)


# --- commitment transaction -------------------------------------------------------


class OutputKind(Enum):
    TO_LOCAL = "to_local"
    TO_REMOTE = "to_remote"
    OFFERED_HTLC = "offered_htlc"
    RECEIVED_HTLC = "received_htlc"
    LOCAL_ANCHOR = "local_anchor"
    REMOTE_ANCHOR = "remote_anchor"


@dataclass(frozen=True)
class CommitmentParams:
    """What stays fixed for one side's commitment transactions.

    ``to_self_delay`` is the delay imposed on the owner (the value the *other*
    side asked for); ``dust_limit_sat`` is the owner's; ``anchors``: the channel type is
    ``option_anchors``.
    """

    funding: Funding
    obscuring_factor: int
    to_self_delay: int
    dust_limit_sat: int
    local_is_opener: bool
    anchors: bool = False


@dataclass(frozen=True)
class CommitmentOutput:
    """One output of a commitment tx; ``htlc_index`` points into the ``htlcs`` given."""

    index: int
    kind: OutputKind
    amount_sat: int
    script_pubkey: bytes
    witness_script: bytes | None
    htlc: Htlc | None = None
    htlc_index: int | None = None


@dataclass(frozen=True)
class CommitmentTx:
    """An unsigned commitment transaction and what is needed to spend from it."""

    tx: CTransaction
    params: CommitmentParams
    keys: CommitmentKeys
    commitment_number: int
    feerate_per_kw: int
    outputs: tuple[CommitmentOutput, ...]
    base_fee_sat: int
    fee_sat: int
    trimmed_htlc_indexes: tuple[int, ...]

    @property
    def witness_script(self) -> bytes:
        """Script of the spent output (the funding 2-of-2)."""
        return self.params.funding.witness_script

    @property
    def amount_sat(self) -> int:
        """Value of the spent output (the funding amount)."""
        return self.params.funding.amount_sat

    @property
    def txid(self) -> bytes:
        return txid_of(self.tx)

    @property
    def htlc_outputs(self) -> tuple[CommitmentOutput, ...]:
        """HTLC outputs in output order: the order of ``htlc_signatures``."""
        return tuple(out for out in self.outputs if out.htlc is not None)

    def output_of(self, kind: OutputKind) -> CommitmentOutput | None:
        """The to_local, to_remote or an anchor output, or None if there is none."""
        for out in self.outputs:
            if out.kind is kind:
                return out
        return None


def build_commitment_tx(
    params: CommitmentParams,
    keys: CommitmentKeys,
    *,
    commitment_number: int,
    to_local_msat: int,
    to_remote_msat: int,
    feerate_per_kw: int,
    htlcs: Sequence[Htlc] = (),
) -> CommitmentTx:
    """Build the owner's commitment tx (BOLT 3 "Commitment Transaction Construction").

    ``to_local_msat + to_remote_msat + sum(htlc amounts)`` must equal the funding amount.
    """
    funding = params.funding
    if not 0 <= commitment_number <= _MAX_48_BITS:
        raise TxError(f"commitment number {commitment_number} outside 48 bits")
    if to_local_msat < 0 or to_remote_msat < 0:
        raise TxError(f"negative balance: to_local {to_local_msat} to_remote {to_remote_msat} msat")
    total_msat = to_local_msat + to_remote_msat + sum(h.amount_msat for h in htlcs)
    if total_msat != funding.amount_sat * 1000:
        raise TxError(
            f"balances and HTLCs add up to {total_msat} msat, "
            f"funding is {funding.amount_sat * 1000} msat"
        )

    anchors = params.anchors
    candidates: list[tuple[int, bytes, int, CommitmentOutput]] = []
    trimmed: list[int] = []
    for position, htlc in enumerate(htlcs):
        if is_htlc_trimmed(htlc, params.dust_limit_sat, feerate_per_kw, anchors=anchors):
            trimmed.append(position)
            continue
        if htlc.direction is HtlcDirection.OFFERED:
            kind = OutputKind.OFFERED_HTLC
            script = offered_htlc_script(
                keys.revocation_pubkey,
                keys.local_htlc_pubkey,
                keys.remote_htlc_pubkey,
                htlc.payment_hash,
                anchors=anchors,
            )
        else:
            kind = OutputKind.RECEIVED_HTLC
            script = received_htlc_script(
                keys.revocation_pubkey,
                keys.local_htlc_pubkey,
                keys.remote_htlc_pubkey,
                htlc.payment_hash,
                htlc.cltv_expiry,
                anchors=anchors,
            )
        amount_sat = htlc.amount_msat // 1000
        out = CommitmentOutput(-1, kind, amount_sat, p2wsh(script), script, htlc, position)
        candidates.append((amount_sat, out.script_pubkey, htlc.cltv_expiry, out))
    untrimmed_htlcs = len(candidates)

    base_fee_sat = commitment_fee_sat(feerate_per_kw, untrimmed_htlcs, anchors=anchors)
    opener_cost_sat = base_fee_sat + (2 * ANCHOR_OUTPUT_SAT if anchors else 0)
    to_local_sat = to_local_msat // 1000
    to_remote_sat = to_remote_msat // 1000
    if params.local_is_opener:
        to_local_sat = max(0, to_local_sat - opener_cost_sat)
    else:
        to_remote_sat = max(0, to_remote_sat - opener_cost_sat)

    has_to_local = to_local_sat >= params.dust_limit_sat
    has_to_remote = to_remote_sat >= params.dust_limit_sat
    if has_to_local:
        script = to_local_script(
            keys.revocation_pubkey, params.to_self_delay, keys.local_delayed_pubkey
        )
        out = CommitmentOutput(-1, OutputKind.TO_LOCAL, to_local_sat, p2wsh(script), script)
        candidates.append((to_local_sat, out.script_pubkey, 0, out))
    if has_to_remote:
        if anchors:
            script = to_remote_anchors_script(keys.remote_payment_pubkey)
            out = CommitmentOutput(-1, OutputKind.TO_REMOTE, to_remote_sat, p2wsh(script), script)
        else:
            spk = to_remote_script(keys.remote_payment_pubkey)
            out = CommitmentOutput(-1, OutputKind.TO_REMOTE, to_remote_sat, spk, None)
        candidates.append((to_remote_sat, out.script_pubkey, 0, out))
    if anchors:
        for kind, exists, pubkey in (
            (OutputKind.LOCAL_ANCHOR, has_to_local, funding.local_funding_pubkey),
            (OutputKind.REMOTE_ANCHOR, has_to_remote, funding.remote_funding_pubkey),
        ):
            if exists or untrimmed_htlcs:
                script = anchor_script(pubkey)
                out = CommitmentOutput(-1, kind, ANCHOR_OUTPUT_SAT, p2wsh(script), script)
                candidates.append((ANCHOR_OUTPUT_SAT, out.script_pubkey, 0, out))

    candidates.sort(key=lambda c: (c[0], bytes(c[1]), c[2]))
    outputs = tuple(
        CommitmentOutput(
            i,
            c[3].kind,
            c[3].amount_sat,
            c[3].script_pubkey,
            c[3].witness_script,
            c[3].htlc,
            c[3].htlc_index,
        )
        for i, c in enumerate(candidates)
    )

    obscured = commitment_number ^ params.obscuring_factor
    txin = CTxIn(
        funding.outpoint.to_coutpoint(),
        nSequence=(0x80 << 24) | (obscured >> 24),
    )
    tx = CTransaction(
        [txin],
        [CTxOut(o.amount_sat, CScript(o.script_pubkey)) for o in outputs],
        nLockTime=(0x20 << 24) | (obscured & 0xFFFFFF),
        nVersion=2,
    )
    fee_sat = funding.amount_sat - sum(o.amount_sat for o in outputs)
    return CommitmentTx(
        tx=tx,
        params=params,
        keys=keys,
        commitment_number=commitment_number,
        feerate_per_kw=feerate_per_kw,
        outputs=outputs,
        base_fee_sat=base_fee_sat,
        fee_sat=fee_sat,
        trimmed_htlc_indexes=tuple(trimmed),
    )


def commitment_number_of(tx: CTransaction, obscuring_factor: int) -> int | None:
    """The commitment number a broadcast commitment tx carries, or None if ``tx`` does
    not have the shape of a commitment tx (one input, 0x80/0x20 markers)."""
    if len(tx.vin) != 1 or tx.nLockTime >> 24 != 0x20 or tx.vin[0].nSequence >> 24 != 0x80:
        return None
    obscured = ((tx.vin[0].nSequence & 0xFFFFFF) << 24) | (tx.nLockTime & 0xFFFFFF)
    return obscured ^ obscuring_factor
