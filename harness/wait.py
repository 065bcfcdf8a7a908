"""Waiting on a condition with a timeout: the only way the harness waits."""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

from lnharness.errors import WaitTimeout

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 60.0


def default_timeout() -> float:
    """The default wait timeout in seconds: `LNH_TIMEOUT` (read now), else 60."""
    raw = os.environ.get("LNH_TIMEOUT")
    if raw is None or raw == "":
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"LNH_TIMEOUT must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"LNH_TIMEOUT must be positive, got {raw!r}")
    return value


def wait_for(predicate: Callable[[], T | None], timeout: float | None = None, *,
             what: str | None = None, interval: float = 0.002,
             hint: str | None = None, max_interval: float = 0.1) -> T:
    """Call `predicate` until it returns a truthy value and return that value.

    Polls after `interval` seconds at first, then after a tenth of the time waited so far
    (so a wait notices its condition within ~10% of its length), at most every `max_interval`
    (0.1 s: many long waits at once, say one per node of a large network, poll less
    often). On timeout raises
    `WaitTimeout` naming `what` (default: the predicate's name) and the last value seen;
    `hint` is appended (e.g. where the logs are).
    """
    if timeout is None:
        timeout = default_timeout()
    started = time.monotonic()
    deadline = started + timeout
    last: object = None
    while True:
        last = predicate()
        if last:
            return last  # type: ignore[return-value]  # truthy, so not None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            label = what or str(getattr(predicate, "__name__", repr(predicate)))
            raise WaitTimeout(label, timeout, last, hint)
        waited = time.monotonic() - started
        time.sleep(min(max(interval, waited / 10), max_interval, remaining))
