"""BOLT 1 fundamental types: big-endian integers, truncated integers, BigSize,

Layer: wire. Imports nothing of the node.

points, signatures and short channel ids.

`Reader` consumes a byte string field by field and raises `WireError` on
truncated or non-canonical data; the `encode_*` functions are its inverse.
"""

from __future__ import annotations

from dataclasses import dataclass

from coincurve import PublicKey

CHAIN_HASH_SIZE = 32
CHANNEL_ID_SIZE = 32
SHA256_SIZE = 32
SIGNATURE_SIZE = 64
POINT_SIZE = 33
SHORT_CHANNEL_ID_SIZE = 8

MAX_SATOSHI = 0x000775F05A074000
MAX_MSAT = 0x1D24B2DFAC520000

# Bitcoin regtest genesis block hash in internal byte order (the order `chain_hash` uses on
# the wire); displayed by bitcoind as 0f9188f1...466e2206.
REGTEST_CHAIN_HASH = bytes.fromhex(
    "06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f"
)


class WireError(ValueError):
    """Bytes that do not decode: truncated, non-canonical or invalid.

    `message` and `field` name where it happened when known (set by the message codec).
    """

    def __init__(self, reason: str, *, message: str | None = None, field: str | None = None):
        self.reason = reason
        self.message = message
        self.field = field
        where = ".".join(part for part in (message, field) if part)
        super().__init__(f"{where}: {reason}" if where else reason)


def encode_u8(value: int) -> bytes:
    return _encode_fixed(value, 1)


def encode_u16(value: int) -> bytes:
    return _encode_fixed(value, 2)


def encode_u32(value: int) -> bytes:
    return _encode_fixed(value, 4)


def encode_u64(value: int) -> bytes:
    return _encode_fixed(value, 8)


def _encode_fixed(value: int, size: int) -> bytes:
    if not 0 <= value < 1 << (8 * size):
        raise ValueError(f"{value} does not fit in an unsigned {8 * size}-bit integer")
    return value.to_bytes(size, "big")


def encode_tu(value: int, max_size: int) -> bytes:
    """Truncated unsigned integer: big-endian with leading zero bytes omitted (0 -> b'')."""
    if not 0 <= value < 1 << (8 * max_size):
        raise ValueError(f"{value} does not fit in a tu{8 * max_size}")
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def encode_tu16(value: int) -> bytes:
    return encode_tu(value, 2)


def encode_tu32(value: int) -> bytes:
    return encode_tu(value, 4)


def encode_tu64(value: int) -> bytes:
    return encode_tu(value, 8)


def decode_tu(data: bytes, max_size: int) -> int:
    """Inverse of `encode_tu`; rejects leading zeros and over-long encodings."""
    if len(data) > max_size:
        raise WireError(f"truncated integer of {len(data)} bytes is longer than {max_size}")
    if data[:1] == b"\x00":
        raise WireError("truncated integer is not minimal (leading zero byte)")
    return int.from_bytes(data, "big")


def encode_bigsize(value: int) -> bytes:
    """BigSize: 1, 3, 5 or 9 bytes, big-endian (BOLT 1 Appendix A)."""
    if value < 0:
        raise ValueError(f"BigSize cannot encode negative value {value}")
    if value < 0xFD:
        return bytes([value])
    if value < 0x10000:
        return b"\xfd" + value.to_bytes(2, "big")
    if value < 0x100000000:
        return b"\xfe" + value.to_bytes(4, "big")
    if value < 1 << 64:
        return b"\xff" + value.to_bytes(8, "big")
    raise ValueError(f"BigSize cannot encode {value} (more than 64 bits)")


def validate_point(data: bytes) -> bytes:
    """Return `data` if it is a valid compressed secp256k1 point, else raise WireError."""
    if len(data) != POINT_SIZE or data[0] not in (2, 3):
        raise WireError(f"not a valid compressed point: {data[:1].hex()}...")
    try:
        PublicKey(data)
    except ValueError as exc:
        raise WireError(f"point {data.hex()} is not on the curve") from exc
    return data


@dataclass(frozen=True, order=True)
class ShortChannelId:
    """BOLT 7 short_channel_id: block height (3 bytes), tx index (3), output index (2)."""

    block_height: int
    tx_index: int
    output_index: int

    def __post_init__(self) -> None:
        if not 0 <= self.block_height < 1 << 24:
            raise ValueError(f"block_height {self.block_height} does not fit in 3 bytes")
        if not 0 <= self.tx_index < 1 << 24:
            raise ValueError(f"tx_index {self.tx_index} does not fit in 3 bytes")
        if not 0 <= self.output_index < 1 << 16:
            raise ValueError(f"output_index {self.output_index} does not fit in 2 bytes")

    @classmethod
    def from_int(cls, value: int) -> ShortChannelId:
        return cls(value >> 40, (value >> 16) & 0xFFFFFF, value & 0xFFFF)

    @classmethod
    def from_bytes(cls, data: bytes) -> ShortChannelId:
        if len(data) != SHORT_CHANNEL_ID_SIZE:
            raise WireError(f"short_channel_id must be 8 bytes, got {len(data)}")
        return cls.from_int(int.from_bytes(data, "big"))

    @classmethod
    def parse(cls, text: str) -> ShortChannelId:
        """Parse the usual `BLOCKxTXxOUT` notation, e.g. `103x1x0`."""
        parts = text.split("x")
        if len(parts) != 3 or not all(part.isdigit() for part in parts):
            raise ValueError(f"short channel id {text!r} is not of the form BLOCKxTXxOUTPUT")
        return cls(int(parts[0]), int(parts[1]), int(parts[2]))

    def to_int(self) -> int:
        return (self.block_height << 40) | (self.tx_index << 16) | self.output_index

    def to_bytes(self) -> bytes:
        return self.to_int().to_bytes(SHORT_CHANNEL_ID_SIZE, "big")

    def __str__(self) -> str:
        return f"{self.block_height}x{self.tx_index}x{self.output_index}"


class Reader:
    """Sequential reader over a byte string; every read checks the remaining length."""

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)
        self._pos = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def at_end(self) -> bool:
        return self._pos >= len(self._data)

    def read_bytes(self, size: int) -> bytes:
        if size > self.remaining:
            raise WireError(f"truncated: need {size} bytes, only {self.remaining} left")
        chunk = self._data[self._pos : self._pos + size]
        self._pos += size
        return chunk

    def read_rest(self) -> bytes:
        return self.read_bytes(self.remaining)

    def read_u8(self) -> int:
        return self.read_bytes(1)[0]

    def read_u16(self) -> int:
        return int.from_bytes(self.read_bytes(2), "big")

    def read_u32(self) -> int:
        return int.from_bytes(self.read_bytes(4), "big")

    def read_u64(self) -> int:
        return int.from_bytes(self.read_bytes(8), "big")

    def read_bigsize(self) -> int:
        """Read a minimally encoded BigSize."""
        if self.at_end():
            raise WireError("truncated: no bytes left for a BigSize")
        prefix = self.read_u8()
        if prefix < 0xFD:
            return prefix
        size, minimum = {0xFD: (2, 0xFD), 0xFE: (4, 0x10000), 0xFF: (8, 0x100000000)}[prefix]
        if size > self.remaining:
            raise WireError(
                f"truncated BigSize: need {size} bytes after 0x{prefix:02x}, "
                f"only {self.remaining} left"
            )
        value = int.from_bytes(self.read_bytes(size), "big")
        if value < minimum:
            raise WireError(f"BigSize {value} is not minimally encoded")
        return value

    def read_point(self) -> bytes:
        return validate_point(self.read_bytes(POINT_SIZE))

    def read_short_channel_id(self) -> ShortChannelId:
        return ShortChannelId.from_bytes(self.read_bytes(SHORT_CHANNEL_ID_SIZE))


def decode_bigsize(data: bytes) -> int:
    """Decode exactly one BigSize occupying all of `data`."""
    reader = Reader(data)
    value = reader.read_bigsize()
    if not reader.at_end():
        raise WireError(f"{reader.remaining} unexpected bytes after BigSize")
    return value
