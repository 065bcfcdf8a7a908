"""`lnharness matrix`: choose the cells, run them, write matrix.json, matrix.md and matrix.html."""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from lnharness.backend import select_chain_backend
from lnharness.errors import LnhError
from lnharness.matrix.catalog import scenarios_named
from lnharness.matrix.plan import MAX_TRIPLES, plan_cells, split_available
from lnharness.matrix.progress import Progress
from lnharness.matrix.render_html import render_html
from lnharness.matrix.render_md import render_md
from lnharness.matrix.report import CANCELLED, MatrixReport, ScenarioInfo
from lnharness.matrix.runner import Runner, RunOptions

DEFAULT_CELL_TIMEOUT_S = 600.0
#: exit status when Ctrl-C cancelled the run (as a shell reports SIGINT)
EXIT_CANCELLED = 130


@dataclass(frozen=True)
class MatrixConfig:
    """What `lnharness matrix` runs; None for impls/scenarios means all of them."""
    out: Path
    impls: Sequence[str] | None = None
    scenarios: Sequence[str] | None = None
    chain: str = "auto"
    jobs: int | None = None                 # None: one per core
    cell_timeout: float = DEFAULT_CELL_TIMEOUT_S
    max_triples: int = MAX_TRIPLES
    keep_dirs: bool = False


def write_reports(report: MatrixReport, out: Path) -> list[Path]:
    """Write matrix.json, matrix.md and matrix.html into `out`; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (("matrix.json", report.to_json()), ("matrix.md", render_md(report)),
                       ("matrix.html", render_html(report))):
        path = out / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def run_matrix(config: MatrixConfig, out: TextIO) -> int:
    """Run the matrix, print progress and the grids to `out`; 0 if every cell passed."""
    scenarios = scenarios_named(config.scenarios)
    available, unavailable = split_available(config.impls)
    for item in unavailable:
        print(f"skipping {item.name}: {item.reason}", file=out)
    if not available:
        raise LnhError("no implementation asked for can run here (see `lnharness impls`)")
    backend = select_chain_backend(config.chain)
    jobs = config.jobs or os.cpu_count() or 1
    names = [a.name for a in available]
    cells = plan_cells(scenarios, names, max_triples=config.max_triples)
    print(f"{len(cells)} cells: {len(scenarios)} scenario(s) over "
          + ", ".join(f"{a.name} ({a.version})" for a in available)
          + f" on the {backend.name} chain, {jobs} at a time", file=out, flush=True)

    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    began = time.monotonic()
    options = RunOptions(chain=backend.name, out=config.out, jobs=jobs,
                         cell_timeout=config.cell_timeout, keep_dirs=config.keep_dirs)
    results = Runner(cells, options, Progress(len(cells), out)).run()
    report = MatrixReport(
        started=started, seconds=round(time.monotonic() - began, 1), chain=backend.name,
        chain_detail=backend.available()[1], implementations=(*available, *unavailable),
        scenarios=tuple(ScenarioInfo(s.name, s.nodes, s.checks) for s in scenarios),
        cells=tuple(results), jobs=jobs, cell_timeout=config.cell_timeout)
    paths = write_reports(report, config.out)
    print("\n" + render_md(report), file=out)
    print("reports: " + ", ".join(str(p) for p in paths), file=out, flush=True)
    if any(c.outcome == CANCELLED for c in results):
        return EXIT_CANCELLED
    return 1 if report.failed else 0
