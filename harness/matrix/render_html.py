"""`matrix.html`: the report as one self-contained page (inline CSS, no script, no fetch).

A grid per scenario coloured by outcome; hovering a cell shows its timing and failing
step; a failed cell links to its details below (the error, the log tails file and the
kept test directory).
"""
from __future__ import annotations

from html import escape
from pathlib import Path

from lnharness.matrix.layout import Grid, grids
from lnharness.matrix.report import CellResult, MatrixReport

MARKS = {"passed": "✓", "failed": "✗", "timed_out": "⏱", "cancelled": "–"}
WORDS = {"passed": "passed", "failed": "failed", "timed_out": "timed out",
         "cancelled": "cancelled"}

STYLE = """
:root { --pass:#2f9e5b; --fail:#d64545; --timeout:#e59a2f; --cancel:#9aa0a6; --none:#eef0f2;
        --ink:#1f2328; --muted:#59636e; --line:#d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink);
       margin: 0; padding: 24px 32px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 0 0 2px; }
.meta { color: var(--muted); margin: 0 0 12px; }
.impls { display: flex; flex-wrap: wrap; gap: 8px; margin-bottom: 10px; }
.impl { border: 1px solid var(--line); border-radius: 6px; padding: 3px 8px; }
.impl b { margin-right: 4px; }
.impl.off { color: var(--muted); border-style: dashed; }
.legend { display: flex; gap: 14px; color: var(--muted); margin-bottom: 18px; }
.legend span::before { content: ""; display: inline-block; width: 11px; height: 11px;
                       border-radius: 3px; margin-right: 5px; vertical-align: -1px;
                       background: var(--c); }
.grids { display: flex; flex-wrap: wrap; gap: 18px; }
.scenario { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; max-width: 460px; }
.checks { color: var(--muted); font-size: 12.5px; margin: 0 0 10px; }
table.grid { border-collapse: separate; border-spacing: 4px; }
table.grid th { font-weight: 600; font-size: 12.5px; padding: 2px 6px; text-align: center; }
table.grid th.row { text-align: right; white-space: nowrap; }
table.grid th.corner { color: var(--muted); font-weight: 400; font-size: 11px; text-align: left; }
td.cell { position: relative; width: 76px; height: 46px; border-radius: 6px; text-align: center;
          color: #fff; font-weight: 600; background: var(--none); }
td.cell a { color: inherit; text-decoration: none; display: block; padding: 4px 0; }
td.cell .secs { display: block; font-size: 11px; font-weight: 400; opacity: .92; }
td.passed { background: var(--pass); } td.failed { background: var(--fail); }
td.timed_out { background: var(--timeout); } td.cancelled { background: var(--cancel); }
td.none { color: var(--muted); font-weight: 400; }
td.cell .tip { display: none; position: absolute; z-index: 2; left: 50%; top: 100%;
               transform: translateX(-50%); margin-top: 6px; width: 260px; text-align: left;
               background: #24292f; color: #fff; font-weight: 400; font-size: 12px;
               padding: 8px 10px; border-radius: 6px; box-shadow: 0 4px 14px rgba(0,0,0,.25); }
td.cell:hover .tip { display: block; }
.failures { margin-top: 26px; }
.failures details { border: 1px solid var(--line); border-left: 4px solid var(--fail);
                    border-radius: 6px; padding: 8px 12px; margin: 8px 0; }
.failures details.timed_out { border-left-color: var(--timeout); }
.failures details.cancelled { border-left-color: var(--cancel); }
.failures summary { cursor: pointer; }
.failures pre { white-space: pre-wrap; background: #f6f8fa; padding: 8px; border-radius: 6px;
                font-size: 12px; max-height: 260px; overflow: auto; }
details.cells { margin-top: 20px; }
table.all { border-collapse: collapse; margin-top: 8px; font-size: 12.5px; }
table.all td, table.all th { border-bottom: 1px solid var(--line); padding: 3px 10px; text-align: left; }
table.all td.num { text-align: right; font-variant-numeric: tabular-nums; }
"""


def _anchor(cell: CellResult) -> str:
    return "cell-" + cell.id.replace("/", "-")


def _tip(cell: CellResult) -> str:
    lines = [f"<b>{escape(cell.scenario)}</b> {escape(' → '.join(cell.impls))}",
             f"{WORDS[cell.outcome]} in {cell.seconds:.1f} s"]
    if cell.failing_step:
        lines.append(f"step: {escape(cell.failing_step)}")
    if cell.error:
        lines.append(escape(cell.headline(200)))
    return "<br>".join(lines)


def _cell(cell: CellResult | None) -> str:
    if cell is None:
        return '<td class="cell none" title="not run">·</td>'
    body = f'{MARKS[cell.outcome]}<span class="secs">{cell.seconds:.0f} s</span>'
    if cell.outcome != "passed":
        body = f'<a href="#{_anchor(cell)}">{body}</a>'
    return f'<td class="cell {cell.outcome}">{body}<span class="tip">{_tip(cell)}</span></td>'


def _grid(grid: Grid) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in grid.columns)
    rows = "".join(f'<tr><th class="row">{escape(label)}</th>{"".join(_cell(c) for c in row)}</tr>'
                   for label, row in zip(grid.rows, grid.cells, strict=True))
    return (f'<section class="scenario"><h2>{escape(grid.scenario.name)}</h2>'
            f'<p class="checks">{escape(grid.scenario.checks)}</p>'
            f'<table class="grid"><tr><th class="corner">{escape(grid.corner)}</th>{head}</tr>'
            f"{rows}</table></section>")


def _failure(cell: CellResult) -> str:
    links = []
    if cell.log_tail:
        links.append(f'log tails: <a href="{escape(cell.log_tail)}">{escape(cell.log_tail)}</a>')
    if cell.directory:
        uri = Path(cell.directory).as_uri()
        links.append(f'kept test directory: <a href="{escape(uri)}">{escape(cell.directory)}</a>')
    return (f'<details id="{_anchor(cell)}" class="{cell.outcome}" open><summary><b>'
            f'{escape(cell.scenario)} {escape(" → ".join(cell.impls))}</b> — '
            f'{WORDS[cell.outcome]} after {cell.seconds:.1f} s at step '
            f'<i>{escape(cell.failing_step or "?")}</i></summary>'
            f'<pre>{escape(cell.error or "")}</pre><p>{" · ".join(links)}</p></details>')


def _header(report: MatrixReport) -> str:
    impls = "".join(f'<span class="impl"><b>{escape(a.name)}</b>{escape(a.version or "")}</span>'
                    for a in report.available)
    impls += "".join(f'<span class="impl off"><b>{escape(a.name)}</b>skipped: '
                     f'{escape(a.reason or "unavailable")}</span>' for a in report.unavailable)
    impls += (f'<span class="impl"><b>chain</b>{escape(report.chain)} '
              f'({escape(report.chain_detail)})</span>')
    legend = "".join(f'<span style="--c:var(--{var})">{word}</span>' for var, word in
                     (("pass", "passed"), ("fail", "failed"), ("timeout", "timed out"),
                      ("cancel", "cancelled"), ("none", "not run")))
    return (f"<h1>lnharness interop matrix</h1>"
            f'<p class="meta">{escape(report.started)} · {escape(report.summary())}</p>'
            f'<div class="impls">{impls}</div><div class="legend">{legend}</div>')


def _all_cells(report: MatrixReport) -> str:
    rows = "".join(
        f"<tr><td>{escape(c.scenario)}</td><td>{escape(' → '.join(c.impls))}</td>"
        f"<td>{WORDS[c.outcome]}</td><td class=\"num\">{c.seconds:.1f} s</td>"
        f"<td>{escape(c.failing_step or '')}</td></tr>" for c in report.cells)
    return (f'<details class="cells"><summary>every cell ({len(report.cells)})</summary>'
            f'<table class="all"><tr><th>scenario</th><th>implementations</th><th>outcome</th>'
            f"<th>time</th><th>failing step</th></tr>{rows}</table></details>")


def render_html(report: MatrixReport) -> str:
    """The whole report as one HTML page."""
    failures = [c for c in report.cells if c.outcome != "passed"]
    failed = ("" if not failures else '<section class="failures"><h2>Failures</h2>'
              + "".join(_failure(c) for c in failures) + "</section>")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>lnharness interop matrix</title>"
            f"<style>{STYLE}</style></head><body>{_header(report)}"
            f'<div class="grids">{"".join(_grid(g) for g in grids(report))}</div>'
            f"{failed}{_all_cells(report)}</body></html>\n")
