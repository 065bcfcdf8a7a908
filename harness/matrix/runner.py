"""Running the cells: each in its own process and directory, `jobs` at a time, each within
its timeout; a cell that fails, hangs or dies never stops the others."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lnharness.dirs import make_test_dir, remove_test_dir
from lnharness.matrix.cell import LOG_FILE, CellExit, CellRequest, last_step
from lnharness.matrix.plan import CellSpec
from lnharness.matrix.report import CANCELLED, FAILED, PASSED, TIMED_OUT, CellResult

#: how long a cell stopped for its timeout may take to tear down before it is killed
TEARDOWN_GRACE_S = 90.0
#: log lines kept per process in a failed cell's log tail file
TAIL_LINES = 40
LOGS_DIR = "logs"


@dataclass(frozen=True)
class RunOptions:
    """How the cells run."""
    chain: str                 # a chain backend name (not `auto`: resolved once for all cells)
    out: Path                  # the report's directory; failed cells' log tails go to out/logs
    jobs: int = 1
    cell_timeout: float = 600.0
    keep_dirs: bool = False


class Listener(Protocol):
    """Told as cells start and finish (the terminal progress)."""

    def started(self, spec: CellSpec) -> None: ...

    def finished(self, result: CellResult) -> None: ...


def tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    """The last `lines` lines of the file at `path` (none if it is missing)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 200 * lines))
            return handle.read().decode(errors="replace").splitlines()[-lines:]
    except FileNotFoundError:
        return []


class Runner:
    """Runs cells in parallel; `run()` returns their results in the order given."""

    def __init__(self, cells: Sequence[CellSpec], options: RunOptions, listener: Listener):
        if options.jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {options.jobs}")
        if options.cell_timeout <= 0:
            raise ValueError(f"the cell timeout must be positive, got {options.cell_timeout}")
        self.cells = list(cells)
        self.options = options
        self.listener = listener
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[int, subprocess.Popen[bytes]] = {}

    def run(self) -> list[CellResult]:
        results: dict[int, CellResult] = {}
        pool = ThreadPoolExecutor(max_workers=self.options.jobs, thread_name_prefix="lnh-cell")
        futures = {pool.submit(self._run_and_tell, spec): i for i, spec in enumerate(self.cells)}
        try:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
        except KeyboardInterrupt:
            self.cancel()
            for future, i in futures.items():
                if i not in results:
                    results[i] = future.result()
        finally:
            pool.shutdown(wait=True)
        return [results[i] for i in range(len(self.cells))]

    def cancel(self) -> None:
        """Stop: cells not started yet are cancelled, running ones stopped (they tear down)."""
        self._cancelled.set()
        with self._lock:
            for proc in self._running.values():
                proc.send_signal(signal.SIGTERM)

    def _run_and_tell(self, spec: CellSpec) -> CellResult:
        # told from the worker, before it takes the next cell, so the counts stay right
        result = self._run_cell(spec)
        if result.outcome != CANCELLED:
            self.listener.finished(result)
        return result

    def _run_cell(self, spec: CellSpec) -> CellResult:
        if self._cancelled.is_set():
            return CellResult(spec.scenario, spec.impls, CANCELLED, 0.0)
        self.listener.started(spec)
        directory = make_test_dir(f"matrix-{spec.scenario}-{'-'.join(spec.impls)}")
        request = CellRequest(spec.scenario, spec.impls, self.options.chain, str(directory))
        started = time.monotonic()
        timed_out = self._run_process(request)
        seconds = round(time.monotonic() - started, 1)
        reported = CellExit.read(directory)
        if timed_out:
            outcome = TIMED_OUT
        elif self._cancelled.is_set() and (reported is None or reported.outcome != PASSED):
            outcome = CANCELLED
        else:
            outcome = reported.outcome if reported is not None else FAILED
        step = reported.failing_step if reported is not None else last_step(directory)
        error = reported.error if reported is not None else (
            f"the cell process ended without a result; see {directory / LOG_FILE}")
        if timed_out:
            error = (f"timed out after {self.options.cell_timeout:g}s (at step {step!r})"
                     + (f"; {error}" if error else ""))
        if outcome == PASSED:
            if not self.options.keep_dirs:
                remove_test_dir(directory)
            kept = str(directory) if self.options.keep_dirs else None
            return CellResult(spec.scenario, spec.impls, outcome, seconds, directory=kept)
        log_tail = self._write_log_tail(spec, directory, reported)
        return CellResult(spec.scenario, spec.impls, outcome, seconds, failing_step=step,
                          error=error, directory=str(directory), log_tail=log_tail)

    def _run_process(self, request: CellRequest) -> bool:
        """Run the cell's process to its end; True if it had to be stopped for its timeout."""
        spec_path = request.write()
        with open(Path(request.directory) / LOG_FILE, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "lnharness.matrix.cell", str(spec_path)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        with self._lock:
            self._running[proc.pid] = proc
            if self._cancelled.is_set():
                proc.send_signal(signal.SIGTERM)
        try:
            try:
                proc.wait(self.options.cell_timeout)
                return False
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)  # the cell stops its scenario and tears down
            try:
                proc.wait(TEARDOWN_GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            return True
        finally:
            with self._lock:
                del self._running[proc.pid]

    def _write_log_tail(self, spec: CellSpec, directory: Path, reported: CellExit | None) -> str:
        """Write the tails of the cell's logs to out/logs/<cell>.txt; return that path
        relative to the report's directory."""
        relative = Path(LOGS_DIR) / f"{spec.scenario}-{'-'.join(spec.impls)}.txt"
        target = self.options.out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        sections = [(f"cell process ({spec.id})", directory / LOG_FILE)]
        sections += [(log.name, Path(log.path)) for log in (reported.logs if reported else ())]
        with open(target, "w") as out:
            for name, path in sections:
                out.write(f"==> {name}: {path} <==\n")
                out.write("\n".join(tail(path)) + "\n\n")
        return relative.as_posix()
