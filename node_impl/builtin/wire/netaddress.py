"""BOLT 7 address descriptors, as used in node_announcement `addresses` and init `remote_addr`.

Layer: wire. Imports wire.codec only.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from .codec import Reader, WireError, encode_u8, encode_u16

IPV4 = 1
IPV6 = 2
TOR_V2 = 3  # deprecated, 10-byte onion + port; decoded so that parsing can continue
TOR_V3 = 4
DNS_HOSTNAME = 5

_ONION_SIZES = {TOR_V2: 10, TOR_V3: 35}


@dataclass(frozen=True)
class NetAddress:
    """One address descriptor: `host` is dotted IPv4, IPv6 text, `<base32>.onion` or a hostname."""

    type: int
    host: str
    port: int

    def encode(self) -> bytes:
        if not 0 <= self.port < 65536:
            raise ValueError(f"port {self.port} out of range")
        if self.type == IPV4:
            data = ipaddress.IPv4Address(self.host).packed
        elif self.type == IPV6:
            data = ipaddress.IPv6Address(self.host).packed
        elif self.type in _ONION_SIZES:
            if not self.host.endswith(".onion"):
                raise ValueError(f"onion address {self.host!r} must end in .onion")
            data = base64.b32decode(self.host[: -len(".onion")].upper())
            if len(data) != _ONION_SIZES[self.type]:
                raise ValueError(f"onion address {self.host!r} has the wrong length")
        elif self.type == DNS_HOSTNAME:
            name = self.host.encode("ascii")
            if len(name) > 255:
                raise ValueError(f"hostname {self.host!r} is longer than 255 bytes")
            data = encode_u8(len(name)) + name
        else:
            raise ValueError(f"cannot encode address descriptor type {self.type}")
        return encode_u8(self.type) + data + encode_u16(self.port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if self.type == IPV6 else self.host
        return f"{host}:{self.port}"


def decode_address(reader: Reader) -> NetAddress | None:
    """Read one descriptor; None (and nothing consumed past the type) for an unknown type."""
    address_type = reader.read_u8()
    if address_type == IPV4:
        host = str(ipaddress.IPv4Address(reader.read_bytes(4)))
    elif address_type == IPV6:
        host = str(ipaddress.IPv6Address(reader.read_bytes(16)))
    elif address_type in _ONION_SIZES:
        raw = reader.read_bytes(_ONION_SIZES[address_type])
        host = base64.b32encode(raw).decode("ascii").lower() + ".onion"
    elif address_type == DNS_HOSTNAME:
        raw = reader.read_bytes(reader.read_u8())
        try:
            host = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise WireError(f"hostname {raw!r} is not ASCII") from exc
    else:
        return None
    return NetAddress(address_type, host, reader.read_u16())


def decode_addresses(data: bytes) -> list[NetAddress]:
    """Decode a node_announcement `addresses` field.

    Parsing stops at the first unknown descriptor type (its length is unknown),
    as BOLT 7 asks; a known descriptor that is cut short raises WireError.
    """
    reader = Reader(data)
    addresses: list[NetAddress] = []
    while not reader.at_end():
        try:
            address = decode_address(reader)
        except WireError as exc:
            raise WireError(f"address descriptor #{len(addresses) + 1}: {exc.reason}") from exc
        if address is None:
            break
        addresses.append(address)
    return addresses


def encode_addresses(addresses: Sequence[NetAddress]) -> bytes:
    """Encode descriptors in ascending type order, as BOLT 7 requires."""
    return b"".join(address.encode() for address in sorted(addresses, key=lambda a: a.type))
