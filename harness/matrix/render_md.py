"""`matrix.md`: the report as Markdown tables (also what the terminal shows at the end)."""
from __future__ import annotations

from lnharness.matrix.layout import Grid, grids
from lnharness.matrix.report import CellResult, MatrixReport

SYMBOLS = {"passed": "✅", "failed": "❌", "timed_out": "⏱", "cancelled": "⏹"}


def cell_text(cell: CellResult | None) -> str:
    """A grid cell: outcome symbol and seconds; `·` for a combination not run."""
    if cell is None:
        return "·"
    return f"{SYMBOLS[cell.outcome]} {cell.seconds:.0f} s"


def _md(text: str) -> str:
    """`text` safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def grid_table(grid: Grid) -> list[str]:
    lines = [f"| {grid.corner} | " + " | ".join(grid.columns) + " |",
             "| --- |" + " --- |" * len(grid.columns)]
    for label, row in zip(grid.rows, grid.cells, strict=True):
        lines.append(f"| **{label}** | " + " | ".join(cell_text(c) for c in row) + " |")
    return lines


def render_md(report: MatrixReport) -> str:
    """The whole report as Markdown."""
    lines = ["# lnharness interop matrix", "",
             f"{report.started} · {report.summary()}", "",
             "| implementation | version |", "| --- | --- |"]
    lines += [f"| {a.name} | {_md(a.version or '')} |" for a in report.available]
    lines += ["", f"Chain: {report.chain} ({_md(report.chain_detail)})"]
    if report.unavailable:
        lines += ["", "Skipped (unavailable here):", ""]
        lines += [f"- {a.name}: {a.reason}" for a in report.unavailable]
    for grid in grids(report):
        lines += ["", f"## {grid.scenario.name}", "", grid.scenario.checks, ""]
        lines += grid_table(grid)
    failures = [c for c in report.cells if c.outcome != "passed"]
    if failures:
        lines += ["", "## Failures", ""]
        for cell in failures:
            lines.append(f"- **{cell.id}** {cell.outcome.replace('_', ' ')} after "
                         f"{cell.seconds:.0f} s at step *{_md(cell.failing_step or '?')}*: "
                         f"{_md(cell.headline())}")
            if cell.log_tail:
                lines.append(f"  log tails: [{cell.log_tail}]({cell.log_tail})")
            if cell.directory:
                lines.append(f"  directory: `{cell.directory}`")
    return "\n".join(lines) + "\n"

