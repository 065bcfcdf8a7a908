"""BOLT 11 payment invoices: create, sign, decode and validate.

Layer: wire. Imports wire.bech32 only.

`create_invoice` builds and signs an invoice for this node; `decode_invoice`
parses one, checks it against the expected network and verifies its
signature. `encode_invoice` is the low-level signer over an explicit list of
tagged fields (used to reproduce an invoice byte for byte).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import coincurve

from .bech32 import Bech32Error, bech32_decode, bech32_encode, convert_bits

# Network name -> BIP-173 currency prefix (the HRP is "ln" + prefix + amount).
NETWORK_PREFIXES: dict[str, str] = {
    "bitcoin": "bc",
    "testnet": "tb",
    "signet": "tbs",
    "regtest": "bcrt",
}
_PREFIX_NETWORKS = {prefix: network for network, prefix in NETWORK_PREFIXES.items()}

DEFAULT_EXPIRY_SECONDS = 3600
DEFAULT_MIN_FINAL_CLTV_EXPIRY = 18
MSAT_PER_BTC = 100_000_000_000
# Multiplier letter -> msat per unit, times 10 (so that pico, 0.1 msat, is an integer).
_DECI_MSAT_PER_UNIT = {
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
_FEATURE_DEPENDENCIES = {FEATURE_BASIC_MPP: (FEATURE_PAYMENT_SECRET,)}
DEFAULT_INVOICE_FEATURES = frozenset({FEATURE_VAR_ONION_OPTIN, FEATURE_PAYMENT_SECRET})

_TIMESTAMP_WORDS = 7  # 35 bits
_SIGNATURE_WORDS = 104  # 520 bits: 64-byte r||s + 1-byte recovery id
_MAX_FIELD_WORDS = 1023
_ROUTE_HINT_HOP_BYTES = 51
_SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HRP_PATTERN = re.compile(r"ln([a-z]+)(\d*)(.*)")
_FALLBACK_P2PKH = 17
_FALLBACK_P2SH = 18
_MAX_WITNESS_VERSION = 16


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
    for multiplier, deci_msat_per_unit in _DECI_MSAT_PER_UNIT.items():
        if deci_msat % deci_msat_per_unit == 0:
            return f"ln{prefix}{deci_msat // deci_msat_per_unit}{multiplier}"
    raise Bolt11Error(f"cannot represent {amount_msat} msat")  # unreachable: p always divides


def _data_words(timestamp: int, fields: Sequence[TaggedField]) -> list[int]:
    if not 0 <= timestamp < 1 << 35:
        raise Bolt11Error(f"timestamp {timestamp} does not fit in 35 bits")
    words = [(timestamp >> 5 * (6 - index)) & 31 for index in range(_TIMESTAMP_WORDS)]
    for field in fields:
        words += [field.tag, len(field.words) >> 5, len(field.words) & 31, *field.words]
    return words


def _signing_digest(hrp: str, data_words: Sequence[int]) -> bytes:
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
        _signing_digest(hrp, data_words), hasher=None
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


# --- decoding ---------------------------------------------------------------


def _parse_hrp(hrp: str) -> tuple[str, int | None]:
    match = _HRP_PATTERN.fullmatch(hrp)
    if match is None:
        raise Bolt11Error(
            f"human-readable part {hrp!r} does not start with 'ln' and a currency prefix"
        )
    prefix, digits, multiplier = match.groups()
    network = _PREFIX_NETWORKS.get(prefix)
    if network is None:
        raise Bolt11Error(f"unknown invoice currency prefix 'ln{prefix}'")
    if not digits:
        if multiplier:
            raise Bolt11Error(f"invoice amount {multiplier!r} has no digits")
        return network, None
    if multiplier not in _DECI_MSAT_PER_UNIT:
        raise Bolt11Error(f"invalid amount multiplier {multiplier!r} (expected one of m, u, n, p)")
    deci_msat = int(digits) * _DECI_MSAT_PER_UNIT[multiplier]
    if deci_msat % 10:
        raise Bolt11Error(
            f"invoice amount {digits}{multiplier} is not a whole number of millisatoshi"
        )
    if deci_msat == 0:
        raise Bolt11Error("invoice amount is zero")
    return network, deci_msat // 10


def _words_to_int(words: Sequence[int]) -> int:
    value = 0
    for word in words:
        value = value << 5 | word
    return value


def _words_to_bytes(words: Sequence[int]) -> bytes:
    return bytes(convert_bits(words, 5, 8, pad=False))


def _minimal_int(field: TaggedField) -> int:
    if field.words and field.words[0] == 0:
        raise Bolt11Error(
            f"field '{field.letter}' has a non-minimal data_length (leading zero word)"
        )
    return _words_to_int(field.words)


def _parse_fields(words: Sequence[int]) -> list[TaggedField]:
    fields = []
    position = 0
    while position < len(words):
        if position + 3 > len(words):
            raise Bolt11Error("tagged field header is truncated")
        tag = words[position]
        length = words[position + 1] << 5 | words[position + 2]
        position += 3
        if position + length > len(words):
            raise Bolt11Error(f"tagged field of type {tag} claims {length} words; fewer remain")
        fields.append(TaggedField(tag, tuple(words[position : position + length])))
        position += length
    return fields


def _parse_features(field: TaggedField) -> frozenset[int]:
    bitmap = _minimal_int(field)
    bits = frozenset(bit for bit in range(bitmap.bit_length()) if bitmap >> bit & 1)
    unknown_required = sorted(
        bit for bit in bits if bit % 2 == 0 and bit not in KNOWN_INVOICE_FEATURES
    )
    if unknown_required:
        raise Bolt11Error(f"invoice requires unknown feature bit(s) {unknown_required}")
    for feature, dependencies in _FEATURE_DEPENDENCIES.items():
        if bits & {feature, feature + 1}:
            for dependency in dependencies:
                if not bits & {dependency, dependency + 1}:
                    raise Bolt11Error(
                        f"invoice sets feature {feature}/{feature + 1} without its dependency "
                        f"{dependency}/{dependency + 1}"
                    )
    return bits


def _parse_fallback(field: TaggedField) -> Fallback | None:
    if not field.words:
        raise Bolt11Error("fallback field 'f' is empty")
    version = field.words[0]
    program = _words_to_bytes(field.words[1:])
    if version in (_FALLBACK_P2PKH, _FALLBACK_P2SH):
        if len(program) != 20:
            raise Bolt11Error(
                f"fallback version {version} needs a 20-byte hash, got {len(program)} bytes"
            )
    elif version <= _MAX_WITNESS_VERSION:
        if not 2 <= len(program) <= 40 or (version == 0 and len(program) not in (20, 32)):
            raise Bolt11Error(
                f"fallback witness v{version} program of {len(program)} bytes is invalid"
            )
    else:
        return None  # unknown version: readers skip it
    return Fallback(version, program)


def _parse_route_hint(field: TaggedField) -> tuple[RouteHintHop, ...]:
    data = _words_to_bytes(field.words)
    if not data or len(data) % _ROUTE_HINT_HOP_BYTES:
        raise Bolt11Error(
            f"route hint field 'r' has {len(data)} bytes, not a positive multiple of 51"
        )
    hops = []
    for start in range(0, len(data), _ROUTE_HINT_HOP_BYTES):
        hop = data[start : start + _ROUTE_HINT_HOP_BYTES]
        hops.append(
            RouteHintHop(
                pubkey=hop[:33].hex(),
                short_channel_id=int.from_bytes(hop[33:41], "big"),
                fee_base_msat=int.from_bytes(hop[41:45], "big"),
                fee_proportional_millionths=int.from_bytes(hop[45:49], "big"),
                cltv_expiry_delta=int.from_bytes(hop[49:51], "big"),
            )
        )
    return tuple(hops)


def _der_signature(compact: bytes) -> bytes:
    def der_int(value: bytes) -> bytes:
        value = value.lstrip(b"\x00") or b"\x00"
        if value[0] & 0x80:
            value = b"\x00" + value
        return b"\x02" + bytes([len(value)]) + value

    body = der_int(compact[:32]) + der_int(compact[32:64])
    return b"\x30" + bytes([len(body)]) + body


def _check_signature(signature: bytes, digest: bytes, payee: bytes | None) -> str:
    """Return the payee node id (hex) the signature proves."""
    recovery_id = signature[64]
    if recovery_id > 3:
        raise Bolt11Error(f"signature recovery id {recovery_id} is not in 0..3")
    if payee is not None:
        if int.from_bytes(signature[32:64], "big") > _SECP256K1_ORDER // 2:
            raise Bolt11Error("signature is not low-S although the invoice has an 'n' field")
        if not coincurve.PublicKey(payee).verify(_der_signature(signature), digest, hasher=None):
            raise Bolt11Error(
                f"signature does not verify against payee {payee.hex()} from the 'n' field"
            )
        return payee.hex()
    try:
        recovered = coincurve.PublicKey.from_signature_and_message(signature, digest, hasher=None)
    except ValueError:
        raise Bolt11Error("signature is not recoverable to a public key") from None
    return recovered.format().hex()


def decode_invoice(text: str, *, network: str | None) -> Invoice:
    """Parse and validate a BOLT 11 invoice string (a `lightning:` prefix is allowed).

    `network` is the network the caller pays on ("bitcoin", "testnet", "signet",
    "regtest"); an invoice for another network is rejected with an error naming
    its network. Pass None to accept any known network.
    """
    if network is not None and network not in NETWORK_PREFIXES:
        raise Bolt11Error(f"unknown network {network!r}; known: {sorted(NETWORK_PREFIXES)}")
    if text[:10].lower() == "lightning:":
        text = text[10:]
    try:
        hrp, words = bech32_decode(text)
    except Bech32Error as error:
        raise Bolt11Error(f"invoice is not valid bech32: {error}") from None
    invoice_network, amount_msat = _parse_hrp(hrp)
    if network is not None and invoice_network != network:
        raise Bolt11Error(
            f"invoice is for network {invoice_network!r} (prefix ln{NETWORK_PREFIXES[invoice_network]}), "
            f"expected {network!r} (prefix ln{NETWORK_PREFIXES[network]})"
        )
    if len(words) < _TIMESTAMP_WORDS + _SIGNATURE_WORDS:
        raise Bolt11Error(
            f"invoice data part is too short ({len(words)} words) for a timestamp and signature"
        )
    signed_words = words[:-_SIGNATURE_WORDS]
    signature = _words_to_bytes(words[-_SIGNATURE_WORDS:])
    timestamp = _words_to_int(signed_words[:_TIMESTAMP_WORDS])
    fields = _parse_fields(signed_words[_TIMESTAMP_WORDS:])

    payment_hash = payment_secret = description_hash = payee_key = metadata = None
    description: str | None = None
    description_count = 0
    expiry: int | None = None
    min_final_cltv_expiry: int | None = None
    features: frozenset[int] | None = None
    route_hints: list[tuple[RouteHintHop, ...]] = []
    fallbacks: list[Fallback] = []
    for field in fields:
        tag, words_count = field.tag, len(field.words)
        if tag == TAG_PAYMENT_HASH and words_count == 52 and payment_hash is None:
            payment_hash = _words_to_bytes(field.words)
        elif tag == TAG_PAYMENT_SECRET and words_count == 52 and payment_secret is None:
            payment_secret = _words_to_bytes(field.words)
        elif tag == TAG_DESCRIPTION_HASH and words_count == 52:
            description_count += 1
            description_hash = _words_to_bytes(field.words)
        elif tag == TAG_DESCRIPTION:
            description_count += 1
            try:
                description = _words_to_bytes(field.words).decode("utf-8")
            except UnicodeDecodeError:
                raise Bolt11Error("description field 'd' is not valid UTF-8") from None
        elif tag == TAG_PAYEE and words_count == 53 and payee_key is None:
            candidate = _words_to_bytes(field.words)
            try:
                coincurve.PublicKey(candidate)
            except ValueError:
                continue  # not a valid `n`: fall back to public-key recovery
            payee_key = candidate
        elif tag == TAG_EXPIRY and expiry is None:
            expiry = _minimal_int(field)
        elif tag == TAG_MIN_FINAL_CLTV_EXPIRY and min_final_cltv_expiry is None:
            min_final_cltv_expiry = _minimal_int(field)
        elif tag == TAG_FEATURES and features is None:
            features = _parse_features(field)
        elif tag == TAG_FALLBACK:
            fallback = _parse_fallback(field)
            if fallback is not None:
                fallbacks.append(fallback)
        elif tag == TAG_ROUTE_HINT:
            route_hints.append(_parse_route_hint(field))
        elif tag == TAG_METADATA and metadata is None:
            metadata = _words_to_bytes(field.words)
        # anything else (unknown type, wrong fixed length, repeats) is ignored

    if payment_hash is None:
        raise Bolt11Error("invoice has no valid payment_hash ('p') field")
    if payment_secret is None:
        raise Bolt11Error("invoice has no valid payment_secret ('s') field")
    if description_count != 1:
        raise Bolt11Error(
            f"invoice must have exactly one description ('d') or description hash ('h'), has {description_count}"
        )
    payee = _check_signature(signature, _signing_digest(hrp, signed_words), payee_key)
    return Invoice(
        network=invoice_network,
        amount_msat=amount_msat,
        timestamp=timestamp,
        payment_hash=payment_hash,
        payment_secret=payment_secret,
        description=description,
        description_hash=description_hash,
        expiry=DEFAULT_EXPIRY_SECONDS if expiry is None else expiry,
        min_final_cltv_expiry=DEFAULT_MIN_FINAL_CLTV_EXPIRY
        if min_final_cltv_expiry is None
        else min_final_cltv_expiry,
        features=frozenset() if features is None else features,
        route_hints=tuple(route_hints),
        payee=payee,
        fallbacks=tuple(fallbacks),
        metadata=metadata,
        signature=signature,
        tagged_fields=tuple(fields),
    )
