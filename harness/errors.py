"""Exceptions raised by the harness. Every one names what went wrong."""
from __future__ import annotations

from typing import Any


class LnhError(Exception):
    """Base class of every lnharness error."""


class WaitTimeout(LnhError, TimeoutError):
    """A `wait_for` ran out of time; the message says what was awaited and the last value seen."""

    def __init__(self, what: str, timeout: float, last: Any = None, hint: str | None = None):
        self.what = what
        self.timeout = timeout
        self.last = last
        self.hint = hint
        msg = f"timed out after {timeout:g}s waiting for {what}; last value seen: {last!r}"
        if hint:
            msg += f"; {hint}"
        super().__init__(msg)


class ProcessError(LnhError):
    """A supervised process could not start, exited unexpectedly, or failed to stop."""

    def __init__(self, message: str, *, returncode: int | None = None,
                 log_tail: list[str] | None = None, log_path: str | None = None):
        self.returncode = returncode
        self.log_tail = list(log_tail or [])
        self.log_path = log_path
        text = message
        if log_path:
            text += f" (log: {log_path})"
        if self.log_tail:
            text += "\n  last log lines:\n" + "\n".join("    " + line for line in self.log_tail)
        super().__init__(text)


class RpcError(LnhError):
    """A JSON-RPC call answered with an error."""

    def __init__(self, method: str, code: int | None, message: str, *, peer: str | None = None):
        self.method = method
        self.code = code
        self.message = message
        self.peer = peer
        where = f" on {peer}" if peer else ""
        super().__init__(f"RPC {method}{where} failed: [{code}] {message}")


class UnsafeDirectoryError(LnhError, PermissionError):
    """A directory the harness would put secrets in belongs to another user (or is a link)."""


class PortError(LnhError):
    """No free port could be reserved, or a port is already in use."""


class UnavailableError(LnhError):
    """An implementation or backend cannot run here; the message gives the reason."""
