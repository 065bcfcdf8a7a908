"""One matrix cell, run in a process of its own: `python -m lnharness.matrix.cell SPEC.json`.

The cell starts its own chain and nodes in its directory, runs the scenario, tears
everything down and writes its outcome to `result.json` there; the step it is at is
kept in `step` as it goes, so a cell killed from outside still tells where it was.
SIGTERM (the runner's timeout) interrupts the scenario and the cell still tears down.
"""
from __future__ import annotations

import json
import logging
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from lnharness.backend import select_chain_backend
from lnharness.chain import Chain, start_chain
from lnharness.matrix.catalog import scenario_named
from lnharness.matrix.scenario import StepFailed, run_scenario
from lnharness.network import NodeFactory

SPEC_FILE = "cell.json"
RESULT_FILE = "result.json"
STEP_FILE = "step"
LOG_FILE = "cell.log"


@dataclass(frozen=True)
class CellRequest:
    """What the runner asks a cell process to do."""
    scenario: str
    impls: tuple[str, ...]
    chain: str
    directory: str

    def write(self) -> Path:
        path = Path(self.directory) / SPEC_FILE
        path.write_text(json.dumps(asdict(self)))
        return path

    @classmethod
    def read(cls, path: Path) -> CellRequest:
        data = json.loads(path.read_text())
        return cls(data["scenario"], tuple(data["impls"]), data["chain"], data["directory"])


@dataclass(frozen=True)
class LogFile:
    """A process log of the cell: whose, and where."""
    name: str
    path: str


@dataclass(frozen=True)
class CellExit:
    """What a cell process reports: `passed` or `failed`, where and why, and its logs."""
    outcome: str
    failing_step: str | None = None
    error: str | None = None
    logs: tuple[LogFile, ...] = field(default_factory=tuple)

    def write(self, directory: Path) -> None:
        data = asdict(self)
        (directory / RESULT_FILE).write_text(json.dumps(data, indent=1))

    @classmethod
    def read(cls, directory: Path) -> CellExit | None:
        """The result the cell wrote in `directory`, or None if it wrote none."""
        try:
            data: dict[str, Any] = json.loads((directory / RESULT_FILE).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return cls(data["outcome"], data.get("failing_step"), data.get("error"),
                   tuple(LogFile(**log) for log in data.get("logs", [])))


class CellInterrupted(Exception):
    """The runner stopped the cell (SIGTERM): its time ran out or the matrix was cancelled."""


def last_step(directory: Path) -> str | None:
    """The step the cell in `directory` was at when it last said."""
    try:
        return (directory / STEP_FILE).read_text() or None
    except FileNotFoundError:
        return None


class Cell:
    """Runs one cell in this process; `run()` returns its `CellExit`."""

    def __init__(self, request: CellRequest):
        self.request = request
        self.directory = Path(request.directory)
        self.step: str | None = None
        self.logs: list[LogFile] = []
        self.began = time.monotonic()

    def _enter(self, step: str) -> None:
        self.step = step
        (self.directory / STEP_FILE).write_text(step)
        print(f"[{time.monotonic() - self.began:7.1f} s] {step}", flush=True)

    def run(self) -> CellExit:
        failing_step: str | None = None
        error: str | None = None
        chain: Chain | None = None
        factory: NodeFactory | None = None
        try:
            self._enter("start the chain")
            chain = start_chain(self.directory, select_chain_backend(self.request.chain))
            factory = NodeFactory(self.directory, chain)
            scenario = scenario_named(self.request.scenario)
            run_scenario(scenario, factory, self.request.impls, on_step=self._enter)
        except StepFailed as exc:
            failing_step, error = exc.step, f"{type(exc.cause).__name__}: {exc.cause}"
            traceback.print_exc()
        except Exception as exc:  # outside any step: the chain, or the harness itself
            failing_step, error = self.step, f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        finally:
            problems = self._tear_down(chain, factory)
        if problems and failing_step is None:
            failing_step, error = "teardown", "\n".join(problems)
        elif problems:
            error = f"{error}\nat teardown:\n" + "\n".join(problems)
        outcome = "failed" if failing_step is not None else "passed"
        return CellExit(outcome, failing_step, error, tuple(self.logs))

    def _tear_down(self, chain: Chain | None, factory: NodeFactory | None) -> list[str]:
        """Stop the nodes and the chain; one message per problem (crash, broken log)."""
        # the timeout's SIGTERM must not interrupt the teardown it made happen
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        problems: list[str] = []
        if factory is not None:
            self.logs += [LogFile(f"{n.name} ({n.impl})", str(n.daemon.log_path))
                          for n in factory.nodes]
            problems += factory.teardown()
        if chain is not None:
            daemon = chain.backend.daemon
            self.logs.append(LogFile(f"chain ({chain.name})", str(daemon.log_path)))
            if daemon.exited_unexpectedly():
                problems.append(f"chain {chain.name} exited during the cell with code "
                                f"{daemon.returncode}")
            chain.backend.close()
        for problem in problems:
            print(problem, file=sys.stderr)
        return problems


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise CellInterrupted("stopped by the matrix runner (timeout or cancel)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the cell described by the spec file given as the only argument."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m lnharness.matrix.cell SPEC.json", file=sys.stderr)
        return 2
    request = CellRequest.read(Path(args[0]))
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _interrupt)
    result = Cell(request).run()
    result.write(Path(request.directory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
