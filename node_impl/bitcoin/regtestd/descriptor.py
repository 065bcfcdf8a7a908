"""Output descriptor checksums (BIP380) and the few descriptor forms the wallet uses."""

from __future__ import annotations

_INPUT_CHARSET = (
    "0123456789()[],'/*abcdefgh@:$%{}"
    "IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~"
    "ijklmnopqrstuvwxyzABCDEFGH`#\"\\ "
)
_CHECKSUM_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0xF5DEE51989, 0xA9FDCA3312, 0x1BAB10E32D, 0x3706B1677A, 0x644D626FFD)


class DescriptorError(ValueError):
    """Raised for a descriptor with invalid characters or a wrong checksum."""


def _polymod(c: int, val: int) -> int:
    c0 = c >> 35
    c = ((c & 0x7FFFFFFFF) << 5) ^ val
    for i in range(5):
        if (c0 >> i) & 1:
            c ^= _GENERATOR[i]
    return c


def checksum(desc: str) -> str:
    """The 8-character checksum of a descriptor (without '#')."""
    c = 1
    cls = 0
    clscount = 0
    for ch in desc:
        pos = _INPUT_CHARSET.find(ch)
        if pos < 0:
            raise DescriptorError(f"Invalid character {ch!r} in descriptor")
        c = _polymod(c, pos & 31)
        cls = cls * 3 + (pos >> 5)
        clscount += 1
        if clscount == 3:
            c = _polymod(c, cls)
            cls = 0
            clscount = 0
    if clscount:
        c = _polymod(c, cls)
    for _ in range(8):
        c = _polymod(c, 0)
    c ^= 1
    return "".join(_CHECKSUM_CHARSET[(c >> (5 * (7 - j))) & 31] for j in range(8))


def add_checksum(desc: str) -> str:
    return f"{desc}#{checksum(desc)}"


def split_checksum(desc: str) -> tuple[str, str | None]:
    """Return (descriptor without checksum, checksum or None); DescriptorError if it mismatches."""
    if "#" not in desc:
        return desc, None
    body, _, given = desc.rpartition("#")
    if len(given) != 8:
        raise DescriptorError(f"Expected 8 character checksum, not {len(given)} characters")
    expected = checksum(body)
    if given != expected:
        raise DescriptorError(
            f"Provided checksum '{given}' does not match computed checksum '{expected}'"
        )
    return body, given
