"""Lightning wire messages (BOLT 1, 2 and 7): typed, table-driven encode/decode.

Layer: wire. Imports wire.codec and wire.tlv only.

Every message is a frozen dataclass whose fields are declared in wire order
with their wire kind (`wire(U64)`), followed by its TLV records (`tlv(1, KIND)`,
None when absent).  Messages with a TLV stream keep unknown odd records in
`unknown_tlvs`; messages without one keep any trailing bytes in `extra`.  So
`encode(decode(b)) == b` for every valid input, which gossip signatures need.

    raw = encode(Ping(num_pong_bytes=4, ignored=b""))   # includes the 2-byte type
    msg = decode(raw)                                   # -> Ping(...)
    match msg: case UnknownMessage(type=t) if t % 2 == 0: ...  # close the connection

Decoding errors raise `WireError` (a ValueError) naming the message and field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from .codec import (
    CHAIN_HASH_SIZE,
    SIGNATURE_SIZE,
    Reader,
    ShortChannelId,
    WireError,
    decode_tu,
    encode_bigsize,
    encode_tu,
    encode_u8,
    encode_u16,
    encode_u32,
    encode_u64,
    validate_point,
)
from .tlv import TlvError, TlvRecord, TlvStreamCodec

ONION_PACKET_SIZE = 1366
ATTRIBUTION_DATA_SIZE = 20 * 4 + 210 * 4
MAX_MESSAGE_SIZE = 65535

# ---------------------------------------------------------------------------
# Field kinds


@dataclass(frozen=True)
class FieldKind:
    """How one field (or one TLV value) is read from and written to the wire."""

    name: str
    read: Callable[[Reader], Any]
    write: Callable[[Any], bytes]


def _fixed_bytes(size: int, name: str) -> FieldKind:
    def write(value: bytes) -> bytes:
        if len(value) != size:
            raise ValueError(f"{name} must be {size} bytes, got {len(value)}")
        return bytes(value)

    return FieldKind(name, lambda reader: reader.read_bytes(size), write)


def _read_u16_bytes(reader: Reader) -> bytes:
    return reader.read_bytes(reader.read_u16())


def _write_u16_bytes(value: bytes) -> bytes:
    return encode_u16(len(value)) + bytes(value)


def _read_signatures(reader: Reader) -> tuple[bytes, ...]:
    return tuple(reader.read_bytes(SIGNATURE_SIZE) for _ in range(reader.read_u16()))


def _write_signatures(value: Sequence[bytes]) -> bytes:
    for signature in value:
        if len(signature) != SIGNATURE_SIZE:
            raise ValueError(f"signature must be {SIGNATURE_SIZE} bytes, got {len(signature)}")
    return encode_u16(len(value)) + b"".join(value)


def _read_chain_hashes(reader: Reader) -> tuple[bytes, ...]:
    data = reader.read_rest()
    if len(data) % CHAIN_HASH_SIZE:
        raise WireError(f"{len(data)} bytes is not a whole number of chain hashes")
    return tuple(data[i : i + CHAIN_HASH_SIZE] for i in range(0, len(data), CHAIN_HASH_SIZE))


def _write_chain_hashes(value: Sequence[bytes]) -> bytes:
    return b"".join(CHAIN_HASH.write(chain) for chain in value)


U8 = FieldKind("byte", Reader.read_u8, encode_u8)
U16 = FieldKind("u16", Reader.read_u16, encode_u16)
U32 = FieldKind("u32", Reader.read_u32, encode_u32)
U64 = FieldKind("u64", Reader.read_u64, encode_u64)
BIGSIZE = FieldKind("bigsize", Reader.read_bigsize, encode_bigsize)
TU64 = FieldKind("tu64", lambda reader: decode_tu(reader.read_rest(), 8), lambda v: encode_tu(v, 8))
CHAIN_HASH = _fixed_bytes(CHAIN_HASH_SIZE, "chain_hash")
CHANNEL_ID = _fixed_bytes(32, "channel_id")
SHA256 = _fixed_bytes(32, "sha256")
BYTES32 = _fixed_bytes(32, "32*byte")
SIGNATURE = _fixed_bytes(SIGNATURE_SIZE, "signature")
RGB_COLOR = _fixed_bytes(3, "3*byte")
ONION_PACKET = _fixed_bytes(ONION_PACKET_SIZE, "1366*byte")
ATTRIBUTION_DATA = _fixed_bytes(ATTRIBUTION_DATA_SIZE, "attribution_data")
POINT = FieldKind("point", Reader.read_point, validate_point)
SCID = FieldKind("short_channel_id", Reader.read_short_channel_id, ShortChannelId.to_bytes)
U16_BYTES = FieldKind("u16 length + bytes", _read_u16_bytes, _write_u16_bytes)
U16_SIGNATURES = FieldKind("u16 count + signatures", _read_signatures, _write_signatures)
REST_BYTES = FieldKind("...*byte", Reader.read_rest, bytes)
CHAIN_HASHES = FieldKind("...*chain_hash", _read_chain_hashes, _write_chain_hashes)


def wire(kind: FieldKind) -> Any:
    """Declare a fixed (non-TLV) message field of the given kind."""
    return field(metadata={"wire": kind})


def tlv(tlv_type: int, kind: FieldKind) -> Any:
    """Declare an optional TLV record of the message's TLV stream (None when absent)."""
    return field(default=None, metadata={"tlv": (tlv_type, kind)})


def _unknown_tlvs() -> Any:
    return field(default=(), metadata={"unknown_tlvs": True})


def _extra() -> Any:
    return field(default=b"", metadata={"extra": True})


# ---------------------------------------------------------------------------
# Composite TLV values


@dataclass(frozen=True)
class FeeRange:
    """closing_signed `fee_range` TLV."""

    min_fee_satoshis: int
    max_fee_satoshis: int


FEE_RANGE = FieldKind(
    "fee_range",
    lambda reader: FeeRange(reader.read_u64(), reader.read_u64()),
    lambda value: encode_u64(value.min_fee_satoshis) + encode_u64(value.max_fee_satoshis),
)


@dataclass(frozen=True)
class TxidAndFlags:
    """channel_reestablish `next_funding` / `my_current_funding_locked` TLVs."""

    txid: bytes
    retransmit_flags: int


TXID_AND_FLAGS = FieldKind(
    "sha256 + byte",
    lambda reader: TxidAndFlags(reader.read_bytes(32), reader.read_u8()),
    lambda value: SHA256.write(value.txid) + encode_u8(value.retransmit_flags),
)


@dataclass(frozen=True)
class EncodedData:
    """A gossip-query TLV of an encoding byte followed by encoded data."""

    encoding_type: int
    encoded: bytes


ENCODED_DATA = FieldKind(
    "encoding_type + bytes",
    lambda reader: EncodedData(reader.read_u8(), reader.read_rest()),
    lambda value: encode_u8(value.encoding_type) + bytes(value.encoded),
)


def _read_checksums(reader: Reader) -> tuple[tuple[int, int], ...]:
    if reader.remaining % 8:
        raise WireError(f"{reader.remaining} bytes is not a whole number of checksum pairs")
    return tuple((reader.read_u32(), reader.read_u32()) for _ in range(reader.remaining // 8))


CHECKSUMS = FieldKind(
    "...*channel_update_checksums",
    _read_checksums,
    lambda value: b"".join(encode_u32(a) + encode_u32(b) for a, b in value),
)


# ---------------------------------------------------------------------------
# Message machinery


class Message:
    """Base of every known message; `TYPE` and `NAME` are set by `@register`."""

    TYPE: ClassVar[int]
    NAME: ClassVar[str]

    def encode(self) -> bytes:
        """Serialise with the 2-byte type prefix."""
        return encode(self)


@dataclass(frozen=True)
class _Layout:
    wire_fields: tuple[tuple[str, FieldKind], ...]
    tlv_codec: TlvStreamCodec | None
    tlv_names: tuple[str, ...]


MESSAGE_TYPES: dict[int, type[Message]] = {}
_LAYOUTS: dict[type, _Layout] = {}

M = TypeVar("M", bound=type)


def register(message_type: int, name: str) -> Callable[[M], M]:
    """Class decorator: record the wire layout of a message dataclass under its type."""

    def decorate(cls: M) -> M:
        wire_fields: list[tuple[str, FieldKind]] = []
        records: list[TlvRecord] = []
        has_unknown = has_extra = False
        for f in dataclasses.fields(cls):
            if "wire" in f.metadata:
                if records:
                    raise TypeError(f"{name}: fixed field {f.name} declared after a TLV")
                wire_fields.append((f.name, f.metadata["wire"]))
            elif "tlv" in f.metadata:
                tlv_type, kind = f.metadata["tlv"]
                records.append(TlvRecord(tlv_type, f.name, kind.read, kind.write))
            elif "unknown_tlvs" in f.metadata:
                has_unknown = True
            elif "extra" in f.metadata:
                has_extra = True
            else:
                raise TypeError(f"{name}: field {f.name} has no wire declaration")
        if records and not has_unknown:
            raise TypeError(f"{name}: a message with TLVs needs an unknown_tlvs field")
        if not records and not has_extra:
            raise TypeError(f"{name}: a message without TLVs needs an extra field")
        if message_type in MESSAGE_TYPES:
            raise TypeError(f"message type {message_type} registered twice")
        _LAYOUTS[cls] = _Layout(
            tuple(wire_fields),
            TlvStreamCodec(f"{name}_tlvs", records) if records else None,
            tuple(record.name for record in records),
        )
        cls.TYPE = message_type  # type: ignore[attr-defined]
        cls.NAME = name  # type: ignore[attr-defined]
        MESSAGE_TYPES[message_type] = cls
        return cls

    return decorate


@dataclass(frozen=True)
class UnknownMessage:
    """A message type this codec does not know; the caller applies the odd/even rule."""

    type: int
    payload: bytes

    @property
    def is_odd(self) -> bool:
        return self.type % 2 == 1

    def encode(self) -> bytes:
        return encode_u16(self.type) + self.payload


def decode(data: bytes) -> Message | UnknownMessage:
    """Decode one message (2-byte type then payload).  Raises WireError."""
    if len(data) < 2:
        raise WireError(f"message of {len(data)} bytes has no 2-byte type")
    message_type = int.from_bytes(data[:2], "big")
    cls = MESSAGE_TYPES.get(message_type)
    if cls is None:
        return UnknownMessage(message_type, bytes(data[2:]))
    layout = _LAYOUTS[cls]
    reader = Reader(data[2:])
    values: dict[str, Any] = {}
    for name, kind in layout.wire_fields:
        try:
            values[name] = kind.read(reader)
        except WireError as exc:
            raise WireError(exc.reason, message=cls.NAME, field=name) from exc
    rest = reader.read_rest()
    if layout.tlv_codec is None:
        values["extra"] = rest
    else:
        try:
            stream = layout.tlv_codec.decode(rest)
        except TlvError as exc:
            raise TlvError(
                exc.reason, tlv_type=exc.tlv_type, message=cls.NAME, field="tlvs"
            ) from exc
        values.update(stream.values)
        values["unknown_tlvs"] = stream.unknown
    return cls(**values)


def encode(message: Message | UnknownMessage) -> bytes:
    """Serialise a message with its 2-byte type prefix."""
    if isinstance(message, UnknownMessage):
        return message.encode()
    cls = type(message)
    layout = _LAYOUTS.get(cls)
    if layout is None:
        raise TypeError(f"{cls.__name__} is not a registered message")
    parts = [encode_u16(cls.TYPE)]
    for name, kind in layout.wire_fields:
        try:
            parts.append(kind.write(getattr(message, name)))
        except (ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"{cls.NAME}.{name}: cannot encode: {exc}") from exc
    if layout.tlv_codec is None:
        parts.append(bytes(message.extra))  # type: ignore[attr-defined]
    else:
        values = {name: getattr(message, name) for name in layout.tlv_names}
        try:
            parts.append(layout.tlv_codec.encode(values, message.unknown_tlvs))  # type: ignore[attr-defined]
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{cls.NAME}.tlvs: cannot encode: {exc}") from exc
    return b"".join(parts)


# ---------------------------------------------------------------------------
# BOLT 1: setup and control


@register(16, "init")
@dataclass(frozen=True)
class Init(Message):
    globalfeatures: bytes = wire(U16_BYTES)
    features: bytes = wire(U16_BYTES)
    networks: tuple[bytes, ...] | None = tlv(1, CHAIN_HASHES)
    remote_addr: bytes | None = tlv(3, REST_BYTES)
    unknown_tlvs: tuple[tuple[int, bytes], ...] = _unknown_tlvs()


@register(17, "error")
@dataclass(frozen=True)
class ErrorMessage(Message):
    channel_id: bytes = wire(CHANNEL_ID)
    data: bytes = wire(U16_BYTES)
    extra: bytes = _extra()


@register(1, "warning")
@dataclass(frozen=True)
class WarningMessage(Message):
    channel_id: bytes = wire(CHANNEL_ID)
    data: bytes = wire(U16_BYTES)
    extra: bytes = _extra()


@register(18, "ping")
@dataclass(frozen=True)
class Ping(Message):
    num_pong_bytes: int = wire(U16)
    ignored: bytes = wire(U16_BYTES)
    extra: bytes = _extra()


@register(19, "pong")
@dataclass(frozen=True)
class Pong(Message):
    ignored: bytes = wire(U16_BYTES)
    extra: bytes = _extra()


# ---------------------------------------------------------------------------
# BOLT 2: channel establishment (v1)


@register(32, "open_channel")
@dataclass(frozen=True)
class OpenChannel(Message):
    chain_hash: bytes = wire(CHAIN_HASH)
    temporary_channel_id: bytes = wire(BYTES32)
    funding_satoshis: int = wire(U64)
    push_msat: int = wire(U64)
    dust_limit_satoshis: int = wire(U64)
    max_htlc_value_in_flight_msat: int = wire(U64)
    channel_reserve_satoshis: int = wire(U64)
    htlc_minimum_msat: int = wire(U64)
    feerate_per_kw: int = wire(U32)
    to_self_delay: int = wire(U16)
    max_accepted_htlcs: int = wire(U16)
    funding_pubkey: bytes = wire(POINT)
    revocation_basepoint: bytes = wire(POINT)
    payment_basepoint: bytes = wire(POINT)
    delayed_payment_basepoint: bytes = wire(POINT)
    htlc_basepoint: bytes = wire(POINT)
    first_per_commitment_point: bytes = wire(POINT)
    channel_flags: int = wire(U8)
    upfront_shutdown_script: bytes | None = tlv(0, REST_BYTES)
    channel_type: bytes | None = tlv(1, REST_BYTES)
    unknown_tlvs: tuple[tuple[int, bytes], ...] = _unknown_tlvs()


@register(33, "accept_channel")
@dataclass(frozen=True)
class AcceptChannel(Message):
    temporary_channel_id: bytes = wire(BYTES32)
    dust_limit_satoshis: int = wire(U64)
    max_htlc_value_in_flight_msat: int = wire(U64)
    channel_reserve_satoshis: int = wire(U64)
    htlc_minimum_msat: int = wire(U64)
    minimum_depth: int = wire(U32)
    to_self_delay: int = wire(U16)
    max_accepted_htlcs: int = wire(U16)
    funding_pubkey: bytes = wire(POINT)
    revocation_basepoint: bytes = wire(POINT)
    payment_basepoint: bytes = wire(POINT)
    delayed_payment_basepoint: bytes = wire(POINT)
    htlc_basepoint: bytes = wire(POINT)
    first_per_commitment_point: bytes = wire(POINT)
    upfront_shutdown_script: bytes | None = tlv(0, REST_BYTES)
    channel_type: bytes | None = tlv(1, REST_BYTES)
    unknown_tlvs: tuple[tuple[int, bytes], ...] = _unknown_tlvs()


@register(34, "funding_created")
@dataclass(frozen=True)
class FundingCreated(Message):
    temporary_channel_id: bytes = wire(BYTES32)
    funding_txid: bytes = wire(SHA256)
    funding_output_index: int = wire(U16)
    signature: bytes = wire(SIGNATURE)
    extra: bytes = _extra()


@register(35, "funding_signed")
@dataclass(frozen=True)
class FundingSigned(Message):
    channel_id: bytes = wire(CHANNEL_ID)
    signature: bytes = wire(SIGNATURE)
    extra: bytes = _extra()


@register(36, "channel_ready")
@dataclass(frozen=True)
class ChannelReady(Message):
    channel_id: bytes = wire(CHANNEL_ID)
    second_per_commitment_point: bytes = wire(POINT)
    alias_scid: ShortChannelId | None = tlv(1, SCID)  # TLV `short_channel_id` (alias)
    unknown_tlvs: tuple[tuple[int, bytes], ...] = _unknown_tlvs()


# ---------------------------------------------------------------------------
# BOLT 2: closing


@register(38, "shutdown")
@dataclass(frozen=True)
class Shutdown(Message):
    channel_id: bytes = wire(CHANNEL_ID)
    scriptpubkey: bytes = wire(U16_BYTES)
    extra: bytes = _extra()


@register(39, "closing_signed")
@dataclass(frozen=True)
class ClosingSigned(Message):
    channel_id: bytes = wire(CHANNEL_ID)
    fee_satoshis: int = wire(U64)
    signature: bytes = wire(SIGNATURE)
    fee_range: FeeRange | None = tlv(1, FEE_RANGE)
    unknown_tlvs: tuple[tuple[int, bytes], ...] = _unknown_tlvs()


# ---------------------------------------------------------------------------
# BOLT 2: normal operation


@register(128, "update_add_htlc")
@dataclass(frozen=True)
class UpdateAddHtlc(Message):
    channel_id: bytes = wire(CHANNEL_ID)
    id: int = wire(U64)
    amount_msat: int = wire(U64)
    payment_hash: bytes = wire(SHA256)
    cltv_expiry: int = wire(U32)
    onion_routing_packet: bytes = wire(ONION_PACKET)
    blinded_path_key: bytes | None = tlv(0, POINT)  # TLV `blinded_path` (path_key)
    unknown_tlvs: tuple[tuple[int, bytes], ...] = _unknown_tlvs()


@register(130, "update_fulfill_htlc")
@dataclass(frozen=True)
class UpdateFulfillHtlc(Message):
    channel_id: bytes = wire(CHANNEL_ID)
    id: int = wire(U64)
    payment_preimage: bytes = wire(BYTES32)
    attribution_data: bytes | None = tlv(1, ATTRIBUTION_DATA)
    unknown_tlvs: tuple[tuple[int, bytes], ...] = _unknown_tlvs()


@register(131, "update_fail_htlc")
@dataclass(frozen=True)
class UpdateFailHtlc(Message):
    channel_id: bytes = wire(CHANNEL_ID)
    id: int = wire(U64)
    reason: bytes = wire(U16_BYTES)
    attribution_data: bytes | None = tlv(1, ATTRIBUTION_DATA)
    unknown_tlvs: tuple[tuple[int, bytes], ...] = _unknown_tlvs()


@register(135, "update_fail_malformed_htlc")
@dataclass(frozen=True)
class UpdateFailMalformedHtlc(Message):
    channel_id: bytes = wire(CHANNEL_ID)
    id: int = wire(U64)
    sha256_of_onion: bytes = wire(SHA256)
    failure_code: int = wire(U16)
    extra: bytes = _extra()


@register(132, "commitment_signed")
@dataclass(frozen=True)
class CommitmentSigned(Message):
    channel_id: bytes = wire(CHANNEL_ID)
    signature: bytes = wire(SIGNATURE)
    htlc_signatures: tuple[bytes, ...] = wire(U16_SIGNATURES)
    funding_txid: bytes | None = tlv(1, SHA256)
    unknown_tlvs: tuple[tuple[int, bytes], ...] = _unknown_tlvs()


@register(133, "revoke_and_ack")
@dataclass(frozen=True)
class RevokeAndAck(Message):
    channel_id: bytes = wire(CHANNEL_ID)
    per_commitment_secret: bytes = wire(BYTES32)
    next_per_commitment_point: bytes = wire(POINT)
    extra: bytes = _extra()


@register(134, "update_fee")
@dataclass(frozen=True)
class UpdateFee(Message):
    channel_id: bytes = wire(CHANNEL_ID)
    feerate_per_kw: int = wire(U32)
    extra: bytes = _extra()


@register(136, "channel_reestablish")
@dataclass(frozen=True)
class ChannelReestablish(Message):
    channel_id: bytes = wire(CHANNEL_ID)
    next_commitment_number: int = wire(U64)
    next_revocation_number: int = wire(U64)
    your_last_per_commitment_secret: bytes = wire(BYTES32)
    my_current_per_commitment_point: bytes = wire(POINT)
    next_funding: TxidAndFlags | None = tlv(1, TXID_AND_FLAGS)
    my_current_funding_locked: TxidAndFlags | None = tlv(5, TXID_AND_FLAGS)
    unknown_tlvs: tuple[tuple[int, bytes], ...] = _unknown_tlvs()


# ---------------------------------------------------------------------------
# BOLT 7: gossip


@register(259, "announcement_signatures")
@dataclass(frozen=True)
class AnnouncementSignatures(Message):
    channel_id: bytes = wire(CHANNEL_ID)
    short_channel_id: ShortChannelId = wire(SCID)
    node_signature: bytes = wire(SIGNATURE)
    bitcoin_signature: bytes = wire(SIGNATURE)
    extra: bytes = _extra()


@register(256, "channel_announcement")
@dataclass(frozen=True)
class ChannelAnnouncement(Message):
    node_signature_1: bytes = wire(SIGNATURE)
    node_signature_2: bytes = wire(SIGNATURE)
    bitcoin_signature_1: bytes = wire(SIGNATURE)
    bitcoin_signature_2: bytes = wire(SIGNATURE)
    features: bytes = wire(U16_BYTES)
    chain_hash: bytes = wire(CHAIN_HASH)
    short_channel_id: ShortChannelId = wire(SCID)
    node_id_1: bytes = wire(POINT)
    node_id_2: bytes = wire(POINT)
    bitcoin_key_1: bytes = wire(POINT)
    bitcoin_key_2: bytes = wire(POINT)
    extra: bytes = _extra()

    def signed_data(self) -> bytes:
        """The bytes all four signatures commit to (double-SHA256 them to get the digest)."""
        return self.encode()[2 + 4 * SIGNATURE_SIZE :]


@register(257, "node_announcement")
@dataclass(frozen=True)
class NodeAnnouncement(Message):
    signature: bytes = wire(SIGNATURE)
    features: bytes = wire(U16_BYTES)
    timestamp: int = wire(U32)
    node_id: bytes = wire(POINT)
    rgb_color: bytes = wire(RGB_COLOR)
    alias: bytes = wire(BYTES32)
    addresses: bytes = wire(U16_BYTES)  # see netaddress.decode_addresses
    extra: bytes = _extra()

    def signed_data(self) -> bytes:
        """The bytes `signature` commits to (double-SHA256 them to get the digest)."""
        return self.encode()[2 + SIGNATURE_SIZE :]


@register(258, "channel_update")
@dataclass(frozen=True)
class ChannelUpdate(Message):
    signature: bytes = wire(SIGNATURE)
    chain_hash: bytes = wire(CHAIN_HASH)
    short_channel_id: ShortChannelId = wire(SCID)
    timestamp: int = wire(U32)
    message_flags: int = wire(U8)
    channel_flags: int = wire(U8)
    cltv_expiry_delta: int = wire(U16)
    htlc_minimum_msat: int = wire(U64)
    fee_base_msat: int = wire(U32)
    fee_proportional_millionths: int = wire(U32)
    htlc_maximum_msat: int = wire(U64)
    extra: bytes = _extra()

    def signed_data(self) -> bytes:
        """The bytes `signature` commits to (double-SHA256 them to get the digest)."""
        return self.encode()[2 + SIGNATURE_SIZE :]


@register(261, "query_short_channel_ids")
@dataclass(frozen=True)
class QueryShortChannelIds(Message):
    chain_hash: bytes = wire(CHAIN_HASH)
    encoded_short_ids: bytes = wire(U16_BYTES)  # see decode_short_channel_ids
    query_flags: EncodedData | None = tlv(1, ENCODED_DATA)
    unknown_tlvs: tuple[tuple[int, bytes], ...] = _unknown_tlvs()


@register(262, "reply_short_channel_ids_end")
@dataclass(frozen=True)
class ReplyShortChannelIdsEnd(Message):
    chain_hash: bytes = wire(CHAIN_HASH)
    full_information: int = wire(U8)
    extra: bytes = _extra()


@register(263, "query_channel_range")
@dataclass(frozen=True)
class QueryChannelRange(Message):
    chain_hash: bytes = wire(CHAIN_HASH)
    first_blocknum: int = wire(U32)
    number_of_blocks: int = wire(U32)
    query_option: int | None = tlv(1, BIGSIZE)
    unknown_tlvs: tuple[tuple[int, bytes], ...] = _unknown_tlvs()


@register(264, "reply_channel_range")
@dataclass(frozen=True)
class ReplyChannelRange(Message):
    chain_hash: bytes = wire(CHAIN_HASH)
    first_blocknum: int = wire(U32)
    number_of_blocks: int = wire(U32)
    sync_complete: int = wire(U8)
    encoded_short_ids: bytes = wire(U16_BYTES)  # see decode_short_channel_ids
    timestamps: EncodedData | None = tlv(1, ENCODED_DATA)  # TLV `timestamps_tlv`
    checksums: tuple[tuple[int, int], ...] | None = tlv(3, CHECKSUMS)  # TLV `checksums_tlv`
    unknown_tlvs: tuple[tuple[int, bytes], ...] = _unknown_tlvs()


@register(265, "gossip_timestamp_filter")
@dataclass(frozen=True)
class GossipTimestampFilter(Message):
    chain_hash: bytes = wire(CHAIN_HASH)
    first_timestamp: int = wire(U32)
    timestamp_range: int = wire(U32)
    extra: bytes = _extra()


# ---------------------------------------------------------------------------
# Gossip query encodings

ENCODING_UNCOMPRESSED = 0
ENCODING_ZLIB = 1  # deprecated and no longer allowed


def encode_short_channel_ids(scids: Sequence[ShortChannelId]) -> bytes:
    """`encoded_short_ids` in the uncompressed encoding (type 0)."""
    return encode_u8(ENCODING_UNCOMPRESSED) + b"".join(scid.to_bytes() for scid in scids)


def decode_short_channel_ids(encoded: bytes) -> list[ShortChannelId]:
    """Decode `encoded_short_ids`; an empty field means no ids.  Raises WireError."""
    return [ShortChannelId.from_int(v) for v in _decode_u64_list(encoded, "encoded_short_ids")]


def encode_query_flags(flags: Sequence[int]) -> EncodedData:
    """query_short_channel_ids `query_flags` TLV value: one BigSize per queried id."""
    return EncodedData(ENCODING_UNCOMPRESSED, b"".join(encode_bigsize(flag) for flag in flags))


def decode_query_flags(value: EncodedData) -> list[int]:
    _check_encoding(value.encoding_type, "encoded_query_flags")
    reader = Reader(value.encoded)
    flags: list[int] = []
    while not reader.at_end():
        flags.append(reader.read_bigsize())
    return flags


def encode_timestamps(timestamps: Sequence[tuple[int, int]]) -> EncodedData:
    """reply_channel_range `timestamps_tlv` value: (node_1, node_2) update timestamps per id."""
    return EncodedData(
        ENCODING_UNCOMPRESSED, b"".join(encode_u32(a) + encode_u32(b) for a, b in timestamps)
    )


def decode_timestamps(value: EncodedData) -> list[tuple[int, int]]:
    _check_encoding(value.encoding_type, "encoded_timestamps")
    if len(value.encoded) % 8:
        raise WireError(f"encoded_timestamps: {len(value.encoded)} bytes is not a multiple of 8")
    reader = Reader(value.encoded)
    return [(reader.read_u32(), reader.read_u32()) for _ in range(len(value.encoded) // 8)]


def _check_encoding(encoding_type: int, what: str) -> None:
    if encoding_type == ENCODING_ZLIB:
        raise WireError(f"{what}: zlib encoding (1) is no longer allowed")
    if encoding_type != ENCODING_UNCOMPRESSED:
        raise WireError(f"{what}: unknown encoding type {encoding_type}")


def _decode_u64_list(encoded: bytes, what: str) -> list[int]:
    if not encoded:
        return []
    _check_encoding(encoded[0], what)
    body = encoded[1:]
    if len(body) % 8:
        raise WireError(f"{what}: {len(body)} bytes is not a multiple of 8")
    return [int.from_bytes(body[i : i + 8], "big") for i in range(0, len(body), 8)]
