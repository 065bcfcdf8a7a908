"""BOLT 11 payment invoices: the invoice types, creating and signing them (decoding is in
bolt11_decode.py).

Layer: wire. Imports wire.bech32 only.

`create_invoice` builds and signs an invoice for this node (bolt11_decode's
`decode_invoice` parses one, checks it against the expected network and verifies its
signature). `encode_invoice` is the low-level signer over an explicit list of
tagged fields (used to reproduce an invoice byte for byte).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import coincurve

from .bech32 import bech32_encode, convert_bits

# Network name -> BIP-173 currency prefix (the HRP is "ln" + prefix + amount).
NETWORK_PREFIXES: dict[str, str] = {
    "bitcoin": "bc",
    "testnet": "tb",
    "signet": "tbs",
    "regtest": "bcrt",
}

DEFAULT_EXPIRY_SECONDS = 3600
DEFAULT_MIN_FINAL_CLTV_EXPIRY = 18
MSAT_PER_BTC = 100_000_000_000
# Multiplier letter -> msat per unit, times 10 (so that pico, 0.1 msat, is an integer).
DECI_MSAT_PER_UNIT = {
    "": MSAT_PER_BTC * 10,
    "m": MSAT_PER_BTC * 10 // 1_000,
    "u": MSAT_PER_BTC * 10 // 1_000_000,
    "n": MSAT_PER_BTC * 10 // 1_000_000_000,
    "p": 1,
}

# Tagged field types (5-bit values of the bech32 characters).
TAG_PAYMENT_HASH = 1  # p
TAG_ROUTE_HINT = 3  # r
TAG_FEATURES = 5  # 9
TAG_EXPIRY = 6  # x
TAG_FALLBACK = 9  # f
TAG_DESCRIPTION = 13  # d
TAG_PAYMENT_SECRET = 16  # s
TAG_PAYEE = 19  # n
TAG_DESCRIPTION_HASH = 23  # h
TAG_MIN_FINAL_CLTV_EXPIRY = 24  # c
TAG_METADATA = 27  # m

# Feature bits BOLT 9 marks for the invoice context (pairs: even = required).
FEATURE_VAR_ONION_OPTIN = 8
FEATURE_PAYMENT_SECRET = 14
FEATURE_BASIC_MPP = 16
FEATURE_ROUTE_BLINDING = 24
FEATURE_ATTRIBUTION_DATA = 36
FEATURE_PAYMENT_METADATA = 48
KNOWN_INVOICE_FEATURES = frozenset(
    bit
    for even in (
        FEATURE_VAR_ONION_OPTIN,
        FEATURE_PAYMENT_SECRET,
        FEATURE_BASIC_MPP,
        FEATURE_ROUTE_BLINDING,
        FEATURE_ATTRIBUTION_DATA,
        FEATURE_PAYMENT_METADATA,
    )
    for bit in (even, even + 1)
)
# feature (even bit of the pair) -> features (even bits) it depends on
DEFAULT_INVOICE_FEATURES = frozenset({FEATURE_VAR_ONION_OPTIN, FEATURE_PAYMENT_SECRET, FEATURE_BASIC_MPP + 1})

TIMESTAMP_WORDS = 7  # 35 bits
_MAX_FIELD_WORDS = 1023


class Bolt11Error(ValueError):
    """An invoice is malformed, invalid, or not for the expected network."""


@dataclass(frozen=True)
class TaggedField:
    """One tagged field as it appears in the data part: type and 5-bit words."""

    tag: int
    words: tuple[int, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.tag < 32:
            raise Bolt11Error(f"tagged field type {self.tag} is not a 5-bit value")
        if len(self.words) > _MAX_FIELD_WORDS:
            raise Bolt11Error(
                f"tagged field '{self.letter}' has {len(self.words)} words, more than {_MAX_FIELD_WORDS}"
            )

    @property
    def letter(self) -> str:
        """The bech32 character that names this field's type (p, s, d, ...)."""
        return "qpzry9x8gf2tvdw0s3jn54khce6mua7l"[self.tag]


@dataclass(frozen=True)
class RouteHintHop:
    """One hop of an `r` field: the channel from `pubkey` towards the payee."""

    pubkey: str  # hex, 33-byte compressed node id of the channel's start
    short_channel_id: int
    fee_base_msat: int
    fee_proportional_millionths: int
    cltv_expiry_delta: int

    @property
    def short_channel_id_str(self) -> str:
        """The short channel id as BLOCKxTXxOUTPUT."""
        scid = self.short_channel_id
        return f"{scid >> 40}x{(scid >> 16) & 0xFFFFFF}x{scid & 0xFFFF}"


@dataclass(frozen=True)
class Fallback:
    """An on-chain fallback: witness version 0..16 and program, or 17 (P2PKH) / 18 (P2SH) and hash."""

    version: int
    program: bytes


@dataclass(frozen=True)
class Invoice:
    """A decoded, signature-checked BOLT 11 invoice."""

    network: str
    amount_msat: int | None
    timestamp: int
    payment_hash: bytes
    payment_secret: bytes
    description: str | None
    description_hash: bytes | None
    expiry: int  # seconds after timestamp
    min_final_cltv_expiry: int  # min_final_cltv_expiry_delta, in blocks
    features: frozenset[int]
    route_hints: tuple[tuple[RouteHintHop, ...], ...]
    payee: str  # hex node id, from `n` or recovered from the signature
    fallbacks: tuple[Fallback, ...]
    metadata: bytes | None
    signature: bytes  # 64-byte r||s followed by the recovery id
    # every tagged field in order, including ignored ones (re-encodes the invoice exactly)
    tagged_fields: tuple[TaggedField, ...] = dataclasses.field(repr=False)

    @property
    def expires_at(self) -> int:
        """Unix time after which the invoice must not be paid."""
        return self.timestamp + self.expiry

    def is_expired(self, now: float | None = None) -> bool:
        """True when `now` (default: the current time) is past timestamp + expiry."""
        current = time.time() if now is None else now
        return current > self.expires_at


# --- field constructors -----------------------------------------------------


def _bytes_field(tag: int, data: bytes) -> TaggedField:
    return TaggedField(tag, tuple(convert_bits(data, 8, 5, pad=True)))


def _int_words(value: int) -> tuple[int, ...]:
    if value < 0:
        raise Bolt11Error(f"cannot encode negative value {value} in an invoice field")
    words: list[int] = []
    while value:
        words.insert(0, value & 31)
        value >>= 5
    return tuple(words)


def _check_length(name: str, data: bytes, length: int) -> bytes:
    if len(data) != length:
        raise Bolt11Error(f"{name} must be {length} bytes, got {len(data)}")
    return data


def payment_hash_field(payment_hash: bytes) -> TaggedField:
    """`p`: the 32-byte payment hash."""
    return _bytes_field(TAG_PAYMENT_HASH, _check_length("payment_hash", payment_hash, 32))


def payment_secret_field(payment_secret: bytes) -> TaggedField:
    """`s`: the 32-byte payment secret."""
    return _bytes_field(TAG_PAYMENT_SECRET, _check_length("payment_secret", payment_secret, 32))


def description_field(description: str) -> TaggedField:
    """`d`: a UTF-8 description."""
    return _bytes_field(TAG_DESCRIPTION, description.encode("utf-8"))


def description_hash_field(description_hash: bytes) -> TaggedField:
    """`h`: SHA256 of a description too long for `d`."""
    return _bytes_field(
        TAG_DESCRIPTION_HASH, _check_length("description_hash", description_hash, 32)
    )


def expiry_field(expiry: int) -> TaggedField:
    """`x`: seconds after the timestamp until the invoice expires."""
    return TaggedField(TAG_EXPIRY, _int_words(expiry))


def min_final_cltv_expiry_field(min_final_cltv_expiry: int) -> TaggedField:
    """`c`: min_final_cltv_expiry_delta for the last HTLC."""
    return TaggedField(TAG_MIN_FINAL_CLTV_EXPIRY, _int_words(min_final_cltv_expiry))


def fallback_field(fallback: Fallback) -> TaggedField:
    """`f`: an on-chain fallback address."""
    if not 0 <= fallback.version < 32:
        raise Bolt11Error(f"fallback version {fallback.version} is not a 5-bit value")
    return TaggedField(
        TAG_FALLBACK, (fallback.version, *convert_bits(fallback.program, 8, 5, pad=True))
    )


def route_hint_field(hops: Sequence[RouteHintHop]) -> TaggedField:
    """`r`: one private route, as an ordered list of hops."""
    if not hops:
        raise Bolt11Error("a route hint needs at least one hop")
    data = b"".join(
        _check_length("route hint pubkey", bytes.fromhex(hop.pubkey), 33)
        + hop.short_channel_id.to_bytes(8, "big")
        + hop.fee_base_msat.to_bytes(4, "big")
        + hop.fee_proportional_millionths.to_bytes(4, "big")
        + hop.cltv_expiry_delta.to_bytes(2, "big")
        for hop in hops
    )
    return _bytes_field(TAG_ROUTE_HINT, data)


def features_field(features: Iterable[int]) -> TaggedField:
    """`9`: feature bits, in the fewest 5-bit words."""
    bitmap = 0
    for bit in features:
        bitmap |= 1 << bit
    return TaggedField(TAG_FEATURES, _int_words(bitmap))


def payee_field(payee: str) -> TaggedField:
    """`n`: the payee's 33-byte node id (hex)."""
    return _bytes_field(TAG_PAYEE, _check_length("payee", bytes.fromhex(payee), 33))


def metadata_field(metadata: bytes) -> TaggedField:
    """`m`: payment metadata to be echoed in the final onion payload."""
    return _bytes_field(TAG_METADATA, metadata)


# --- encoding ---------------------------------------------------------------


def _hrp(network: str, amount_msat: int | None) -> str:
    try:
        prefix = NETWORK_PREFIXES[network]
    except KeyError:
        raise Bolt11Error(
            f"unknown network {network!r}; known: {sorted(NETWORK_PREFIXES)}"
        ) from None
    if amount_msat is None:
        return "ln" + prefix
    if amount_msat <= 0:
        raise Bolt11Error(f"invoice amount must be positive, got {amount_msat} msat")
    deci_msat = amount_msat * 10
    for multiplier, deci_msat_per_unit in DECI_MSAT_PER_UNIT.items():
        if deci_msat % deci_msat_per_unit == 0:
            return f"ln{prefix}{deci_msat // deci_msat_per_unit}{multiplier}"
    raise Bolt11Error(f"cannot represent {amount_msat} msat")  # unreachable: p always divides


def _data_words(timestamp: int, fields: Sequence[TaggedField]) -> list[int]:
    if not 0 <= timestamp < 1 << 35:
        raise Bolt11Error(f"timestamp {timestamp} does not fit in 35 bits")
    words = [(timestamp >> 5 * (6 - index)) & 31 for index in range(TIMESTAMP_WORDS)]
    for field in fields:
        words += [field.tag, len(field.words) >> 5, len(field.words) & 31, *field.words]
    return words


def signing_digest(hrp: str, data_words: Sequence[int]) -> bytes:
    return hashlib.sha256(
        hrp.encode("ascii") + bytes(convert_bits(data_words, 5, 8, pad=True))
    ).digest()


def encode_invoice(
    *,
    network: str,
    amount_msat: int | None,
    timestamp: int,
    fields: Sequence[TaggedField],
    private_key: bytes,
) -> str:
    """Sign and bech32-encode an invoice made of exactly these tagged fields, in order."""
    hrp = _hrp(network, amount_msat)
    data_words = _data_words(timestamp, fields)
    signature = coincurve.PrivateKey(private_key).sign_recoverable(
        signing_digest(hrp, data_words), hasher=None
    )
    return bech32_encode(hrp, data_words + convert_bits(signature, 8, 5, pad=True))


def create_invoice(
    *,
    private_key: bytes,
    network: str,
    payment_hash: bytes,
    payment_secret: bytes,
    amount_msat: int | None = None,
    description: str | None = None,
    description_hash: bytes | None = None,
    expiry: int = DEFAULT_EXPIRY_SECONDS,
    min_final_cltv_expiry: int = DEFAULT_MIN_FINAL_CLTV_EXPIRY,
    features: Iterable[int] = DEFAULT_INVOICE_FEATURES,
    route_hints: Sequence[Sequence[RouteHintHop]] = (),
    fallbacks: Sequence[Fallback] = (),
    metadata: bytes | None = None,
    include_payee: bool = False,
    timestamp: int | None = None,
) -> str:
    """Build and sign an invoice; exactly one of `description` / `description_hash` is required.

    `timestamp` defaults to now; `x` is written only when `expiry` differs from
    the 3600 s default; `c` is always written.
    """
    if (description is None) == (description_hash is None):
        raise Bolt11Error("an invoice needs exactly one of description or description_hash")
    fields = [payment_hash_field(payment_hash), payment_secret_field(payment_secret)]
    if description is not None:
        fields.append(description_field(description))
    if description_hash is not None:
        fields.append(description_hash_field(description_hash))
    if expiry != DEFAULT_EXPIRY_SECONDS:
        fields.append(expiry_field(expiry))
    fields.append(min_final_cltv_expiry_field(min_final_cltv_expiry))
    fields += [fallback_field(fallback) for fallback in fallbacks]
    fields += [route_hint_field(route) for route in route_hints]
    feature_bits = frozenset(features)
    if feature_bits:
        fields.append(features_field(feature_bits))
    if include_payee:
        fields.append(payee_field(coincurve.PrivateKey(private_key).public_key.format().hex()))
    if metadata is not None:
        fields.append(metadata_field(metadata))
    return encode_invoice(
        network=network,
        amount_msat=amount_msat,
        timestamp=int(time.time()) if timestamp is None else timestamp,
        fields=fields,
        private_key=private_key,
    )
