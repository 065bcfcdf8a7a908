"""The matrix's result: what ran, on what, and each cell's outcome; `matrix.json` is its
serialized form (`MatrixReport.to_json` / `from_json`)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lnharness.matrix.plan import cell_id
from lnharness.results import Availability

FORMAT_VERSION = 1
PASSED, FAILED, TIMED_OUT, CANCELLED = "passed", "failed", "timed_out", "cancelled"
OUTCOMES = (PASSED, FAILED, TIMED_OUT, CANCELLED)


@dataclass(frozen=True)
class CellResult:
    """How one cell ended.

    `failing_step` names the step that failed (or was running when the time ran out);
    `directory` is the cell's kept directory (None once removed, after a pass);
    `log_tail` is the path, relative to the report's directory, of the file holding the
    tails of the cell's logs (failures only).
    """
    scenario: str
    impls: tuple[str, ...]
    outcome: str
    seconds: float
    failing_step: str | None = None
    error: str | None = None
    directory: str | None = None
    log_tail: str | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}; valid: {', '.join(OUTCOMES)}")

    @property
    def id(self) -> str:
        return cell_id(self.scenario, self.impls)

    @property
    def failed(self) -> bool:
        return self.outcome in (FAILED, TIMED_OUT)

    def headline(self, limit: int = 300) -> str:
        """The first line of the error, cut at `limit` characters ('' without an error)."""
        lines = (self.error or "").strip().splitlines()
        line = lines[0] if lines else ""
        return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True)
class ScenarioInfo:
    """A scenario as the report describes it."""
    name: str
    nodes: int
    checks: str


@dataclass(frozen=True)
class MatrixReport:
    """A whole matrix run."""
    started: str                       # ISO 8601, UTC
    seconds: float
    chain: str                         # the backend's name (`auto` resolved)
    chain_detail: str
    implementations: tuple[Availability, ...]   # the ones asked for, available or not
    scenarios: tuple[ScenarioInfo, ...]
    cells: tuple[CellResult, ...]
    jobs: int = 1
    cell_timeout: float = 0.0

    @property
    def available(self) -> list[Availability]:
        return [a for a in self.implementations if a.available]

    @property
    def unavailable(self) -> list[Availability]:
        return [a for a in self.implementations if not a.available]

    @property
    def failed(self) -> bool:
        """Whether any cell failed or timed out."""
        return any(c.failed for c in self.cells)

    def counts(self) -> dict[str, int]:
        """Cells per outcome (every outcome listed, zeros included)."""
        return {o: sum(c.outcome == o for c in self.cells) for o in OUTCOMES}

    def summary(self) -> str:
        """One line: cells per outcome, total time, jobs and chain."""
        parts = [f"{n} {outcome.replace('_', ' ')}" for outcome, n in self.counts().items() if n]
        return (f"{len(self.cells)} cells: {', '.join(parts) or 'none'} in {self.seconds:.0f} s "
                f"(-j {self.jobs}, chain {self.chain})")

    def cell(self, scenario: str, impls: tuple[str, ...]) -> CellResult | None:
        return next((c for c in self.cells if c.scenario == scenario and c.impls == impls), None)

    # -- matrix.json -------------------------------------------------------------------
    def to_json(self) -> str:
        data: dict[str, Any] = {"format": FORMAT_VERSION, **asdict(self)}
        data["summary"] = self.counts()
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> MatrixReport:
        data = json.loads(text)
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"matrix.json format {data.get('format')!r}, expected {FORMAT_VERSION}")
        return cls(
            started=data["started"], seconds=data["seconds"], chain=data["chain"],
            chain_detail=data["chain_detail"],
            implementations=tuple(Availability(**a) for a in data["implementations"]),
            scenarios=tuple(ScenarioInfo(**s) for s in data["scenarios"]),
            cells=tuple(CellResult(**{**c, "impls": tuple(c["impls"])}) for c in data["cells"]),
            jobs=data.get("jobs", 1), cell_timeout=data.get("cell_timeout", 0.0))

    @classmethod
    def read(cls, path: Path) -> MatrixReport:
        return cls.from_json(path.read_text())
