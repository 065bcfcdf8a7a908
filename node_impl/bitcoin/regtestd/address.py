"""Regtest addresses: bech32 (BIP173), bech32m (BIP350) and base58check, to and from scriptPubKeys."""

from __future__ import annotations

from .primitives import dsha256

HRP = "bcrt"
P2PKH_VERSION = 0x6F
P2SH_VERSION = 0xC4

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_CONST = 1
_BECH32M_CONST = 0x2BC830A3
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


class AddressError(ValueError):
    """Raised for an address that is not a valid regtest address."""


def _polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= gen[i] if ((top >> i) & 1) else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convertbits(data: bytes | list[int], frombits: int, tobits: int, pad: bool) -> list[int]:
    acc = 0
    bits = 0
    ret = []
    maxv = (1 << tobits) - 1
    for value in data:
        if value < 0 or value >> frombits:
            raise AddressError("invalid data value")
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            ret.append((acc >> bits) & maxv)
    if pad:
        if bits:
            ret.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or ((acc << (tobits - bits)) & maxv):
        raise AddressError("invalid padding")
    return ret


def encode_segwit(witver: int, program: bytes, hrp: str = HRP) -> str:
    const = _BECH32_CONST if witver == 0 else _BECH32M_CONST
    data = [witver] + _convertbits(program, 8, 5, True)
    values = _hrp_expand(hrp) + data
    polymod = _polymod(values + [0] * 6) ^ const
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[d] for d in data + checksum)


def decode_segwit(addr: str, hrp: str = HRP) -> tuple[int, bytes]:
    if addr.lower() != addr and addr.upper() != addr:
        raise AddressError("mixed case")
    addr = addr.lower()
    pos = addr.rfind("1")
    if pos < 1 or pos + 7 > len(addr) or len(addr) > 90:
        raise AddressError("bad bech32 separator or length")
    if addr[:pos] != hrp:
        raise AddressError(f"wrong human-readable part {addr[:pos]!r}")
    try:
        data = [_CHARSET.index(c) for c in addr[pos + 1:]]
    except ValueError as exc:
        raise AddressError("invalid bech32 character") from exc
    const = _polymod(_hrp_expand(hrp) + data)
    if const not in (_BECH32_CONST, _BECH32M_CONST):
        raise AddressError("bad bech32 checksum")
    witver = data[0]
    program = bytes(_convertbits(data[1:-6], 5, 8, False))
    if witver > 16 or not 2 <= len(program) <= 40:
        raise AddressError("invalid witness program")
    if witver == 0 and len(program) not in (20, 32):
        raise AddressError("invalid witness v0 program length")
    if (witver == 0) != (const == _BECH32_CONST):
        raise AddressError("wrong checksum variant for witness version")
    return witver, program


def b58encode_check(payload: bytes) -> str:
    data = payload + dsha256(payload)[:4]
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    pad = len(data) - len(data.lstrip(b"\x00"))
    return "1" * pad + out


def b58decode_check(s: str) -> bytes:
    n = 0
    for c in s:
        idx = _B58.find(c)
        if idx < 0:
            raise AddressError("invalid base58 character")
        n = n * 58 + idx
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    pad = len(s) - len(s.lstrip("1"))
    data = b"\x00" * pad + body
    if len(data) < 5 or dsha256(data[:-4])[:4] != data[-4:]:
        raise AddressError("bad base58 checksum")
    return data[:-4]


def address_to_script(addr: str) -> bytes:
    """scriptPubKey for a regtest address; AddressError if invalid."""
    if not isinstance(addr, str) or not addr:
        raise AddressError("empty address")
    if addr.lower().startswith(HRP + "1"):
        witver, program = decode_segwit(addr)
        op = 0 if witver == 0 else 0x50 + witver
        return bytes([op, len(program)]) + program
    data = b58decode_check(addr)
    if len(data) == 21 and data[0] == P2PKH_VERSION:
        return b"\x76\xa9\x14" + data[1:] + b"\x88\xac"
    if len(data) == 21 and data[0] == P2SH_VERSION:
        return b"\xa9\x14" + data[1:] + b"\x87"
    raise AddressError("unknown address version")


def script_to_address(spk: bytes) -> str | None:
    """Regtest address of a scriptPubKey, or None when it has none."""
    n = len(spk)
    if n == 25 and spk[:3] == b"\x76\xa9\x14" and spk[23:] == b"\x88\xac":
        return b58encode_check(bytes([P2PKH_VERSION]) + spk[3:23])
    if n == 23 and spk[:2] == b"\xa9\x14" and spk[22] == 0x87:
        return b58encode_check(bytes([P2SH_VERSION]) + spk[2:22])
    if 4 <= n <= 42 and spk[1] == n - 2 and (spk[0] == 0 or 0x51 <= spk[0] <= 0x60):
        witver = 0 if spk[0] == 0 else spk[0] - 0x50
        if witver == 0 and n - 2 not in (20, 32):
            return None
        return encode_segwit(witver, spk[2:])
    return None
