"""TLV streams: all BOLT 1 Appendix B vectors, with its n1 and n2 namespaces."""

from __future__ import annotations

import pytest
from lnharness.node_impl.builtin.wire.codec import Reader, ShortChannelId, encode_u64
from lnharness.node_impl.builtin.wire.tlv import (
    TlvError,
    TlvRecord,
    TlvStreamCodec,
    read_records,
    short_channel_id_record,
    tu_record,
    u16_record,
    write_records,
)


def _read_tlv3(reader: Reader) -> tuple[bytes, int, int]:
    return reader.read_point(), reader.read_u64(), reader.read_u64()


def _write_tlv3(value: tuple[bytes, int, int]) -> bytes:
    return value[0] + encode_u64(value[1]) + encode_u64(value[2])


N1 = TlvStreamCodec(
    "n1",
    [
        tu_record(1, "tlv1", 8),
        short_channel_id_record(2, "tlv2"),
        TlvRecord(3, "tlv3", _read_tlv3, _write_tlv3),
        u16_record(254, "tlv4"),
    ],
)
N2 = TlvStreamCodec("n2", [tu_record(0, "tlv1", 8), tu_record(11, "tlv2", 4)])

VALUE_TRUNCATED = "0ffd0201" + "00" * 258

FAIL_ANY_NAMESPACE = [
    ("fd", "type truncated"),
    ("fd01", "type truncated"),
    ("fd000100", "not minimally encoded type"),
    ("fd0101", "missing length"),
    ("0ffd", "length truncated"),
    ("0ffd26", "length truncated"),
    ("0ffd2602", "missing value"),
    ("0ffd000100", "not minimally encoded length"),
    (VALUE_TRUNCATED, "value truncated"),
    ("1200", "unknown even type"),
    ("fd010200", "unknown even type"),
    ("fe0100000200", "unknown even type"),
    ("ff010000000000000200", "unknown even type"),
]

FAIL_N1 = [
    ("0109ffffffffffffffffff", "greater than encoding length for tlv1"),
    ("010100", "tlv1 amount_msat not minimal"),
    ("01020001", "tlv1 amount_msat not minimal"),
    ("0103000100", "tlv1 amount_msat not minimal"),
    ("010400010000", "tlv1 amount_msat not minimal"),
    ("01050001000000", "tlv1 amount_msat not minimal"),
    ("0106000100000000", "tlv1 amount_msat not minimal"),
    ("010700010000000000", "tlv1 amount_msat not minimal"),
    ("01080001000000000000", "tlv1 amount_msat not minimal"),
    ("020701010101010101", "less than encoding length for tlv2"),
    ("0209010101010101010101", "greater than encoding length for tlv2"),
    (
        "0321023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb",
        "less than encoding length for tlv3",
    ),
    (
        "0329023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb0000000000000001",
        "less than encoding length for tlv3",
    ),
    (
        "0330023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb"
        "000000000000000100000000000001",
        "less than encoding length for tlv3",
    ),
    (
        "0331043da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb"
        "00000000000000010000000000000002",
        "node_id is not a valid point",
    ),
    (
        "0332023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb"
        "0000000000000001000000000000000001",
        "greater than encoding length for tlv3",
    ),
    ("fd00fe00", "less than encoding length for tlv4"),
    ("fd00fe0101", "less than encoding length for tlv4"),
    ("fd00fe03010101", "greater than encoding length for tlv4"),
    ("0000", "unknown even field for n1"),
]

STREAM_FAIL_N1 = [
    ("0208000000000000022601012a", "valid records but invalid ordering"),
    ("0208000000000000023102080000000000000451", "duplicate TLV type"),
    ("1f000f012a", "valid (ignored) records but invalid ordering"),
    ("1f001f012a", "duplicate TLV type (ignored)"),
]

IGNORED_ANY_NAMESPACE = [
    "",
    "2100",
    "fd020100",
    "fd00fd00",
    "fd00ff00",
    "fe0200000100",
    "ff020000000000000100",
]

POINT = bytes.fromhex("023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb")

VALID_N1 = [
    ("0100", {"tlv1": 0}),
    ("010101", {"tlv1": 1}),
    ("01020100", {"tlv1": 256}),
    ("0103010000", {"tlv1": 65536}),
    ("010401000000", {"tlv1": 16777216}),
    ("01050100000000", {"tlv1": 4294967296}),
    ("0106010000000000", {"tlv1": 1099511627776}),
    ("010701000000000000", {"tlv1": 281474976710656}),
    ("01080100000000000000", {"tlv1": 72057594037927936}),
    ("02080000000000000226", {"tlv2": ShortChannelId(0, 0, 550)}),
    (
        "0331023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb"
        "00000000000000010000000000000002",
        {"tlv3": (POINT, 1, 2)},
    ),
    ("fd00fe020226", {"tlv4": 550}),
]


@pytest.mark.parametrize("codec", [N1, N2], ids=["n1", "n2"])
@pytest.mark.parametrize(("stream", "reason"), FAIL_ANY_NAMESPACE)
def test_decoding_failures_in_any_namespace(codec: TlvStreamCodec, stream: str, reason: str) -> None:
    with pytest.raises(TlvError):
        codec.decode(bytes.fromhex(stream))


@pytest.mark.parametrize(("stream", "reason"), FAIL_N1 + STREAM_FAIL_N1)
def test_decoding_failures_in_n1(stream: str, reason: str) -> None:
    with pytest.raises(TlvError):
        N1.decode(bytes.fromhex(stream))


def test_n2_stream_ordering_failure() -> None:
    with pytest.raises(TlvError, match="must strictly increase"):
        N2.decode(bytes.fromhex("ffffffffffffffffff000000"))


def test_failure_messages_name_the_problem() -> None:
    with pytest.raises(TlvError, match="unknown even record type 18 in n1") as info:
        N1.decode(bytes.fromhex("1200"))
    assert info.value.tlv_type == 18
    with pytest.raises(TlvError, match="tlv2 .type 2.: 1 bytes longer than its encoding"):
        N1.decode(bytes.fromhex("0209010101010101010101"))
    with pytest.raises(TlvError, match="not minimal"):
        N1.decode(bytes.fromhex("010100"))
    with pytest.raises(TlvError, match="length 513 exceeds the 258 bytes left"):
        N1.decode(bytes.fromhex(VALUE_TRUNCATED))


@pytest.mark.parametrize("codec", [N1, N2], ids=["n1", "n2"])
@pytest.mark.parametrize("stream", IGNORED_ANY_NAMESPACE)
def test_unknown_odd_records_are_ignored_but_kept(codec: TlvStreamCodec, stream: str) -> None:
    decoded = codec.decode(bytes.fromhex(stream))
    assert dict(decoded.values) == {}
    assert codec.encode(decoded.values, decoded.unknown).hex() == stream


@pytest.mark.parametrize(("stream", "values"), VALID_N1)
def test_valid_n1_streams(stream: str, values: dict) -> None:
    decoded = N1.decode(bytes.fromhex(stream))
    assert dict(decoded.values) == values
    assert decoded.unknown == ()
    assert N1.encode(values).hex() == stream


def test_appending_an_invalid_stream_to_a_valid_one_fails() -> None:
    for valid, _ in VALID_N1:
        for invalid, _ in FAIL_ANY_NAMESPACE + FAIL_N1:
            with pytest.raises(TlvError):
                N1.decode(bytes.fromhex(valid + invalid))


def test_appending_a_higher_valid_stream_to_a_lower_one_succeeds() -> None:
    streams = sorted(
        (read_records(bytes.fromhex(stream))[0][0], stream, values) for stream, values in VALID_N1
    )
    for low_type, low, low_values in streams:
        for high_type, high, high_values in streams:
            if high_type > low_type:
                decoded = N1.decode(bytes.fromhex(low + high))
                assert dict(decoded.values) == {**low_values, **high_values}


def test_encoding_sorts_records_and_refuses_duplicates() -> None:
    encoded = N1.encode({"tlv4": 550, "tlv1": 1}, unknown=[(3001, b"\x2a")])
    assert encoded.hex() == "010101" + "fd00fe020226" + "fd0bb9012a"
    with pytest.raises(ValueError, match="appears twice"):
        write_records([(1, b""), (1, b"")])
    with pytest.raises(ValueError, match="no TLV record named 'nope'"):
        N1.encode({"nope": 1})
    assert N1.encode({"tlv1": None}) == b""
