"""One channel's state: its fields, the BOLT 3 commitments they define, and their persistence.

The base of :class:`machine.Channel`: the states (named like Core Lightning's),
the errors the protocol code raises, each side's announced constraints
(:class:`SideConfig`), BOLT 3 fee arithmetic, and :class:`ChannelState` holding
every field of a channel with what all protocol phases share (our per-commitment
points, building/signing/verifying commitments from the update log) and
:meth:`ChannelState.to_json` / :meth:`ChannelState.from_json`.  The protocol
phases are mixins on top: opening.py, machine.py (normal operation and
reestablish), closing.py.

Commitment transactions, signatures and key derivation come from ``txs.py`` (a
thin layer over tx/ and keys/).

Layer: channel. Imports wire, keys, tx, core only.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from ..keys.derivation import Basepoints, ChannelKeys
from ..keys.shachain import SecretStore
from ..wire import messages
from . import txs as channel_tx
from .updates import LOCAL, REMOTE, UpdateLog

# Channel states, named like Core Lightning's.
OPENING = "OPENINGD"
AWAITING_LOCKIN = "CHANNELD_AWAITING_LOCKIN"
NORMAL = "CHANNELD_NORMAL"
SHUTTING_DOWN = "CHANNELD_SHUTTING_DOWN"
CLOSING_SIGEXCHANGE = "CLOSINGD_SIGEXCHANGE"
CLOSING_COMPLETE = "CLOSINGD_COMPLETE"
AWAITING_UNILATERAL = "AWAITING_UNILATERAL"
FUNDING_SPEND_SEEN = "FUNDING_SPEND_SEEN"
ONCHAIN = "ONCHAIN"
CLOSED = "CLOSED"

ACTIVE_STATES = (NORMAL,)
CLOSED_STATES = (CLOSING_COMPLETE, AWAITING_UNILATERAL, FUNDING_SPEND_SEEN, ONCHAIN, CLOSED)

CHANNEL_TYPE_STATIC_REMOTEKEY = 1 << 12
CHANNEL_TYPE_ANCHORS = (1 << 22) | (1 << 12)
"""option_anchors (zero-fee HTLC transactions) with option_static_remotekey (BOLT 2)."""
CHANNEL_TYPES = (CHANNEL_TYPE_ANCHORS, CHANNEL_TYPE_STATIC_REMOTEKEY)
"""The channel types we make, the preferred first."""
CHANNEL_TYPE_NAMES = {CHANNEL_TYPE_ANCHORS: "anchors", CHANNEL_TYPE_STATIC_REMOTEKEY: "static_remotekey"}
MAX_FUNDING_SAT = (1 << 24) - 1
MIN_FUNDING_SAT = 10_000
MAX_TO_SELF_DELAY = 2016
MAX_ACCEPTED_HTLCS_LIMIT = 483
MIN_DUST_LIMIT_SAT = 354
CLTV_EXPIRY_LIMIT = 500_000_000


class ChannelError(Exception):
    """The peer broke the protocol: send ``error`` with this text and fail the channel."""


class DataLossError(ChannelError):
    """The peer proved we lost channel state: we must not broadcast our (old) commitment."""


class ChannelWarning(Exception):
    """A recoverable problem: send ``warning`` with this text (and usually disconnect)."""


class LocalRequestError(Exception):
    """A local request (RPC) cannot be done now; nothing was sent."""


@dataclass(frozen=True)
class SideConfig:
    """Constraints one side announced in open_channel/accept_channel."""

    dust_limit_sat: int
    max_htlc_value_in_flight_msat: int
    channel_reserve_sat: int
    htlc_minimum_msat: int
    to_self_delay: int
    max_accepted_htlcs: int


def channel_id_from_funding(funding_txid: bytes, output_index: int) -> bytes:
    """BOLT 2 channel_id: the funding txid (wire byte order) XOR the output index."""
    cid = bytearray(funding_txid)
    cid[30] ^= (output_index >> 8) & 0xFF
    cid[31] ^= output_index & 0xFF
    return bytes(cid)


def encode_channel_type(bits: int) -> bytes:
    """Feature-bitmap bytes of a channel type, as short as possible."""
    if bits == 0:
        return b""
    return bits.to_bytes((bits.bit_length() + 7) // 8, "big")


def decode_channel_type(data: bytes) -> int:
    return int.from_bytes(data, "big") if data else 0


def describe_channel_type(channel_type: int) -> dict[str, list]:
    """Core Lightning's `channel_type` field: its bits and their names (`anchors/even`,
    `static_remotekey/even`)."""
    names = {12: "static_remotekey", 22: "anchors"}
    bits = [bit for bit in range(channel_type.bit_length()) if channel_type >> bit & 1]
    return {"bits": bits, "names": [f"{names.get(bit, f'bit{bit}')}/{'even' if bit % 2 == 0 else 'odd'}"
                                    for bit in bits]}


def _hex(value: bytes | None) -> str | None:
    return value.hex() if value is not None else None


def _unhex(value: str | None) -> bytes | None:
    return bytes.fromhex(value) if value is not None else None


def _msg_to_json(message: messages.Message) -> str:
    """A message to persist (for retransmission): its wire bytes, hex."""
    return message.encode().hex()


def _msg_from_json(data: str) -> messages.Message:
    decoded = messages.decode(bytes.fromhex(data))
    if isinstance(decoded, messages.UnknownMessage):
        raise ValueError(f"persisted message of unknown type {decoded.type}")
    return decoded


C = TypeVar("C", bound="ChannelState")


class ChannelState:
    """Every field of one channel with one peer, and what the protocol phases share."""

    def __init__(
        self,
        *,
        index: int,
        peer_id: bytes,
        keys: ChannelKeys,
        opener: str,
        local_config: SideConfig,
        chain_hash: bytes,
    ) -> None:
        self.index = index
        self.peer_id = peer_id
        self.keys = keys
        self.local_basepoints = keys.basepoints
        self._point_cache: dict[int, bytes] = {}
        self.opener = opener
        self.local_config = local_config
        self.chain_hash = chain_hash
        self.remote_config: SideConfig | None = None
        self.remote_basepoints: Basepoints | None = None
        self.remote_points: dict[int, bytes] = {}
        self.remote_secrets = SecretStore()
        self.temporary_channel_id = os.urandom(32) if opener == LOCAL else b""
        self.channel_id: bytes | None = None
        self.funding_sat = 0
        self.push_msat = 0
        self.initial_feerate_per_kw = 0
        self.channel_flags = 0
        self.channel_type = CHANNEL_TYPE_STATIC_REMOTEKEY
        self.min_depth = 1
        self.funding_txid: bytes | None = None  # wire (little-endian) byte order
        self.funding_outnum = 0
        self.funding_tx_hex: str | None = None
        self.funding_height: int | None = None
        self.funding_tx_index: int | None = None
        self.state = OPENING
        self.log: UpdateLog | None = None
        self.channel_ready_sent = False
        self.channel_ready_received = False
        # scid aliases (BOLT 2 channel_ready's short_channel_id): ours, sent, and the peer's
        self.local_alias: int | None = None
        self.remote_alias: int | None = None
        self.local_commit_sig: bytes | None = None
        self.local_htlc_sigs: list[bytes] = []
        # retransmission
        self.last_commit_batch: list[messages.Message] = []
        self.last_revoke: messages.RevokeAndAck | None = None
        self.revoke_sent_after_commit = False
        # shutdown / closing
        self.local_upfront_script = b""
        self.remote_upfront_script = b""
        self.local_shutdown_script: bytes | None = None
        self.remote_shutdown_script: bytes | None = None
        self.shutdown_sent = False
        self.shutdown_received = False
        self.closing_feerate_per_kw = 1000
        self.closing_fee_range: tuple[int, int] | None = None
        self.closing_last_sent_fee: int | None = None
        self.closing_tx_hex: str | None = None
        self.closing_txid: str | None = None
        self.close_type: str | None = None
        # unilateral close / on-chain
        self.local_commitment_tx_hex: str | None = None
        self.anchor_spend_hex: str | None = None  # our CPFP child of that commitment (anchors)
        self.spend_txid: str | None = None
        self.spend_height: int | None = None
        self.onchain: dict[str, Any] = {}
        self.error_message: str | None = None
        self.gossip_closed = False  # not persisted: re-sent after a restart, which is harmless
        self.events: list[tuple[str, Any]] = []

    # ------------------------------------------------------------------ basics
    @property
    def funding_script(self) -> bytes:
        if self.remote_basepoints is None:
            raise ChannelError("funding script needs the peer's funding_pubkey")
        return channel_tx.funding_script(self.local_basepoints.funding_pubkey, self.remote_basepoints.funding_pubkey)

    @property
    def remote_to_self_delay(self) -> int:
        """Delay on the peer's to_local output (what we asked for)."""
        return self.local_config.to_self_delay

    def _our_point(self, ctn: int) -> bytes:
        """Our per_commitment_point for commitment ``ctn`` (cached: derivation is costly)."""
        point = self._point_cache.get(ctn)
        if point is None:
            if len(self._point_cache) > 8:
                self._point_cache.clear()
            point = self._point_cache[ctn] = self.keys.per_commitment_point(ctn)
        return point

    def is_opener(self) -> bool:
        return self.opener == LOCAL

    @property
    def anchors(self) -> bool:
        """Whether the channel type is option_anchors (BOLT 3 anchor outputs, zero-fee HTLC txs)."""
        return self.channel_type == CHANNEL_TYPE_ANCHORS

    def _cid(self) -> bytes:
        """The channel_id, for a message that needs it (only known once funded)."""
        if self.channel_id is None:
            raise ChannelError("channel has no channel_id yet")
        return self.channel_id

    def _require_log(self) -> UpdateLog:
        if self.log is None:
            raise ChannelError("channel is not funded yet")
        return self.log

    def _emit(self, kind: str, data: Any = None) -> None:
        self.events.append((kind, data))

    def drain_events(self) -> list[tuple[str, Any]]:
        events, self.events = self.events, []
        return events

    @property
    def short_channel_id(self) -> int | None:
        if self.funding_height is None or self.funding_tx_index is None:
            return None
        return (self.funding_height << 40) | (self.funding_tx_index << 16) | self.funding_outnum

    def _funder_msat(self) -> tuple[int, int]:
        opener_msat = self.funding_sat * 1000 - self.push_msat
        return opener_msat, self.push_msat

    def _init_log(self) -> None:
        opener_msat, other_msat = self._funder_msat()
        if self.is_opener():
            local_msat, remote_msat = opener_msat, other_msat
        else:
            local_msat, remote_msat = other_msat, opener_msat
        self.log = UpdateLog(local_msat=local_msat, remote_msat=remote_msat,
                             feerate_per_kw=self.initial_feerate_per_kw)

    # ------------------------------------------------------------------ commitments
    def _commitment(self, side: str, ctn: int) -> channel_tx.Commitment:
        """Build ``side``'s commitment number ``ctn`` from the update log."""
        log = self._require_log()
        view = log.view(side, ctn)
        if self.remote_basepoints is None or self.remote_config is None:
            raise ChannelError("channel parameters incomplete")
        if side == LOCAL:
            point = self._our_point(ctn)
            owner, other_bp = self.local_basepoints, self.remote_basepoints
            owner_delay = self.remote_config.to_self_delay
            owner_dust = self.local_config.dust_limit_sat
        else:
            point = self.remote_points.get(ctn)
            if point is None:
                raise ChannelError(f"no per_commitment_point of the peer for commitment {ctn}")
            owner, other_bp = self.remote_basepoints, self.local_basepoints
            owner_delay = self.local_config.to_self_delay
            owner_dust = self.remote_config.dust_limit_sat
        opener_bp = self.local_basepoints if self.is_opener() else self.remote_basepoints
        acceptor_bp = self.remote_basepoints if self.is_opener() else self.local_basepoints
        owner_msat = view.local_msat if side == LOCAL else view.remote_msat
        other_msat = view.remote_msat if side == LOCAL else view.local_msat
        htlcs = [
            channel_tx.CommitmentHtlc(
                offered_by_owner=(h.offerer == side),
                amount_msat=h.amount_msat,
                payment_hash=h.payment_hash,
                cltv_expiry=h.cltv_expiry,
                key=(h.offerer, h.htlc_id),
            )
            for h in view.htlcs
        ]
        return channel_tx.build_commitment(
            funding_txid=self.funding_txid or b"",
            funding_outnum=self.funding_outnum,
            funding_sat=self.funding_sat,
            owner=owner,
            other=other_bp,
            per_commitment_point=point,
            owner_is_opener=(side == self.opener),
            opener_payment_basepoint=opener_bp.payment_basepoint,
            acceptor_payment_basepoint=acceptor_bp.payment_basepoint,
            commitment_number=ctn,
            to_self_delay=owner_delay,
            dust_limit_sat=owner_dust,
            feerate_per_kw=view.feerate_per_kw,
            owner_msat=owner_msat,
            other_msat=other_msat,
            htlcs=htlcs,
            anchors=self.anchors,
        )

    def _sign_remote_commitment(self, ctn: int) -> tuple[bytes, list[bytes]]:
        commitment = self._commitment(REMOTE, ctn)
        sig = channel_tx.sign_funding_input(commitment, self.keys.funding_privkey)
        point = self.remote_points[ctn]
        htlc_sigs = channel_tx.sign_htlc_txs(commitment, self.keys.htlc_basepoint_secret, point)
        return sig, htlc_sigs

    def _verify_local_commitment(self, ctn: int, sig: bytes, htlc_sigs: list[bytes]) -> None:
        if self.remote_basepoints is None:
            raise ChannelError("channel parameters incomplete")
        commitment = self._commitment(LOCAL, ctn)
        if not channel_tx.verify_funding_input(commitment, self.remote_basepoints.funding_pubkey, sig):
            raise ChannelError(f"bad commitment signature for our commitment {ctn}: {sig.hex()}")
        point = self._our_point(ctn)
        problem = channel_tx.verify_htlc_sigs(commitment, self.remote_basepoints.htlc_basepoint, point,
                                              htlc_sigs)
        if problem:
            raise ChannelError(f"bad htlc signature for our commitment {ctn}: {problem}")
        self.local_commit_sig = sig
        self.local_htlc_sigs = list(htlc_sigs)

    def signed_local_commitment_hex(self) -> str:
        """Our latest commitment transaction, fully signed (for a unilateral close)."""
        log = self._require_log()
        if self.local_commit_sig is None or self.remote_basepoints is None:
            raise ChannelError("no signed local commitment")
        commitment = self._commitment(LOCAL, log.ctn[LOCAL])
        tx_hex, _txid = channel_tx.finalize_commitment(commitment, self.keys.funding_privkey,
                                                       self.local_commit_sig)
        return tx_hex

    # ------------------------------------------------------------------ persistence
    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "peer_id": self.peer_id.hex(),
            "opener": self.opener,
            "local_config": asdict(self.local_config),
            "remote_config": asdict(self.remote_config) if self.remote_config else None,
            "remote_basepoints": {k: v.hex() for k, v in asdict(self.remote_basepoints).items()}
            if self.remote_basepoints else None,
            "remote_points": {str(k): v.hex() for k, v in self.remote_points.items()},
            "remote_secrets": self.remote_secrets.to_bytes().hex(),
            "temporary_channel_id": self.temporary_channel_id.hex(),
            "channel_id": _hex(self.channel_id),
            "chain_hash": self.chain_hash.hex(),
            "funding_sat": self.funding_sat,
            "push_msat": self.push_msat,
            "initial_feerate_per_kw": self.initial_feerate_per_kw,
            "channel_flags": self.channel_flags,
            "channel_type": self.channel_type,
            "min_depth": self.min_depth,
            "funding_txid": _hex(self.funding_txid),
            "funding_outnum": self.funding_outnum,
            "funding_tx_hex": self.funding_tx_hex,
            "funding_height": self.funding_height,
            "funding_tx_index": self.funding_tx_index,
            "state": self.state,
            "log": self.log.to_json() if self.log else None,
            "channel_ready_sent": self.channel_ready_sent,
            "channel_ready_received": self.channel_ready_received,
            "local_alias": self.local_alias,
            "remote_alias": self.remote_alias,
            "local_commit_sig": _hex(self.local_commit_sig),
            "local_htlc_sigs": [s.hex() for s in self.local_htlc_sigs],
            "last_commit_batch": [_msg_to_json(x) for x in self.last_commit_batch],
            "last_revoke": _msg_to_json(self.last_revoke) if self.last_revoke else None,
            "revoke_sent_after_commit": self.revoke_sent_after_commit,
            "local_upfront_script": self.local_upfront_script.hex(),
            "remote_upfront_script": self.remote_upfront_script.hex(),
            "local_shutdown_script": _hex(self.local_shutdown_script),
            "remote_shutdown_script": _hex(self.remote_shutdown_script),
            "shutdown_sent": self.shutdown_sent,
            "shutdown_received": self.shutdown_received,
            "closing_feerate_per_kw": self.closing_feerate_per_kw,
            "closing_tx_hex": self.closing_tx_hex,
            "closing_txid": self.closing_txid,
            "close_type": self.close_type,
            "local_commitment_tx_hex": self.local_commitment_tx_hex,
            "anchor_spend_hex": self.anchor_spend_hex,
            "spend_txid": self.spend_txid,
            "spend_height": self.spend_height,
            "onchain": self.onchain,
            "error_message": self.error_message,
        }

    @classmethod
    def from_json(cls: type[C], data: dict[str, Any], keys: ChannelKeys) -> C:
        chan = cls(
            index=data["index"],
            peer_id=bytes.fromhex(data["peer_id"]),
            keys=keys,
            opener=data["opener"],
            local_config=SideConfig(**data["local_config"]),
            chain_hash=bytes.fromhex(data["chain_hash"]),
        )
        chan.remote_config = SideConfig(**data["remote_config"]) if data["remote_config"] else None
        if data["remote_basepoints"]:
            chan.remote_basepoints = Basepoints(**{k: bytes.fromhex(v) for k, v in data["remote_basepoints"].items()})
        chan.remote_points = {int(k): bytes.fromhex(v) for k, v in data["remote_points"].items()}
        chan.remote_secrets = SecretStore.from_bytes(bytes.fromhex(data["remote_secrets"]))
        chan.temporary_channel_id = bytes.fromhex(data["temporary_channel_id"])
        chan.channel_id = _unhex(data["channel_id"])
        for name in ("funding_sat", "push_msat", "initial_feerate_per_kw", "channel_flags", "channel_type",
                     "min_depth", "funding_outnum", "funding_tx_hex", "funding_height", "funding_tx_index",
                     "state", "channel_ready_sent", "channel_ready_received", "revoke_sent_after_commit",
                     "shutdown_sent", "shutdown_received", "closing_feerate_per_kw", "closing_tx_hex",
                     "closing_txid", "close_type", "local_commitment_tx_hex", "spend_txid", "spend_height",
                     "onchain", "error_message"):
            setattr(chan, name, data[name])
        chan.local_alias = data.get("local_alias")  # absent in states saved before aliases
        chan.remote_alias = data.get("remote_alias")
        chan.anchor_spend_hex = data.get("anchor_spend_hex")  # absent in channels saved before anchors
        chan.funding_txid = _unhex(data["funding_txid"])
        chan.log = UpdateLog.from_json(data["log"]) if data["log"] else None
        chan.local_commit_sig = _unhex(data["local_commit_sig"])
        chan.local_htlc_sigs = [bytes.fromhex(s) for s in data["local_htlc_sigs"]]
        chan.last_commit_batch = [_msg_from_json(x) for x in data["last_commit_batch"]]
        last_revoke = _msg_from_json(data["last_revoke"]) if data["last_revoke"] else None
        if last_revoke is not None and not isinstance(last_revoke, messages.RevokeAndAck):
            raise ValueError(f"persisted last_revoke is a {last_revoke.NAME}")
        chan.last_revoke = last_revoke
        chan.local_upfront_script = bytes.fromhex(data["local_upfront_script"])
        chan.remote_upfront_script = bytes.fromhex(data["remote_upfront_script"])
        chan.local_shutdown_script = _unhex(data["local_shutdown_script"])
        chan.remote_shutdown_script = _unhex(data["remote_shutdown_script"])
        return chan
