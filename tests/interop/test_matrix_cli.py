"""`lnharness matrix` as a user runs it: real processes, real cells.

Two scenarios registered here through the `lnharness.scenarios` entry-point group (as
another package would) misbehave on purpose: `broken` fails at a named step, `stuck`
waits for a condition that never holds until the cell timeout stops it. The real `open`
cell beside them must still pass, and the exit status must say that cells failed.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from lnharness.wait import wait_for

LNHARNESS = str(Path(sys.executable).with_name("lnharness"))

EXTRA_SCENARIOS = '''
from lnharness.matrix.scenario import CheckFailed, Scenario
from lnharness.wait import wait_for


def broken(run):
    with run.step("a deliberately bad step"):
        raise CheckFailed("this step always fails")


def stuck(run):
    run.nodes()
    with run.step("wait for what never comes"):
        wait_for(lambda: False, timeout=3600, what="nothing")


BROKEN = Scenario("broken", 2, "always fails", broken)
STUCK = Scenario("stuck", 2, "never ends", stuck)
'''


def with_extra_scenarios(tmp_path: Path) -> dict[str, str]:
    """An environment whose Python finds the two scenarios through entry points."""
    site = tmp_path / "site"
    dist = site / "lnh_extra_scenarios-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lnh-extra-scenarios\nVersion: 0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent("""
        [lnharness.scenarios]
        broken = lnh_extra_scenarios:BROKEN
        stuck = lnh_extra_scenarios:STUCK
    """))
    (site / "lnh_extra_scenarios.py").write_text(EXTRA_SCENARIOS)
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "LNH_TEST_DIR": str(tmp_path / "cells"),
            "LNH_LIGHTNINGD": "/nonexistent/lightningd"}


def matrix(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LNHARNESS, "matrix", *args], capture_output=True, text=True,
                          timeout=600, env=env)


def test_failing_and_hanging_cells_do_not_stop_the_others(tmp_path):
    out = tmp_path / "report"
    result = matrix("--impls", "builtin,cln", "--scenarios", "open,broken,stuck",
                    "--cell-timeout", "40", "-j", "2", "--out", str(out),
                    env=with_extra_scenarios(tmp_path))
    text = result.stdout + result.stderr
    assert result.returncode == 1, text
    assert "skipping cln: /nonexistent/lightningd (LNH_LIGHTNINGD) is not executable" in result.stdout
    assert "3/3 done, 0 running, 0 left" in result.stdout

    report = json.loads((out / "matrix.json").read_text())
    cells = {c["scenario"]: c for c in report["cells"]}
    assert [c["impls"] for c in report["cells"]] == [["builtin", "builtin"]] * 3
    assert cells["open"]["outcome"] == "passed" and cells["open"]["directory"] is None
    broken, stuck = cells["broken"], cells["stuck"]
    assert broken["outcome"] == "failed"
    assert broken["failing_step"] == "a deliberately bad step"
    assert broken["error"] == "CheckFailed: this step always fails"
    assert stuck["outcome"] == "timed_out" and stuck["failing_step"] == "wait for what never comes"
    assert stuck["seconds"] >= 40
    assert report["summary"] == {"passed": 1, "failed": 1, "timed_out": 1, "cancelled": 0}
    assert {i["name"]: i["available"] for i in report["implementations"]} == {
        "builtin": True, "cln": False}
    assert "not executable" in report["implementations"][1]["reason"]

    # the passing cell's directory is gone, the failed ones are kept with their logs
    kept = sorted(p.name for p in (tmp_path / "cells").iterdir())
    assert kept == ["matrix-broken-builtin-builtin", "matrix-stuck-builtin-builtin"]
    # stopped for its timeout, the stuck cell still tore its nodes down and said so
    stuck_dir = Path(stuck["directory"])
    assert json.loads((stuck_dir / "result.json").read_text())["logs"][0]["name"] == "l1 (builtin)"
    tail = (out / stuck["log_tail"]).read_text()
    assert "==> cell process (stuck/builtin-builtin)" in tail and "==> l1 (builtin)" in tail
    assert "wait for what never comes" in tail

    md = (out / "matrix.md").read_text()
    assert "**broken/builtin-builtin** failed" in md and "*a deliberately bad step*" in md
    html = (out / "matrix.html").read_text()
    assert 'href="logs/broken-builtin-builtin.txt"' in html
    assert stuck_dir.as_uri() in html


def test_bad_arguments_are_named():
    unknown = matrix("--scenarios", "open,teleport")
    assert unknown.returncode == 1
    assert "lnharness matrix: error: unknown scenario(s) teleport; known: open" in unknown.stderr
    impl = matrix("--impls", "eclair")
    assert impl.returncode == 1 and "unknown implementation(s) eclair" in impl.stderr
    jobs = matrix("-j", "0")
    assert jobs.returncode == 2 and "must be a positive whole number, got 0" in jobs.stderr


def test_ctrl_c_stops_the_running_cell_cleanly_and_still_reports(tmp_path):
    out = tmp_path / "report"
    log = tmp_path / "matrix.log"
    with open(log, "w") as handle:
        proc = subprocess.Popen([LNHARNESS, "matrix", "--impls", "builtin", "--scenarios",
                                 "open,stuck", "-j", "1", "--out", str(out)],
                                stdout=handle, stderr=subprocess.STDOUT,
                                env=with_extra_scenarios(tmp_path))
    try:
        # built-in scenarios come first: `open` runs, then `stuck`; interrupt once `stuck`
        # waits in its endless step
        wait_for(lambda: "start   stuck" in log.read_text() and (tmp_path / "cells").exists()
                 and any("wait for what never comes" in p.read_text()
                         for p in (tmp_path / "cells").glob("*/step")),
                 timeout=300, what="the stuck cell to reach its endless step")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(120) == 130, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    report = json.loads((out / "matrix.json").read_text())
    assert [(c["scenario"], c["outcome"]) for c in report["cells"]] == [
        ("open", "passed"), ("stuck", "cancelled")]
    stuck_dir = Path(report["cells"][1]["directory"])
    assert json.loads((stuck_dir / "result.json").read_text())["outcome"] == "failed"
