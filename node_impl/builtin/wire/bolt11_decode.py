"""BOLT 11 invoice decoding: parse, validate and check the signature of a payment request.

Layer: wire. Imports wire.bolt11 (the invoice types and constants) and wire.bech32 only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import coincurve

from .bech32 import Bech32Error, bech32_decode, convert_bits
from .bolt11 import (
    DECI_MSAT_PER_UNIT,
    DEFAULT_EXPIRY_SECONDS,
    DEFAULT_MIN_FINAL_CLTV_EXPIRY,
    FEATURE_BASIC_MPP,
    FEATURE_PAYMENT_SECRET,
    KNOWN_INVOICE_FEATURES,
    NETWORK_PREFIXES,
    TAG_DESCRIPTION,
    TAG_DESCRIPTION_HASH,
    TAG_EXPIRY,
    TAG_FALLBACK,
    TAG_FEATURES,
    TAG_METADATA,
    TAG_MIN_FINAL_CLTV_EXPIRY,
    TAG_PAYEE,
    TAG_PAYMENT_HASH,
    TAG_PAYMENT_SECRET,
    TAG_ROUTE_HINT,
    TIMESTAMP_WORDS,
    Bolt11Error,
    Fallback,
    Invoice,
    RouteHintHop,
    TaggedField,
    signing_digest,
)

_PREFIX_NETWORKS = {prefix: network for network, prefix in NETWORK_PREFIXES.items()}
_FEATURE_DEPENDENCIES = {FEATURE_BASIC_MPP: (FEATURE_PAYMENT_SECRET,)}
_SIGNATURE_WORDS = 104  # 520 bits: 64-byte r||s + 1-byte recovery id
_ROUTE_HINT_HOP_BYTES = 51
_SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HRP_PATTERN = re.compile(r"ln([a-z]+)(\d*)(.*)")
_FALLBACK_P2PKH = 17
_FALLBACK_P2SH = 18
_MAX_WITNESS_VERSION = 16


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
    if multiplier not in DECI_MSAT_PER_UNIT:
        raise Bolt11Error(f"invalid amount multiplier {multiplier!r} (expected one of m, u, n, p)")
    deci_msat = int(digits) * DECI_MSAT_PER_UNIT[multiplier]
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
    if len(words) < TIMESTAMP_WORDS + _SIGNATURE_WORDS:
        raise Bolt11Error(
            f"invoice data part is too short ({len(words)} words) for a timestamp and signature"
        )
    signed_words = words[:-_SIGNATURE_WORDS]
    signature = _words_to_bytes(words[-_SIGNATURE_WORDS:])
    timestamp = _words_to_int(signed_words[:TIMESTAMP_WORDS])
    fields = _parse_fields(signed_words[TIMESTAMP_WORDS:])

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
    payee = _check_signature(signature, signing_digest(hrp, signed_words), payee_key)
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
