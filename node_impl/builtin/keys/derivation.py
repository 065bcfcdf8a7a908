"""Keys of the built-in node: derivation from a node seed, and BOLT 3 key derivation.

Layer: keys. Imports keys.shachain only.

Seed derivation (our own scheme, reproducible: same seed, same keys)::

    seed_secret(seed, label) = HMAC-SHA256(key=seed, msg=label)

re-hashed with ``label + "/" + counter`` (counter = 1, 2, ...) in the
astronomically unlikely case the result is not a valid secp256k1 secret.
Labels:

    lnharness/node                          node private key (node id)
    lnharness/channel/<i>/funding           funding private key of channel i
    lnharness/channel/<i>/revocation        revocation_basepoint secret
    lnharness/channel/<i>/payment           payment_basepoint secret
    lnharness/channel/<i>/delayed_payment   delayed_payment_basepoint secret
    lnharness/channel/<i>/htlc              htlc_basepoint secret
    lnharness/channel/<i>/commitment_seed   per-commitment seed (BOLT 3 shachain)
    lnharness/wallet/<i>                    on-chain wallet key i (P2WPKH)
    lnharness/invoice/<i>/preimage          preimage of invoice i (not a key: any 32 bytes)
    lnharness/invoice/<i>/secret            payment secret of invoice i

BOLT 3 formulas (section "Key Derivation"): :func:`derive_pubkey`,
:func:`derive_privkey`, :func:`derive_revocation_pubkey`,
:func:`derive_revocation_privkey`; :func:`derive_commitment_keys` gathers the
keys one commitment transaction needs.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from coincurve import PrivateKey, PublicKey

from .shachain import generate_from_seed, index_of_commitment

CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

# --- secp256k1 helpers ---------------------------------------------------------


def _check_secret(secret: bytes, what: str) -> int:
    if len(secret) != 32:
        raise ValueError(f"{what} must be 32 bytes, got {len(secret)}")
    value = int.from_bytes(secret, "big")
    if not 0 < value < CURVE_ORDER:
        raise ValueError(f"{what} is not a valid secp256k1 private key")
    return value


def _check_point(point: bytes, what: str) -> PublicKey:
    if len(point) != 33:
        raise ValueError(f"{what} must be a 33-byte compressed public key, got {len(point)} bytes")
    try:
        return PublicKey(point)
    except ValueError as exc:
        raise ValueError(f"{what} is not a valid public key: {exc}") from exc


def pubkey_of(secret: bytes) -> bytes:
    """Compressed public key (33 bytes) of a 32-byte private key."""
    _check_secret(secret, "private key")
    return PrivateKey(secret).public_key.format(compressed=True)


def _sha256(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


# --- BOLT 3 key derivation -----------------------------------------------------


def derive_pubkey(basepoint: bytes, per_commitment_point: bytes) -> bytes:
    """``basepoint + SHA256(per_commitment_point || basepoint) * G`` (localpubkey,
    htlcpubkey, delayedpubkey)."""
    base = _check_point(basepoint, "basepoint")
    _check_point(per_commitment_point, "per_commitment_point")
    tweak = _sha256(per_commitment_point, basepoint)
    return base.add(tweak).format(compressed=True)


def derive_privkey(basepoint_secret: bytes, per_commitment_point: bytes) -> bytes:
    """``basepoint_secret + SHA256(per_commitment_point || basepoint)`` mod n."""
    secret = _check_secret(basepoint_secret, "basepoint secret")
    _check_point(per_commitment_point, "per_commitment_point")
    basepoint = pubkey_of(basepoint_secret)
    tweak = int.from_bytes(_sha256(per_commitment_point, basepoint), "big")
    return ((secret + tweak) % CURVE_ORDER).to_bytes(32, "big")


def derive_revocation_pubkey(revocation_basepoint: bytes, per_commitment_point: bytes) -> bytes:
    """``revocation_basepoint * SHA256(revocation_basepoint || per_commitment_point)
    + per_commitment_point * SHA256(per_commitment_point || revocation_basepoint)``."""
    base = _check_point(revocation_basepoint, "revocation_basepoint")
    point = _check_point(per_commitment_point, "per_commitment_point")
    base_term = base.multiply(_sha256(revocation_basepoint, per_commitment_point))
    point_term = point.multiply(_sha256(per_commitment_point, revocation_basepoint))
    return PublicKey.combine_keys([base_term, point_term]).format(compressed=True)


def derive_revocation_privkey(
    revocation_basepoint_secret: bytes, per_commitment_secret: bytes
) -> bytes:
    """Private key of :func:`derive_revocation_pubkey`, once the peer revealed its
    ``per_commitment_secret``."""
    base_secret = _check_secret(revocation_basepoint_secret, "revocation basepoint secret")
    commit_secret = _check_secret(per_commitment_secret, "per_commitment_secret")
    basepoint = pubkey_of(revocation_basepoint_secret)
    point = pubkey_of(per_commitment_secret)
    base_factor = int.from_bytes(_sha256(basepoint, point), "big")
    point_factor = int.from_bytes(_sha256(point, basepoint), "big")
    value = (base_secret * base_factor + commit_secret * point_factor) % CURVE_ORDER
    return value.to_bytes(32, "big")


def per_commitment_point(per_commitment_secret: bytes) -> bytes:
    """``per_commitment_secret * G``."""
    return pubkey_of(per_commitment_secret)


# --- channel keys --------------------------------------------------------------


@dataclass(frozen=True)
class Basepoints:
    """The public keys one side of a channel announces in open/accept_channel."""

    funding_pubkey: bytes
    revocation_basepoint: bytes
    payment_basepoint: bytes
    delayed_payment_basepoint: bytes
    htlc_basepoint: bytes

    def __post_init__(self) -> None:
        for name in (
            "funding_pubkey",
            "revocation_basepoint",
            "payment_basepoint",
            "delayed_payment_basepoint",
            "htlc_basepoint",
        ):
            _check_point(getattr(self, name), name)


@dataclass(frozen=True)
class ChannelKeys:
    """Our secrets for one channel; see the module docstring for their derivation."""

    funding_privkey: bytes
    revocation_basepoint_secret: bytes
    payment_basepoint_secret: bytes
    delayed_payment_basepoint_secret: bytes
    htlc_basepoint_secret: bytes
    per_commitment_seed: bytes

    @property
    def basepoints(self) -> Basepoints:
        """Our public basepoints for open_channel/accept_channel."""
        return Basepoints(
            funding_pubkey=pubkey_of(self.funding_privkey),
            revocation_basepoint=pubkey_of(self.revocation_basepoint_secret),
            payment_basepoint=pubkey_of(self.payment_basepoint_secret),
            delayed_payment_basepoint=pubkey_of(self.delayed_payment_basepoint_secret),
            htlc_basepoint=pubkey_of(self.htlc_basepoint_secret),
        )

    def per_commitment_secret(self, commitment_number: int) -> bytes:
        """Our secret for commitment number ``commitment_number`` (0 = first)."""
        return generate_from_seed(self.per_commitment_seed, index_of_commitment(commitment_number))

    def per_commitment_point(self, commitment_number: int) -> bytes:
        """Our per_commitment_point for commitment number ``commitment_number``."""
        return per_commitment_point(self.per_commitment_secret(commitment_number))

    def htlc_privkey(self, per_commitment_point: bytes) -> bytes:
        """Our htlc key for the commitment built on ``per_commitment_point`` (ours or the peer's)."""
        return derive_privkey(self.htlc_basepoint_secret, per_commitment_point)

    def delayed_payment_privkey(self, per_commitment_point: bytes) -> bytes:
        """Our local_delayedpubkey's private key for our commitment on that point."""
        return derive_privkey(self.delayed_payment_basepoint_secret, per_commitment_point)

    def revocation_privkey(self, peer_per_commitment_secret: bytes) -> bytes:
        """Key to take any output of the peer's commitment it revoked with this secret."""
        return derive_revocation_privkey(
            self.revocation_basepoint_secret, peer_per_commitment_secret
        )


def seed_secret(seed: bytes, label: str) -> bytes:
    """A 32-byte secp256k1 private key derived from ``seed`` for ``label``."""
    if len(seed) != 32:
        raise ValueError(f"node seed must be 32 bytes, got {len(seed)}")
    message = label.encode()
    counter = 0
    while True:
        candidate = hmac.new(seed, message, hashlib.sha256).digest()
        if 0 < int.from_bytes(candidate, "big") < CURVE_ORDER:
            return candidate
        counter += 1
        message = f"{label}/{counter}".encode()


def invoice_secrets(seed: bytes, index: int) -> tuple[bytes, bytes]:
    """(preimage, payment secret) of the node's `index`-th invoice: a rerun that creates
    its invoices in the same order shows the same payment hashes."""
    if len(seed) != 32:
        raise ValueError(f"node seed must be 32 bytes, got {len(seed)}")
    preimage = hmac.new(seed, f"lnharness/invoice/{index}/preimage".encode(), hashlib.sha256)
    secret = hmac.new(seed, f"lnharness/invoice/{index}/secret".encode(), hashlib.sha256)
    return preimage.digest(), secret.digest()


def node_privkey(seed: bytes) -> bytes:
    """The node's private key (its node id is the matching public key)."""
    return seed_secret(seed, "lnharness/node")


def node_id(seed: bytes) -> bytes:
    """The 33-byte node id derived from ``seed``."""
    return pubkey_of(node_privkey(seed))


def channel_keys(seed: bytes, channel_index: int) -> ChannelKeys:
    """Our keys for the channel with local index ``channel_index`` (0, 1, ...)."""
    if channel_index < 0:
        raise ValueError(f"channel index must be >= 0, got {channel_index}")
    prefix = f"lnharness/channel/{channel_index}"
    return ChannelKeys(
        funding_privkey=seed_secret(seed, f"{prefix}/funding"),
        revocation_basepoint_secret=seed_secret(seed, f"{prefix}/revocation"),
        payment_basepoint_secret=seed_secret(seed, f"{prefix}/payment"),
        delayed_payment_basepoint_secret=seed_secret(seed, f"{prefix}/delayed_payment"),
        htlc_basepoint_secret=seed_secret(seed, f"{prefix}/htlc"),
        per_commitment_seed=seed_secret(seed, f"{prefix}/commitment_seed"),
    )


def wallet_privkey(seed: bytes, index: int) -> bytes:
    """Private key of on-chain wallet key ``index`` (spent as P2WPKH)."""
    if index < 0:
        raise ValueError(f"wallet key index must be >= 0, got {index}")
    return seed_secret(seed, f"lnharness/wallet/{index}")


def wallet_pubkey(seed: bytes, index: int) -> bytes:
    """Compressed public key of on-chain wallet key ``index``."""
    return pubkey_of(wallet_privkey(seed, index))


# --- keys of one commitment transaction ------------------------------------------


@dataclass(frozen=True)
class CommitmentKeys:
    """Keys of one commitment transaction, named from its owner's ("local") view.

    ``remote_payment_pubkey`` is the to_remote P2WPKH key: with
    static_remotekey it is the other side's payment_basepoint itself.
    """

    per_commitment_point: bytes
    revocation_pubkey: bytes
    local_delayed_pubkey: bytes
    local_htlc_pubkey: bytes
    remote_htlc_pubkey: bytes
    remote_payment_pubkey: bytes


def derive_commitment_keys(
    owner: Basepoints, other: Basepoints, per_commitment_point: bytes
) -> CommitmentKeys:
    """Keys of the commitment transaction held by ``owner``, built on ``owner``'s
    ``per_commitment_point`` (static_remotekey).

    For our own commitment: ``owner`` = our basepoints, ``other`` = the peer's,
    and our point. For the peer's commitment: swap them and use the peer's point.
    """
    return CommitmentKeys(
        per_commitment_point=per_commitment_point,
        revocation_pubkey=derive_revocation_pubkey(
            other.revocation_basepoint, per_commitment_point
        ),
        local_delayed_pubkey=derive_pubkey(owner.delayed_payment_basepoint, per_commitment_point),
        local_htlc_pubkey=derive_pubkey(owner.htlc_basepoint, per_commitment_point),
        remote_htlc_pubkey=derive_pubkey(other.htlc_basepoint, per_commitment_point),
        remote_payment_pubkey=other.payment_basepoint,
    )
