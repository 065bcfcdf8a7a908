"""sqlite tables of the channel subsystem: channels (one JSON state per channel), payments, forwards.

A channel row is rewritten in one statement before any message that depends on the new state
is sent (persist before you send); the storage runs with synchronous=FULL.

Layer: channel. Imports wire, keys, tx, core only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.storage import Storage

SCHEMA = [
    "CREATE TABLE channels (channel_index INTEGER PRIMARY KEY, channel_id BLOB UNIQUE, "
    "peer_id BLOB NOT NULL, state TEXT NOT NULL, data TEXT NOT NULL, updated_at REAL NOT NULL);"
    "CREATE TABLE payments (payment_hash BLOB PRIMARY KEY, bolt11 TEXT, destination BLOB NOT NULL, "
    "amount_msat INTEGER NOT NULL, amount_sent_msat INTEGER NOT NULL, status TEXT NOT NULL, "
    "preimage BLOB, failure TEXT, created_at INTEGER NOT NULL, completed_at INTEGER, "
    "channel_id BLOB, htlc_id INTEGER, data TEXT NOT NULL DEFAULT '{}')",
    # forwarded HTLCs: incoming (channel, htlc) -> outgoing (channel, htlc), and how it ended
    "CREATE TABLE forwards (in_channel BLOB NOT NULL, in_htlc_id INTEGER NOT NULL, "
    "out_channel BLOB NOT NULL, out_htlc_id INTEGER NOT NULL, shared_secret BLOB NOT NULL, "
    "payment_hash BLOB NOT NULL, in_msat INTEGER NOT NULL, out_msat INTEGER NOT NULL, "
    "state TEXT NOT NULL, preimage BLOB, reason BLOB, created_at REAL NOT NULL, resolved_at REAL, "
    "PRIMARY KEY (in_channel, in_htlc_id));"
    "CREATE INDEX forwards_by_out ON forwards (out_channel, out_htlc_id)",
]


@dataclass
class PaymentRecord:
    """One outgoing payment (listpays entry)."""

    payment_hash: bytes
    bolt11: str | None
    destination: bytes
    amount_msat: int
    amount_sent_msat: int
    status: str  # pending | complete | failed
    preimage: bytes | None
    failure: str | None
    created_at: int
    completed_at: int | None
    channel_id: bytes | None
    htlc_id: int | None
    data: dict[str, Any]
    created_index: int = 0
    """The row's number, Core Lightning's created_index (and sendpay's id); 0 before it is saved."""

    def to_rpc(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "payment_hash": self.payment_hash.hex(),
            "status": self.status,
            "destination": self.destination.hex(),
            "amount_msat": self.amount_msat,
            "amount_sent_msat": self.amount_sent_msat,
            "created_at": self.created_at,
        }
        if self.bolt11:
            entry["bolt11"] = self.bolt11
        if self.preimage is not None:
            entry["preimage"] = self.preimage.hex()
        if self.completed_at is not None:
            entry["completed_at"] = self.completed_at
        if self.failure:
            entry["failure"] = self.failure
        for key in ("label", "description"):
            if self.data.get(key):
                entry[key] = self.data[key]
        parts = [p for p in (self.data.get("parts") or {}).values() if p["status"] != "failed"]
        if self.status == "complete" and len(parts) > 1:
            entry["number_of_parts"] = len(parts)  # Core Lightning's: only for more than one
        return entry


    def to_sendpay_rpc(self) -> dict[str, Any]:
        """listsendpays / sendpay / waitsendpay entry (Core Lightning's fields; one part)."""
        entry: dict[str, Any] = {
            "created_index": self.created_index, "id": self.created_index,
            "groupid": int(self.data.get("groupid", 1)),
            "payment_hash": self.payment_hash.hex(), "status": self.status,
            "amount_msat": self.amount_msat, "destination": self.destination.hex(),
            "created_at": self.created_at, "amount_sent_msat": self.amount_sent_msat,
        }
        if self.completed_at is not None:
            entry["completed_at"] = self.completed_at
        for key in ("label", "description"):
            if self.data.get(key):
                entry[key] = self.data[key]
        if self.bolt11:
            entry["bolt11"] = self.bolt11
        if self.preimage is not None:
            entry["payment_preimage"] = self.preimage.hex()
        return entry


SENDPAYS_UPDATED_VAR = "sendpays_updated_index"
#: told of each payment row created or whose status changed: (index name, new index, record)
PaymentListener = Callable[[str, int, "PaymentRecord"], None]


class ChannelStore:
    """Reads and writes the channel subsystem's rows."""

    def __init__(self, db: Storage) -> None:
        self.db = db
        db.migrate("channels", SCHEMA)
        self.payment_listeners: list[PaymentListener] = []

    # ---- channels -------------------------------------------------------------------
    def allocate_index(self) -> int:
        """A channel index never used before (keys are derived from it)."""
        with self.db.transaction():
            current = int(self.db.get_var("channels_next_index") or 0)
            self.db.set_var("channels_next_index", str(current + 1))
        return current

    def save_channel(self, index: int, channel_id: bytes | None, peer_id: bytes, state: str,
                     data: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO channels (channel_index, channel_id, peer_id, state, data, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(channel_index) DO UPDATE SET "
            "channel_id = excluded.channel_id, state = excluded.state, data = excluded.data, "
            "updated_at = excluded.updated_at",
            (index, channel_id, peer_id, state, json.dumps(data, separators=(",", ":")), time.time()))

    def load_channels(self) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT data FROM channels ORDER BY channel_index")
        return [json.loads(row["data"]) for row in rows]

    # ---- payments -------------------------------------------------------------------
    def save_payment(self, p: PaymentRecord) -> None:
        """Insert or rewrite a payment row (its `created_index` set from the row); a new row
        bumps Core Lightning's sendpays `created` index, a changed status its `updated`
        index (kept in the storage), and the listeners are told."""
        before = self.db.query("SELECT status FROM payments WHERE payment_hash = ?", (p.payment_hash,))
        self.db.execute(
            "INSERT INTO payments (payment_hash, bolt11, destination, amount_msat, amount_sent_msat, "
            "status, preimage, failure, created_at, completed_at, channel_id, htlc_id, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(payment_hash) DO UPDATE SET "
            "bolt11 = excluded.bolt11, destination = excluded.destination, "
            "amount_msat = excluded.amount_msat, amount_sent_msat = excluded.amount_sent_msat, "
            "status = excluded.status, preimage = excluded.preimage, failure = excluded.failure, "
            "created_at = excluded.created_at, completed_at = excluded.completed_at, "
            "channel_id = excluded.channel_id, htlc_id = excluded.htlc_id, data = excluded.data",
            (p.payment_hash, p.bolt11, p.destination, p.amount_msat, p.amount_sent_msat, p.status,
             p.preimage, p.failure, p.created_at, p.completed_at, p.channel_id, p.htlc_id,
             json.dumps(p.data)))
        row = self.db.query("SELECT rowid FROM payments WHERE payment_hash = ?", (p.payment_hash,))
        p.created_index = int(row[0]["rowid"])
        if not before:
            self._tell("created", p.created_index, p)
        elif before[0]["status"] != p.status:
            updated = self.sendpays_index("updated") + 1
            self.db.set_var(SENDPAYS_UPDATED_VAR, str(updated))
            self._tell("updated", updated, p)

    def sendpays_index(self, name: str) -> int:
        """Core Lightning's sendpays index `name`: created (the last payment row) or updated
        (status changes so far); deleted stays 0 (payments are never deleted)."""
        if name == "created":
            row = self.db.query("SELECT MAX(rowid) AS last FROM payments")
            return int(row[0]["last"] or 0)
        if name == "updated":
            return int(self.db.get_var(SENDPAYS_UPDATED_VAR) or 0)
        return 0

    def _tell(self, index_name: str, value: int, record: PaymentRecord) -> None:
        for listener in list(self.payment_listeners):
            listener(index_name, value, record)

    def payment(self, payment_hash: bytes) -> PaymentRecord | None:
        rows = self.db.query(f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE payment_hash = ?",
                             (payment_hash,))
        return _payment(rows[0]) if rows else None

    def payments(self) -> list[PaymentRecord]:
        rows = self.db.query(f"SELECT {_PAYMENT_COLUMNS} FROM payments ORDER BY created_at, rowid")
        return [_payment(row) for row in rows]


_PAYMENT_COLUMNS = ("rowid AS created_index, payment_hash, bolt11, destination, amount_msat, amount_sent_msat, status, preimage, "
                    "failure, created_at, completed_at, channel_id, htlc_id, data")


def _payment(row: Any) -> PaymentRecord:
    return PaymentRecord(
        payment_hash=bytes(row["payment_hash"]), bolt11=row["bolt11"], destination=bytes(row["destination"]),
        amount_msat=row["amount_msat"], amount_sent_msat=row["amount_sent_msat"], status=row["status"],
        preimage=bytes(row["preimage"]) if row["preimage"] is not None else None, failure=row["failure"],
        created_at=row["created_at"], completed_at=row["completed_at"],
        channel_id=bytes(row["channel_id"]) if row["channel_id"] is not None else None,
        htlc_id=row["htlc_id"], data=json.loads(row["data"]), created_index=row["created_index"],
    )
