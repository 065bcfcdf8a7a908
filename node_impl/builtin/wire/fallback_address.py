"""The on-chain address and scriptPubKey of a BOLT 11 fallback (field `f`), as Core
Lightning's `decode` shows them.

Layer: wire. Imports wire/bech32 and wire/bolt11 only.

P2PKH and P2SH (versions 17 and 18) as base58check, segwit v0 (P2WPKH, P2WSH) as bech32;
later witness versions need bech32m, which this node does not write: they get no address.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .bech32 import bech32_encode, convert_bits
from .bolt11 import Fallback

P2PKH_VERSION, P2SH_VERSION = 17, 18
#: base58 version bytes (P2PKH, P2SH) and segwit HRP of each network
_BASE58_VERSIONS = {"bitcoin": (0x00, 0x05)}
_TEST_BASE58_VERSIONS = (0x6F, 0xC4)
_SEGWIT_HRP = {"bitcoin": "bc", "testnet": "tb", "signet": "tb", "regtest": "bcrt"}
_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58check(version: int, payload: bytes) -> str:
    """Base58check of a version byte and a payload (leading zero bytes as '1')."""
    data = bytes([version]) + payload
    data += hashlib.sha256(hashlib.sha256(data).digest()).digest()[:4]
    number, text = int.from_bytes(data, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        text = _BASE58_ALPHABET[digit] + text
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + text


def describe_fallback(fallback: Fallback, network: str) -> dict[str, Any]:
    """`{"type", "addr" (when this node can write it), "hex" (the scriptPubKey)}`."""
    program, version = fallback.program, fallback.version
    p2pkh_version, p2sh_version = _BASE58_VERSIONS.get(network, _TEST_BASE58_VERSIONS)
    if version == P2PKH_VERSION:
        return {"type": "P2PKH", "addr": base58check(p2pkh_version, program),
                "hex": (b"\x76\xa9\x14" + program + b"\x88\xac").hex()}
    if version == P2SH_VERSION:
        return {"type": "P2SH", "addr": base58check(p2sh_version, program),
                "hex": (b"\xa9\x14" + program + b"\x87").hex()}
    script = bytes([0x50 + version if version else 0, len(program)]) + program
    if version == 0 and len(program) in (20, 32):
        address = bech32_encode(_SEGWIT_HRP[network], [0] + convert_bits(program, 8, 5, pad=True))
        return {"type": "P2WPKH" if len(program) == 20 else "P2WSH", "addr": address,
                "hex": script.hex()}
    return {"type": f"witness v{version}", "hex": script.hex()}
