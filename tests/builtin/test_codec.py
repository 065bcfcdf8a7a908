"""Fundamental types: BOLT 1 Appendix A (BigSize) vectors, truncated ints, points, scids."""

from __future__ import annotations

import pytest
from lnharness.node_impl.builtin.wire.codec import (
    REGTEST_CHAIN_HASH,
    Reader,
    ShortChannelId,
    WireError,
    decode_bigsize,
    decode_tu,
    encode_bigsize,
    encode_tu16,
    encode_tu32,
    encode_tu64,
    encode_u16,
    encode_u32,
    encode_u64,
    validate_point,
)

BIGSIZE_VALID = [
    ("zero", 0, "00"),
    ("one byte high", 252, "fc"),
    ("two byte low", 253, "fd00fd"),
    ("two byte high", 65535, "fdffff"),
    ("four byte low", 65536, "fe00010000"),
    ("four byte high", 4294967295, "feffffffff"),
    ("eight byte low", 4294967296, "ff0000000100000000"),
    ("eight byte high", 18446744073709551615, "ffffffffffffffffff"),
]

BIGSIZE_INVALID = [
    ("two byte not canonical", "fd00fc", "not minimally encoded"),
    ("four byte not canonical", "fe0000ffff", "not minimally encoded"),
    ("eight byte not canonical", "ff00000000ffffffff", "not minimally encoded"),
    ("two byte short read", "fd00", "truncated"),
    ("four byte short read", "feffff", "truncated"),
    ("eight byte short read", "ffffffffff", "truncated"),
    ("one byte no read", "", "truncated"),
    ("two byte no read", "fd", "truncated"),
    ("four byte no read", "fe", "truncated"),
    ("eight byte no read", "ff", "truncated"),
]


@pytest.mark.parametrize(("name", "value", "hex_bytes"), BIGSIZE_VALID)
def test_bigsize_decoding_vectors(name: str, value: int, hex_bytes: str) -> None:
    assert decode_bigsize(bytes.fromhex(hex_bytes)) == value


@pytest.mark.parametrize(("name", "value", "hex_bytes"), BIGSIZE_VALID)
def test_bigsize_encoding_vectors(name: str, value: int, hex_bytes: str) -> None:
    assert encode_bigsize(value).hex() == hex_bytes


@pytest.mark.parametrize(("name", "hex_bytes", "error"), BIGSIZE_INVALID)
def test_bigsize_decoding_failures(name: str, hex_bytes: str, error: str) -> None:
    with pytest.raises(WireError, match=error):
        decode_bigsize(bytes.fromhex(hex_bytes))


def test_bigsize_refuses_out_of_range_values() -> None:
    with pytest.raises(ValueError, match="more than 64 bits"):
        encode_bigsize(1 << 64)
    with pytest.raises(ValueError, match="negative"):
        encode_bigsize(-1)


def test_fixed_size_integers_are_big_endian() -> None:
    assert encode_u16(0x0102) == b"\x01\x02"
    assert encode_u32(0x01020304) == b"\x01\x02\x03\x04"
    assert encode_u64(1) == b"\x00" * 7 + b"\x01"
    with pytest.raises(ValueError, match="does not fit in an unsigned 16-bit"):
        encode_u16(65536)
    reader = Reader(bytes.fromhex("0102" "01020304" "0000000000000001" "ff"))
    assert (reader.read_u16(), reader.read_u32(), reader.read_u64(), reader.read_u8()) == (
        0x0102,
        0x01020304,
        1,
        255,
    )
    assert reader.at_end()
    with pytest.raises(WireError, match="need 1 bytes, only 0 left"):
        reader.read_u8()


def test_truncated_integers_omit_leading_zeros() -> None:
    assert encode_tu64(0) == b""
    assert encode_tu64(1) == b"\x01"
    assert encode_tu64(256) == b"\x01\x00"
    assert encode_tu32(0xFFFFFFFF) == b"\xff" * 4
    assert encode_tu16(0x0100) == b"\x01\x00"
    with pytest.raises(ValueError, match="tu16"):
        encode_tu16(0x10000)
    assert decode_tu(b"", 8) == 0
    assert decode_tu(b"\x01\x00", 2) == 256
    with pytest.raises(WireError, match="not minimal"):
        decode_tu(b"\x00\x01", 8)
    with pytest.raises(WireError, match="longer than 4"):
        decode_tu(b"\x01" * 5, 4)


def test_points_must_be_compressed_and_on_the_curve() -> None:
    good = bytes.fromhex("023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb")
    assert validate_point(good) == good
    assert Reader(good).read_point() == good
    with pytest.raises(WireError, match="not a valid compressed point"):
        validate_point(b"\x04" + good[1:])
    with pytest.raises(WireError, match="not on the curve"):
        # x = 5 has no point on secp256k1.
        validate_point(b"\x02" + (5).to_bytes(32, "big"))


def test_short_channel_id_layout_and_text_form() -> None:
    scid = ShortChannelId(103, 1, 0)
    assert scid.to_bytes().hex() == "0000670000010000"
    assert ShortChannelId.from_bytes(scid.to_bytes()) == scid
    assert str(scid) == "103x1x0"
    assert ShortChannelId.parse("103x1x0") == scid
    # BOLT 1 Appendix B: 0x0000000000000226 is 0x0x550.
    assert ShortChannelId.from_int(0x226) == ShortChannelId(0, 0, 550)
    assert ShortChannelId(1, 2, 3) < ShortChannelId(2, 0, 0)
    with pytest.raises(ValueError, match="block_height"):
        ShortChannelId(1 << 24, 0, 0)
    with pytest.raises(ValueError, match="BLOCKxTXxOUTPUT"):
        ShortChannelId.parse("103:1:0")


def test_regtest_chain_hash_is_the_genesis_hash_in_internal_byte_order() -> None:
    displayed = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
    assert REGTEST_CHAIN_HASH == bytes.fromhex(displayed)[::-1]
