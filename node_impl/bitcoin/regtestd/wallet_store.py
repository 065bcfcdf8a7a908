"""One wallet's durable state (sqlite): seed, issued keys, labels, the wallet's own transactions."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from .address import script_to_address
from .keys import WalletKey, derive_key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB);
CREATE TABLE IF NOT EXISTS keys (
    spk BLOB PRIMARY KEY,
    kind TEXT NOT NULL,
    internal INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    address TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS tx_seen (txid BLOB PRIMARY KEY, time INTEGER NOT NULL, height INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS wallet_txs (txid BLOB PRIMARY KEY, raw BLOB NOT NULL);
"""

ADDRESS_KINDS = ("bech32", "bech32m")


class WalletStoreError(Exception):
    """The wallet file is missing, unreadable or already in use."""


class WalletStore:
    """Keys are written and committed (fsync) before they are handed out."""

    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = path
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.exists():
            raise WalletStoreError(f"wallet file {path} not found")
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        os.chmod(path, 0o600)  # the seed is in clear: this user's alone, even in an old datadir
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
        seed = self._meta("seed")
        if seed is None:
            seed = os.urandom(32)
            self.db.execute("INSERT INTO meta (key, value) VALUES ('seed', ?)", (seed,))
        self.seed: bytes = bytes(seed)
        self.keys: dict[bytes, WalletKey] = {}
        self.labels: dict[bytes, str] = {}
        self.addresses: dict[str, bytes] = {}
        for spk, kind, internal, idx, address, label in self.db.execute(
            "SELECT spk, kind, internal, idx, address, label FROM keys"
        ):
            self.keys[bytes(spk)] = derive_key(self.seed, kind, bool(internal), idx)
            self.labels[bytes(spk)] = label
            self.addresses[address] = bytes(spk)
        self.tx_seen: dict[bytes, tuple[int, int]] = {
            bytes(txid): (t, h) for txid, t, h in self.db.execute("SELECT txid, time, height FROM tx_seen")
        }

    def _meta(self, key: str):
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def next_key(self, kind: str, internal: bool, label: str = "") -> WalletKey:
        """A fresh key, durably recorded before it is returned."""
        if kind not in ADDRESS_KINDS:
            raise ValueError(f"unknown address kind {kind!r}")
        counter_name = f"next/{kind}/{int(internal)}"
        index = int(self._meta(counter_name) or 0)
        key = derive_key(self.seed, kind, internal, index)
        spk = key.script_pubkey
        address = script_to_address(spk) or ""
        self.db.execute("BEGIN")
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (counter_name, str(index + 1)))
        self.db.execute(
            "INSERT OR REPLACE INTO keys (spk, kind, internal, idx, address, label) VALUES (?,?,?,?,?,?)",
            (spk, kind, int(internal), index, address, label),
        )
        self.db.execute("COMMIT")
        self.keys[spk] = key
        self.labels[spk] = label
        self.addresses[address] = spk
        return key

    def note_tx_seen(self, txid: bytes, when: int, tip_height: int) -> tuple[int, int]:
        """(time, tip height) when the wallet first saw txid unconfirmed (kept across restarts)."""
        known = self.tx_seen.get(txid)
        if known is not None:
            return known
        self.tx_seen[txid] = (when, tip_height)
        self.db.execute("INSERT OR IGNORE INTO tx_seen (txid, time, height) VALUES (?, ?, ?)",
                        (txid, when, tip_height))
        return when, tip_height

    def remember_tx(self, txid: bytes, raw: bytes) -> None:
        """Record a transaction the wallet sent, durably (fsync) before it returns."""
        self.db.execute("INSERT OR IGNORE INTO wallet_txs (txid, raw) VALUES (?, ?)", (txid, raw))

    def forget_tx(self, txid: bytes) -> None:
        """Stop resubmitting a transaction (abandoned, or deep in the chain)."""
        self.db.execute("DELETE FROM wallet_txs WHERE txid = ?", (txid,))

    def remembered_txs(self) -> list[tuple[bytes, bytes]]:
        """(txid, raw) of the wallet's own transactions, in the order they were sent."""
        return [(bytes(t), bytes(r)) for t, r in self.db.execute("SELECT txid, raw FROM wallet_txs ORDER BY rowid")]

    def key_count(self) -> int:
        return len(self.keys)

    def close(self) -> None:
        self.db.close()
