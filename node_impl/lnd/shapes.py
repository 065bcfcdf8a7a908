"""LND's REST records as lnharness result types (normalised states, amounts in msat).

LND's JSON gives 64-bit integers as strings, `bytes` fields as base64 (txid bytes in
internal order) and enums as names; the helpers here undo that. Every result keeps LND's
record in `native`.
"""
from __future__ import annotations

import base64
import time
from typing import Any

from lnharness.results import Channel, Invoice, Payment

INVOICE_STATES = {"OPEN": "unpaid", "ACCEPTED": "unpaid", "SETTLED": "paid", "CANCELED": "expired"}
PAYMENT_STATES = {"SUCCEEDED": "complete", "FAILED": "failed"}
#: the pendingchannels lists and the normalised state of a channel found in each
PENDING_LISTS = {"pending_open_channels": "opening", "waiting_close_channels": "closing",
                 "pending_force_closing_channels": "closing", "pending_closing_channels": "closing"}


def b64_to_hex(value: str) -> str:
    """A base64 (standard or URL-safe) bytes field as hex."""
    return base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_")).hex()


def hex_to_b64url(value: str) -> str:
    """Hex bytes as URL-safe base64 with padding, as lnd wants them in a URL path."""
    return base64.urlsafe_b64encode(bytes.fromhex(value)).decode()


def txid_from_bytes(value: str) -> str:
    """A `*_txid_bytes` / PendingUpdate `txid` field (base64, internal order) as a display txid."""
    return bytes(reversed(base64.b64decode(value))).hex()


def channel_id_from_point(channel_point: str) -> str:
    """BOLT 2's channel_id of a channel point "txid:n": the funding txid (internal order) with
    its last two bytes xored with the output index."""
    txid, index = channel_point.split(":")
    raw = bytearray(reversed(bytes.fromhex(txid)))
    n = int(index)
    raw[30] ^= (n >> 8) & 0xFF
    raw[31] ^= n & 0xFF
    return raw.hex()


def short_channel_id(chan_id: str | int | None) -> str | None:
    """LND's uint64 `chan_id` as "block x tx x output" (None while unknown)."""
    value = int(chan_id or 0)
    if value == 0:
        return None
    return f"{value >> 40}x{(value >> 16) & 0xFFFFFF}x{value & 0xFFFF}"


def _sides_msat(record: dict[str, Any], opener: bool) -> tuple[int, int]:
    """(local, remote) msat before the commitment fee, adding up to the capacity.

    LND's `local_balance`/`remote_balance` are whole sat after the opener's commitment fee,
    anchors and trimmed dust; the side that did not open pays none of that, so its balance
    is exact and the opener's side is the rest of the capacity (Core Lightning's
    `to_us_msat` is the same figure)."""
    capacity = int(record["capacity"])
    if opener:
        remote = int(record.get("remote_balance") or 0)
        return (capacity - remote) * 1000, remote * 1000
    local = int(record.get("local_balance") or 0)
    return local * 1000, (capacity - local) * 1000


def channel_from_open(record: dict[str, Any]) -> Channel:
    """A `Channel` from one `/v1/channels` entry: active or inactive, both `active`.

    `local_msat`/`remote_msat` are each side's funds before the commitment fee (see
    `_sides_msat`); LND counts in whole sat.
    """
    local, remote = _sides_msat(record, bool(record.get("initiator")))
    point = record["channel_point"]
    return Channel(
        channel_id=channel_id_from_point(point),
        short_channel_id=short_channel_id(record.get("chan_id")),
        peer_id=record["remote_pubkey"],
        state="active",
        capacity_sat=int(record["capacity"]),
        local_msat=local,
        remote_msat=remote,
        funding_txid=point.split(":")[0],
        pending_htlcs=len(record.get("pending_htlcs") or ()),
        htlc_hashes=tuple(base64.b64decode(htlc["hash_lock"]).hex()
                          for htlc in record.get("pending_htlcs") or ()),
        connected=bool(record.get("active")),
        native=record,
    )


def channel_from_pending(entry: dict[str, Any], state: str) -> Channel:
    """A `Channel` from one entry of a `/v1/channels/pending` list, in `state`."""
    record = entry["channel"]
    local, remote = _sides_msat(record, record.get("initiator") == "INITIATOR_LOCAL")
    point = record["channel_point"]
    return Channel(
        channel_id=channel_id_from_point(point),
        short_channel_id=None,
        peer_id=record["remote_node_pub"],
        state=state,
        capacity_sat=int(record["capacity"]),
        local_msat=local,
        remote_msat=remote,
        funding_txid=point.split(":")[0],
        native=entry,
    )


def channel_from_closed(record: dict[str, Any]) -> Channel:
    """A `Channel` from one `/v1/channels/closed` summary: `closed`, what came back to us."""
    point = record["channel_point"]
    capacity = int(record["capacity"])
    settled = int(record.get("settled_balance") or 0) + int(record.get("time_locked_balance") or 0)
    return Channel(
        channel_id=channel_id_from_point(point),
        short_channel_id=short_channel_id(record.get("chan_id")),
        peer_id=record["remote_pubkey"],
        state="closed",
        capacity_sat=capacity,
        local_msat=settled * 1000,
        remote_msat=max(capacity - settled, 0) * 1000,
        funding_txid=point.split(":")[0],
        native=record,
    )


def invoice_status(record: dict[str, Any], now: float | None = None) -> str:
    """`unpaid`, `paid` or `expired`: CANCELED is how LND ends an expired invoice, and an
    OPEN one past its expiry is expired too (LND cancels it a moment later)."""
    status = INVOICE_STATES.get(record.get("state", ""), "unpaid")
    if status == "unpaid":
        expires = int(record.get("creation_date") or 0) + int(record.get("expiry") or 0)
        if expires and (now if now is not None else time.time()) >= expires:
            return "expired"
    return status


def invoice_from_lnd(record: dict[str, Any], label: str) -> Invoice:
    """An `Invoice` from LND's Invoice record (lookup or list)."""
    amount = int(record.get("value_msat") or 0)
    status = invoice_status(record)
    preimage = record.get("r_preimage")
    return Invoice(
        bolt11=record["payment_request"],
        payment_hash=b64_to_hex(record["r_hash"]),
        label=label,
        amount_msat=amount or None,
        status=status,
        preimage=b64_to_hex(preimage) if preimage and status == "paid" else None,
        native=record,
    )


def payment_from_lnd(record: dict[str, Any]) -> Payment:
    """A `Payment` from LND's final Payment update (SendPaymentV2, TrackPaymentV2, ListPayments)."""
    preimage = record.get("payment_preimage") or ""
    return Payment(
        payment_hash=record["payment_hash"],
        status=PAYMENT_STATES.get(record.get("status", ""), "failed"),
        preimage=preimage if preimage.strip("0") else None,
        fee_msat=int(record.get("fee_msat") or 0),
        amount_msat=int(record.get("value_msat") or 0),
        native=record,
        parts=sum(1 for htlc in record.get("htlcs") or () if htlc.get("status") == "SUCCEEDED") or 1,
    )
