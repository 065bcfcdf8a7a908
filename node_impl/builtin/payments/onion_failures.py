"""BOLT 4 failure messages: the failure codes, their data, and the message a failure onion carries.

Layer: payments. Imports wire only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..wire.codec import (
    Reader,
    WireError,
    encode_bigsize,
    encode_u16,
    encode_u32,
    encode_u64,
)

# --- failure codes (BOLT 4 "Failure Messages") ------------------------------

BADONION = 0x8000
PERM = 0x4000
NODE = 0x2000
UPDATE = 0x1000

TEMPORARY_NODE_FAILURE = NODE | 2
PERMANENT_NODE_FAILURE = PERM | NODE | 2
REQUIRED_NODE_FEATURE_MISSING = PERM | NODE | 3
INVALID_ONION_VERSION = BADONION | PERM | 4
INVALID_ONION_HMAC = BADONION | PERM | 5
INVALID_ONION_KEY = BADONION | PERM | 6
TEMPORARY_CHANNEL_FAILURE = UPDATE | 7
PERMANENT_CHANNEL_FAILURE = PERM | 8
REQUIRED_CHANNEL_FEATURE_MISSING = PERM | 9
UNKNOWN_NEXT_PEER = PERM | 10
AMOUNT_BELOW_MINIMUM = UPDATE | 11
FEE_INSUFFICIENT = UPDATE | 12
INCORRECT_CLTV_EXPIRY = UPDATE | 13
EXPIRY_TOO_SOON = UPDATE | 14
INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS = PERM | 15
FINAL_INCORRECT_CLTV_EXPIRY = 18
FINAL_INCORRECT_HTLC_AMOUNT = 19
CHANNEL_DISABLED = UPDATE | 20
EXPIRY_TOO_FAR = 21
INVALID_ONION_PAYLOAD = PERM | 22
MPP_TIMEOUT = 23
INVALID_ONION_BLINDING = BADONION | PERM | 24

FAILURE_NAMES: dict[int, str] = {
    TEMPORARY_NODE_FAILURE: "temporary_node_failure",
    PERMANENT_NODE_FAILURE: "permanent_node_failure",
    REQUIRED_NODE_FEATURE_MISSING: "required_node_feature_missing",
    INVALID_ONION_VERSION: "invalid_onion_version",
    INVALID_ONION_HMAC: "invalid_onion_hmac",
    INVALID_ONION_KEY: "invalid_onion_key",
    TEMPORARY_CHANNEL_FAILURE: "temporary_channel_failure",
    PERMANENT_CHANNEL_FAILURE: "permanent_channel_failure",
    REQUIRED_CHANNEL_FEATURE_MISSING: "required_channel_feature_missing",
    UNKNOWN_NEXT_PEER: "unknown_next_peer",
    AMOUNT_BELOW_MINIMUM: "amount_below_minimum",
    FEE_INSUFFICIENT: "fee_insufficient",
    INCORRECT_CLTV_EXPIRY: "incorrect_cltv_expiry",
    EXPIRY_TOO_SOON: "expiry_too_soon",
    INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS: "incorrect_or_unknown_payment_details",
    FINAL_INCORRECT_CLTV_EXPIRY: "final_incorrect_cltv_expiry",
    FINAL_INCORRECT_HTLC_AMOUNT: "final_incorrect_htlc_amount",
    CHANNEL_DISABLED: "channel_disabled",
    EXPIRY_TOO_FAR: "expiry_too_far",
    INVALID_ONION_PAYLOAD: "invalid_onion_payload",
    MPP_TIMEOUT: "mpp_timeout",
    INVALID_ONION_BLINDING: "invalid_onion_blinding",
}

# code -> ordered (field name, kind) of its data; kinds: sha256, u16, u32, u64, bigsize,
# channel_update (u16 length + bytes; an empty update is allowed and is the default).
_FAILURE_LAYOUTS: dict[int, tuple[tuple[str, str], ...]] = {
    INVALID_ONION_VERSION: (("sha256_of_onion", "sha256"),),
    INVALID_ONION_HMAC: (("sha256_of_onion", "sha256"),),
    INVALID_ONION_KEY: (("sha256_of_onion", "sha256"),),
    INVALID_ONION_BLINDING: (("sha256_of_onion", "sha256"),),
    TEMPORARY_CHANNEL_FAILURE: (("channel_update", "channel_update"),),
    AMOUNT_BELOW_MINIMUM: (("htlc_msat", "u64"), ("channel_update", "channel_update")),
    FEE_INSUFFICIENT: (("htlc_msat", "u64"), ("channel_update", "channel_update")),
    INCORRECT_CLTV_EXPIRY: (("cltv_expiry", "u32"), ("channel_update", "channel_update")),
    EXPIRY_TOO_SOON: (("channel_update", "channel_update"),),
    INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS: (("htlc_msat", "u64"), ("height", "u32")),
    FINAL_INCORRECT_CLTV_EXPIRY: (("cltv_expiry", "u32"),),
    FINAL_INCORRECT_HTLC_AMOUNT: (("incoming_htlc_amt", "u64"),),
    CHANNEL_DISABLED: (
        ("disabled_flags", "u16"),
        ("channel_update", "channel_update"),
    ),
    INVALID_ONION_PAYLOAD: (("type", "bigsize"), ("offset", "u16")),
}


class OnionError(ValueError):
    """An onion, hop payload or failure packet cannot be built or read."""




@dataclass(frozen=True)
class FailureMessage:
    """failuremsg: a failure_code, its data fields (by name) and any trailing bytes
    (an optional TLV stream, kept raw)."""

    code: int
    fields: Mapping[str, int | bytes] = field(default_factory=dict)
    extra: bytes = b""

    @property
    def name(self) -> str:
        return FAILURE_NAMES.get(self.code, f"unknown_failure_0x{self.code:04x}")

    @property
    def is_bad_onion(self) -> bool:
        return bool(self.code & BADONION)

    @property
    def is_permanent(self) -> bool:
        return bool(self.code & PERM)

    @property
    def is_node_failure(self) -> bool:
        return bool(self.code & NODE)

    @property
    def channel_update(self) -> bytes | None:
        """The channel_update the erring node attached, if any (empty means none)."""
        update = self.fields.get("channel_update")
        return update if isinstance(update, bytes) and update else None

    def encode(self) -> bytes:
        data = encode_u16(self.code)
        for name, kind in _FAILURE_LAYOUTS.get(self.code, ()):
            data += _encode_failure_field(name, kind, self.fields[name])
        return data + self.extra


def _encode_failure_field(name: str, kind: str, value: int | bytes) -> bytes:
    if kind in ("sha256", "channel_update"):
        if not isinstance(value, bytes):
            raise OnionError(f"failure field {name} must be bytes")
        if kind == "sha256":
            if len(value) != 32:
                raise OnionError(f"failure field {name} must be 32 bytes, got {len(value)}")
            return value
        return encode_u16(len(value)) + value
    if not isinstance(value, int):
        raise OnionError(f"failure field {name} must be an integer")
    encoders = {"u16": encode_u16, "u32": encode_u32, "u64": encode_u64, "bigsize": encode_bigsize}
    return encoders[kind](value)


def failure_message(code: int, extra: bytes = b"", **fields: int | bytes) -> FailureMessage:
    """A FailureMessage for `code` with exactly the data fields BOLT 4 defines for it
    (`channel_update` may be omitted: it then is empty)."""
    layout = _FAILURE_LAYOUTS.get(code, ())
    expected = {name for name, _ in layout}
    values = dict(fields)
    if "channel_update" in expected:
        values.setdefault("channel_update", b"")
    if set(values) != expected:
        name = FAILURE_NAMES.get(code, f"0x{code:04x}")
        raise OnionError(f"failure {name} takes fields {sorted(expected)}, got {sorted(values)}")
    message = FailureMessage(code, values, extra)
    message.encode()  # check the values' types and sizes now
    return message


def decode_failure_message(data: bytes) -> FailureMessage:
    """Parse a failuremsg; bytes after the defined fields are kept in `extra`."""
    reader = Reader(data)
    try:
        code = reader.read_u16()
        values: dict[str, int | bytes] = {}
        for name, kind in _FAILURE_LAYOUTS.get(code, ()):
            if kind == "sha256":
                values[name] = reader.read_bytes(32)
            elif kind == "channel_update":
                values[name] = reader.read_bytes(reader.read_u16())
            elif kind == "u16":
                values[name] = reader.read_u16()
            elif kind == "u32":
                values[name] = reader.read_u32()
            elif kind == "u64":
                values[name] = reader.read_u64()
            else:
                values[name] = reader.read_bigsize()
    except WireError as error:
        raise OnionError(f"failure message {data[:2].hex()} is truncated: {error}") from None
    return FailureMessage(code, values, reader.read_rest())
