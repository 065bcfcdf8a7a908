"""sqlite store: durable block log, active chain, transaction index and UTXO set."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from .primitives import Block
from .script import is_unspendable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS block_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    hash BLOB UNIQUE NOT NULL,
    raw BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS chain (
    height INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS txs (
    txid BLOB PRIMARY KEY,
    block_hash BLOB NOT NULL,
    height INTEGER NOT NULL,
    pos INTEGER NOT NULL,
    raw BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS txs_block ON txs(block_hash);
CREATE TABLE IF NOT EXISTS utxos (
    txid BLOB NOT NULL,
    vout INTEGER NOT NULL,
    value INTEGER NOT NULL,
    spk BLOB NOT NULL,
    height INTEGER NOT NULL,
    coinbase INTEGER NOT NULL,
    spent_txid BLOB,
    spent_height INTEGER,
    PRIMARY KEY (txid, vout)
);
CREATE INDEX IF NOT EXISTS utxos_spk ON utxos(spk);
CREATE INDEX IF NOT EXISTS utxos_height ON utxos(height);
CREATE INDEX IF NOT EXISTS utxos_spent_height ON utxos(spent_height);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


@dataclass(frozen=True)
class Coin:
    """An unspent output of the active chain."""

    value_sat: int
    script_pubkey: bytes
    height: int
    coinbase: bool


@dataclass(frozen=True)
class OutputRow:
    """An output of the active chain, spent or not (for wallet history)."""

    txid: bytes
    vout: int
    value_sat: int
    script_pubkey: bytes
    height: int
    coinbase: bool
    spent_txid: bytes | None
    spent_height: int | None


class ChainIndex:
    """All durable chain-side state; callers commit() before they answer a client."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
        self.db.execute("BEGIN")
        self.active: list[bytes] = [
            row[0] for row in self.db.execute("SELECT hash FROM chain ORDER BY height")
        ]
        self._height_of: dict[bytes, int] = {h: i for i, h in enumerate(self.active)}

    # -- transactions ---------------------------------------------------------
    def commit(self) -> None:
        """Make everything written so far durable (fsync), then open the next transaction."""
        self.db.execute("COMMIT")
        self.db.execute("BEGIN")

    def close(self) -> None:
        self.db.execute("COMMIT")
        self.db.close()

    # -- block log ----------------------------------------------------------------
    def log_block(self, block_hash: bytes, raw: bytes) -> None:
        self.db.execute("INSERT OR IGNORE INTO block_log (hash, raw) VALUES (?, ?)", (block_hash, raw))

    def logged_block(self, block_hash: bytes) -> bytes | None:
        row = self.db.execute("SELECT raw FROM block_log WHERE hash = ?", (block_hash,)).fetchone()
        return row[0] if row else None

    def logged_hashes(self) -> list[bytes]:
        """Hashes of every accepted block, in acceptance order (parents first)."""
        return [bytes(row[0]) for row in self.db.execute("SELECT hash FROM block_log ORDER BY seq")]

    def active_times(self) -> list[int | None]:
        """Header time of each active-chain block from the block log (None where not logged)."""
        rows = self.db.execute(
            "SELECT substr(b.raw, 69, 4) FROM chain c LEFT JOIN block_log b ON b.hash = c.hash "
            "ORDER BY c.height"
        )
        return [int.from_bytes(row[0], "little") if row[0] is not None else None for row in rows]

    def logged_parents(self) -> dict[bytes, bytes]:
        """block hash -> parent hash, for every accepted block."""
        return {
            bytes(row[0]): bytes(row[1])
            for row in self.db.execute("SELECT hash, substr(raw, 5, 32) FROM block_log")
        }

    # -- active chain -----------------------------------------------------------------
    @property
    def tip_height(self) -> int:
        return len(self.active) - 1

    def height_of(self, block_hash: bytes) -> int | None:
        """Height of a block on the active chain, None when it is not on it."""
        return self._height_of.get(block_hash)

    def connect_block(self, height: int, block_hash: bytes, block: Block) -> None:
        if height != len(self.active):
            raise RuntimeError(f"connect at height {height} but index tip is {self.tip_height}")
        db = self.db
        db.execute("INSERT OR REPLACE INTO chain (height, hash) VALUES (?, ?)", (height, block_hash))
        spends: list[tuple[bytes, int, bytes, int]] = []
        outputs: list[tuple[bytes, int, int, bytes, int, int]] = []
        txrows: list[tuple[bytes, bytes, int, int, bytes]] = []
        for pos, tx in enumerate(block.txs):
            txid = tx.txid
            coinbase = pos == 0
            if not coinbase:
                spends.extend((txid, height, txin.prev_txid, txin.prev_vout) for txin in tx.vin)
            outputs.extend(
                (txid, n, out.value_sat, out.script_pubkey, height, int(coinbase))
                for n, out in enumerate(tx.vout)
                if not is_unspendable(out.script_pubkey)
            )
            txrows.append((txid, block_hash, height, pos, tx.serialize()))
        # outputs first: a transaction may spend an output created earlier in the same block
        db.executemany(
            "INSERT OR REPLACE INTO utxos (txid, vout, value, spk, height, coinbase) VALUES (?,?,?,?,?,?)",
            outputs,
        )
        db.executemany(
            "UPDATE utxos SET spent_txid = ?, spent_height = ? WHERE txid = ? AND vout = ?", spends
        )
        db.executemany("INSERT OR REPLACE INTO txs (txid, block_hash, height, pos, raw) VALUES (?,?,?,?,?)", txrows)
        self.active.append(block_hash)
        self._height_of[block_hash] = height

    def disconnect_tip(self) -> bytes:
        """Undo the tip block; returns its hash."""
        height = self.tip_height
        if height <= 0:
            raise RuntimeError("cannot disconnect the genesis block")
        block_hash = self.active[height]
        db = self.db
        db.execute("UPDATE utxos SET spent_txid = NULL, spent_height = NULL WHERE spent_height = ?", (height,))
        db.execute("DELETE FROM utxos WHERE height = ?", (height,))
        db.execute("DELETE FROM txs WHERE block_hash = ?", (block_hash,))
        db.execute("DELETE FROM chain WHERE height = ?", (height,))
        self.active.pop()
        del self._height_of[block_hash]
        return block_hash

    def set_genesis(self, block_hash: bytes, block: Block) -> None:
        """Record the genesis block (its coinbase is not spendable, so it adds no UTXO)."""
        self.db.execute("INSERT OR REPLACE INTO chain (height, hash) VALUES (0, ?)", (block_hash,))
        self.active = [block_hash]
        self._height_of = {block_hash: 0}

    # -- queries ------------------------------------------------------------------------
    def get_coin(self, txid: bytes, vout: int) -> Coin | None:
        row = self.db.execute(
            "SELECT value, spk, height, coinbase FROM utxos WHERE txid = ? AND vout = ? AND spent_txid IS NULL",
            (txid, vout),
        ).fetchone()
        return Coin(row[0], row[1], row[2], bool(row[3])) if row else None

    def get_output(self, txid: bytes, vout: int) -> OutputRow | None:
        row = self.db.execute(
            "SELECT txid, vout, value, spk, height, coinbase, spent_txid, spent_height FROM utxos "
            "WHERE txid = ? AND vout = ?",
            (txid, vout),
        ).fetchone()
        return OutputRow(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6], row[7]) if row else None

    def has_unspent_outputs(self, txid: bytes) -> bool:
        return self.db.execute(
            "SELECT 1 FROM utxos WHERE txid = ? AND spent_txid IS NULL LIMIT 1", (txid,)
        ).fetchone() is not None

    def get_tx(self, txid: bytes) -> tuple[bytes, bytes, int, int] | None:
        """(raw, block_hash, height, position) of a confirmed transaction."""
        row = self.db.execute("SELECT raw, block_hash, height, pos FROM txs WHERE txid = ?", (txid,)).fetchone()
        return (row[0], row[1], row[2], row[3]) if row else None

    def outputs_for_scripts(self, spks: list[bytes], include_spent: bool = False) -> list[OutputRow]:
        rows: list[OutputRow] = []
        query = (
            "SELECT txid, vout, value, spk, height, coinbase, spent_txid, spent_height FROM utxos "
            "WHERE spk IN ({})" + ("" if include_spent else " AND spent_txid IS NULL")
        )
        for start in range(0, len(spks), 500):
            chunk = spks[start:start + 500]
            sql = query.format(",".join("?" * len(chunk)))
            rows.extend(
                OutputRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7])
                for r in self.db.execute(sql, chunk)
            )
        return rows

    def utxo_stats(self) -> tuple[int, int]:
        row = self.db.execute("SELECT COUNT(*), COALESCE(SUM(value), 0) FROM utxos WHERE spent_txid IS NULL").fetchone()
        return row[0], row[1]

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
