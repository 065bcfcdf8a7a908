"""BOLT 4 onion routing: Sphinx packets, hop payloads and failure onions.

Layer: payments. Imports payments.onion_failures and wire only (the Sphinx construction has
no node state).

Sender: `construct_onion(session_key, hops, associated_data)` builds the
1366-byte packet for a route of `OnionHop(pubkey, payload)`;
`hop_shared_secrets(session_key, pubkeys)` gives the per-hop secrets needed to
read a returned failure with `decrypt_failure_packet`.

Hop: `process_onion(packet, node_private_key, associated_data)` checks and
peels one layer (raising `BadOnionError` with the code for
update_fail_malformed_htlc) and returns the hop's payload, the packet for the
next hop (None at the final node) and the shared secret. The payload is read
with `decode_hop_payload`.

Failures: the erring node calls `create_failure_packet(shared_secret,
FailureMessage)`, each node on the way back `obfuscate_failure_packet`; the failure codes
and messages themselves are in onion_failures.py.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field

import coincurve
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from ..wire.codec import (
    Reader,
    WireError,
    decode_tu,
    encode_bigsize,
    encode_tu,
    encode_u16,
)
from ..wire.tlv import (
    TlvError,
    TlvRecord,
    TlvStreamCodec,
    bytes_record,
    tu_record,
)
from .onion_failures import (
    INVALID_ONION_HMAC,
    INVALID_ONION_KEY,
    INVALID_ONION_PAYLOAD,
    INVALID_ONION_VERSION,
    FailureMessage,
    OnionError,
    decode_failure_message,
    failure_message,
)

ONION_VERSION = 0
HOP_PAYLOADS_SIZE = 1300
HMAC_SIZE = 32
PUBKEY_SIZE = 33
ONION_PACKET_SIZE = 1 + PUBKEY_SIZE + HOP_PAYLOADS_SIZE + HMAC_SIZE  # 1366
FAILURE_PAD_TO = 256  # failure_len + pad_len the erring node should reach
_ZERO_HMAC = bytes(HMAC_SIZE)


class BadOnionError(OnionError):
    """The onion itself is unusable (bad version, key or HMAC).

    Answer with update_fail_malformed_htlc carrying `failure_code` and
    `sha256_of_onion`.
    """

    def __init__(self, reason: str, *, failure_code: int, onion: bytes) -> None:
        super().__init__(reason)
        self.failure_code = failure_code
        self.sha256_of_onion = hashlib.sha256(onion).digest()


class InvalidOnionPayloadError(OnionError):
    """The onion authenticated but this hop's payload is malformed or incomplete.

    Answer with a failure onion carrying `failure_message` (invalid_onion_payload);
    `shared_secret` is set when the error comes from `process_onion`.
    """

    def __init__(
        self,
        reason: str,
        *,
        tlv_type: int = 0,
        offset: int = 0,
        shared_secret: bytes | None = None,
    ) -> None:
        super().__init__(reason)
        self.tlv_type = tlv_type
        self.offset = offset
        self.shared_secret = shared_secret

    @property
    def failure_message(self) -> FailureMessage:
        return failure_message(INVALID_ONION_PAYLOAD, type=self.tlv_type, offset=self.offset)


# --- primitives -------------------------------------------------------------


def generate_key(key_type: bytes, secret: bytes) -> bytes:
    """HMAC-SHA256 keyed with the key type (b"rho", b"mu", b"um", b"pad", b"ammag") over the secret."""
    return hmac.new(key_type, secret, hashlib.sha256).digest()


def pseudo_random_stream(key: bytes, length: int) -> bytes:
    """`length` bytes of ChaCha20 keystream for `key` with a zero nonce and counter."""
    encryptor = Cipher(algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor()
    return encryptor.update(bytes(length))


def _xor(data: bytes, stream: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream[: len(data)], "big")).to_bytes(
        len(data), "big"
    )


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def _blinding_factor(ephemeral_pubkey: bytes, shared_secret: bytes) -> bytes:
    return hashlib.sha256(ephemeral_pubkey + shared_secret).digest()


def _ephemeral_keys_and_secrets(
    session_key: bytes, hop_pubkeys: Sequence[bytes]
) -> list[tuple[bytes, bytes]]:
    """(ephemeral public key, shared secret) for each hop, in route order."""
    result = []
    ephemeral = coincurve.PrivateKey(session_key)
    for index, pubkey in enumerate(hop_pubkeys):
        try:
            secret = ephemeral.ecdh(pubkey)
        except ValueError:
            raise OnionError(
                f"hop {index} public key {pubkey.hex()} is not a valid point"
            ) from None
        ephemeral_pubkey = ephemeral.public_key.format()
        result.append((ephemeral_pubkey, secret))
        ephemeral = ephemeral.multiply(_blinding_factor(ephemeral_pubkey, secret))
    return result


def hop_shared_secrets(session_key: bytes, hop_pubkeys: Sequence[bytes]) -> list[bytes]:
    """The shared secret the sender shares with each hop of the route."""
    return [secret for _, secret in _ephemeral_keys_and_secrets(session_key, hop_pubkeys)]


# --- packet construction and processing --------------------------------------


@dataclass(frozen=True)
class OnionHop:
    """One hop of a route to build an onion for: node id and its payload (a TLV stream,
    without the BigSize length prefix)."""

    pubkey: bytes
    payload: bytes


def _hop_record(payload: bytes, next_hmac: bytes) -> bytes:
    return encode_bigsize(len(payload)) + payload + next_hmac


def _filler(hops: Sequence[OnionHop], shared_secrets: Sequence[bytes]) -> bytes:
    """The tail the last hop will see, as produced by every earlier hop's processing."""
    filler = b""
    for hop, secret in zip(hops[:-1], shared_secrets[:-1], strict=True):
        shift = len(_hop_record(hop.payload, _ZERO_HMAC))
        stream = pseudo_random_stream(generate_key(b"rho", secret), 2 * HOP_PAYLOADS_SIZE)
        start = HOP_PAYLOADS_SIZE - len(filler)
        filler = _xor(filler + bytes(shift), stream[start : HOP_PAYLOADS_SIZE + shift])
    return filler


def construct_onion(session_key: bytes, hops: Sequence[OnionHop], associated_data: bytes) -> bytes:
    """Build the 1366-byte onion packet for `hops` (first hop first).

    `associated_data` is the payment hash for HTLC onions; `session_key` is a fresh
    random 32-byte secret (keep it, or the shared secrets, to read failures).
    """
    if not hops:
        raise OnionError("cannot build an onion for an empty route")
    total = sum(len(_hop_record(hop.payload, _ZERO_HMAC)) for hop in hops)
    if total > HOP_PAYLOADS_SIZE:
        raise OnionError(
            f"hop payloads need {total} bytes, more than the {HOP_PAYLOADS_SIZE} available"
        )
    keys = _ephemeral_keys_and_secrets(session_key, [hop.pubkey for hop in hops])
    secrets = [secret for _, secret in keys]
    filler = _filler(hops, secrets)
    mix_header = pseudo_random_stream(generate_key(b"pad", session_key), HOP_PAYLOADS_SIZE)
    next_hmac = _ZERO_HMAC
    for index in reversed(range(len(hops))):
        record = _hop_record(hops[index].payload, next_hmac)
        mix_header = (record + mix_header)[:HOP_PAYLOADS_SIZE]
        mix_header = _xor(
            mix_header,
            pseudo_random_stream(generate_key(b"rho", secrets[index]), HOP_PAYLOADS_SIZE),
        )
        if index == len(hops) - 1 and filler:
            mix_header = mix_header[: HOP_PAYLOADS_SIZE - len(filler)] + filler
        next_hmac = _hmac(generate_key(b"mu", secrets[index]), mix_header + associated_data)
    return bytes([ONION_VERSION]) + keys[0][0] + mix_header + next_hmac


@dataclass(frozen=True)
class ProcessedOnion:
    """One peeled layer: this hop's payload, and the packet for the next hop (None when final)."""

    payload: bytes
    next_packet: bytes | None
    shared_secret: bytes = field(repr=False)

    @property
    def is_final(self) -> bool:
        return self.next_packet is None


def process_onion(packet: bytes, node_private_key: bytes, associated_data: bytes) -> ProcessedOnion:
    """Check and peel the layer of `packet` meant for the node holding `node_private_key`."""
    if len(packet) != ONION_PACKET_SIZE:
        raise OnionError(f"onion packet must be {ONION_PACKET_SIZE} bytes, got {len(packet)}")
    version = packet[0]
    ephemeral_pubkey = packet[1 : 1 + PUBKEY_SIZE]
    hop_payloads = packet[1 + PUBKEY_SIZE : 1 + PUBKEY_SIZE + HOP_PAYLOADS_SIZE]
    packet_hmac = packet[-HMAC_SIZE:]
    if version != ONION_VERSION:
        raise BadOnionError(
            f"onion version {version} is not {ONION_VERSION}",
            failure_code=INVALID_ONION_VERSION,
            onion=packet,
        )
    try:
        secret = coincurve.PrivateKey(node_private_key).ecdh(ephemeral_pubkey)
    except ValueError:
        raise BadOnionError(
            f"onion ephemeral key {ephemeral_pubkey.hex()} is not a valid point",
            failure_code=INVALID_ONION_KEY,
            onion=packet,
        ) from None
    expected_hmac = _hmac(generate_key(b"mu", secret), hop_payloads + associated_data)
    if not hmac.compare_digest(expected_hmac, packet_hmac):
        raise BadOnionError(
            "onion HMAC does not match", failure_code=INVALID_ONION_HMAC, onion=packet
        )

    stream = pseudo_random_stream(generate_key(b"rho", secret), 2 * HOP_PAYLOADS_SIZE)
    unwrapped = _xor(hop_payloads + bytes(HOP_PAYLOADS_SIZE), stream)
    reader = Reader(unwrapped)
    try:
        length = reader.read_bigsize()
    except WireError as error:
        raise InvalidOnionPayloadError(
            f"hop payload length is malformed: {error}", shared_secret=secret
        ) from None
    if length < 2:
        raise InvalidOnionPayloadError(
            f"hop payload length {length} is reserved (legacy or unused)", shared_secret=secret
        )
    payload_start = len(unwrapped) - reader.remaining
    payload_end = payload_start + length
    if payload_end + HMAC_SIZE > HOP_PAYLOADS_SIZE:
        raise InvalidOnionPayloadError(
            f"hop payload of {length} bytes overruns the {HOP_PAYLOADS_SIZE}-byte hop_payloads",
            shared_secret=secret,
        )
    payload = unwrapped[payload_start:payload_end]
    next_hmac = unwrapped[payload_end : payload_end + HMAC_SIZE]
    if next_hmac == _ZERO_HMAC:
        return ProcessedOnion(payload, None, secret)
    next_payloads = unwrapped[payload_end + HMAC_SIZE : payload_end + HMAC_SIZE + HOP_PAYLOADS_SIZE]
    next_pubkey = (
        coincurve.PublicKey(ephemeral_pubkey)
        .multiply(_blinding_factor(ephemeral_pubkey, secret))
        .format()
    )
    return ProcessedOnion(
        payload, bytes([ONION_VERSION]) + next_pubkey + next_payloads + next_hmac, secret
    )


# --- hop payloads (tlv_payload) ----------------------------------------------


def _read_payment_data(reader: Reader) -> tuple[bytes, int]:
    secret = reader.read_bytes(32)
    return secret, decode_tu(reader.read_rest(), 8)


def _write_payment_data(value: tuple[bytes, int]) -> bytes:
    secret, total_msat = value
    if len(secret) != 32:
        raise OnionError(f"payment_secret must be 32 bytes, got {len(secret)}")
    return secret + encode_tu(total_msat, 8)


def _read_scid(reader: Reader) -> int:
    return int.from_bytes(reader.read_bytes(8), "big")


KEYSEND_PREIMAGE_TYPE = 5482373484
"""The final hop's record carrying a spontaneous payment's preimage (keysend: not a BOLT,
the type LND, Core Lightning and LDK agree on; even, so a node that does not know it fails
the HTLC with invalid_onion_payload)."""

_PAYLOAD_CODEC = TlvStreamCodec(
    "payload",
    [
        tu_record(2, "amt_to_forward", 8),
        tu_record(4, "outgoing_cltv_value", 4),
        TlvRecord(6, "short_channel_id", _read_scid, lambda scid: scid.to_bytes(8, "big")),
        TlvRecord(8, "payment_data", _read_payment_data, _write_payment_data),
        bytes_record(16, "payment_metadata"),
        bytes_record(KEYSEND_PREIMAGE_TYPE, "keysend_preimage", 32),
    ],
)


@dataclass(frozen=True)
class HopPayload:
    """A hop's tlv_payload. Forwarding hops carry `short_channel_id`; the final hop
    carries `payment_secret` and `total_msat` (payment_data) and maybe metadata."""

    amt_to_forward_msat: int
    outgoing_cltv_value: int
    short_channel_id: int | None = None
    payment_secret: bytes | None = None
    total_msat: int | None = None
    payment_metadata: bytes | None = None
    keysend_preimage: bytes | None = None
    unknown_records: tuple[tuple[int, bytes], ...] = ()  # odd types we do not know, kept raw

    def encode(self) -> bytes:
        """The TLV stream (without the BigSize length prefix the onion adds)."""
        if (self.payment_secret is None) != (self.total_msat is None):
            raise OnionError("payment_secret and total_msat go together (payment_data)")
        payment_data = (
            None if self.payment_secret is None else (self.payment_secret, self.total_msat)
        )
        return _PAYLOAD_CODEC.encode(
            {
                "amt_to_forward": self.amt_to_forward_msat,
                "outgoing_cltv_value": self.outgoing_cltv_value,
                "short_channel_id": self.short_channel_id,
                "payment_data": payment_data,
                "payment_metadata": self.payment_metadata,
                "keysend_preimage": self.keysend_preimage,
            },
            self.unknown_records,
        )


def decode_hop_payload(data: bytes, *, is_final: bool) -> HopPayload:
    """Parse and check a hop's TLV payload (BOLT 4 reader requirements, no route blinding).

    Raises InvalidOnionPayloadError naming the offending TLV type.
    """
    try:
        stream = _PAYLOAD_CODEC.decode(data)
    except TlvError as error:
        raise InvalidOnionPayloadError(
            f"hop payload: {error}", tlv_type=error.tlv_type or 0
        ) from None
    values = stream.values
    for tlv_type, name in ((2, "amt_to_forward"), (4, "outgoing_cltv_value")):
        if name not in values:
            raise InvalidOnionPayloadError(
                f"hop payload lacks {name} (type {tlv_type})", tlv_type=tlv_type
            )
    if is_final and "short_channel_id" in values:
        raise InvalidOnionPayloadError("final hop payload has a short_channel_id", tlv_type=6)
    if not is_final:
        if "short_channel_id" not in values:
            raise InvalidOnionPayloadError(
                "forwarding hop payload lacks short_channel_id (type 6)", tlv_type=6
            )
        if "payment_data" in values:
            raise InvalidOnionPayloadError("forwarding hop payload has payment_data", tlv_type=8)
    payment_secret, total_msat = values.get("payment_data", (None, None))
    return HopPayload(
        amt_to_forward_msat=values["amt_to_forward"],
        outgoing_cltv_value=values["outgoing_cltv_value"],
        short_channel_id=values.get("short_channel_id"),
        payment_secret=payment_secret,
        total_msat=total_msat,
        payment_metadata=values.get("payment_metadata"),
        keysend_preimage=values.get("keysend_preimage"),
        unknown_records=stream.unknown,
    )


# --- failure onions ------------------------------------------------------------


def build_failure_packet(
    shared_secret: bytes, message: FailureMessage | bytes, *, pad_to: int = FAILURE_PAD_TO
) -> bytes:
    """The erring node's return packet before obfuscation:
    hmac(um) || u16 failure_len || failuremsg || u16 pad_len || zero pad,
    padded so that failure_len + pad_len reaches `pad_to`."""
    failure = message.encode() if isinstance(message, FailureMessage) else message
    pad_length = max(0, pad_to - len(failure))
    body = encode_u16(len(failure)) + failure + encode_u16(pad_length) + bytes(pad_length)
    return _hmac(generate_key(b"um", shared_secret), body) + body


def obfuscate_failure_packet(shared_secret: bytes, packet: bytes) -> bytes:
    """XOR a return packet with the `ammag` stream of `shared_secret`: done by the
    erring node and again by every node on the way back to the origin."""
    return _xor(packet, pseudo_random_stream(generate_key(b"ammag", shared_secret), len(packet)))


def create_failure_packet(
    shared_secret: bytes, message: FailureMessage | bytes, *, pad_to: int = FAILURE_PAD_TO
) -> bytes:
    """The erring node's `reason` for update_fail_htlc: built and obfuscated."""
    return obfuscate_failure_packet(
        shared_secret, build_failure_packet(shared_secret, message, pad_to=pad_to)
    )


@dataclass(frozen=True)
class DecryptedFailure:
    """A failure onion read by the origin: which hop (0 = first) sent which message."""

    hop_index: int
    failure_message: bytes

    @property
    def code(self) -> int:
        return int.from_bytes(self.failure_message[:2], "big")

    def decode(self) -> FailureMessage:
        return decode_failure_message(self.failure_message)


def decrypt_failure_packet(shared_secrets: Sequence[bytes], packet: bytes) -> DecryptedFailure:
    """Peel a returned failure layer by layer (route order) until a hop's `um` HMAC matches.

    Raises OnionError if no hop of the route authenticated it.
    """
    for index, secret in enumerate(shared_secrets):
        packet = obfuscate_failure_packet(secret, packet)
        if len(packet) < HMAC_SIZE + 4:
            break
        body = packet[HMAC_SIZE:]
        if hmac.compare_digest(_hmac(generate_key(b"um", secret), body), packet[:HMAC_SIZE]):
            failure_length = int.from_bytes(body[:2], "big")
            if 2 + failure_length > len(body):
                raise OnionError(
                    f"failure from hop {index} claims {failure_length} bytes, packet is shorter"
                )
            return DecryptedFailure(index, body[2 : 2 + failure_length])
    raise OnionError(
        f"failure packet of {len(packet)} bytes is not authenticated by any of the "
        f"{len(shared_secrets)} hops"
    )
