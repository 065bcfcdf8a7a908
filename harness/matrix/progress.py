"""The matrix's progress on the terminal: a line per cell as it starts and as it ends,
with how many are done, running and left."""
from __future__ import annotations

import threading
from typing import TextIO

from lnharness.matrix.plan import CellSpec
from lnharness.matrix.report import PASSED, CellResult

LABELS = {"passed": "pass", "failed": "FAIL", "timed_out": "TIMEOUT", "cancelled": "cancel"}


class Progress:
    """Prints each cell's start and end to `out`, with the counts so far."""

    def __init__(self, total: int, out: TextIO):
        self.total = total
        self.out = out
        self.done = 0
        self.running = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._width = len(str(total))

    def _counts(self) -> str:
        left = self.total - self.done - self.running
        return f"{self.done:>{self._width}}/{self.total} done, {self.running} running, {left} left"

    def started(self, spec: CellSpec) -> None:
        with self._lock:
            self.running += 1
            print(f"  start   {spec.scenario:<12} {' → '.join(spec.impls):<28} "
                  f"[{self._counts()}]", file=self.out, flush=True)

    def finished(self, result: CellResult) -> None:
        with self._lock:
            self.running = max(0, self.running - 1)
            self.done += 1
            self.failed += result.outcome != PASSED
            label = LABELS.get(result.outcome, result.outcome)
            where = f"  at {result.failing_step!r}" if result.failing_step else ""
            print(f"  {label:<7} {result.scenario:<12} {' → '.join(result.impls):<28} "
                  f"{result.seconds:6.1f} s [{self._counts()}]{where}", file=self.out, flush=True)
