"""The node's sqlite database (DIR/node.sqlite3): WAL, synchronous=NORMAL, per-component schemas.

Layer: core. Imports nothing of the node.

In WAL mode synchronous=NORMAL makes every commit durable against the node's process dying
(kill -9 included: the written pages are the OS's); only an OS crash or power loss could
drop the last commits. That is the failure model of a test harness, and it takes the
fsync per commit (several ms each, five per payment) off the payment path.

Each component (wallet, invoices, channels, ...) owns its tables and brings them up to date with
`storage.migrate(component, [sql, ...])`; applied steps are counted in `schema_versions`.
Statements run in autocommit mode unless grouped with `with storage.transaction():`.
Written from the event loop thread only.

The database holds the node's keys' material and channel secrets: it is mode 0600 (made so
when an older one is opened), and SQLite gives its -wal and -shm files the database's mode.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DB_FILENAME = "node.sqlite3"


class Storage:
    """One sqlite connection; commit happens before a message that depends on it is sent."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        os.chmod(path, 0o600)
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        self.conn.execute("CREATE TABLE IF NOT EXISTS vars (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._depth = 0

    def migrate(self, component: str, steps: Sequence[str]) -> None:
        """Apply the steps of `component` not applied yet (each a SQL script), in order."""
        row = self.conn.execute(
            "SELECT version FROM schema_versions WHERE component = ?", (component,)
        ).fetchone()
        done = row["version"] if row else 0
        if done > len(steps):
            raise RuntimeError(
                f"{self.path}: schema of {component!r} is at version {done}, "
                f"newer than this program knows ({len(steps)})"
            )
        for version in range(done + 1, len(steps) + 1):
            with self.transaction():
                for statement in _split_statements(steps[version - 1]):
                    self.conn.execute(statement)
                self.conn.execute(
                    "INSERT INTO schema_versions (component, version) VALUES (?, ?) "
                    "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                    (component, version),
                )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Group statements atomically; nests (only the outermost commits)."""
        if self._depth == 0:
            self.conn.execute("BEGIN IMMEDIATE")
        self._depth += 1
        try:
            yield self.conn
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self.conn.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self.conn.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def get_var(self, name: str) -> str | None:
        row = self.conn.execute("SELECT value FROM vars WHERE name = ?", (name,)).fetchone()
        return row["value"] if row else None

    def set_var(self, name: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO vars (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def close(self) -> None:
        self.conn.close()


def _split_statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
