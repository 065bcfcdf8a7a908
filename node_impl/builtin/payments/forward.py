"""Forwarding HTLCs (BOLT 4 intermediate hop, BOLT 2 "Forwarding HTLCs").

An incoming HTLC whose onion asks us to forward is checked (next channel, fee, CLTV delta,
expiry) and offered on the outgoing channel; the link between the two is stored in the
``forwards`` table in the same commit as the outgoing channel's state. When the outgoing HTLC
is fulfilled (or fails) the link records the preimage (or the failure onion, wrapped with our
shared secret) and the incoming channel settles its HTLC from it — also after a restart, since
an undecided incoming HTLC is looked at again after every reestablish.

Layer: payments. Imports channel (ops, machine, updates), services, core, and
payments/gossip_view for our announced policies and channel_updates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..channel.machine import NORMAL, SHUTTING_DOWN, Channel, LocalRequestError
from ..channel.ops import ChannelOps, IncomingDecision
from ..channel.updates import LOCAL, REMOTE, Htlc
from ..core.log import get_logger
from ..services import Services
from . import onion, onion_failures
from .gossip_view import GossipView

log = get_logger("forward")

MIN_OUTGOING_EXPIRY_BLOCKS = 3  # an outgoing expiry closer than this to the tip is too soon
MAX_EXPIRY_BLOCKS = 2016  # an incoming HTLC may not lock our funds for longer (expiry_too_far)
FAIL_BACK_DEPTH = 3  # confirmations of a commitment without our HTLC before failing it back (BOLT 5)


@dataclass(frozen=True)
class OutgoingView:
    """What the forwarding checks need to know about the requested outgoing channel."""

    normal: bool  # CHANNELD_NORMAL
    usable: bool  # normal, peer connected and re-established
    htlc_minimum_msat: int  # the peer's minimum
    spendable_msat: int


@dataclass(frozen=True)
class Policy:
    """Our forwarding policy for the outgoing channel (as announced)."""

    fee_base_msat: int
    fee_ppm: int
    cltv_expiry_delta: int
    htlc_minimum_msat: int = 0
    htlc_maximum_msat: int | None = None

    def fee_msat(self, amount_msat: int) -> int:
        return self.fee_base_msat + amount_msat * self.fee_ppm // 1_000_000


def check_forward(*, incoming_msat: int, incoming_cltv: int, payload: onion.HopPayload,
                  outgoing: OutgoingView | None, policy: Policy, blockheight: int,
                  channel_update: bytes = b"") -> tuple[onion_failures.FailureMessage, str] | None:
    """BOLT 4 checks of a request to forward: None if the HTLC may go out, else the failure
    for the sender and a reason for our log. ``channel_update`` (ours for the outgoing
    channel, may be empty) goes into the failures that carry one."""
    amount = payload.amt_to_forward_msat
    out_cltv = payload.outgoing_cltv_value
    if outgoing is None or not outgoing.normal:
        return onion_failures.failure_message(onion_failures.UNKNOWN_NEXT_PEER), f"no open channel {payload.short_channel_id}"
    if not outgoing.usable:
        return (onion_failures.failure_message(onion_failures.TEMPORARY_CHANNEL_FAILURE, channel_update=channel_update),
                f"peer of channel {payload.short_channel_id} is not connected")
    minimum = max(outgoing.htlc_minimum_msat, policy.htlc_minimum_msat)
    if amount < minimum:
        return (onion_failures.failure_message(onion_failures.AMOUNT_BELOW_MINIMUM, htlc_msat=incoming_msat,
                                      channel_update=channel_update),
                f"amt_to_forward {amount} msat below the channel's minimum {minimum} msat")
    if policy.htlc_maximum_msat is not None and amount > policy.htlc_maximum_msat:
        return (onion_failures.failure_message(onion_failures.TEMPORARY_CHANNEL_FAILURE, channel_update=channel_update),
                f"amt_to_forward {amount} msat above our maximum {policy.htlc_maximum_msat} msat")
    fee = policy.fee_msat(amount)
    if incoming_msat < amount + fee:
        return (onion_failures.failure_message(onion_failures.FEE_INSUFFICIENT, htlc_msat=incoming_msat,
                                      channel_update=channel_update),
                f"fee {incoming_msat - amount} msat below {fee} msat")
    if incoming_cltv < out_cltv + policy.cltv_expiry_delta:
        return (onion_failures.failure_message(onion_failures.INCORRECT_CLTV_EXPIRY, cltv_expiry=incoming_cltv,
                                      channel_update=channel_update),
                f"cltv_expiry {incoming_cltv} leaves less than {policy.cltv_expiry_delta} blocks "
                f"over outgoing_cltv_value {out_cltv}")
    if out_cltv <= blockheight + MIN_OUTGOING_EXPIRY_BLOCKS:
        return (onion_failures.failure_message(onion_failures.EXPIRY_TOO_SOON, channel_update=channel_update),
                f"outgoing expiry {out_cltv} too close to the tip {blockheight}")
    if incoming_cltv > blockheight + MAX_EXPIRY_BLOCKS:
        return (onion_failures.failure_message(onion_failures.EXPIRY_TOO_FAR),
                f"cltv_expiry {incoming_cltv} more than {MAX_EXPIRY_BLOCKS} blocks after {blockheight}")
    if amount > outgoing.spendable_msat:
        return (onion_failures.failure_message(onion_failures.TEMPORARY_CHANNEL_FAILURE, channel_update=channel_update),
                f"amt_to_forward {amount} msat above what channel {payload.short_channel_id} can send "
                f"({outgoing.spendable_msat} msat)")
    return None


class Forwarding:
    """Decides and tracks forwarded HTLCs."""

    def __init__(self, services: Services, channels: ChannelOps, gossip: GossipView) -> None:
        self.services = services
        self.channels = channels
        self.gossip = gossip
        self.db = services.db
        self._in_flight: set[tuple[bytes, int]] = set()  # incoming HTLCs being offered onwards

    # ------------------------------------------------------------------ incoming side
    def decide(self, chan: Channel, htlc: Htlc, payload: onion.HopPayload,
               processed: onion.ProcessedOnion) -> IncomingDecision:
        """Settle from a resolved forward, wait for one in flight, or start a new one."""
        key = (chan.channel_id or b"", htlc.htlc_id)
        row = self._row("in_channel = ? AND in_htlc_id = ?", key)
        if row is not None:
            if row["state"] == "fulfilled":
                return IncomingDecision(preimage=bytes(row["preimage"]))
            if row["state"] in ("failed", "local_failed"):
                return IncomingDecision(reason=bytes(row["reason"]))
            return IncomingDecision(pending=True)
        if key in self._in_flight:
            return IncomingDecision(pending=True)
        secret = processed.shared_secret

        out = self.channels.channel_by_scid_any(payload.short_channel_id)
        outgoing = None
        if out is not None:
            usable = self.channels.is_usable(out)
            outgoing = OutgoingView(
                normal=out.state == NORMAL, usable=usable,
                htlc_minimum_msat=out.remote_config.htlc_minimum_msat if out.remote_config else 0,
                spendable_msat=out.spendable_msat() if usable else 0)
        policies = self._policies(out) if out is not None else [Policy(0, 0, 0)]
        policy = policies[0]
        refused = check_forward(incoming_msat=htlc.amount_msat, incoming_cltv=htlc.cltv_expiry, payload=payload,
                                outgoing=outgoing, policy=policy, blockheight=self.services.blockheight)
        if refused is not None and any(  # the previous policy during setchannel's enforcedelay
                check_forward(incoming_msat=htlc.amount_msat, incoming_cltv=htlc.cltv_expiry, payload=payload,
                              outgoing=outgoing, policy=older, blockheight=self.services.blockheight) is None
                for older in policies[1:]):
            log.info("forwarding HTLC %d from %s under our previous policy (%s)", htlc.htlc_id, _cid(chan),
                     refused[1])
            refused = None
        if refused is not None:
            if outgoing is not None:  # again with our channel_update (only now: it may need signing)
                refused = check_forward(
                    incoming_msat=htlc.amount_msat, incoming_cltv=htlc.cltv_expiry, payload=payload,
                    outgoing=outgoing, policy=policy, blockheight=self.services.blockheight,
                    channel_update=self._channel_update(payload.short_channel_id)) or refused
            message, why = refused
            log.info("not forwarding HTLC %d from %s: %s", htlc.htlc_id, _cid(chan), why)
            reason = onion.create_failure_packet(secret, message)
            self._insert_local_failure(chan, htlc, out, payload, secret, reason)
            return IncomingDecision(reason=reason)
        if out is None:
            raise ValueError("check_forward passed a forward without an outgoing channel")
        if processed.next_packet is None:
            raise ValueError("forwarding decision for the final hop's onion")
        self._in_flight.add(key)
        self.services.spawn(self._offer(chan, htlc, out, payload, processed.next_packet, secret),
                        f"forward-{htlc.htlc_id}")
        return IncomingDecision(pending=True)

    def _policies(self, out: Channel) -> list[Policy]:
        """Our current forwarding policy for ``out`` (as announced), then any earlier one still
        accepted (setchannel's enforcedelay); the configured defaults if none was announced."""
        announced = self.gossip.local_policies(out.short_channel_id) if out.short_channel_id is not None else []
        if announced:
            return [Policy(p.fee_base_msat, p.fee_proportional_millionths, p.cltv_expiry_delta,
                           p.htlc_minimum_msat, p.htlc_maximum_msat) for p in announced]
        cfg = self.services.config
        return [Policy(cfg.fee_base_msat, cfg.fee_ppm, cfg.cltv_delta)]

    def _channel_update(self, scid: int | None) -> bytes:
        """Our latest channel_update for ``scid`` (for BOLT 4 failures), or b""."""
        return self.gossip.local_channel_update(scid) if scid is not None else b""

    def _insert_local_failure(self, chan: Channel, htlc: Htlc, out: Channel | None, payload: onion.HopPayload,
                              secret: bytes, reason: bytes) -> None:
        """Record a forward we refused (listforwards: local_failed), in the incoming channel's commit."""
        now = time.time()
        self.db.execute(
            "INSERT OR REPLACE INTO forwards (in_channel, in_htlc_id, out_channel, out_htlc_id, shared_secret, "
            "payment_hash, in_msat, out_msat, state, reason, created_at, resolved_at) "
            "VALUES (?, ?, ?, -1, ?, ?, ?, ?, 'local_failed', ?, ?, ?)",
            (chan.channel_id, htlc.htlc_id, out.channel_id if out is not None else b"", secret,
             htlc.payment_hash, htlc.amount_msat, payload.amt_to_forward_msat, reason, now, now))

    async def _offer(self, incoming: Channel, htlc: Htlc, out: Channel, payload: onion.HopPayload,
                     packet: bytes, secret: bytes) -> None:
        key = (incoming.channel_id or b"", htlc.htlc_id)
        try:
            try:
                await self.channels.add_forwarded_htlc(
                    out, payload.amt_to_forward_msat, htlc.payment_hash, payload.outgoing_cltv_value, packet,
                    lambda out_htlc: self._insert(incoming, htlc, out, out_htlc, secret))
                log.info("forwarding HTLC %d from %s to %s: %d msat", htlc.htlc_id, _cid(incoming), _cid(out),
                         payload.amt_to_forward_msat)
                return
            except LocalRequestError as exc:
                log.info("cannot forward HTLC %d to %s: %s", htlc.htlc_id, _cid(out), exc)
            failure = onion.create_failure_packet(secret, onion_failures.failure_message(
                onion_failures.TEMPORARY_CHANNEL_FAILURE, channel_update=self._channel_update(out.short_channel_id)))
            self._insert_local_failure(incoming, htlc, out, payload, secret, failure)
            await self.channels.resettle(incoming)
        finally:
            self._in_flight.discard(key)

    def _insert(self, incoming: Channel, htlc: Htlc, out: Channel, out_htlc: Htlc, secret: bytes) -> None:
        self.db.execute(
            "INSERT INTO forwards (in_channel, in_htlc_id, out_channel, out_htlc_id, shared_secret, "
            "payment_hash, in_msat, out_msat, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'offered', ?)",
            (incoming.channel_id, htlc.htlc_id, out.channel_id, out_htlc.htlc_id, secret, htlc.payment_hash,
             htlc.amount_msat, out_htlc.amount_msat, time.time()))

    # ------------------------------------------------------------------ outgoing side
    def on_out_fulfilled(self, out: Channel, htlc: Htlc, preimage: bytes) -> Channel | None:
        """Our forwarded HTLC was fulfilled: returns the incoming channel to settle, if any."""
        row = self._row("out_channel = ? AND out_htlc_id = ?", (out.channel_id or b"", htlc.htlc_id))
        if row is None or row["state"] != "offered":
            return None
        self.db.execute("UPDATE forwards SET state = 'fulfilled', preimage = ?, resolved_at = ? "
                        "WHERE in_channel = ? AND in_htlc_id = ?",
                        (preimage, time.time(), row["in_channel"], row["in_htlc_id"]))
        return self._incoming(row)

    def is_forward(self, out: Channel, htlc: Htlc) -> bool:
        """Whether an HTLC we offered on ``out`` carries a forward (not a payment of ours, even if
        one of ours has the same payment hash)."""
        return self._row("out_channel = ? AND out_htlc_id = ?", (out.channel_id or b"", htlc.htlc_id)) is not None

    def on_out_failed(self, out: Channel, htlc: Htlc) -> Channel | None:
        """Our forwarded HTLC failed: wrap the failure for the incoming side."""
        row = self._row("out_channel = ? AND out_htlc_id = ?", (out.channel_id or b"", htlc.htlc_id))
        if row is None or row["state"] != "offered":
            return None
        secret = bytes(row["shared_secret"])
        if htlc.removal == "fail_malformed":
            code = int(htlc.removal_data.get("failure_code", onion_failures.INVALID_ONION_HMAC))
            sha = htlc.removal_data.get("sha256_of_onion", bytes(32))
            try:
                message = onion_failures.failure_message(code, sha256_of_onion=sha)
            except onion_failures.OnionError:
                message = onion_failures.failure_message(onion_failures.INVALID_ONION_HMAC, sha256_of_onion=sha)
            reason = onion.create_failure_packet(secret, message)
        elif htlc.removal == "timeout":
            reason = onion.create_failure_packet(secret, onion_failures.failure_message(onion_failures.PERMANENT_CHANNEL_FAILURE))
        else:
            reason = onion.obfuscate_failure_packet(secret, htlc.removal_data.get("reason", b""))
        self.db.execute("UPDATE forwards SET state = 'failed', reason = ?, resolved_at = ? "
                        "WHERE in_channel = ? AND in_htlc_id = ?",
                        (reason, time.time(), row["in_channel"], row["in_htlc_id"]))
        return self._incoming(row)

    def preimage_for(self, payment_hash: bytes) -> bytes | None:
        """The preimage a forward with ``payment_hash`` learnt downstream (to claim the incoming
        HTLC on chain when the incoming channel is closed)."""
        rows = self.db.query("SELECT preimage FROM forwards WHERE payment_hash = ? AND preimage IS NOT NULL "
                             "LIMIT 1", (payment_hash,))
        return bytes(rows[0]["preimage"]) if rows else None

    # ------------------------------------------------------------------ chain
    async def on_block(self, height: int) -> None:
        """Fail back forwards whose outgoing HTLC can never resolve (its channel closed before
        the HTLC was signed, or the commitment on chain does not hold it)."""
        for row in self.db.query("SELECT * FROM forwards WHERE state = 'offered'"):
            out = self.channels.channel_by_id(bytes(row["out_channel"]))
            if out is None or out.state in (NORMAL, SHUTTING_DOWN):
                continue
            why = _unresolvable(out, row["out_htlc_id"], height)
            if why is None:
                continue
            log.info("failing back HTLC %d from %s: %s", row["in_htlc_id"], bytes(row["in_channel"]).hex(), why)
            reason = onion.create_failure_packet(bytes(row["shared_secret"]),
                                                 onion_failures.failure_message(onion_failures.PERMANENT_CHANNEL_FAILURE))
            self.db.execute("UPDATE forwards SET state = 'local_failed', reason = ?, resolved_at = ? "
                            "WHERE in_channel = ? AND in_htlc_id = ?",
                            (reason, time.time(), row["in_channel"], row["in_htlc_id"]))
            incoming = self._incoming(row)
            if incoming is not None:
                await self.channels.resettle(incoming)

    def _incoming(self, row: Any) -> Channel | None:
        return self.channels.channel_by_id(bytes(row["in_channel"]))

    def _row(self, where: str, params: tuple[Any, ...]) -> Any:
        rows = self.db.query(f"SELECT * FROM forwards WHERE {where}", params)
        return rows[0] if rows else None

    def listforwards(self, *, status: str | None = None, in_channel: int | None = None,
                     out_channel: int | None = None) -> list[dict[str, Any]]:
        """Forwarded HTLCs, oldest first, shaped like Core Lightning's (channels by short_channel_id),
        optionally only those with one status (one of STATUSES) or channel (by scid)."""
        scids = {c.channel_id: c.short_channel_id for c in self.channels.all_channels()
                 if c.channel_id is not None}
        out = []
        for r in self.db.query("SELECT * FROM forwards ORDER BY created_at"):
            in_scid = scids.get(bytes(r["in_channel"]))
            out_scid = scids.get(bytes(r["out_channel"])) if r["out_channel"] else None
            entry: dict[str, Any] = {
                "in_channel": _scid_str(in_scid), "in_htlc_id": r["in_htlc_id"],
                "in_msat": r["in_msat"], "payment_hash": bytes(r["payment_hash"]).hex(),
                "status": _STATUS.get(r["state"], r["state"]), "received_time": r["created_at"], "style": "tlv",
                "out_msat": r["out_msat"], "fee_msat": r["in_msat"] - r["out_msat"],
            }
            if r["out_channel"]:
                entry["out_channel"] = _scid_str(out_scid)
            if r["out_htlc_id"] >= 0:
                entry["out_htlc_id"] = r["out_htlc_id"]
            if r["resolved_at"] is not None:
                entry["resolved_time"] = r["resolved_at"]
            if r["state"] == "local_failed":  # our own failure onion: we can read its code
                code = _own_failure_code(bytes(r["shared_secret"]), bytes(r["reason"] or b""))
                if code is not None:
                    entry["failcode"] = code
                    entry["failreason"] = "WIRE_" + onion_failures.FAILURE_NAMES.get(code, f"0x{code:04x}").upper()
            if (status is None or entry["status"] == status) and in_channel in (None, in_scid) \
                    and out_channel in (None, out_scid):
                out.append(entry)
        return out


_STATUS = {"offered": "offered", "fulfilled": "settled", "failed": "failed", "local_failed": "local_failed"}
STATUSES = tuple(_STATUS.values())
"""listforwards' status values."""


def _scid_str(scid: int | None) -> str | None:
    if scid is None:
        return None
    return f"{scid >> 40}x{(scid >> 16) & 0xFFFFFF}x{scid & 0xFFFF}"


def _unresolvable(out: Channel, out_htlc_id: int, height: int) -> str | None:
    """Why an HTLC we offered on the closing/closed channel ``out`` can no longer be fulfilled
    (None if it still may be, on chain, or a reorg could still bring it back)."""
    htlc = out.log.htlcs.get((LOCAL, out_htlc_id)) if out.log is not None else None
    if htlc is None:
        return "the outgoing HTLC left its channel without an outcome"
    if htlc.added_at[REMOTE] is None:
        return f"the outgoing channel is {out.state} and the HTLC was never signed"
    plan = out.onchain or {}
    depth = height - out.spend_height + 1 if out.spend_height is not None else 0
    if plan.get("type") in ("local", "remote", "mutual") and depth >= FAIL_BACK_DEPTH and \
            not any(entry.get("htlc") == [LOCAL, out_htlc_id] for entry in plan.get("outputs", [])):
        return "the commitment on chain holds no output for the outgoing HTLC"
    return None


def _own_failure_code(secret: bytes, reason: bytes) -> int | None:
    try:
        return onion.decrypt_failure_packet([secret], reason).code
    except onion_failures.OnionError:
        return None


def _cid(chan: Channel) -> str:
    return (chan.channel_id or chan.temporary_channel_id).hex()
