"""Arranging a scenario's cells as a grid, the shape both reports draw.

Two-node scenarios: a row per first implementation, a column per second. Three-node
scenarios: a row per (first, third) pair, a column per middle implementation.
"""
from __future__ import annotations

from dataclasses import dataclass

from lnharness.matrix.report import CellResult, MatrixReport, ScenarioInfo


@dataclass(frozen=True)
class Grid:
    """One scenario's cells by row and column; a cell not run is None."""
    scenario: ScenarioInfo
    corner: str                     # what rows and columns are, e.g. "first \\ second"
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[tuple[CellResult | None, ...], ...]


def scenario_grid(report: MatrixReport, scenario: ScenarioInfo) -> Grid:
    """The grid of `scenario`'s cells over the report's available implementations."""
    impls = [a.name for a in report.available]
    if scenario.nodes == 2:
        rows: list[tuple[str, ...]] = [(a,) for a in impls]
        corner = "first ↓ · second →"

        def key(row: tuple[str, ...], column: str) -> tuple[str, ...]:
            return (row[0], column)
    else:
        ran = {c.impls for c in report.cells if c.scenario == scenario.name}
        rows = [(a, c) for a in impls for c in impls
                if any((a, m, c) in ran for m in impls)]
        corner = "first → third ↓ · middle →"

        def key(row: tuple[str, ...], column: str) -> tuple[str, ...]:
            return (row[0], column, row[1])
    cells = tuple(tuple(report.cell(scenario.name, key(row, column)) for column in impls)
                  for row in rows)
    return Grid(scenario, corner, tuple(" → ".join(row) for row in rows), tuple(impls), cells)


def grids(report: MatrixReport) -> list[Grid]:
    """One grid per scenario of the report, in its order."""
    return [scenario_grid(report, s) for s in report.scenarios]
