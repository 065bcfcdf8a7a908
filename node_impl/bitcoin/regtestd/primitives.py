"""Bitcoin transactions and blocks: parse, serialize, ids and sizes (consensus wire format)."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field


class DecodeError(ValueError):
    """Raised when bytes are not a well-formed transaction or block."""


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def dsha256(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def tagged_hash(tag: str, data: bytes) -> bytes:
    tag_hash = sha256(tag.encode())
    return sha256(tag_hash + tag_hash + data)


def ser_compact_size(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    if n <= 0xFFFFFFFF:
        return b"\xfe" + struct.pack("<I", n)
    return b"\xff" + struct.pack("<Q", n)


def ser_bytes(data: bytes) -> bytes:
    return ser_compact_size(len(data)) + data


class Reader:
    """Cursor over a byte string; every read checks bounds."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def read(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise DecodeError("unexpected end of data")
        out = self.data[self.pos:end]
        self.pos = end
        return out

    def u8(self) -> int:
        return self.read(1)[0]

    def u32(self) -> int:
        return struct.unpack("<I", self.read(4))[0]

    def i32(self) -> int:
        return struct.unpack("<i", self.read(4))[0]

    def i64(self) -> int:
        return struct.unpack("<q", self.read(8))[0]

    def compact_size(self) -> int:
        first = self.u8()
        if first < 0xFD:
            return first
        if first == 0xFD:
            n = struct.unpack("<H", self.read(2))[0]
            minimum = 0xFD
        elif first == 0xFE:
            n = struct.unpack("<I", self.read(4))[0]
            minimum = 0x10000
        else:
            n = struct.unpack("<Q", self.read(8))[0]
            minimum = 0x100000000
        if n < minimum:
            raise DecodeError("non-canonical compact size")
        if n > 0x02000000:
            raise DecodeError("compact size too large")
        return n

    def var_bytes(self) -> bytes:
        return self.read(self.compact_size())

    def at_end(self) -> bool:
        return self.pos == len(self.data)


@dataclass
class TxIn:
    prev_txid: bytes  # 32 bytes, internal (little-endian) order
    prev_vout: int
    script_sig: bytes = b""
    sequence: int = 0xFFFFFFFF
    witness: list[bytes] = field(default_factory=list)

    @property
    def outpoint(self) -> tuple[bytes, int]:
        return (self.prev_txid, self.prev_vout)

    def is_coinbase_input(self) -> bool:
        return self.prev_txid == b"\x00" * 32 and self.prev_vout == 0xFFFFFFFF


@dataclass
class TxOut:
    value_sat: int
    script_pubkey: bytes

    def serialize(self) -> bytes:
        return struct.pack("<q", self.value_sat) + ser_bytes(self.script_pubkey)


@dataclass
class Tx:
    version: int = 2
    vin: list[TxIn] = field(default_factory=list)
    vout: list[TxOut] = field(default_factory=list)
    locktime: int = 0
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # -- serialization -------------------------------------------------
    def has_witness(self) -> bool:
        return any(txin.witness for txin in self.vin)

    def serialize(self, with_witness: bool = True) -> bytes:
        witness = with_witness and self.has_witness()
        parts = [struct.pack("<i", self.version)]
        if witness:
            parts.append(b"\x00\x01")
        parts.append(ser_compact_size(len(self.vin)))
        for txin in self.vin:
            parts.append(txin.prev_txid + struct.pack("<I", txin.prev_vout))
            parts.append(ser_bytes(txin.script_sig) + struct.pack("<I", txin.sequence))
        parts.append(ser_compact_size(len(self.vout)))
        for txout in self.vout:
            parts.append(txout.serialize())
        if witness:
            for txin in self.vin:
                parts.append(ser_compact_size(len(txin.witness)))
                for item in txin.witness:
                    parts.append(ser_bytes(item))
        parts.append(struct.pack("<I", self.locktime))
        return b"".join(parts)

    def invalidate(self) -> None:
        """Forget cached ids and sizes after a mutation."""
        self._cache.clear()

    @property
    def txid(self) -> bytes:
        """Internal-order txid (hash of the serialization without witness)."""
        cached = self._cache.get("txid")
        if cached is None:
            cached = self._cache["txid"] = dsha256(self.serialize(with_witness=False))
        return cached

    @property
    def txid_hex(self) -> str:
        return self.txid[::-1].hex()

    @property
    def wtxid(self) -> bytes:
        cached = self._cache.get("wtxid")
        if cached is None:
            cached = self._cache["wtxid"] = dsha256(self.serialize(with_witness=True))
        return cached

    @property
    def wtxid_hex(self) -> str:
        return self.wtxid[::-1].hex()

    @property
    def base_size(self) -> int:
        return len(self.serialize(with_witness=False))

    @property
    def total_size(self) -> int:
        return len(self.serialize(with_witness=True))

    @property
    def weight(self) -> int:
        return self.base_size * 3 + self.total_size

    @property
    def vsize(self) -> int:
        return (self.weight + 3) // 4

    def is_coinbase(self) -> bool:
        return len(self.vin) == 1 and self.vin[0].is_coinbase_input()

    # -- parsing ---------------------------------------------------------
    @classmethod
    def read(cls, reader: Reader, allow_witness: bool = True) -> Tx:
        version = reader.i32()
        segwit = False
        nvin = reader.compact_size()
        if nvin == 0 and allow_witness:
            flag = reader.u8()
            if flag != 1:
                raise DecodeError("unknown transaction optional data")
            segwit = True
            nvin = reader.compact_size()
        vin = []
        for _ in range(nvin):
            prev_txid = reader.read(32)
            prev_vout = reader.u32()
            script_sig = reader.var_bytes()
            sequence = reader.u32()
            vin.append(TxIn(prev_txid, prev_vout, script_sig, sequence))
        nvout = reader.compact_size()
        vout = [TxOut(reader.i64(), reader.var_bytes()) for _ in range(nvout)]
        if segwit:
            for txin in vin:
                txin.witness = [reader.var_bytes() for _ in range(reader.compact_size())]
            if not any(txin.witness for txin in vin):
                raise DecodeError("superfluous witness record")
        locktime = reader.u32()
        return cls(version, vin, vout, locktime)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Tx:
        """Parse a transaction, trying the witness format first like bitcoind's DecodeHexTx."""
        errors = []
        for allow_witness in (True, False):
            try:
                reader = Reader(raw)
                tx = cls.read(reader, allow_witness=allow_witness)
                if not reader.at_end():
                    raise DecodeError("extra data after transaction")
                if allow_witness and not tx.vin:
                    raise DecodeError("no inputs")
                return tx
            except DecodeError as exc:
                errors.append(str(exc))
        raise DecodeError("; ".join(errors))

    @classmethod
    def from_hex(cls, hexstr: str) -> Tx:
        try:
            raw = bytes.fromhex(hexstr)
        except (ValueError, TypeError) as exc:
            raise DecodeError("not hex") from exc
        return cls.from_bytes(raw)

    def copy(self) -> Tx:
        return Tx(
            self.version,
            [TxIn(i.prev_txid, i.prev_vout, i.script_sig, i.sequence, list(i.witness)) for i in self.vin],
            [TxOut(o.value_sat, o.script_pubkey) for o in self.vout],
            self.locktime,
        )


@dataclass
class BlockHeader:
    version: int
    prev_hash: bytes  # internal order
    merkle_root: bytes
    time: int
    bits: int
    nonce: int

    def serialize(self) -> bytes:
        return (
            struct.pack("<i", self.version)
            + self.prev_hash
            + self.merkle_root
            + struct.pack("<III", self.time, self.bits, self.nonce)
        )

    @property
    def hash(self) -> bytes:
        return dsha256(self.serialize())

    @classmethod
    def from_bytes(cls, raw: bytes) -> BlockHeader:
        if len(raw) < 80:
            raise DecodeError("block header too short")
        version = struct.unpack("<i", raw[0:4])[0]
        time_, bits, nonce = struct.unpack("<III", raw[68:80])
        return cls(version, raw[4:36], raw[36:68], time_, bits, nonce)


@dataclass
class Block:
    header: BlockHeader
    txs: list[Tx]

    def serialize(self) -> bytes:
        parts = [self.header.serialize(), ser_compact_size(len(self.txs))]
        parts.extend(tx.serialize() for tx in self.txs)
        return b"".join(parts)

    @property
    def hash(self) -> bytes:
        return self.header.hash

    @classmethod
    def from_bytes(cls, raw: bytes) -> Block:
        reader = Reader(raw)
        header = BlockHeader.from_bytes(reader.read(80))
        ntx = reader.compact_size()
        txs = [Tx.read(reader) for _ in range(ntx)]
        if not reader.at_end():
            raise DecodeError("extra data after block")
        return cls(header, txs)


def merkle_root(hashes: list[bytes]) -> bytes:
    """Bitcoin merkle root of internal-order hashes."""
    if not hashes:
        return b"\x00" * 32
    level = list(hashes)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [dsha256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def bits_to_target(bits: int) -> int:
    exponent = bits >> 24
    mantissa = bits & 0x7FFFFF
    if exponent <= 3:
        return mantissa >> (8 * (3 - exponent))
    return mantissa << (8 * (exponent - 3))


def block_work(bits: int) -> int:
    target = bits_to_target(bits)
    return (1 << 256) // (target + 1)


def hex_to_hash(hexstr: str) -> bytes:
    """Display-order hex (as RPC shows it) to internal-order bytes; ValueError if malformed."""
    if not isinstance(hexstr, str) or len(hexstr) != 64:
        raise ValueError("hash must be 64 hex characters")
    return bytes.fromhex(hexstr)[::-1]


def hash_to_hex(h: bytes) -> str:
    return h[::-1].hex()
