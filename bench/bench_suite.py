"""The whole test suite several times in a row at a fixed parallelism: does it stay green?

Runs `pytest -n WORKERS -q -p no:randomly` RUNS times (default 3 at -n 4) from the
repository, each with a fresh base test directory, and writes the "Test suite, repeated"
section of bench/RESULTS.md: per run the passed / failed / error / skipped counts and the
wall time, and every failing test id. Exit status 1 if any run had a failure or an error.

Run: python bench/bench_suite.py [--runs 3] [--workers 4] [-- extra pytest args]
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import header, write_section  # noqa: E402

SECTION = "## Test suite, repeated"
REPO = Path(__file__).resolve().parent.parent
_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)")
_FAILED = re.compile(r"^(FAILED|ERROR) (\S+)", re.M)


def summary_counts(output: str) -> dict[str, int]:
    """The counts of pytest's final summary line ("3 passed, 1 failed in 9.1s")."""
    lines = [line for line in output.splitlines() if re.search(r" in [\d.]+s", line)]
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for number, word in _COUNT.findall(lines[-1] if lines else ""):
        key = "error" if word.startswith("error") else word
        if key in counts:
            counts[key] += int(number)
    return counts


def run_suite(workers: int, extra: list[str]) -> tuple[dict[str, int], list[str], float, str]:
    """One run: counts, failing test ids, wall seconds and pytest's whole output."""
    with tempfile.TemporaryDirectory(prefix="lnh-suite-") as base:
        env = {**os.environ, "LNH_TEST_DIR": base}
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pytest", "-n", str(workers), "-q",
                               "-p", "no:randomly", *extra], cwd=REPO, env=env,
                              capture_output=True, text=True)
        wall = time.perf_counter() - start
    output = done.stdout + done.stderr
    return summary_counts(output), [m[1] for m in _FAILED.findall(output)], wall, output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="how many times (default 3)")
    parser.add_argument("--workers", type=int, default=4, help="pytest -n (default 4)")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments, after --")
    args = parser.parse_args()
    if args.runs < 1 or args.workers < 1:
        parser.error("--runs and --workers must be at least 1")
    command = f"python bench/bench_suite.py --runs {args.runs} --workers {args.workers}"
    lines = header(SECTION, command + "".join(f" {a}" for a in args.pytest_args))
    lines += ["| run | passed | failed | errors | skipped | wall time |", "|---|---|---|---|---|---|"]
    broken: list[str] = []
    for run in range(1, args.runs + 1):
        counts, failing, wall, output = run_suite(args.workers, args.pytest_args)
        kept = Path(tempfile.gettempdir()) / f"lnh-suite-run{run}.log"
        kept.write_text(output)
        print(f"run {run}: {counts} in {wall:.0f} s; output kept in {kept}", flush=True)
        if counts["passed"] == 0:
            print(output[-3000:], file=sys.stderr)
        lines.append(f"| {run} | {counts['passed']} | {counts['failed']} | {counts['error']} | "
                     f"{counts['skipped']} | {wall / 60:.1f} min |")
        broken += [f"run {run}: {test}" for test in failing]
    lines += ["", "Failing tests: " + ("none" if not broken else "; ".join(broken)), ""]
    write_section(SECTION, "\n".join(lines))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
