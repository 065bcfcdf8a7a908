"""BOLT 4 onions against the spec's test vectors (tests/builtin/vectors/bolt04_onion.json):
the 5-hop construction of bolt04/onion-test.json and its processing at every hop, the
error onion of bolt04/onion-error-test.json, and the step-by-step "Returning Errors"
trace of 04-onion-routing.md."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import coincurve
import pytest
from lnharness.node_impl.builtin.payments.onion import (
    ONION_PACKET_SIZE,
    BadOnionError,
    HopPayload,
    InvalidOnionPayloadError,
    OnionHop,
    build_failure_packet,
    construct_onion,
    create_failure_packet,
    decode_hop_payload,
    decrypt_failure_packet,
    generate_key,
    hop_shared_secrets,
    obfuscate_failure_packet,
    process_onion,
    pseudo_random_stream,
)
from lnharness.node_impl.builtin.payments.onion_failures import (
    BADONION,
    FEE_INSUFFICIENT,
    INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS,
    INVALID_ONION_HMAC,
    INVALID_ONION_KEY,
    INVALID_ONION_PAYLOAD,
    INVALID_ONION_VERSION,
    PERM,
    TEMPORARY_CHANNEL_FAILURE,
    TEMPORARY_NODE_FAILURE,
    UNKNOWN_NEXT_PEER,
    OnionError,
    decode_failure_message,
    failure_message,
)
from lnharness.node_impl.builtin.wire.codec import Reader
from lnharness.node_impl.builtin.wire.tlv import write_records

VECTORS = json.loads((Path(__file__).parent / "vectors" / "bolt04_onion.json").read_text())
CONSTRUCTION = VECTORS["onion_construction"]
ERROR_SIMPLE = VECTORS["error_simple"]
ERROR_TRACE = VECTORS["error_trace"]
SESSION_KEY = bytes.fromhex(CONSTRUCTION["session_key"])
ASSOCIATED_DATA = bytes.fromhex(CONSTRUCTION["associated_data"])


def strip_length_prefix(length_prefixed: bytes) -> bytes:
    reader = Reader(length_prefixed)
    length = reader.read_bigsize()
    payload = reader.read_rest()
    assert len(payload) == length
    return payload


HOPS = [
    OnionHop(
        bytes.fromhex(hop["pubkey"]),
        strip_length_prefix(bytes.fromhex(hop["length_prefixed_payload"])),
    )
    for hop in CONSTRUCTION["hops"]
]
HOP_KEYS = [bytes.fromhex(hop["private_key"]) for hop in CONSTRUCTION["hops"]]


def test_vector_private_keys_match_the_hop_pubkeys():
    for hop, key in zip(HOPS, HOP_KEYS, strict=True):
        assert coincurve.PrivateKey(key).public_key.format() == hop.pubkey


def test_construction_matches_the_spec_onion():
    onion = construct_onion(SESSION_KEY, HOPS, ASSOCIATED_DATA)
    assert len(onion) == ONION_PACKET_SIZE
    assert onion.hex() == CONSTRUCTION["onion"]


def test_processing_at_every_hop_reveals_its_payload_and_the_next_onion():
    packet = bytes.fromhex(CONSTRUCTION["onion"])
    for index, (hop, key) in enumerate(zip(HOPS, HOP_KEYS, strict=True)):
        processed = process_onion(packet, key, ASSOCIATED_DATA)
        assert processed.payload == hop.payload, f"hop {index}"
        assert processed.shared_secret == bytes.fromhex(
            ERROR_SIMPLE["hops"][index]["shared_secret"]
        )
        if index < len(HOPS) - 1:
            assert not processed.is_final
            assert (
                processed.next_packet is not None
                and len(processed.next_packet) == ONION_PACKET_SIZE
            )
            packet = processed.next_packet
        else:
            assert processed.is_final
            assert processed.next_packet is None


def test_hop_payloads_of_the_vector_decode_and_reencode():
    decoded = [
        decode_hop_payload(hop.payload, is_final=index == 4) for index, hop in enumerate(HOPS)
    ]
    assert [
        (p.amt_to_forward_msat, p.outgoing_cltv_value, p.short_channel_id) for p in decoded[:4]
    ] == [
        (15000, 1500, 1),
        (14000, 1400, 2),
        (12500, 1250, 3),
        (10000, 1000, 4),
    ]
    assert decoded[1].unknown_records == ((513, bytes(range(1, 16)) * 4),)
    final = decoded[4]
    assert (final.amt_to_forward_msat, final.outgoing_cltv_value, final.short_channel_id) == (
        10000,
        1000,
        None,
    )
    assert final.payment_secret == bytes.fromhex(
        "24a33562c54507a9334e79f0dc4f17d407e6d7c61f0e2f3d0d38599502f61704"
    )
    assert final.total_msat == 10000
    assert final.unknown_records == ((301, b"\x2a" * 224),)
    assert [payload.encode() for payload in decoded] == [hop.payload for hop in HOPS]


def test_shared_secrets_and_keys_of_the_error_vector():
    pubkeys = [bytes.fromhex(hop["pubkey"]) for hop in ERROR_SIMPLE["hops"]]
    secrets = hop_shared_secrets(bytes.fromhex(ERROR_SIMPLE["session_key"]), pubkeys)
    assert [secret.hex() for secret in secrets] == [
        hop["shared_secret"] for hop in ERROR_SIMPLE["hops"]
    ]
    assert [generate_key(b"ammag", secret).hex() for secret in secrets] == [
        hop["ammag_key"] for hop in ERROR_SIMPLE["hops"]
    ]
    assert generate_key(b"um", secrets[4]).hex() == ERROR_SIMPLE["um_key"]


def test_error_onion_through_five_hops():
    secrets = [bytes.fromhex(hop["shared_secret"]) for hop in ERROR_SIMPLE["hops"]]
    failing = ERROR_SIMPLE["failing_hop"]
    message = bytes.fromhex(ERROR_SIMPLE["failure_message"])
    plain = build_failure_packet(secrets[failing], message)
    assert plain[32:].hex() == ERROR_SIMPLE["payload"]
    packet = create_failure_packet(secrets[failing], message)
    for index in reversed(range(failing)):
        packet = obfuscate_failure_packet(secrets[index], packet)
    assert packet.hex() == ERROR_SIMPLE["error_packet"]

    failure = decrypt_failure_packet(secrets, packet)
    assert failure.hop_index == failing
    assert failure.failure_message == message
    assert failure.code == TEMPORARY_NODE_FAILURE
    assert failure.decode().name == "temporary_node_failure"


def trace_failure_message():
    tlv = write_records([(ERROR_TRACE["tlv_type"], bytes.fromhex(ERROR_TRACE["tlv_value"]))])
    return failure_message(
        INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS,
        extra=tlv,
        htlc_msat=ERROR_TRACE["htlc_msat"],
        height=ERROR_TRACE["height"],
    )


def test_error_trace_every_intermediate_value():
    message = trace_failure_message()
    encoded = message.encode()
    # The trace's encoded_failure_message runs on with pad_len and the zero pad (to 1024).
    pad_length = 1024 - len(encoded)
    assert (
        ERROR_TRACE["failure_message"]
        == (encoded + pad_length.to_bytes(2, "big") + bytes(pad_length)).hex()
    )
    secret = bytes.fromhex(ERROR_TRACE["shared_secret"])
    assert generate_key(b"um", secret).hex() == ERROR_TRACE["um_key"]
    raw = build_failure_packet(secret, message, pad_to=1024)
    assert raw[32:].hex() == ERROR_TRACE["payload"]
    assert raw.hex() == ERROR_TRACE["raw_error_packet"]

    packet = raw
    for step in ERROR_TRACE["forwarding"]:
        step_secret = bytes.fromhex(step["shared_secret"])
        ammag = generate_key(b"ammag", step_secret)
        assert ammag.hex() == step["ammag_key"]
        assert pseudo_random_stream(ammag, len(packet)).hex() == step["stream"]
        packet = obfuscate_failure_packet(step_secret, packet)
        assert packet.hex() == step["error_packet"], f"node {step['node']}"

    route_secrets = [
        bytes.fromhex(step["shared_secret"]) for step in reversed(ERROR_TRACE["forwarding"])
    ]
    pubkeys = [hop.pubkey for hop in HOPS]
    assert hop_shared_secrets(bytes.fromhex(ERROR_TRACE["session_key"]), pubkeys) == route_secrets
    failure = decrypt_failure_packet(route_secrets, packet)
    assert failure.hop_index == ERROR_TRACE["failing_hop"]
    decoded = failure.decode()
    assert decoded == message
    assert decoded.name == "incorrect_or_unknown_payment_details"
    assert decoded.fields == {"htlc_msat": 100, "height": 800000}
    assert decoded.is_permanent and not decoded.is_node_failure


# --- malformed onions --------------------------------------------------------


def spec_onion() -> bytearray:
    return bytearray.fromhex(CONSTRUCTION["onion"])


def test_bad_hmac_is_invalid_onion_hmac():
    onion = spec_onion()
    onion[100] ^= 1
    with pytest.raises(BadOnionError) as raised:
        process_onion(bytes(onion), HOP_KEYS[0], ASSOCIATED_DATA)
    assert raised.value.failure_code == INVALID_ONION_HMAC == BADONION | PERM | 5
    assert raised.value.sha256_of_onion == hashlib.sha256(bytes(onion)).digest()


def test_wrong_associated_data_is_invalid_onion_hmac():
    with pytest.raises(BadOnionError) as raised:
        process_onion(bytes(spec_onion()), HOP_KEYS[0], bytes(32))
    assert raised.value.failure_code == INVALID_ONION_HMAC


def test_onion_for_another_node_is_invalid_onion_hmac():
    with pytest.raises(BadOnionError) as raised:
        process_onion(bytes(spec_onion()), HOP_KEYS[1], ASSOCIATED_DATA)
    assert raised.value.failure_code == INVALID_ONION_HMAC


def test_bad_version_is_invalid_onion_version():
    onion = spec_onion()
    onion[0] = 1
    with pytest.raises(BadOnionError) as raised:
        process_onion(bytes(onion), HOP_KEYS[0], ASSOCIATED_DATA)
    assert raised.value.failure_code == INVALID_ONION_VERSION
    assert raised.value.sha256_of_onion == hashlib.sha256(bytes(onion)).digest()


@pytest.mark.parametrize("prefix", [b"\x04", b"\x02"])
def test_bad_ephemeral_key_is_invalid_onion_key(prefix):
    onion = spec_onion()
    # 0x04 is not a compressed-point prefix; x = 5 is not on secp256k1 (5^3 + 7 = 132 is no square)
    onion[1:34] = prefix + (5).to_bytes(32, "big")
    with pytest.raises(BadOnionError) as raised:
        process_onion(bytes(onion), HOP_KEYS[0], ASSOCIATED_DATA)
    assert raised.value.failure_code == INVALID_ONION_KEY


def test_reserved_payload_length_is_invalid_onion_payload():
    route = [OnionHop(HOPS[0].pubkey, b"\x02")]  # one-byte payload: length 1 is reserved
    onion = construct_onion(SESSION_KEY, route, ASSOCIATED_DATA)
    with pytest.raises(InvalidOnionPayloadError) as raised:
        process_onion(onion, HOP_KEYS[0], ASSOCIATED_DATA)
    assert raised.value.shared_secret == hop_shared_secrets(SESSION_KEY, [HOPS[0].pubkey])[0]
    assert raised.value.failure_message.code == INVALID_ONION_PAYLOAD


def test_too_large_route_is_refused():
    route = [OnionHop(hop.pubkey, bytes(400)) for hop in HOPS[:4]]
    with pytest.raises(OnionError, match="more than the 1300"):
        construct_onion(SESSION_KEY, route, ASSOCIATED_DATA)


# --- hop payloads and failure messages -----------------------------------------


def test_our_route_round_trips_with_typed_payloads():
    secret = bytes(range(32))
    payloads = [
        HopPayload(1_001_000, 150, short_channel_id=(103 << 40) | (1 << 16)),
        HopPayload(
            1_000_000, 144, payment_secret=secret, total_msat=1_000_000, payment_metadata=b"\xfa"
        ),
    ]
    route = [
        OnionHop(HOPS[0].pubkey, payloads[0].encode()),
        OnionHop(HOPS[1].pubkey, payloads[1].encode()),
    ]
    first = process_onion(
        construct_onion(SESSION_KEY, route, ASSOCIATED_DATA), HOP_KEYS[0], ASSOCIATED_DATA
    )
    assert decode_hop_payload(first.payload, is_final=first.is_final) == payloads[0]
    assert first.next_packet is not None
    second = process_onion(first.next_packet, HOP_KEYS[1], ASSOCIATED_DATA)
    assert second.is_final
    assert decode_hop_payload(second.payload, is_final=True) == payloads[1]


@pytest.mark.parametrize(
    ("payload", "is_final", "tlv_type", "message"),
    [
        (bytes.fromhex("040203e8"), True, 2, "lacks amt_to_forward"),
        (bytes.fromhex("02022710"), True, 4, "lacks outgoing_cltv_value"),
        (bytes.fromhex("02022710040203e8"), False, 6, "lacks short_channel_id"),
        (
            bytes.fromhex("02022710040203e806080000000000000001"),
            True,
            6,
            "final hop payload has a short",
        ),
        (bytes.fromhex("02022710040164" + "0a0100"), True, 10, "unknown even record type 10"),
        (bytes.fromhex("0203002710040203e8"), True, 2, "not minimal"),
        (bytes.fromhex("040203e802022710"), True, 2, "strictly increase"),
    ],
)
def test_invalid_hop_payloads_name_the_tlv_type(payload, is_final, tlv_type, message):
    with pytest.raises(InvalidOnionPayloadError, match=message) as raised:
        decode_hop_payload(payload, is_final=is_final)
    assert raised.value.tlv_type == tlv_type
    assert raised.value.failure_message.fields == {"type": tlv_type, "offset": 0}


def test_failure_messages_encode_and_decode():
    update = bytes(range(10))
    fee = failure_message(FEE_INSUFFICIENT, htlc_msat=5000, channel_update=update)
    assert fee.encode() == bytes.fromhex("100c") + (5000).to_bytes(8, "big") + b"\x00\x0a" + update
    assert decode_failure_message(fee.encode()) == fee
    assert fee.channel_update == update
    no_update = failure_message(TEMPORARY_CHANNEL_FAILURE)
    assert no_update.encode() == bytes.fromhex("10070000")
    assert no_update.channel_update is None
    assert failure_message(UNKNOWN_NEXT_PEER).encode() == bytes.fromhex("400a")
    with pytest.raises(OnionError, match="takes fields"):
        failure_message(INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS, htlc_msat=1)
    with pytest.raises(OnionError, match="truncated"):
        decode_failure_message(bytes.fromhex("400f0000"))


def test_failure_from_a_middle_hop_is_attributed_to_it():
    secrets = hop_shared_secrets(SESSION_KEY, [hop.pubkey for hop in HOPS])
    packet = create_failure_packet(secrets[2], failure_message(UNKNOWN_NEXT_PEER))
    packet = obfuscate_failure_packet(secrets[1], packet)
    packet = obfuscate_failure_packet(secrets[0], packet)
    failure = decrypt_failure_packet(secrets, packet)
    assert (failure.hop_index, failure.code) == (2, UNKNOWN_NEXT_PEER)
    with pytest.raises(OnionError, match="not authenticated"):
        decrypt_failure_packet(secrets, bytes(len(packet)))


def test_keysend_preimage_record_is_type_5482373484_of_32_bytes():
    preimage = bytes(range(32))
    payload = HopPayload(5_000, 140, keysend_preimage=preimage, unknown_records=((65537, b"hi"),))
    raw = payload.encode()
    # BigSize of 5482373484 (above 2^32: 0xff and eight bytes), then length 32, the preimage
    assert bytes.fromhex("ff0000000146c6616c20") + preimage in raw
    assert decode_hop_payload(raw, is_final=True) == payload
    # a wrong length is an invalid payload naming the type (the record is even: not skippable)
    short = bytes.fromhex("0202138804018c" + "ff0000000146c6616c" + "10") + preimage[:16]
    with pytest.raises(InvalidOnionPayloadError) as raised:
        decode_hop_payload(short, is_final=True)
    assert raised.value.tlv_type == 5482373484
