"""Wire messages: field order checked against layouts transcribed from BOLT 1/2/7,
round trips, TLV extensions, truncated input and unknown types."""

from __future__ import annotations

import pytest
from coincurve import PrivateKey
from lnharness.node_impl.builtin.wire.codec import REGTEST_CHAIN_HASH, ShortChannelId, WireError
from lnharness.node_impl.builtin.wire.messages import (
    MESSAGE_TYPES,
    AcceptChannel,
    ChannelAnnouncement,
    ChannelReady,
    ChannelReestablish,
    ChannelUpdate,
    ClosingSigned,
    CommitmentSigned,
    EncodedData,
    FeeRange,
    Init,
    NodeAnnouncement,
    OpenChannel,
    Ping,
    Pong,
    QueryChannelRange,
    QueryShortChannelIds,
    ReplyChannelRange,
    TxidAndFlags,
    UnknownMessage,
    UpdateAddHtlc,
    UpdateFailHtlc,
    UpdateFulfillHtlc,
    decode,
    decode_query_flags,
    decode_short_channel_ids,
    decode_timestamps,
    encode,
    encode_query_flags,
    encode_short_channel_ids,
    encode_timestamps,
)
from lnharness.node_impl.builtin.wire.netaddress import (
    DNS_HOSTNAME,
    IPV4,
    IPV6,
    TOR_V3,
    NetAddress,
    decode_addresses,
    encode_addresses,
)
from lnharness.node_impl.builtin.wire.tlv import TlvError

# Layouts transcribed from the BOLTs: (type, name, [(field, kind)]) where kind is
# u8/u16/u32/u64, a byte count, "point", "scid", "u16bytes" (u16 length + bytes)
# or "sigs" (u16 count + 64-byte signatures).
SPEC = [
    (16, "init", [("globalfeatures", "u16bytes"), ("features", "u16bytes")]),
    (17, "error", [("channel_id", 32), ("data", "u16bytes")]),
    (1, "warning", [("channel_id", 32), ("data", "u16bytes")]),
    (18, "ping", [("num_pong_bytes", "u16"), ("ignored", "u16bytes")]),
    (19, "pong", [("ignored", "u16bytes")]),
    (32, "open_channel", [
        ("chain_hash", 32), ("temporary_channel_id", 32), ("funding_satoshis", "u64"),
        ("push_msat", "u64"), ("dust_limit_satoshis", "u64"),
        ("max_htlc_value_in_flight_msat", "u64"), ("channel_reserve_satoshis", "u64"),
        ("htlc_minimum_msat", "u64"), ("feerate_per_kw", "u32"), ("to_self_delay", "u16"),
        ("max_accepted_htlcs", "u16"), ("funding_pubkey", "point"),
        ("revocation_basepoint", "point"), ("payment_basepoint", "point"),
        ("delayed_payment_basepoint", "point"), ("htlc_basepoint", "point"),
        ("first_per_commitment_point", "point"), ("channel_flags", "u8"),
    ]),
    (33, "accept_channel", [
        ("temporary_channel_id", 32), ("dust_limit_satoshis", "u64"),
        ("max_htlc_value_in_flight_msat", "u64"), ("channel_reserve_satoshis", "u64"),
        ("htlc_minimum_msat", "u64"), ("minimum_depth", "u32"), ("to_self_delay", "u16"),
        ("max_accepted_htlcs", "u16"), ("funding_pubkey", "point"),
        ("revocation_basepoint", "point"), ("payment_basepoint", "point"),
        ("delayed_payment_basepoint", "point"), ("htlc_basepoint", "point"),
        ("first_per_commitment_point", "point"),
    ]),
    (34, "funding_created", [
        ("temporary_channel_id", 32), ("funding_txid", 32), ("funding_output_index", "u16"),
        ("signature", 64),
    ]),
    (35, "funding_signed", [("channel_id", 32), ("signature", 64)]),
    (36, "channel_ready", [("channel_id", 32), ("second_per_commitment_point", "point")]),
    (38, "shutdown", [("channel_id", 32), ("scriptpubkey", "u16bytes")]),
    (39, "closing_signed", [("channel_id", 32), ("fee_satoshis", "u64"), ("signature", 64)]),
    (128, "update_add_htlc", [
        ("channel_id", 32), ("id", "u64"), ("amount_msat", "u64"), ("payment_hash", 32),
        ("cltv_expiry", "u32"), ("onion_routing_packet", 1366),
    ]),
    (130, "update_fulfill_htlc", [("channel_id", 32), ("id", "u64"), ("payment_preimage", 32)]),
    (131, "update_fail_htlc", [("channel_id", 32), ("id", "u64"), ("reason", "u16bytes")]),
    (135, "update_fail_malformed_htlc", [
        ("channel_id", 32), ("id", "u64"), ("sha256_of_onion", 32), ("failure_code", "u16"),
    ]),
    (132, "commitment_signed", [
        ("channel_id", 32), ("signature", 64), ("htlc_signatures", "sigs"),
    ]),
    (133, "revoke_and_ack", [
        ("channel_id", 32), ("per_commitment_secret", 32), ("next_per_commitment_point", "point"),
    ]),
    (134, "update_fee", [("channel_id", 32), ("feerate_per_kw", "u32")]),
    (136, "channel_reestablish", [
        ("channel_id", 32), ("next_commitment_number", "u64"), ("next_revocation_number", "u64"),
        ("your_last_per_commitment_secret", 32), ("my_current_per_commitment_point", "point"),
    ]),
    (259, "announcement_signatures", [
        ("channel_id", 32), ("short_channel_id", "scid"), ("node_signature", 64),
        ("bitcoin_signature", 64),
    ]),
    (256, "channel_announcement", [
        ("node_signature_1", 64), ("node_signature_2", 64), ("bitcoin_signature_1", 64),
        ("bitcoin_signature_2", 64), ("features", "u16bytes"), ("chain_hash", 32),
        ("short_channel_id", "scid"), ("node_id_1", "point"), ("node_id_2", "point"),
        ("bitcoin_key_1", "point"), ("bitcoin_key_2", "point"),
    ]),
    (257, "node_announcement", [
        ("signature", 64), ("features", "u16bytes"), ("timestamp", "u32"), ("node_id", "point"),
        ("rgb_color", 3), ("alias", 32), ("addresses", "u16bytes"),
    ]),
    (258, "channel_update", [
        ("signature", 64), ("chain_hash", 32), ("short_channel_id", "scid"),
        ("timestamp", "u32"), ("message_flags", "u8"), ("channel_flags", "u8"),
        ("cltv_expiry_delta", "u16"), ("htlc_minimum_msat", "u64"), ("fee_base_msat", "u32"),
        ("fee_proportional_millionths", "u32"), ("htlc_maximum_msat", "u64"),
    ]),
    (261, "query_short_channel_ids", [("chain_hash", 32), ("encoded_short_ids", "u16bytes")]),
    (262, "reply_short_channel_ids_end", [("chain_hash", 32), ("full_information", "u8")]),
    (263, "query_channel_range", [
        ("chain_hash", 32), ("first_blocknum", "u32"), ("number_of_blocks", "u32"),
    ]),
    (264, "reply_channel_range", [
        ("chain_hash", 32), ("first_blocknum", "u32"), ("number_of_blocks", "u32"),
        ("sync_complete", "u8"), ("encoded_short_ids", "u16bytes"),
    ]),
    (265, "gossip_timestamp_filter", [
        ("chain_hash", 32), ("first_timestamp", "u32"), ("timestamp_range", "u32"),
    ]),
]

INT_SIZES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}


def point(seed: int) -> bytes:
    return PrivateKey((seed + 1).to_bytes(32, "big")).public_key.format(compressed=True)


def sample(kind: str | int, i: int) -> tuple[object, bytes]:
    """A distinct value for field number `i` and its wire bytes, built independently."""
    if kind in INT_SIZES:
        size = INT_SIZES[kind]  # type: ignore[index]
        value = (0x81 + i) << (8 * (size - 1)) | i
        return value, value.to_bytes(size, "big")
    if isinstance(kind, int):
        value = bytes([i + 1]) * kind
        return value, value
    if kind == "point":
        return point(i), point(i)
    if kind == "scid":
        scid = ShortChannelId(100 + i, i, 1)
        return scid, (100 + i).to_bytes(3, "big") + i.to_bytes(3, "big") + (1).to_bytes(2, "big")
    if kind == "u16bytes":
        value = bytes([0xA0 + i]) * (i % 4 + 1)
        return value, len(value).to_bytes(2, "big") + value
    if kind == "sigs":
        sigs = (b"\x51" * 64, b"\x52" * 64)
        return sigs, (2).to_bytes(2, "big") + b"".join(sigs)
    raise AssertionError(kind)


def build(message_type: int, fields: list) -> tuple[dict, bytes, list[tuple[str, int, int]]]:
    values: dict = {}
    wire = message_type.to_bytes(2, "big")
    spans = []
    for i, (name, kind) in enumerate(fields):
        value, raw = sample(kind, i)
        values[name] = value
        spans.append((name, len(wire), len(wire) + len(raw)))
        wire += raw
    return values, wire, spans


def build_named(name: str) -> tuple[dict, bytes, list[tuple[str, int, int]]]:
    message_type, fields = next((t, f) for t, n, f in SPEC if n == name)
    return build(message_type, fields)


@pytest.mark.parametrize(("message_type", "name", "fields"), SPEC, ids=[s[1] for s in SPEC])
def test_field_order_matches_the_spec(message_type: int, name: str, fields: list) -> None:
    values, wire, _ = build(message_type, fields)
    message = decode(wire)
    cls = MESSAGE_TYPES[message_type]
    assert isinstance(message, cls)
    assert cls.NAME == name
    for field_name, value in values.items():
        assert getattr(message, field_name) == value, field_name
    assert encode(message) == wire
    assert encode(cls(**values)) == wire


def test_every_registered_message_is_covered_by_the_spec_table() -> None:
    assert sorted(MESSAGE_TYPES) == sorted(s[0] for s in SPEC)


@pytest.mark.parametrize(("message_type", "name", "fields"), SPEC, ids=[s[1] for s in SPEC])
def test_truncated_input_names_message_and_field(
    message_type: int, name: str, fields: list
) -> None:
    _, wire, spans = build(message_type, fields)
    for cut in range(2, len(wire)):
        # The field that the cut falls into (a cut inside a length-prefixed field,
        # even within its length, is reported at that field).
        field_name = next(f for f, start, end in spans if start <= cut < end)
        with pytest.raises(WireError) as info:
            decode(wire[:cut])
        assert info.value.message == name
        assert info.value.field == field_name, (cut, str(info.value))
        assert str(info.value).startswith(f"{name}.{field_name}: ")


@pytest.mark.parametrize(("message_type", "name", "fields"), SPEC, ids=[s[1] for s in SPEC])
def test_extra_trailing_data_is_accepted_and_kept(
    message_type: int, name: str, fields: list
) -> None:
    _, wire, _ = build(message_type, fields)
    # An odd TLV record: valid for messages with a TLV stream, opaque for the rest.
    extended = wire + bytes.fromhex("fd0bb9022a2a")
    message = decode(extended)
    assert encode(message) == extended


def test_short_message_without_type() -> None:
    with pytest.raises(WireError, match="no 2-byte type"):
        decode(b"\x10")


def test_unknown_types_are_returned_for_the_caller() -> None:
    odd = decode(bytes.fromhex("8001") + b"hi")
    assert odd == UnknownMessage(0x8001, b"hi")
    assert odd.is_odd
    even = decode(bytes.fromhex("0040"))
    assert isinstance(even, UnknownMessage) and not even.is_odd
    assert encode(odd) == bytes.fromhex("8001") + b"hi"


def test_invalid_point_is_rejected() -> None:
    values, wire, spans = build_named("channel_ready")
    start = next(s for f, s, _ in spans if f == "second_per_commitment_point")
    bad = wire[:start] + b"\x04" + wire[start + 1 :]
    with pytest.raises(WireError, match="channel_ready.second_per_commitment_point: not a valid"):
        decode(bad)


# BOLT 1 Appendix C: init message extensions.


def test_appendix_c_valid_init_messages() -> None:
    plain = decode(bytes.fromhex("001000000000"))
    assert plain == Init(globalfeatures=b"", features=b"")
    extended = decode(bytes.fromhex("001000000000c9012acb0104"))
    assert isinstance(extended, Init)
    assert extended.unknown_tlvs == ((0xC9, b"\x2a"), (0xCB, b"\x04"))
    assert encode(extended).hex() == "001000000000c9012acb0104"


@pytest.mark.parametrize(
    ("hex_message", "reason"),
    [
        ("00100000000001", "extension is present but truncated"),
        ("001000000000ca012a", "unknown even TLV record"),
        ("001000000000c90101c90102", "duplicate TLV record type"),
    ],
)
def test_appendix_c_invalid_init_messages(hex_message: str, reason: str) -> None:
    with pytest.raises(TlvError) as info:
        decode(bytes.fromhex(hex_message))
    assert info.value.message == "init" and info.value.field == "tlvs"


def test_init_networks_and_remote_addr() -> None:
    remote = NetAddress(IPV4, "127.0.0.1", 9735).encode()
    init = Init(
        globalfeatures=b"",
        features=bytes.fromhex("08a1"),
        networks=(REGTEST_CHAIN_HASH,),
        remote_addr=remote,
    )
    wire = encode(init)
    assert wire.hex() == (
        "0010" "0000" "0002" "08a1" "0120" + REGTEST_CHAIN_HASH.hex() + "0307" + remote.hex()
    )
    assert decode(wire) == init
    with pytest.raises(TlvError, match="not a whole number of chain hashes"):
        decode(bytes.fromhex("001000000000" "0101" "00"))


# TLV extensions of BOLT 2 messages.


def _open_channel(**tlvs: object) -> OpenChannel:
    values, _, _ = build_named("open_channel")
    return OpenChannel(**values, **tlvs)  # type: ignore[arg-type]


def test_open_channel_tlvs() -> None:
    message = _open_channel(upfront_shutdown_script=b"", channel_type=bytes.fromhex("1000"))
    wire = encode(message)
    assert wire.endswith(bytes.fromhex("0000" "01021000"))
    assert decode(wire) == message
    assert encode(_open_channel()) == build_named("open_channel")[1]


def test_accept_channel_tlvs() -> None:
    values, base, _ = build_named("accept_channel")
    message = AcceptChannel(**values, upfront_shutdown_script=b"\x00\x14" + b"\x11" * 20,
                            channel_type=bytes.fromhex("1000"))
    wire = encode(message)
    assert wire == base + bytes.fromhex("0016" "0014" + "11" * 20 + "01021000")
    assert decode(wire) == message


def test_channel_ready_alias() -> None:
    values, base, _ = build_named("channel_ready")
    message = ChannelReady(**values, alias_scid=ShortChannelId(0, 0, 550))
    assert encode(message) == base + bytes.fromhex("01080000000000000226")
    assert decode(encode(message)) == message


def test_closing_signed_fee_range() -> None:
    values, base, _ = build_named("closing_signed")
    message = ClosingSigned(**values, fee_range=FeeRange(100, 5000))
    assert encode(message) == base + bytes.fromhex("0110" "0000000000000064" "0000000000001388")
    assert decode(encode(message)) == message


def test_commitment_signed_funding_txid_and_no_htlcs() -> None:
    message = CommitmentSigned(
        channel_id=b"\x01" * 32, signature=b"\x02" * 64, htlc_signatures=(),
        funding_txid=b"\x03" * 32,
    )
    wire = encode(message)
    assert wire == bytes.fromhex("0084") + b"\x01" * 32 + b"\x02" * 64 + b"\x00\x00" + (
        bytes.fromhex("0120") + b"\x03" * 32
    )
    assert decode(wire) == message


def test_channel_reestablish_tlvs_are_decoded() -> None:
    values, base, _ = build_named("channel_reestablish")
    wire = base + bytes.fromhex("0121") + b"\x0a" * 32 + b"\x01" + bytes.fromhex("0521") + (
        b"\x0b" * 32 + b"\x00"
    )
    message = decode(wire)
    assert isinstance(message, ChannelReestablish)
    assert message.next_funding == TxidAndFlags(b"\x0a" * 32, 1)
    assert message.my_current_funding_locked == TxidAndFlags(b"\x0b" * 32, 0)
    assert encode(message) == wire


def test_update_add_htlc_blinded_path_key() -> None:
    values, base, _ = build_named("update_add_htlc")
    wire = base + bytes.fromhex("0021") + point(99)
    message = decode(wire)
    assert isinstance(message, UpdateAddHtlc)
    assert message.blinded_path_key == point(99)
    assert encode(message) == wire


def test_attribution_data_has_a_fixed_size() -> None:
    values, base, _ = build_named("update_fulfill_htlc")
    attribution = bytes(range(256)) * 3 + bytes(152)
    wire = base + bytes.fromhex("01fd0398") + attribution
    message = decode(wire)
    assert isinstance(message, UpdateFulfillHtlc) and message.attribution_data == attribution
    with pytest.raises(TlvError, match="update_fulfill_htlc"):
        decode(base + bytes.fromhex("0101ff"))
    values, base, _ = build_named("update_fail_htlc")
    assert decode(base + bytes.fromhex("01fd0398") + attribution) == UpdateFailHtlc(
        **values, attribution_data=attribution
    )


def test_unknown_even_tlv_in_a_message_is_an_error() -> None:
    values, base, _ = build_named("channel_ready")
    with pytest.raises(TlvError, match="unknown even record type 2") as info:
        decode(base + bytes.fromhex("0200"))
    assert info.value.tlv_type == 2


# Control messages.


def test_ping_and_pong_encodings() -> None:
    assert encode(Ping(num_pong_bytes=1, ignored=b"")).hex() == "001200010000"
    assert encode(Pong(ignored=b"\x00")).hex() == "0013000100"


def test_encoding_refuses_wrong_sizes_with_field_name() -> None:
    with pytest.raises(ValueError, match="funding_signed.signature: cannot encode"):
        encode(MESSAGE_TYPES[35](channel_id=b"\x00" * 32, signature=b"\x00" * 63))  # type: ignore[call-arg]


# Gossip helpers.


def test_gossip_signed_data_covers_everything_after_the_signatures() -> None:
    values, wire, _ = build_named("channel_announcement")
    announcement = ChannelAnnouncement(**values, extra=b"\x99")
    assert announcement.signed_data() == wire[2 + 256 :] + b"\x99"
    values, wire, _ = build_named("node_announcement")
    assert NodeAnnouncement(**values).signed_data() == wire[2 + 64 :]
    values, wire, _ = build_named("channel_update")
    assert ChannelUpdate(**values).signed_data() == wire[2 + 64 :]


def test_short_channel_id_lists() -> None:
    scids = [ShortChannelId(103, 1, 0), ShortChannelId(104, 2, 1)]
    encoded = encode_short_channel_ids(scids)
    assert encoded.hex() == "00" "0000670000010000" "0000680000020001"
    assert decode_short_channel_ids(encoded) == scids
    assert decode_short_channel_ids(b"") == []
    assert decode_short_channel_ids(b"\x00") == []
    with pytest.raises(WireError, match="zlib encoding"):
        decode_short_channel_ids(b"\x01" + bytes(8))
    with pytest.raises(WireError, match="not a multiple of 8"):
        decode_short_channel_ids(b"\x00" + bytes(7))


def test_gossip_query_messages_with_tlvs() -> None:
    query = QueryShortChannelIds(
        chain_hash=REGTEST_CHAIN_HASH,
        encoded_short_ids=encode_short_channel_ids([ShortChannelId(103, 1, 0)]),
        query_flags=encode_query_flags([1, 0xFD]),
    )
    assert decode(encode(query)) == query
    assert query.query_flags is not None
    assert decode_query_flags(query.query_flags) == [1, 0xFD]
    range_query = QueryChannelRange(
        chain_hash=REGTEST_CHAIN_HASH, first_blocknum=0, number_of_blocks=0xFFFFFFFF,
        query_option=3,
    )
    assert encode(range_query).endswith(bytes.fromhex("010103"))
    assert decode(encode(range_query)) == range_query
    reply = ReplyChannelRange(
        chain_hash=REGTEST_CHAIN_HASH, first_blocknum=100, number_of_blocks=10, sync_complete=1,
        encoded_short_ids=encode_short_channel_ids([ShortChannelId(103, 1, 0)]),
        timestamps=encode_timestamps([(1, 2)]), checksums=((3, 4),),
    )
    assert decode(encode(reply)) == reply
    assert reply.timestamps == EncodedData(0, bytes.fromhex("0000000100000002"))
    assert decode_timestamps(reply.timestamps) == [(1, 2)]


def test_node_announcement_addresses() -> None:
    onion = "vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd.onion"
    addresses = [
        NetAddress(IPV6, "2001:db8::1", 9735),
        NetAddress(IPV4, "203.0.113.7", 9735),
        NetAddress(TOR_V3, onion, 9735),
        NetAddress(DNS_HOSTNAME, "node.example.com", 9736),
    ]
    raw = encode_addresses(addresses)
    assert raw.startswith(bytes.fromhex("01cb007107" "2607" "02"))
    decoded = decode_addresses(raw)
    assert decoded == sorted(addresses, key=lambda a: a.type)
    # An unknown descriptor type ends parsing; the rest is ignored.
    assert decode_addresses(raw[:7] + b"\x09garbage") == decoded[:1]
    with pytest.raises(WireError, match="address descriptor #1"):
        decode_addresses(bytes.fromhex("01cb0071"))
    assert str(NetAddress(IPV6, "::1", 1)) == "[::1]:1"


# bolt07/extended-queries.json (its chain hash is used verbatim as 32 bytes).

EXT_CHAIN = bytes.fromhex("0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206")


def _scids(*texts: str) -> list[ShortChannelId]:
    return [ShortChannelId.parse(text) for text in texts]


def test_extended_queries_query_channel_range() -> None:
    plain = "01070f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206000186a0000005dc"
    assert decode(bytes.fromhex(plain)) == QueryChannelRange(
        chain_hash=EXT_CHAIN, first_blocknum=100000, number_of_blocks=1500
    )
    with_option = (
        "01070f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
        "000088b800000064010103"
    )
    message = QueryChannelRange(
        chain_hash=EXT_CHAIN, first_blocknum=35000, number_of_blocks=100, query_option=3
    )
    assert decode(bytes.fromhex(with_option)) == message
    assert encode(message).hex() == with_option


def test_extended_queries_reply_channel_range() -> None:
    plain = (
        "01080f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206000b8a06000005dc01"
        "001900000000000000008e0000000000003c69000000000045a6c4"
    )
    message = decode(bytes.fromhex(plain))
    assert isinstance(message, ReplyChannelRange)
    assert (message.first_blocknum, message.number_of_blocks, message.sync_complete) == (
        756230,
        1500,
        1,
    )
    assert decode_short_channel_ids(message.encoded_short_ids) == _scids(
        "0x0x142", "0x0x15465", "0x69x42692"
    )
    full = (
        "01080f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e22060001ddde000005dc01"
        "001900000000000000304300000000000778d6000000000046e1c1011900000282c1000e77c5000778ad00"
        "490ab00000b57800955bff031800000457000008ae00000d050000115c000015b300001a0a"
    )
    message = decode(bytes.fromhex(full))
    assert isinstance(message, ReplyChannelRange)
    assert decode_short_channel_ids(message.encoded_short_ids) == _scids(
        "0x0x12355", "0x7x30934", "0x70x57793"
    )
    assert message.timestamps is not None
    assert decode_timestamps(message.timestamps) == [
        (164545, 948165),
        (489645, 4786864),
        (46456, 9788415),
    ]
    assert message.checksums == ((1111, 2222), (3333, 4444), (5555, 6666))
    rebuilt = ReplyChannelRange(
        chain_hash=EXT_CHAIN,
        first_blocknum=122334,
        number_of_blocks=1500,
        sync_complete=1,
        encoded_short_ids=encode_short_channel_ids(
            _scids("0x0x12355", "0x7x30934", "0x70x57793")
        ),
        timestamps=encode_timestamps([(164545, 948165), (489645, 4786864), (46456, 9788415)]),
        checksums=((1111, 2222), (3333, 4444), (5555, 6666)),
    )
    assert encode(rebuilt).hex() == full


def test_extended_queries_query_short_channel_ids() -> None:
    plain = (
        "01050f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206001900000000000000"
        "008e0000000000003c69000000000045a6c4"
    )
    message = decode(bytes.fromhex(plain))
    assert isinstance(message, QueryShortChannelIds)
    assert decode_short_channel_ids(message.encoded_short_ids) == _scids(
        "0x0x142", "0x0x15465", "0x69x42692"
    )
    assert message.query_flags is None


def test_extended_queries_zlib_vectors_decode_but_their_lists_are_refused() -> None:
    zlib_ids = (
        "01050f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206001801789c63600001"
        "c12b608a69e73e30edbaec0800203b040e"
    )
    message = decode(bytes.fromhex(zlib_ids))
    assert isinstance(message, QueryShortChannelIds)
    with pytest.raises(WireError, match="zlib"):
        decode_short_channel_ids(message.encoded_short_ids)
    zlib_flags = (
        "01050f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e22060019000000000000002f"
        "c80000000000003cc4000000000045a6c4010c01789c6364620100000e0008"
    )
    message = decode(bytes.fromhex(zlib_flags))
    assert isinstance(message, QueryShortChannelIds)
    assert decode_short_channel_ids(message.encoded_short_ids) == _scids(
        "0x0x12232", "0x0x15556", "0x69x42692"
    )
    assert message.query_flags is not None
    with pytest.raises(WireError, match="zlib"):
        decode_query_flags(message.query_flags)
    assert encode(message).hex() == zlib_flags
