"""Script helpers: output type names, asm, pushes, dust thresholds (as bitcoind reports them)."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from .address import script_to_address

OP_NAMES = {
    0x00: "0", 0x4F: "-1", 0x50: "OP_RESERVED", 0x61: "OP_NOP", 0x62: "OP_VER", 0x63: "OP_IF",
    0x64: "OP_NOTIF", 0x65: "OP_VERIF", 0x66: "OP_VERNOTIF", 0x67: "OP_ELSE", 0x68: "OP_ENDIF",
    0x69: "OP_VERIFY", 0x6A: "OP_RETURN", 0x6B: "OP_TOALTSTACK", 0x6C: "OP_FROMALTSTACK",
    0x6D: "OP_2DROP", 0x6E: "OP_2DUP", 0x6F: "OP_3DUP", 0x70: "OP_2OVER", 0x71: "OP_2ROT",
    0x72: "OP_2SWAP", 0x73: "OP_IFDUP", 0x74: "OP_DEPTH", 0x75: "OP_DROP", 0x76: "OP_DUP",
    0x77: "OP_NIP", 0x78: "OP_OVER", 0x79: "OP_PICK", 0x7A: "OP_ROLL", 0x7B: "OP_ROT",
    0x7C: "OP_SWAP", 0x7D: "OP_TUCK", 0x7E: "OP_CAT", 0x7F: "OP_SUBSTR", 0x80: "OP_LEFT",
    0x81: "OP_RIGHT", 0x82: "OP_SIZE", 0x83: "OP_INVERT", 0x84: "OP_AND", 0x85: "OP_OR",
    0x86: "OP_XOR", 0x87: "OP_EQUAL", 0x88: "OP_EQUALVERIFY", 0x89: "OP_RESERVED1",
    0x8A: "OP_RESERVED2", 0x8B: "OP_1ADD", 0x8C: "OP_1SUB", 0x8D: "OP_2MUL", 0x8E: "OP_2DIV",
    0x8F: "OP_NEGATE", 0x90: "OP_ABS", 0x91: "OP_NOT", 0x92: "OP_0NOTEQUAL", 0x93: "OP_ADD",
    0x94: "OP_SUB", 0x95: "OP_MUL", 0x96: "OP_DIV", 0x97: "OP_MOD", 0x98: "OP_LSHIFT",
    0x99: "OP_RSHIFT", 0x9A: "OP_BOOLAND", 0x9B: "OP_BOOLOR", 0x9C: "OP_NUMEQUAL",
    0x9D: "OP_NUMEQUALVERIFY", 0x9E: "OP_NUMNOTEQUAL", 0x9F: "OP_LESSTHAN", 0xA0: "OP_GREATERTHAN",
    0xA1: "OP_LESSTHANOREQUAL", 0xA2: "OP_GREATERTHANOREQUAL", 0xA3: "OP_MIN", 0xA4: "OP_MAX",
    0xA5: "OP_WITHIN", 0xA6: "OP_RIPEMD160", 0xA7: "OP_SHA1", 0xA8: "OP_SHA256",
    0xA9: "OP_HASH160", 0xAA: "OP_HASH256", 0xAB: "OP_CODESEPARATOR", 0xAC: "OP_CHECKSIG",
    0xAD: "OP_CHECKSIGVERIFY", 0xAE: "OP_CHECKMULTISIG", 0xAF: "OP_CHECKMULTISIGVERIFY",
    0xB0: "OP_NOP1", 0xB1: "OP_CHECKLOCKTIMEVERIFY", 0xB2: "OP_CHECKSEQUENCEVERIFY",
    0xB3: "OP_NOP4", 0xB4: "OP_NOP5", 0xB5: "OP_NOP6", 0xB6: "OP_NOP7", 0xB7: "OP_NOP8",
    0xB8: "OP_NOP9", 0xB9: "OP_NOP10", 0xBA: "OP_CHECKSIGADD",
}

DUST_RELAY_FEE_SAT_PER_KVB = 3000


def iter_ops(script: bytes) -> Iterator[tuple[int, bytes | None]]:
    """Yield (opcode, pushed data or None); raises ValueError on a truncated push."""
    i = 0
    n = len(script)
    while i < n:
        op = script[i]
        i += 1
        data = None
        if op <= 0x4E:
            if op < 0x4C:
                size = op
            elif op == 0x4C:
                if i + 1 > n:
                    raise ValueError("truncated push")
                size = script[i]
                i += 1
            elif op == 0x4D:
                if i + 2 > n:
                    raise ValueError("truncated push")
                size = struct.unpack("<H", script[i:i + 2])[0]
                i += 2
            else:
                if i + 4 > n:
                    raise ValueError("truncated push")
                size = struct.unpack("<I", script[i:i + 4])[0]
                i += 4
            if i + size > n:
                raise ValueError("truncated push")
            data = script[i:i + size]
            i += size
        yield op, data


def _scriptnum_asm(data: bytes) -> str | None:
    if len(data) > 4:
        return None
    if not data:
        return "0"
    value = int.from_bytes(data, "little")
    if data[-1] & 0x80:
        value = -(value & ~(0x80 << (8 * (len(data) - 1))))
    return str(value)


def script_asm(script: bytes) -> str:
    """bitcoind's ScriptToAsmStr (without sighash decoding)."""
    out = []
    try:
        for op, data in iter_ops(script):
            if data is not None:
                num = _scriptnum_asm(data) if op != 0 else "0"
                out.append(num if num is not None and len(data) <= 4 else data.hex())
            elif 0x51 <= op <= 0x60:
                out.append(str(op - 0x50))
            else:
                out.append(OP_NAMES.get(op, "OP_UNKNOWN"))
    except ValueError:
        out.append("[error]")
    return " ".join(out)


def script_type(spk: bytes) -> str:
    """bitcoind's output type name for a scriptPubKey."""
    n = len(spk)
    if n == 25 and spk[:3] == b"\x76\xa9\x14" and spk[23:] == b"\x88\xac":
        return "pubkeyhash"
    if n == 23 and spk[:2] == b"\xa9\x14" and spk[22] == 0x87:
        return "scripthash"
    if n == 22 and spk[:2] == b"\x00\x14":
        return "witness_v0_keyhash"
    if n == 34 and spk[:2] == b"\x00\x20":
        return "witness_v0_scripthash"
    if n == 34 and spk[:2] == b"\x51\x20":
        return "witness_v1_taproot"
    if spk == b"\x51\x02\x4e\x73":
        return "anchor"
    if 4 <= n <= 42 and spk[1] == n - 2 and 0x51 <= spk[0] <= 0x60:
        return "witness_unknown"
    if n >= 1 and spk[0] == 0x6A:
        return "nulldata"
    if (n == 35 and spk[0] == 33 and spk[34] == 0xAC) or (n == 67 and spk[0] == 65 and spk[66] == 0xAC):
        return "pubkey"
    if n >= 3 and spk[-1] == 0xAE and 0x51 <= spk[0] <= 0x60 and 0x51 <= spk[-2] <= 0x60:
        return "multisig"
    return "nonstandard"


def script_pubkey_json(spk: bytes) -> dict:
    """The scriptPubKey object of decoderawtransaction / getrawtransaction."""
    out = {"asm": script_asm(spk), "desc": descriptor_for_script(spk), "hex": spk.hex()}
    kind = script_type(spk)
    address = script_to_address(spk)
    if address is not None:
        out["address"] = address
    out["type"] = kind
    return out


def descriptor_for_script(spk: bytes) -> str:
    from .descriptor import add_checksum

    address = script_to_address(spk)
    if address is not None:
        return add_checksum(f"addr({address})")
    return add_checksum(f"raw({spk.hex()})")


def push_data(data: bytes) -> bytes:
    n = len(data)
    if n < 0x4C:
        return bytes([n]) + data
    if n <= 0xFF:
        return b"\x4c" + bytes([n]) + data
    if n <= 0xFFFF:
        return b"\x4d" + struct.pack("<H", n) + data
    return b"\x4e" + struct.pack("<I", n) + data


def push_int(value: int) -> bytes:
    """Minimal push of a script number (as CScript() << n does)."""
    if value == 0:
        return b"\x00"
    if 1 <= value <= 16:
        return bytes([0x50 + value])
    if value == -1:
        return b"\x4f"
    neg = value < 0
    absval = -value if neg else value
    data = bytearray()
    while absval:
        data.append(absval & 0xFF)
        absval >>= 8
    if data[-1] & 0x80:
        data.append(0x80 if neg else 0)
    elif neg:
        data[-1] |= 0x80
    return push_data(bytes(data))


def is_unspendable(spk: bytes) -> bool:
    return (len(spk) > 0 and spk[0] == 0x6A) or len(spk) > 10000


def is_witness_program(spk: bytes) -> bool:
    n = len(spk)
    return 4 <= n <= 42 and spk[1] == n - 2 and (spk[0] == 0 or 0x51 <= spk[0] <= 0x60)


def dust_threshold_sat(spk: bytes, dust_relay_fee_sat_per_kvb: int = DUST_RELAY_FEE_SAT_PER_KVB) -> int:
    """bitcoind's GetDustThreshold for an output with this scriptPubKey."""
    if is_unspendable(spk):
        return 0
    size = 8 + len(spk) + (1 if len(spk) < 0xFD else 3)
    if is_witness_program(spk):
        size += 32 + 4 + 1 + (107 // 4) + 4
    else:
        size += 32 + 4 + 1 + 107 + 4
    return size * dust_relay_fee_sat_per_kvb // 1000


def is_standard_output(spk: bytes) -> bool:
    kind = script_type(spk)
    if kind == "nonstandard":
        return False
    if kind == "nulldata":
        return len(spk) <= 83
    return True
