"""Forwarding HTLCs (BOLT 4 intermediate hop, BOLT 2 "Forwarding HTLCs").

An incoming HTLC whose onion asks us to forward is checked (next channel, fee, CLTV delta,
expiry) and offered on the outgoing channel; the link between the two is stored in the
``forwards`` table in the same commit as the outgoing channel's state. When the outgoing HTLC
is fulfilled (or fails) the link records the preimage (or the failure onion, wrapped with our
shared secret) and the incoming channel settles its HTLC from it — also after a restart, since
an undecided incoming HTLC is looked at again after every reestablish.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from . import onion
from .channel import NORMAL, Channel, LocalRequestError
from .channel_updates import Htlc
from .log import get_logger

if TYPE_CHECKING:
    from .channel_manager import ChannelManager
    from .payments import IncomingDecision

log = get_logger("forward")

MIN_OUTGOING_EXPIRY_BLOCKS = 3  # an outgoing expiry closer than this to the tip is too soon

class Forwarding:
    """Decides and tracks forwarded HTLCs for the channel manager."""

    def __init__(self, manager: ChannelManager) -> None:
        self.manager = manager
        self.node = manager.node
        self.db = manager.node.db
        self._in_flight: set[tuple[bytes, int]] = set()  # incoming HTLCs being offered onwards

    # ------------------------------------------------------------------ incoming side
    def decide(self, chan: Channel, htlc: Htlc, payload: onion.HopPayload,
               processed: onion.ProcessedOnion) -> IncomingDecision:
        """Settle from a resolved forward, wait for one in flight, or start a new one."""
        from .payments import IncomingDecision

        key = (chan.channel_id or b"", htlc.htlc_id)
        row = self._row("in_channel = ? AND in_htlc_id = ?", key)
        if row is not None:
            if row["state"] == "fulfilled":
                return IncomingDecision(preimage=bytes(row["preimage"]))
            if row["state"] == "failed":
                return IncomingDecision(reason=bytes(row["reason"]))
            return IncomingDecision(pending=True)
        if key in self._in_flight:
            return IncomingDecision(pending=True)
        secret = processed.shared_secret

        def fail(message: onion.FailureMessage, why: str) -> IncomingDecision:
            log.info("not forwarding HTLC %d from %s: %s", htlc.htlc_id, _cid(chan), why)
            return IncomingDecision(reason=onion.create_failure_packet(secret, message))

        out = self.manager.channel_by_scid_any(payload.short_channel_id)
        if out is None or out.state != NORMAL:
            return fail(onion.failure_message(onion.UNKNOWN_NEXT_PEER),
                        f"no open channel {payload.short_channel_id}")
        if not self.manager.is_usable(out):
            return fail(onion.failure_message(onion.TEMPORARY_CHANNEL_FAILURE),
                        f"peer of channel {payload.short_channel_id} is not connected")
        base, ppm, delta = self._policy(out)
        fee = base + payload.amt_to_forward_msat * ppm // 1_000_000
        if htlc.amount_msat < payload.amt_to_forward_msat + fee:
            return fail(onion.failure_message(onion.FEE_INSUFFICIENT, htlc_msat=htlc.amount_msat),
                        f"fee {htlc.amount_msat - payload.amt_to_forward_msat} msat below {fee} msat")
        if htlc.cltv_expiry < payload.outgoing_cltv_value + delta:
            return fail(onion.failure_message(onion.INCORRECT_CLTV_EXPIRY, cltv_expiry=htlc.cltv_expiry),
                        f"cltv_expiry {htlc.cltv_expiry} leaves less than {delta} blocks")
        if payload.outgoing_cltv_value <= self.node.blockheight + MIN_OUTGOING_EXPIRY_BLOCKS:
            return fail(onion.failure_message(onion.EXPIRY_TOO_SOON),
                        f"outgoing expiry {payload.outgoing_cltv_value} too close to the tip")
        if processed.next_packet is None:
            return fail(onion.failure_message(onion.INVALID_ONION_PAYLOAD, type=6, offset=0), "no next onion")
        self._in_flight.add(key)
        self.node.spawn(self._offer(chan, htlc, out, payload, processed.next_packet, secret),
                        f"forward-{htlc.htlc_id}")
        return IncomingDecision(pending=True)

    def _policy(self, out: Channel) -> tuple[int, int, int]:
        local_policy = getattr(self.node.gossip, "local_policy", None)
        policy = local_policy(out.short_channel_id) if local_policy is not None else None
        if policy is not None:
            return policy
        cfg = self.node.config
        return cfg.fee_base_msat, cfg.fee_ppm, cfg.cltv_delta

    async def _offer(self, incoming: Channel, htlc: Htlc, out: Channel, payload: onion.HopPayload,
                     packet: bytes, secret: bytes) -> None:
        key = (incoming.channel_id or b"", htlc.htlc_id)
        try:
            try:
                await self.manager.add_forwarded_htlc(
                    out, payload.amt_to_forward_msat, htlc.payment_hash, payload.outgoing_cltv_value, packet,
                    lambda out_htlc: self._insert(incoming, htlc, out, out_htlc, secret))
                log.info("forwarding HTLC %d from %s to %s: %d msat", htlc.htlc_id, _cid(incoming), _cid(out),
                         payload.amt_to_forward_msat)
                return
            except LocalRequestError as exc:
                log.info("cannot forward HTLC %d to %s: %s", htlc.htlc_id, _cid(out), exc)
            failure = onion.create_failure_packet(secret, onion.failure_message(onion.TEMPORARY_CHANNEL_FAILURE))
            self.db.execute(
                "INSERT INTO forwards (in_channel, in_htlc_id, out_channel, out_htlc_id, shared_secret, "
                "payment_hash, in_msat, out_msat, state, reason, created_at, resolved_at) "
                "VALUES (?, ?, ?, -1, ?, ?, ?, ?, 'failed', ?, ?, ?)",
                (key[0], key[1], out.channel_id, secret, htlc.payment_hash, htlc.amount_msat,
                 payload.amt_to_forward_msat, failure, time.time(), time.time()))
            await self.manager.resettle(incoming)
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

    def on_out_failed(self, out: Channel, htlc: Htlc) -> Channel | None:
        """Our forwarded HTLC failed: wrap the failure for the incoming side."""
        row = self._row("out_channel = ? AND out_htlc_id = ?", (out.channel_id or b"", htlc.htlc_id))
        if row is None or row["state"] != "offered":
            return None
        secret = bytes(row["shared_secret"])
        if htlc.removal == "fail_malformed":
            code = int(htlc.removal_data.get("failure_code", onion.INVALID_ONION_HMAC))
            sha = htlc.removal_data.get("sha256_of_onion", bytes(32))
            try:
                message = onion.failure_message(code, sha256_of_onion=sha)
            except onion.OnionError:
                message = onion.failure_message(onion.INVALID_ONION_HMAC, sha256_of_onion=sha)
            reason = onion.create_failure_packet(secret, message)
        elif htlc.removal == "timeout":
            reason = onion.create_failure_packet(secret, onion.failure_message(onion.PERMANENT_CHANNEL_FAILURE))
        else:
            reason = onion.obfuscate_failure_packet(secret, htlc.removal_data.get("reason", b""))
        self.db.execute("UPDATE forwards SET state = 'failed', reason = ?, resolved_at = ? "
                        "WHERE in_channel = ? AND in_htlc_id = ?",
                        (reason, time.time(), row["in_channel"], row["in_htlc_id"]))
        return self._incoming(row)

    def _incoming(self, row: Any) -> Channel | None:
        channel_id = bytes(row["in_channel"])
        return next((c for c in self.manager.channels.values() if c.channel_id == channel_id), None)

    def _row(self, where: str, params: tuple[Any, ...]) -> Any:
        rows = self.db.query(f"SELECT * FROM forwards WHERE {where}", params)
        return rows[0] if rows else None

    def listforwards(self) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT * FROM forwards ORDER BY created_at")
        status = {"offered": "offered", "fulfilled": "settled", "failed": "failed"}
        return [{
            "in_channel": bytes(r["in_channel"]).hex(), "in_htlc_id": r["in_htlc_id"],
            "out_channel": bytes(r["out_channel"]).hex(), "out_htlc_id": r["out_htlc_id"],
            "payment_hash": bytes(r["payment_hash"]).hex(), "in_msat": r["in_msat"], "out_msat": r["out_msat"],
            "fee_msat": r["in_msat"] - r["out_msat"], "status": status.get(r["state"], r["state"]),
            "received_time": r["created_at"], "resolved_time": r["resolved_at"],
        } for r in rows]


def _cid(chan: Channel) -> str:
    return (chan.channel_id or chan.temporary_channel_id).hex()
