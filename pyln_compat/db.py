"""A Core Lightning node's sqlite database, read and changed as pyln-testing's `db_query` and
`db_manip` do (its other database, PostgreSQL, lnharness does not run)."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

BUSY_TIMEOUT_MS = 5000


def query(database: Path, sql: str) -> list[dict[str, Any]]:
    """Rows of `sql` (dicts by column name), run on a consistent copy of `database` so the
    running node is neither blocked nor changed."""
    if not database.exists():
        raise FileNotFoundError(f"no database at {database}")
    copy = database.with_name(database.name + ".copy")
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as source, \
            sqlite3.connect(copy) as target:
        source.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        source.backup(target)
    try:
        with sqlite3.connect(copy) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(sql).fetchall()]
    finally:
        copy.unlink(missing_ok=True)


def manipulate(database: Path, sql: str) -> None:
    """Run and commit `sql` on `database` itself (the node should be stopped)."""
    if not database.exists():
        raise FileNotFoundError(f"no database at {database}")
    with sqlite3.connect(database) as db:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute(sql)
