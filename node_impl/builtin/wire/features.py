"""BOLT 9 feature bits: named features, bit vectors, and the checks BOLT 1 asks for on `init`.

Layer: wire. Imports nothing of the node.

Bits are numbered from the least significant bit of the big-endian byte string;
each feature is a pair (even = compulsory, odd = optional).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum


class Feature(IntEnum):
    """A BOLT 9 feature, valued by its even (compulsory) bit; optional is `bit + 1`."""

    OPTION_DATA_LOSS_PROTECT = 0
    OPTION_UPFRONT_SHUTDOWN_SCRIPT = 4
    GOSSIP_QUERIES = 6
    VAR_ONION_OPTIN = 8
    GOSSIP_QUERIES_EX = 10
    OPTION_STATIC_REMOTEKEY = 12
    PAYMENT_SECRET = 14
    BASIC_MPP = 16
    OPTION_SUPPORT_LARGE_CHANNEL = 18
    OPTION_ANCHORS = 22
    OPTION_ROUTE_BLINDING = 24
    OPTION_SHUTDOWN_ANYSEGWIT = 26
    OPTION_DUAL_FUND = 28
    OPTION_QUIESCE = 34
    OPTION_ATTRIBUTION_DATA = 36
    OPTION_ONION_MESSAGES = 38
    OPTION_PROVIDE_STORAGE = 42
    OPTION_CHANNEL_TYPE = 44
    OPTION_SCID_ALIAS = 46
    OPTION_PAYMENT_METADATA = 48
    OPTION_ZEROCONF = 50
    OPTION_SIMPLE_CLOSE = 60
    OPTION_SPLICE = 62

    @property
    def compulsory(self) -> int:
        return int(self)

    @property
    def optional(self) -> int:
        return int(self) + 1

    @property
    def spec_name(self) -> str:
        return self.name.lower()

    @classmethod
    def for_bit(cls, bit: int) -> Feature | None:
        """The feature a bit (even or odd) belongs to, or None if BOLT 9 does not name it."""
        try:
            return cls(bit & ~1)
        except ValueError:
            return None


# BOLT 9 "Dependencies" column.
DEPENDENCIES: dict[Feature, tuple[Feature, ...]] = {
    Feature.BASIC_MPP: (Feature.PAYMENT_SECRET,),
    Feature.OPTION_ZEROCONF: (Feature.OPTION_SCID_ALIAS,),
    Feature.OPTION_SIMPLE_CLOSE: (Feature.OPTION_SHUTDOWN_ANYSEGWIT,),
}


class FeatureError(ValueError):
    """A peer's feature vector we must refuse (unknown compulsory bit, missing dependency)."""


def describe_bit(bit: int) -> str:
    feature = Feature.for_bit(bit)
    return f"bit {bit} ({feature.spec_name})" if feature is not None else f"bit {bit}"


@dataclass(frozen=True)
class Features:
    """An immutable set of feature bits."""

    bits: frozenset[int] = frozenset()

    @classmethod
    def from_bits(cls, *bits: int) -> Features:
        for bit in bits:
            if bit < 0:
                raise ValueError(f"feature bit {bit} is negative")
        return cls(frozenset(bits))

    @classmethod
    def from_bytes(cls, data: bytes) -> Features:
        value = int.from_bytes(data, "big")
        return cls(frozenset(bit for bit in range(value.bit_length()) if value >> bit & 1))

    @classmethod
    def from_init(cls, globalfeatures: bytes, features: bytes) -> Features:
        """The combined (bitwise OR) feature map of an `init` message."""
        return cls.from_bytes(globalfeatures) | cls.from_bytes(features)

    def to_bytes(self) -> bytes:
        """Big-endian, minimal length (b'' when no bit is set)."""
        value = sum(1 << bit for bit in self.bits)
        return value.to_bytes((value.bit_length() + 7) // 8, "big")

    def has_bit(self, bit: int) -> bool:
        return bit in self.bits

    def supports(self, feature: Feature) -> bool:
        """Offered as either compulsory or optional."""
        return feature.compulsory in self.bits or feature.optional in self.bits

    def requires(self, feature: Feature) -> bool:
        """Offered as compulsory (the even bit is set)."""
        return feature.compulsory in self.bits

    def with_bits(self, *bits: int) -> Features:
        return Features(self.bits | frozenset(bits))

    def without_bits(self, *bits: int) -> Features:
        return Features(self.bits - frozenset(bits))

    def __or__(self, other: Features) -> Features:
        return Features(self.bits | other.bits)

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self.bits))

    def __str__(self) -> str:
        return ", ".join(describe_bit(bit) for bit in self) or "none"


def check_remote_features(remote: Features, known: Iterable[Feature]) -> None:
    """Apply BOLT 1's `init` rules to a peer's features; raise FeatureError to close.

    `known` are the features this node understands: any other even bit is fatal,
    unknown odd bits are ignored.  Every dependency of an offered feature must
    also be offered.
    """
    known_even = {int(feature) for feature in known}
    unknown_even = [bit for bit in remote if bit % 2 == 0 and bit not in known_even]
    if unknown_even:
        raise FeatureError(
            "peer requires features we do not support: "
            + ", ".join(describe_bit(bit) for bit in unknown_even)
        )
    for feature, dependencies in DEPENDENCIES.items():
        if not remote.supports(feature):
            continue
        for dependency in dependencies:
            if not remote.supports(dependency):
                raise FeatureError(
                    f"peer offers {feature.spec_name} without its dependency "
                    f"{dependency.spec_name} (bits {dependency.compulsory}/{dependency.optional})"
                )


def is_negotiated(local: Features, remote: Features, feature: Feature) -> bool:
    """BOLT 1: negotiated if both offered it, or we offered it as compulsory."""
    return local.requires(feature) or (local.supports(feature) and remote.supports(feature))


KEYSEND_OPTIONAL_BIT = 55
"""Not in BOLT 9: the optional bit LND and Core Lightning set to say they accept keysend
(spontaneous payments whose preimage rides in the onion)."""

# What the built-in node sends in `init` (and node_announcement): the five features every
# node now assumes as compulsory, plus optional gossip_queries so peers send us gossip,
# optional basic_mpp (we receive multi-part payments), optional option_anchors (anchor
# channels, the type we open when the peer offers it too) and the keysend bit.
DEFAULT_NODE_FEATURES = Features.from_bits(
    Feature.OPTION_DATA_LOSS_PROTECT.compulsory,
    Feature.GOSSIP_QUERIES.optional,
    Feature.BASIC_MPP.optional,
    Feature.OPTION_ANCHORS.optional,
    KEYSEND_OPTIONAL_BIT,
    Feature.VAR_ONION_OPTIN.compulsory,
    Feature.OPTION_STATIC_REMOTEKEY.compulsory,
    Feature.PAYMENT_SECRET.compulsory,
    Feature.OPTION_CHANNEL_TYPE.compulsory,
)

# Features the built-in node understands (a peer may require any of these).
DEFAULT_KNOWN_FEATURES: frozenset[Feature] = frozenset(
    {
        Feature.OPTION_DATA_LOSS_PROTECT,
        Feature.GOSSIP_QUERIES,
        Feature.VAR_ONION_OPTIN,
        Feature.OPTION_STATIC_REMOTEKEY,
        Feature.PAYMENT_SECRET,
        Feature.BASIC_MPP,
        Feature.OPTION_ANCHORS,
        Feature.OPTION_CHANNEL_TYPE,
    }
)


def node_features(*, anchors: bool) -> Features:
    """What the node offers in `init`: DEFAULT_NODE_FEATURES, without option_anchors when the
    node makes static_remotekey channels only (--no-anchors)."""
    if anchors:
        return DEFAULT_NODE_FEATURES
    return DEFAULT_NODE_FEATURES.without_bits(Feature.OPTION_ANCHORS.compulsory, Feature.OPTION_ANCHORS.optional)


# channel_type for a plain static_remotekey (non-anchor) channel: bit 12 only.
CHANNEL_TYPE_STATIC_REMOTEKEY = Features.from_bits(Feature.OPTION_STATIC_REMOTEKEY.compulsory)
# channel_type for an anchor channel: option_anchors and option_static_remotekey (bits 22, 12).
CHANNEL_TYPE_ANCHORS = Features.from_bits(Feature.OPTION_ANCHORS.compulsory,
                                          Feature.OPTION_STATIC_REMOTEKEY.compulsory)
