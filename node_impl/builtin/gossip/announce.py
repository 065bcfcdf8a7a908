"""BOLT 7 signed gossip: build, sign and verify channel_announcement, node_announcement,
channel_update and announcement_signatures (encodings: messages.py).

Each signature covers the double-SHA256 of the message from the field after its
signature(s) to the end, unknown trailing fields included (messages.py keeps them in
`extra`, so a decoded message re-encodes to the bytes that were signed).
Verification raises GossipError naming what was wrong; the funding output is checked
against a txout the caller looked up on chain (`check_funding_output`).

Layer: gossip. Imports tx (funding script), wire and the gossip graph records (coincurve
for the signatures).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

from coincurve import PrivateKey, PublicKey
from coincurve.ecdsa import (
    cdata_to_der,
    der_to_cdata,
    deserialize_compact,
    serialize_compact,
    signature_normalize,
)

from ..tx.scripts import funding_script, p2wsh
from ..wire.codec import REGTEST_CHAIN_HASH, ShortChannelId
from ..wire.messages import (
    AnnouncementSignatures,
    ChannelAnnouncement,
    ChannelUpdate,
    NodeAnnouncement,
)
from ..wire.netaddress import NetAddress, decode_addresses, encode_addresses
from .graph import ChannelPolicy, NodeAddress

MESSAGE_FLAG_MUST_BE_ONE = 1
MESSAGE_FLAG_DONT_FORWARD = 2
CHANNEL_FLAG_DIRECTION = 1
CHANNEL_FLAG_DISABLE = 2

_ZERO_SIG = bytes(64)
_ADDRESS_TYPE_NAMES = {1: "ipv4", 2: "ipv6", 3: "torv2", 4: "torv3", 5: "dns"}
_ADDRESS_TYPE_CODES = {name: code for code, name in _ADDRESS_TYPE_NAMES.items()}


class GossipError(ValueError):
    """A gossip message that must be ignored: bad signature, unknown chain, wrong output..."""


# ---- signatures ------------------------------------------------------------------------

def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def sign_digest(privkey: bytes, digest: bytes) -> bytes:
    """64-byte compact (low-S) ECDSA signature of a 32-byte digest."""
    der = PrivateKey(privkey).sign(digest, hasher=None)
    return serialize_compact(der_to_cdata(der))


def verify_digest(pubkey: bytes, digest: bytes, signature: bytes) -> bool:
    """True if signature (64-byte compact; a high-S one is accepted) signs digest for pubkey."""
    try:
        _, normalized = signature_normalize(deserialize_compact(signature))
        return PublicKey(pubkey).verify(cdata_to_der(normalized), digest, hasher=None)
    except ValueError:
        return False


def message_digest(msg: ChannelAnnouncement | NodeAnnouncement | ChannelUpdate) -> bytes:
    """What the message's signature(s) sign: sha256d of everything after them."""
    return sha256d(msg.signed_data())


def scid_int(msg: ChannelAnnouncement | ChannelUpdate | AnnouncementSignatures) -> int:
    return msg.short_channel_id.to_int()


# ---- channel_announcement --------------------------------------------------------------

def unsigned_channel_announcement(short_channel_id: int, local_node_id: bytes,
                                  remote_node_id: bytes, local_funding_pubkey: bytes,
                                  remote_funding_pubkey: bytes, *, features: bytes = b"",
                                  chain_hash: bytes = REGTEST_CHAIN_HASH) -> ChannelAnnouncement:
    """The announcement both ends sign (node_id_1 is the lesser node id), signatures zero."""
    if local_node_id == remote_node_id:
        raise ValueError("a channel needs two different nodes")
    (n1, k1), (n2, k2) = sorted([(local_node_id, local_funding_pubkey),
                                 (remote_node_id, remote_funding_pubkey)])
    return ChannelAnnouncement(
        node_signature_1=_ZERO_SIG, node_signature_2=_ZERO_SIG, bitcoin_signature_1=_ZERO_SIG,
        bitcoin_signature_2=_ZERO_SIG, features=features, chain_hash=chain_hash,
        short_channel_id=ShortChannelId.from_int(short_channel_id), node_id_1=n1, node_id_2=n2,
        bitcoin_key_1=k1, bitcoin_key_2=k2)


def node_index(ann: ChannelAnnouncement, node_id: bytes) -> int:
    """0 if node_id is node_id_1, 1 if node_id_2; GossipError otherwise."""
    if node_id == ann.node_id_1:
        return 0
    if node_id == ann.node_id_2:
        return 1
    raise GossipError(f"{node_id.hex()} is not an end of channel {ann.short_channel_id}")


def sign_announcement(ann: ChannelAnnouncement, node_privkey: bytes,
                      funding_privkey: bytes) -> tuple[bytes, bytes]:
    """(node_signature, bitcoin_signature) of one end over the announcement."""
    digest = message_digest(ann)
    return sign_digest(node_privkey, digest), sign_digest(funding_privkey, digest)


def with_signatures(ann: ChannelAnnouncement, node_id: bytes, node_signature: bytes,
                    bitcoin_signature: bytes) -> ChannelAnnouncement:
    """The announcement with node_id's two signatures filled in."""
    if node_index(ann, node_id) == 0:
        return replace(ann, node_signature_1=node_signature, bitcoin_signature_1=bitcoin_signature)
    return replace(ann, node_signature_2=node_signature, bitcoin_signature_2=bitcoin_signature)


def verify_channel_announcement(ann: ChannelAnnouncement, *,
                                chain_hash: bytes = REGTEST_CHAIN_HASH) -> None:
    """Chain, key order and all four signatures; raises GossipError naming the failure."""
    scid = ann.short_channel_id
    if ann.chain_hash != chain_hash:
        raise GossipError(f"channel_announcement {scid} is for unknown chain "
                          f"{ann.chain_hash.hex()}")
    if ann.node_id_1 >= ann.node_id_2:
        raise GossipError(f"channel_announcement {scid}: node_id_1 is not the lesser node id")
    digest = message_digest(ann)
    for name, key, sig in (("node_signature_1", ann.node_id_1, ann.node_signature_1),
                           ("node_signature_2", ann.node_id_2, ann.node_signature_2),
                           ("bitcoin_signature_1", ann.bitcoin_key_1, ann.bitcoin_signature_1),
                           ("bitcoin_signature_2", ann.bitcoin_key_2, ann.bitcoin_signature_2)):
        if not verify_digest(key, digest, sig):
            raise GossipError(f"channel_announcement {scid}: bad {name}")


def funding_script_pubkey(ann: ChannelAnnouncement) -> bytes:
    """The P2WSH output script the funding output must have (BOLT 3 2-of-2)."""
    return bytes(p2wsh(funding_script(ann.bitcoin_key_1, ann.bitcoin_key_2)))


def check_funding_output(ann: ChannelAnnouncement, txout: tuple[int, bytes] | None) -> int:
    """Given the (value_sat, script_pubkey) of the output short_channel_id points at (None
    when absent or spent), return the capacity in sat or raise GossipError."""
    scid = ann.short_channel_id
    if txout is None:
        raise GossipError(f"channel_announcement {scid}: funding output missing or spent")
    value_sat, script_pubkey = txout
    if bytes(script_pubkey) != funding_script_pubkey(ann):
        raise GossipError(f"channel_announcement {scid}: output is not the 2-of-2 P2WSH of "
                          "bitcoin_key_1/bitcoin_key_2")
    return value_sat


# ---- announcement_signatures -----------------------------------------------------------

def make_announcement_signatures(ann: ChannelAnnouncement, channel_id: bytes,
                                 node_privkey: bytes,
                                 funding_privkey: bytes) -> AnnouncementSignatures:
    """Our announcement_signatures for the (unsigned) announcement of a channel."""
    node_signature, bitcoin_signature = sign_announcement(ann, node_privkey, funding_privkey)
    return AnnouncementSignatures(channel_id=channel_id, short_channel_id=ann.short_channel_id,
                                  node_signature=node_signature,
                                  bitcoin_signature=bitcoin_signature)


def verify_announcement_signatures(ann: ChannelAnnouncement, msg: AnnouncementSignatures,
                                   remote_node_id: bytes) -> None:
    """Check the peer's announcement_signatures against the announcement we expect."""
    if msg.short_channel_id != ann.short_channel_id:
        raise GossipError(f"announcement_signatures for {msg.short_channel_id}, "
                          f"expected {ann.short_channel_id}")
    index = node_index(ann, remote_node_id)
    bitcoin_key = ann.bitcoin_key_1 if index == 0 else ann.bitcoin_key_2
    digest = message_digest(ann)
    if not verify_digest(remote_node_id, digest, msg.node_signature):
        raise GossipError(f"announcement_signatures {ann.short_channel_id}: bad node_signature")
    if not verify_digest(bitcoin_key, digest, msg.bitcoin_signature):
        raise GossipError(
            f"announcement_signatures {ann.short_channel_id}: bad bitcoin_signature")


# ---- node_announcement -----------------------------------------------------------------

def make_node_announcement(node_privkey: bytes, *, timestamp: int, alias: str,
                           rgb_color: bytes, addresses: Sequence[NodeAddress] = (),
                           features: bytes = b"") -> NodeAnnouncement:
    """Our signed node_announcement."""
    alias_bytes = alias.encode()
    if len(alias_bytes) > 32:
        raise ValueError(f"alias {alias!r} is longer than 32 bytes")
    if len(rgb_color) != 3:
        raise ValueError(f"rgb_color must be 3 bytes, got {len(rgb_color)}")
    descriptors = sorted((NetAddress(_ADDRESS_TYPE_CODES[a.type], a.address, a.port)
                          for a in addresses), key=lambda a: a.type)
    unsigned = NodeAnnouncement(
        signature=_ZERO_SIG, features=features, timestamp=timestamp,
        node_id=PrivateKey(node_privkey).public_key.format(), rgb_color=rgb_color,
        alias=alias_bytes.ljust(32, b"\0"), addresses=encode_addresses(descriptors))
    return replace(unsigned, signature=sign_digest(node_privkey, message_digest(unsigned)))


def verify_node_announcement(na: NodeAnnouncement) -> None:
    if not verify_digest(na.node_id, message_digest(na), na.signature):
        raise GossipError(f"node_announcement of {na.node_id.hex()}: bad signature")


def alias_text(na: NodeAnnouncement) -> str:
    return na.alias.rstrip(b"\0").decode("utf-8", "replace")


def announced_addresses(na: NodeAnnouncement) -> tuple[NodeAddress, ...]:
    """The usable addresses (port != 0, Tor v2 dropped) of a node_announcement."""
    return tuple(NodeAddress(_ADDRESS_TYPE_NAMES[a.type], a.host, a.port)
                 for a in decode_addresses(na.addresses) if a.port != 0 and a.type != 3)


# ---- channel_update --------------------------------------------------------------------

def update_direction(cu: ChannelUpdate) -> int:
    return cu.channel_flags & CHANNEL_FLAG_DIRECTION


def make_channel_update(node_privkey: bytes, *, short_channel_id: int, timestamp: int,
                        direction: int, cltv_expiry_delta: int, htlc_minimum_msat: int,
                        htlc_maximum_msat: int, fee_base_msat: int,
                        fee_proportional_millionths: int, disabled: bool = False,
                        dont_forward: bool = False,
                        chain_hash: bytes = REGTEST_CHAIN_HASH) -> ChannelUpdate:
    """Our signed channel_update for one direction of a channel."""
    if direction not in (0, 1):
        raise ValueError(f"direction must be 0 or 1, got {direction}")
    if timestamp <= 0:
        raise ValueError("channel_update timestamp must be greater than 0")
    if htlc_maximum_msat < htlc_minimum_msat:
        raise ValueError(f"htlc_maximum_msat {htlc_maximum_msat} < htlc_minimum_msat "
                         f"{htlc_minimum_msat}")
    unsigned = ChannelUpdate(
        signature=_ZERO_SIG, chain_hash=chain_hash,
        short_channel_id=ShortChannelId.from_int(short_channel_id), timestamp=timestamp,
        message_flags=MESSAGE_FLAG_MUST_BE_ONE | (MESSAGE_FLAG_DONT_FORWARD if dont_forward else 0),
        channel_flags=direction | (CHANNEL_FLAG_DISABLE if disabled else 0),
        cltv_expiry_delta=cltv_expiry_delta, htlc_minimum_msat=htlc_minimum_msat,
        fee_base_msat=fee_base_msat, fee_proportional_millionths=fee_proportional_millionths,
        htlc_maximum_msat=htlc_maximum_msat)
    return replace(unsigned, signature=sign_digest(node_privkey, message_digest(unsigned)))


def verify_channel_update(cu: ChannelUpdate, node_id: bytes, *,
                          chain_hash: bytes = REGTEST_CHAIN_HASH) -> None:
    """node_id must be the end the direction bit names (node_id_1 for 0)."""
    if cu.chain_hash != chain_hash:
        raise GossipError(f"channel_update {cu.short_channel_id} is for unknown chain "
                          f"{cu.chain_hash.hex()}")
    if not verify_digest(node_id, message_digest(cu), cu.signature):
        raise GossipError(f"channel_update {cu.short_channel_id}/{update_direction(cu)}: bad "
                          f"signature (expected one by {node_id.hex()})")


def policy_from_update(cu: ChannelUpdate) -> ChannelPolicy:
    """The graph policy a channel_update states, with the signed message kept for relay."""
    return ChannelPolicy(
        fee_base_msat=cu.fee_base_msat, fee_proportional_millionths=cu.fee_proportional_millionths,
        cltv_expiry_delta=cu.cltv_expiry_delta, htlc_minimum_msat=cu.htlc_minimum_msat,
        htlc_maximum_msat=cu.htlc_maximum_msat,
        disabled=bool(cu.channel_flags & CHANNEL_FLAG_DISABLE), timestamp=cu.timestamp,
        message_flags=cu.message_flags, channel_flags=cu.channel_flags, raw_update=cu.encode())

