"""matrix.json, matrix.md and matrix.html from cell results built here: the grid's shape,
colours, hover details and failure links, and the JSON round trip."""
from __future__ import annotations

import json
import re

import pytest
from lnharness.matrix.command import write_reports
from lnharness.matrix.layout import grids
from lnharness.matrix.render_html import render_html
from lnharness.matrix.render_md import render_md
from lnharness.matrix.report import CellResult, MatrixReport, ScenarioInfo
from lnharness.results import Availability

IMPLS = (Availability("builtin", True, version="built-in 1"),
         Availability("lnd", True, version="lnd 0.21"),
         Availability("cln", False, reason="lightningd not found on PATH"))
SCENARIOS = (ScenarioInfo("pay", 2, "pays both ways"), ScenarioInfo("route", 3, "pays through"))


def report() -> MatrixReport:
    cells = (
        CellResult("pay", ("builtin", "builtin"), "passed", 3.2),
        CellResult("pay", ("builtin", "lnd"), "failed", 12.5, failing_step="l1 pays l2 30000000 msat",
                   error="PaymentFailed: no route\nsecond line", directory="/tmp/x/matrix-pay-builtin-lnd",
                   log_tail="logs/pay-builtin-lnd.txt"),
        CellResult("pay", ("lnd", "builtin"), "timed_out", 600.0, failing_step="l2 restarts",
                   error="timed out after 600s", directory="/tmp/x/matrix-pay-lnd-builtin",
                   log_tail="logs/pay-lnd-builtin.txt"),
        CellResult("pay", ("lnd", "lnd"), "passed", 14.0),
        CellResult("route", ("builtin", "lnd", "builtin"), "passed", 20.0),
        CellResult("route", ("lnd", "builtin", "lnd"), "failed", 30.0, failing_step="open",
                   error="<b>boom</b>", directory="/tmp/x/r", log_tail="logs/route-lnd-builtin-lnd.txt"),
    )
    return MatrixReport("2026-12-04T18:00:00+00:00", 95.0, "embedded", "regtestd", IMPLS, SCENARIOS,
                        cells, jobs=2, cell_timeout=600.0)


def test_json_round_trip_and_summary():
    original = report()
    data = json.loads(original.to_json())
    assert data["format"] == 1 and data["chain"] == "embedded"
    assert data["summary"] == {"passed": 3, "failed": 2, "timed_out": 1, "cancelled": 0}
    assert data["implementations"][1] == {"name": "lnd", "available": True, "version": "lnd 0.21",
                                          "reason": None}
    failed = data["cells"][1]
    assert (failed["outcome"], failed["seconds"], failed["failing_step"], failed["log_tail"]) == (
        "failed", 12.5, "l1 pays l2 30000000 msat", "logs/pay-builtin-lnd.txt")
    assert MatrixReport.from_json(original.to_json()) == original
    assert original.failed
    assert not MatrixReport("t", 1, "embedded", "", IMPLS, SCENARIOS, original.cells[:1]).failed
    with pytest.raises(ValueError, match="unknown outcome 'exploded'"):
        CellResult("pay", ("a", "b"), "exploded", 1.0)


def test_grids_put_pairs_first_by_second_and_triples_ends_by_middle():
    pay, route = grids(report())
    assert pay.rows == ("builtin", "lnd") and pay.columns == ("builtin", "lnd")
    assert [[c.outcome if c else None for c in row] for row in pay.cells] == [
        ["passed", "failed"], ["timed_out", "passed"]]
    assert route.rows == ("builtin → builtin", "lnd → lnd")   # only (first, third) pairs that ran
    assert route.cells[0][1].impls == ("builtin", "lnd", "builtin")   # middle lnd
    assert route.cells[0][0] is None                                  # builtin-builtin-builtin not run
    assert route.cells[1][0].outcome == "failed"


def test_markdown_has_the_grids_versions_skips_and_failures():
    text = render_md(report())
    assert "| **builtin** | ✅ 3 s | ❌ 12 s |" in text
    assert "| **lnd** | ⏱ 600 s | ✅ 14 s |" in text
    assert "| **builtin → builtin** | · | ✅ 20 s |" in text
    assert "| lnd | lnd 0.21 |" in text
    assert "- cln: lightningd not found on PATH" in text
    assert ("- **pay/builtin-lnd** failed after 12 s at step *l1 pays l2 30000000 msat*: "
            "PaymentFailed: no route") in text
    assert "[logs/pay-builtin-lnd.txt](logs/pay-builtin-lnd.txt)" in text
    assert "6 cells: 3 passed, 2 failed, 1 timed out in 95 s (-j 2, chain embedded)" in text


def test_html_is_self_contained_coloured_and_links_failures():
    page = render_html(report())
    assert not re.search(r"<script|<link|src=|https?://|@import|url\(", page)
    assert page.count('class="cell passed"') == 3
    assert page.count('class="cell failed"') == 2 and page.count('class="cell timed_out"') == 1
    assert page.count('class="cell none"') == 2     # builtin-builtin-builtin, lnd-lnd-lnd
    # the hover box of a failed cell: timing and failing step; the cell links to its details
    failed = re.search(r'<td class="cell failed"><a href="#(cell-pay-builtin-lnd)">.*?</td>', page)
    assert failed and "failed in 12.5 s" in failed.group(0)
    assert "step: l1 pays l2 30000000 msat" in failed.group(0)
    details = re.search(r'<details id="cell-pay-builtin-lnd".*?</details>', page, re.S).group(0)
    assert '<a href="logs/pay-builtin-lnd.txt">' in details
    assert '<a href="file:///tmp/x/matrix-pay-builtin-lnd">' in details
    assert "PaymentFailed: no route\nsecond line" in details
    assert "&lt;b&gt;boom&lt;/b&gt;" in page and "<b>boom</b>" not in page
    assert "skipped: lightningd not found on PATH" in page


def test_write_reports_writes_the_three_files(tmp_path):
    paths = write_reports(report(), tmp_path / "out")
    assert [p.name for p in paths] == ["matrix.json", "matrix.md", "matrix.html"]
    assert MatrixReport.read(paths[0]) == report()
