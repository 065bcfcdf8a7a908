"""BOLT 1 TLV streams.

Layer: wire. Imports wire.codec only.

A `TlvStreamCodec` knows the records of one namespace (`TlvRecord`: type,
name, how to read and write its value).  Decoding enforces BOLT 1: minimal
BigSize type and length, strictly increasing types, the exact length of every
known record, an error for an unknown even type; unknown odd records are
skipped but kept (as raw `(type, value)` pairs) so a stream can be re-encoded
byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .codec import (
    Reader,
    ShortChannelId,
    WireError,
    decode_tu,
    encode_bigsize,
    encode_tu,
    encode_u16,
    encode_u32,
    encode_u64,
    validate_point,
)


class TlvError(WireError):
    """A TLV stream violates BOLT 1; `tlv_type` is the offending record type when known."""

    def __init__(self, reason: str, *, tlv_type: int | None = None, **kwargs: Any) -> None:
        self.tlv_type = tlv_type
        super().__init__(reason, **kwargs)


def read_records(data: bytes) -> list[tuple[int, bytes]]:
    """Split a TLV stream into `(type, value)` pairs, checking encoding and order only."""
    reader = Reader(data)
    records: list[tuple[int, bytes]] = []
    previous: int | None = None
    while not reader.at_end():
        try:
            tlv_type = reader.read_bigsize()
        except WireError as exc:
            raise TlvError(f"bad record type: {exc.reason}") from exc
        if previous is not None and tlv_type <= previous:
            raise TlvError(
                f"record type {tlv_type} after {previous}: types must strictly increase",
                tlv_type=tlv_type,
            )
        try:
            length = reader.read_bigsize()
        except WireError as exc:
            raise TlvError(f"record {tlv_type}: bad length: {exc.reason}", tlv_type=tlv_type) from exc
        if length > reader.remaining:
            raise TlvError(
                f"record {tlv_type}: length {length} exceeds the {reader.remaining} bytes left",
                tlv_type=tlv_type,
            )
        records.append((tlv_type, reader.read_bytes(length)))
        previous = tlv_type
    return records


def write_records(records: Iterable[tuple[int, bytes]]) -> bytes:
    """Serialise `(type, value)` pairs, sorted by type; duplicate types are refused."""
    ordered = sorted(records, key=lambda record: record[0])
    for (first, _), (second, _) in zip(ordered, ordered[1:], strict=False):
        if first == second:
            raise ValueError(f"TLV type {first} appears twice")
    return b"".join(
        encode_bigsize(tlv_type) + encode_bigsize(len(value)) + value for tlv_type, value in ordered
    )


@dataclass(frozen=True)
class TlvRecord:
    """One known record type: `read` must consume the whole value (any rest is an error)."""

    type: int
    name: str
    read: Callable[[Reader], Any]
    write: Callable[[Any], bytes]


@dataclass(frozen=True)
class TlvStream:
    """A decoded stream: known values by record name, plus unknown odd records kept raw."""

    values: Mapping[str, Any] = field(default_factory=dict)
    unknown: tuple[tuple[int, bytes], ...] = ()


class TlvStreamCodec:
    """Encoder/decoder for one TLV namespace."""

    def __init__(self, name: str, records: Sequence[TlvRecord]) -> None:
        self.name = name
        self.by_type = {record.type: record for record in records}
        self.by_name = {record.name: record for record in records}
        if len(self.by_type) != len(records) or len(self.by_name) != len(records):
            raise ValueError(f"TLV namespace {name} defines a type or name twice")

    def decode(self, data: bytes) -> TlvStream:
        values: dict[str, Any] = {}
        unknown: list[tuple[int, bytes]] = []
        for tlv_type, value in read_records(data):
            record = self.by_type.get(tlv_type)
            if record is None:
                if tlv_type % 2 == 0:
                    raise TlvError(
                        f"unknown even record type {tlv_type} in {self.name}", tlv_type=tlv_type
                    )
                unknown.append((tlv_type, value))
                continue
            values[record.name] = self._decode_value(record, value)
        return TlvStream(values, tuple(unknown))

    def _decode_value(self, record: TlvRecord, value: bytes) -> Any:
        reader = Reader(value)
        try:
            decoded = record.read(reader)
        except WireError as exc:
            raise TlvError(
                f"{self.name} record {record.name} (type {record.type}): {exc.reason}",
                tlv_type=record.type,
            ) from exc
        if not reader.at_end():
            raise TlvError(
                f"{self.name} record {record.name} (type {record.type}): "
                f"{reader.remaining} bytes longer than its encoding",
                tlv_type=record.type,
            )
        return decoded

    def encode(
        self, values: Mapping[str, Any], unknown: Iterable[tuple[int, bytes]] = ()
    ) -> bytes:
        """Encode the known values that are not None, merged with raw `unknown` records."""
        records: list[tuple[int, bytes]] = []
        for name, value in values.items():
            if value is None:
                continue
            record = self.by_name.get(name)
            if record is None:
                raise ValueError(f"{self.name} has no TLV record named {name!r}")
            records.append((record.type, record.write(value)))
        records.extend(unknown)
        return write_records(records)


# Value codecs for common record shapes: (read, write) pairs to build TlvRecords.


def tu_record(tlv_type: int, name: str, max_size: int) -> TlvRecord:
    """A truncated unsigned integer (tu16/tu32/tu64) filling the whole value."""
    return TlvRecord(
        tlv_type,
        name,
        lambda reader: decode_tu(reader.read_rest(), max_size),
        lambda value: encode_tu(value, max_size),
    )


def bytes_record(tlv_type: int, name: str, size: int | None = None) -> TlvRecord:
    """Raw bytes: `...*byte` when size is None, else exactly `size` bytes."""
    if size is None:
        return TlvRecord(tlv_type, name, lambda reader: reader.read_rest(), bytes)

    def write(value: bytes) -> bytes:
        if len(value) != size:
            raise ValueError(f"TLV {name} must be {size} bytes, got {len(value)}")
        return bytes(value)

    return TlvRecord(tlv_type, name, lambda reader: reader.read_bytes(size), write)


def point_record(tlv_type: int, name: str) -> TlvRecord:
    return TlvRecord(tlv_type, name, lambda reader: reader.read_point(), validate_point)


def short_channel_id_record(tlv_type: int, name: str) -> TlvRecord:
    return TlvRecord(
        tlv_type,
        name,
        lambda reader: reader.read_short_channel_id(),
        ShortChannelId.to_bytes,
    )


def u16_record(tlv_type: int, name: str) -> TlvRecord:
    return TlvRecord(tlv_type, name, lambda reader: reader.read_u16(), encode_u16)


def u32_record(tlv_type: int, name: str) -> TlvRecord:
    return TlvRecord(tlv_type, name, lambda reader: reader.read_u32(), encode_u32)


def u64_record(tlv_type: int, name: str) -> TlvRecord:
    return TlvRecord(tlv_type, name, lambda reader: reader.read_u64(), encode_u64)


def bigsize_record(tlv_type: int, name: str) -> TlvRecord:
    return TlvRecord(tlv_type, name, lambda reader: reader.read_bigsize(), encode_bigsize)
