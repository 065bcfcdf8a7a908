"""Bech32 (BIP-173) without the 90-character limit, as BOLT 11 invoices use it.

Layer: wire. Imports nothing of the node.

Works on 5-bit words; `convert_bits` regroups between 8-bit bytes and 5-bit words.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_INDEX = {char: value for value, char in enumerate(CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
CHECKSUM_LENGTH = 6


class Bech32Error(ValueError):
    """A string is not valid bech32; the message says why."""


def _polymod(values: Iterable[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_GENERATOR):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum


def _expand_hrp(hrp: str) -> list[int]:
    return [ord(char) >> 5 for char in hrp] + [0] + [ord(char) & 31 for char in hrp]


def _checksum(hrp: str, words: Sequence[int]) -> list[int]:
    polymod = _polymod(_expand_hrp(hrp) + list(words) + [0] * CHECKSUM_LENGTH) ^ 1
    return [(polymod >> 5 * (5 - index)) & 31 for index in range(CHECKSUM_LENGTH)]


def bech32_encode(hrp: str, words: Sequence[int]) -> str:
    """Encode a human-readable part and 5-bit words as a lowercase bech32 string."""
    if any(not 0 <= word < 32 for word in words):
        raise Bech32Error("bech32 data words must be 5-bit values (0..31)")
    hrp = hrp.lower()
    return hrp + "1" + "".join(CHARSET[word] for word in list(words) + _checksum(hrp, words))


def bech32_decode(text: str) -> tuple[str, list[int]]:
    """Split a bech32 string into (lowercase hrp, 5-bit data words without checksum).

    Enforces BIP-173 except the 90-character limit: single case, printable
    human-readable part, a `1` separator, valid characters and checksum.
    """
    if text.lower() != text and text.upper() != text:
        raise Bech32Error("bech32 string mixes upper and lower case")
    if any(not 33 <= ord(char) <= 126 for char in text):
        raise Bech32Error("bech32 string contains a character outside US-ASCII 33..126")
    text = text.lower()
    separator = text.rfind("1")
    if separator < 1:
        raise Bech32Error("bech32 string has no '1' separator after a human-readable part")
    if len(text) - separator - 1 < CHECKSUM_LENGTH:
        raise Bech32Error("bech32 data part is shorter than its 6-character checksum")
    hrp, data = text[:separator], text[separator + 1 :]
    try:
        words = [_CHARSET_INDEX[char] for char in data]
    except KeyError as missing:
        raise Bech32Error(
            f"bech32 data part contains invalid character {missing.args[0]!r}"
        ) from None
    if _polymod(_expand_hrp(hrp) + words) != 1:
        raise Bech32Error("bech32 checksum is invalid")
    return hrp, words[:-CHECKSUM_LENGTH]


def convert_bits(data: Iterable[int], from_bits: int, to_bits: int, *, pad: bool) -> list[int]:
    """Regroup a sequence of `from_bits`-bit values into `to_bits`-bit values.

    With `pad` a last partial group is completed with zero bits; without it
    leftover bits (the padding of a 5-bit field) are dropped. Linear time: the
    accumulator keeps only the bits not yet emitted (as BIP-173's reference code), so
    it never grows into a big integer shifted once per input value.
    """
    accumulator = 0
    bit_count = 0
    result: list[int] = []
    max_value = (1 << to_bits) - 1
    keep_mask = (1 << (from_bits + to_bits - 1)) - 1
    for value in data:
        if value < 0 or value >> from_bits:
            raise Bech32Error(f"value {value} does not fit in {from_bits} bits")
        accumulator = ((accumulator << from_bits) | value) & keep_mask
        bit_count += from_bits
        while bit_count >= to_bits:
            bit_count -= to_bits
            result.append((accumulator >> bit_count) & max_value)
    if pad and bit_count:
        result.append((accumulator << (to_bits - bit_count)) & max_value)
    return result
