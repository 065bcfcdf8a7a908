"""Invoices this node issued: creation (BOLT 11 via bolt11.py), route hints, lookup, paid
state, waiters.

Layer: payments. Imports channel (ops), services, wire, keys, core, and payments/gossip_view.

payments/htlcs.py calls `check_payment(...)` when an HTLC for us arrives and `mark_paid(...)`
once it is irrevocably ours; `mark_paid` persists before waking `waitinvoice` callers.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from typing import Any

from ..channel.ops import ChannelOps
from ..core.log import get_logger
from ..keys.derivation import invoice_secrets
from ..services import Services
from ..wire import bolt11
from .gossip_view import GossipView

log = get_logger("invoices")

DEFAULT_EXPIRY_S = 7 * 24 * 3600  # Core Lightning's default
MAX_DESCRIPTION_BYTES = 639  # what a BOLT 11 `d` field holds


class InvoiceError(Exception):
    """An invoice cannot be created or found."""


class InvoiceNotFound(InvoiceError):
    """No invoice has that label."""


class InvoiceStatusMismatch(InvoiceError):
    """The invoice's status is not the one the caller expected (delinvoice)."""

    def __init__(self, actual: str, expected: str) -> None:
        super().__init__(f"Invoice status is {actual} not {expected}")
        self.actual = actual
        self.expected = expected


class PaymentRejected(Exception):
    """An incoming payment does not match an invoice of ours (BOLT 4:
    incorrect_or_unknown_payment_details)."""


@dataclass(frozen=True)
class InvoiceRecord:
    label: str
    bolt11: str
    payment_hash: bytes
    payment_preimage: bytes
    payment_secret: bytes
    amount_msat: int | None
    description: str
    created_at: int
    expires_at: int
    created_index: int
    paid_at: int | None
    amount_received_msat: int | None
    min_final_cltv_expiry: int
    pay_index: int | None = None
    """Core Lightning's pay_index: 1 for the first invoice paid on this node, 2 for the next..."""
    description_removed: bool = False

    def status(self, now: float | None = None) -> str:
        if self.paid_at is not None:
            return "paid"
        return "expired" if (time.time() if now is None else now) > self.expires_at else "unpaid"

    def to_rpc(self) -> dict[str, Any]:
        """listinvoices entry (Core Lightning's field names)."""
        entry: dict[str, Any] = {
            "label": self.label, "bolt11": self.bolt11, "payment_hash": self.payment_hash.hex(),
            "status": self.status(), "expires_at": self.expires_at,
            "created_index": self.created_index,
        }
        if not self.description_removed:
            entry["description"] = self.description
        if self.amount_msat is not None:
            entry["amount_msat"] = self.amount_msat
        if self.paid_at is not None:
            entry.update(paid_at=self.paid_at, payment_preimage=self.payment_preimage.hex(),
                         amount_received_msat=self.amount_received_msat)
            if self.pay_index is not None:
                entry["pay_index"] = self.pay_index
        return entry


_COLUMNS = ("label, bolt11, payment_hash, payment_preimage, payment_secret, amount_msat, description, "
            "created_at, expires_at, created_index, paid_at, amount_received_msat, min_final_cltv_expiry, "
            "pay_index, description_removed")


class InvoiceStore:
    """Table `invoices`; status changes wake `wait_paid` callers."""

    def __init__(self, services: Services, channels: ChannelOps, gossip: GossipView) -> None:
        self.services = services
        self.channels = channels
        self.gossip = gossip
        self.db = services.db
        self.db.migrate("invoices", [
            "CREATE TABLE invoices (created_index INTEGER PRIMARY KEY AUTOINCREMENT, "
            "label TEXT NOT NULL UNIQUE, bolt11 TEXT NOT NULL, payment_hash BLOB NOT NULL UNIQUE, "
            "payment_preimage BLOB NOT NULL, payment_secret BLOB NOT NULL, amount_msat INTEGER, "
            "description TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, "
            "paid_at INTEGER, amount_received_msat INTEGER, min_final_cltv_expiry INTEGER NOT NULL)",
            # pay_index (waitanyinvoice), numbering invoices paid before it in order of payment
            "ALTER TABLE invoices ADD COLUMN pay_index INTEGER;"
            "ALTER TABLE invoices ADD COLUMN description_removed INTEGER NOT NULL DEFAULT 0;"
            "UPDATE invoices SET pay_index = (SELECT COUNT(*) FROM invoices AS earlier "
            "WHERE earlier.paid_at IS NOT NULL AND (earlier.paid_at < invoices.paid_at OR "
            "(earlier.paid_at = invoices.paid_at AND earlier.created_index <= invoices.created_index))) "
            "WHERE paid_at IS NOT NULL",
        ])
        self._changed = asyncio.Condition()

    def _next_index(self) -> int:
        """The number the next invoice gets (`created_index`)."""
        rows = self.db.query("SELECT seq FROM sqlite_sequence WHERE name = 'invoices'")
        return (int(rows[0][0]) if rows else 0) + 1

    def create(self, *, amount_msat: int | None, label: str, description: str,
               expiry_s: int = DEFAULT_EXPIRY_S, preimage: bytes | None = None,
               description_hash_only: bool = False) -> InvoiceRecord:
        """Create, sign and store an invoice. Raises InvoiceError (duplicate label/preimage).
        With `description_hash_only` the invoice carries the description's SHA256 (`h`), the
        record keeps the description itself."""
        if self.by_label(label) is not None:
            raise InvoiceError(f"Duplicate label '{label}'")
        # derived from the seed and the invoice's number: reproducible, never reused (the
        # number comes from AUTOINCREMENT, which never gives a deleted invoice's number again)
        derived_preimage, payment_secret = invoice_secrets(self.services.identity.seed,
                                                           self._next_index())
        preimage = preimage if preimage is not None else derived_preimage
        payment_hash = hashlib.sha256(preimage).digest()
        if self.lookup(payment_hash) is not None:
            raise InvoiceError("preimage already used by another invoice")
        created_at = int(time.time())
        min_final = self.services.config.cltv_final
        route_hints = self.route_hints(amount_msat)
        invoice = bolt11.create_invoice(
            private_key=self.services.identity.node_privkey, network=self.services.identity.network,
            payment_hash=payment_hash, payment_secret=payment_secret, amount_msat=amount_msat,
            description=None if description_hash_only else description,
            description_hash=(hashlib.sha256(description.encode()).digest()
                              if description_hash_only else None),
            expiry=expiry_s, min_final_cltv_expiry=min_final,
            route_hints=route_hints, timestamp=created_at)
        self.db.execute(
            "INSERT INTO invoices (label, bolt11, payment_hash, payment_preimage, payment_secret, "
            "amount_msat, description, created_at, expires_at, min_final_cltv_expiry) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (label, invoice, payment_hash, preimage, payment_secret, amount_msat, description,
             created_at, created_at + expiry_s, min_final))
        log.info("invoice %r created: %s msat, hash %s", label,
                 "any" if amount_msat is None else amount_msat, payment_hash.hex())
        record = self.lookup(payment_hash)
        if record is None:
            raise InvoiceError(f"invoice {label!r} vanished after insert")
        return record

    def create_keysend(self, preimage: bytes, *, amount_msat: int, description: str) -> InvoiceRecord:
        """The invoice recording a keysend we accept (label keysend-<seconds>.<nanoseconds>, as
        Core Lightning names them); a description too long for a BOLT 11 `d` goes in as its hash."""
        now = time.time_ns()
        return self.create(amount_msat=amount_msat, label=f"keysend-{now // 10**9}.{now % 10**9:09d}",
                           description=description, preimage=preimage,
                           description_hash_only=len(description.encode()) > MAX_DESCRIPTION_BYTES)

    def route_hints(self, amount_msat: int | None) -> list[list[bolt11.RouteHintHop]]:
        """BOLT 11 route hints for our private channels whose peer is connected and can send us
        the amount (gossip's view of each peer's policy, the channels' view of what is usable)."""
        usable = {c.short_channel_id: c for c in self.channels.usable_channels()}
        hints = []
        for hint in self.gossip.private_route_hints():
            chan = usable.get(hint[-1].short_channel_id) if hint else None
            if chan is None:
                continue
            if amount_msat is not None and chan.receivable_msat() < amount_msat:
                continue
            hints.append(hint)
        return hints

    def _one(self, where: str, params: tuple[Any, ...]) -> InvoiceRecord | None:
        rows = self.db.query(f"SELECT {_COLUMNS} FROM invoices WHERE {where}", params)
        return _record(rows[0]) if rows else None

    def lookup(self, payment_hash: bytes) -> InvoiceRecord | None:
        return self._one("payment_hash = ?", (payment_hash,))

    def by_label(self, label: str) -> InvoiceRecord | None:
        return self._one("label = ?", (label,))

    def list(self) -> list[InvoiceRecord]:
        rows = self.db.query(f"SELECT {_COLUMNS} FROM invoices ORDER BY created_index")
        return [_record(row) for row in rows]

    def check_payment(self, payment_hash: bytes, payment_secret: bytes | None, amount_msat: int,
                      cltv_expiry: int, blockheight: int) -> InvoiceRecord:
        """The invoice an incoming HTLC pays, or PaymentRejected saying why not (BOLT 4 rules:
        known hash, matching secret, amount >= invoice amount and <= twice it, final CLTV
        far enough, not expired)."""
        record = self.lookup(payment_hash)
        if record is None:
            raise PaymentRejected(f"unknown payment hash {payment_hash.hex()}")
        if payment_secret != record.payment_secret:
            raise PaymentRejected(f"wrong payment_secret for invoice {record.label!r}")
        if record.amount_msat is not None and not record.amount_msat <= amount_msat <= 2 * record.amount_msat:
            raise PaymentRejected(f"amount {amount_msat} msat does not match invoice "
                                  f"{record.label!r} ({record.amount_msat} msat)")
        if cltv_expiry < blockheight + record.min_final_cltv_expiry:
            raise PaymentRejected(f"cltv_expiry {cltv_expiry} below height {blockheight} + "
                                  f"min_final_cltv_expiry {record.min_final_cltv_expiry}")
        if record.status() == "expired":
            raise PaymentRejected(f"invoice {record.label!r} expired")
        return record

    async def mark_paid(self, payment_hash: bytes, amount_received_msat: int) -> InvoiceRecord:
        """Persist the invoice as paid (once), then wake waiters."""
        self.db.execute(
            "UPDATE invoices SET paid_at = ?, amount_received_msat = ?, "
            "pay_index = (SELECT COALESCE(MAX(pay_index), 0) + 1 FROM invoices) "
            "WHERE payment_hash = ? AND paid_at IS NULL",
            (int(time.time()), amount_received_msat, payment_hash))
        record = self.lookup(payment_hash)
        if record is None:
            raise InvoiceError(f"no invoice with payment hash {payment_hash.hex()}")
        log.info("invoice %r paid: %d msat", record.label, amount_received_msat)
        async with self._changed:
            self._changed.notify_all()
        return record

    async def wait_settled(self, label: str) -> InvoiceRecord:
        """Wait until the invoice is paid or expired; returns it (check `status()`)."""
        async with self._changed:
            while True:
                record = self.by_label(label)
                if record is None:
                    raise InvoiceError(f"Unknown invoice '{label}'")
                if record.status() != "unpaid":
                    return record
                remaining = record.expires_at - time.time() + 0.01
                try:
                    await asyncio.wait_for(self._changed.wait(), max(remaining, 0.01))
                except asyncio.TimeoutError:
                    pass

    async def wait_any_paid(self, after_pay_index: int, timeout_s: float | None) -> InvoiceRecord | None:
        """The first invoice paid with a pay_index above `after_pay_index`, waiting for one up to
        `timeout_s` (None: forever); None when the time ran out."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        async with self._changed:
            while True:
                record = self._one("pay_index > ? ORDER BY pay_index LIMIT 1", (after_pay_index,))
                if record is not None:
                    return record
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return None
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except asyncio.TimeoutError:
                    return None

    async def delete(self, label: str, *, expected_status: str, description_only: bool) -> InvoiceRecord:
        """Delete the invoice `label` (or only its description) if its status is
        `expected_status`; returns it as it was. Raises InvoiceNotFound, InvoiceStatusMismatch
        or InvoiceError (description already removed)."""
        record = self.by_label(label)
        if record is None:
            raise InvoiceNotFound("Unknown invoice")
        actual = record.status()
        if actual != expected_status:
            raise InvoiceStatusMismatch(actual, expected_status)
        if description_only:
            if record.description_removed:
                raise InvoiceError("Invoice description already removed")
            self.db.execute("UPDATE invoices SET description_removed = 1 WHERE label = ?", (label,))
            updated = self.by_label(label)
            return updated if updated is not None else record
        self.db.execute("DELETE FROM invoices WHERE label = ?", (label,))
        log.info("invoice %r deleted (%s)", label, actual)
        async with self._changed:
            self._changed.notify_all()
        return record

def _record(row: Any) -> InvoiceRecord:
    return InvoiceRecord(
        label=row["label"], bolt11=row["bolt11"], payment_hash=bytes(row["payment_hash"]),
        payment_preimage=bytes(row["payment_preimage"]), payment_secret=bytes(row["payment_secret"]),
        amount_msat=row["amount_msat"], description=row["description"], created_at=row["created_at"],
        expires_at=row["expires_at"], created_index=row["created_index"], paid_at=row["paid_at"],
        amount_received_msat=row["amount_received_msat"],
        min_final_cltv_expiry=row["min_final_cltv_expiry"], pay_index=row["pay_index"],
        description_removed=bool(row["description_removed"]),
    )
