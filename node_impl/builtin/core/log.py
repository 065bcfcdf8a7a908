"""Logging for the built-in node: one line per event, `TIME LEVEL subsystem: message`.

Layer: core. Imports nothing of the node.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

LOGGER_ROOT = "lnbuiltin"


class _LineFormatter(logging.Formatter):
    """`2026-11-25T22:00:00.123Z INFO peer: message` (UTC, millisecond precision)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        subsystem = record.name.removeprefix(LOGGER_ROOT + ".")
        message = record.getMessage().replace("\n", " | ")
        line = f"{stamp}.{int(record.msecs):03d}Z {record.levelname} {subsystem}: {message}"
        if record.exc_info:
            trace = self.formatException(record.exc_info).replace("\n", " | ")
            line = f"{line} | {trace}"
        return line


def setup_logging(log_files: list[str], level: str) -> None:
    """Send every subsystem's log to the given files ('-' means stderr) at `level`."""
    root = logging.getLogger(LOGGER_ROOT)
    root.handlers.clear()
    root.propagate = False
    root.setLevel(level.upper())
    formatter = _LineFormatter()
    for target in log_files:
        if target == "-":
            handler: logging.Handler = logging.StreamHandler(sys.stderr)
        else:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(target, mode="a", encoding="utf-8")
        handler.setFormatter(formatter)
        root.addHandler(handler)


def get_logger(subsystem: str) -> logging.Logger:
    """The logger of one subsystem (e.g. 'peer', 'chain', 'rpc')."""
    return logging.getLogger(f"{LOGGER_ROOT}.{subsystem}")


def flush_logs() -> None:
    """Flush every log handler (used before exit)."""
    for handler in logging.getLogger(LOGGER_ROOT).handlers:
        handler.flush()
