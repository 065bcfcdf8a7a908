"""Core Lightning's own tests, carried over to `lnharness.pyln`: how many pass unchanged?

Takes a fixed sample of generic tests (connect, fund, invoice, pay direct and routed, sendpay,
close, restart) from a Core Lightning source checkout the user points at, copies its tests/
folder to a temporary directory, replaces `pyln.testing` with `lnharness.pyln` in the import
lines (the one-line migration; nothing else is edited) and runs the sample with pytest on each
implementation asked for. Writes the "Core Lightning's tests on lnharness.pyln" section of
bench/RESULTS.md: pass counts per implementation and, per test, the first line of why it did
not pass.

The checkout's tests import pyln-client, pyln-proto, bitstring, python-bitcoinlib and
websocket-client: install them first (`pip install pyln-client pyln-proto "bitstring<5"
python-bitcoinlib websocket-client`; Core Lightning v26.06 pins bitstring 4.4.0, and its
tests' `BitArray(length=...)` fails on bitstring 5). Its Python plugins (tests/plugins/*.py)
run with the `python3` first on PATH: the bench puts its own Python's folder there. The
checkout is read, never modified.

For `cln`, set `LNH_BITCOIND` too, as pyln-testing runs lightningd: on Bitcoin Core, with
its `bitcoin-cli` (found beside bitcoind). Without one, lightningd's bcli runs
`lnharness-bitcoin-cli`, whose Python start-up (about 0.1 s a call) makes a test that mines
100 blocks come near pyln's 60 s waits.

Run: python bench/bench_pyln_sample.py --checkout PATH/TO/lightning [--impls builtin,cln]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import header, write_section  # noqa: E402

SECTION = "## Core Lightning's tests on lnharness.pyln"
#: the sample: generic tests of four of Core Lightning's test files (v26.06 names)
SAMPLE = {
    "test_pay.py": ["test_pay", "test_pay_amounts", "test_pay0", "test_sendpay", "test_repay",
                    "test_wait_sendpay", "test_decode", "test_forward", "test_self_pay",
                    "test_strip_lightning_suffix_from_inv"],
    "test_invoices.py": ["test_invoice_zeroval", "test_invoice_weirdstring",
                         "test_invoice_preimage", "test_invoice_expiry", "test_waitinvoice",
                         "test_waitanyinvoice", "test_amountless_invoice",
                         "test_listinvoices_filter", "test_invoice_deschash"],
    "test_connection.py": ["test_connect_basic", "test_balance", "test_second_channel",
                           "test_disconnect", "test_reconnect_normal", "test_funding_push",
                           "test_channel_persistence", "test_peerinfo",
                           "test_listpeerchannels_by_scid", "test_listpeerchannels_by_channel_id"],
    "test_closing.py": ["test_closing_simple", "test_closing_id", "test_closing_while_disconnected",
                        "test_close_twice", "test_closing_specified_destination", "test_shutdown",
                        "test_closing_different_fees"],
}
#: what the checkout's tests/ import besides pyln-testing
REQUIRED_MODULES = {"pyln.client": "pyln-client", "pyln.proto": "pyln-proto",
                    "bitstring": "bitstring", "bitcoin": "python-bitcoinlib",
                    "websocket": "websocket-client"}
_PYLN_TESTING = re.compile(r"\bpyln\.testing\b")


def missing_requirements() -> list[str]:
    """The pip packages the checkout's tests need that this Python lacks."""
    missing = []
    for module, package in REQUIRED_MODULES.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(package)
    return missing


def migrate(checkout: Path, work: Path) -> Path:
    """Copy the checkout's tests/ (and Makefile, read by its `compat` fixture) under `work`,
    with `pyln.testing` replaced by `lnharness.pyln`; return the copied tests folder."""
    tests = work / "tests"
    shutil.copytree(checkout / "tests", tests, ignore=shutil.ignore_patterns("__pycache__"))
    if (checkout / "Makefile").exists():
        shutil.copy2(checkout / "Makefile", work / "Makefile")
    for source in tests.rglob("*.py"):
        text = source.read_text()
        if _PYLN_TESTING.search(text):
            source.write_text(_PYLN_TESTING.sub("lnharness.pyln", text))
    return tests


def outcomes(junit: Path) -> dict[str, tuple[str, str]]:
    """`{test id: (outcome, first line of the reason)}` from pytest's JUnit XML. A test with
    two records (a failure, then a teardown error) keeps its first one that did not pass."""
    found: dict[str, tuple[str, str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        test = f"{case.get('classname', '').rsplit('.', 1)[-1]}.py::{case.get('name')}"
        outcome, reason = "passed", ""
        for kind, word in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            element = case.find(kind)
            if element is not None:
                outcome, reason = word, first_reason(element.get("message") or element.text or "")
                break
        if found.get(test, ("passed", ""))[0] == "passed":
            found[test] = (outcome, reason)
    return found


def first_reason(message: str) -> str:
    """The line of a failure message that says what went wrong, shortened for a table."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E ")] or lines
    text = (errors[0] if errors else "").removeprefix("E ").strip()
    return text.replace("|", "/")[:160]


def collection_errors(output: str) -> dict[str, str]:
    """`{test file: first error line}` for the files pytest could not import."""
    errors: dict[str, str] = {}
    for match in re.finditer(r"_ ERROR collecting (\S+) _+\n(.*?)(?=\n_{3,} |\n={3,} |\Z)",
                             output, re.S):
        errors[Path(match[1]).name] = first_reason(match[2])
    return errors


def run_sample(tests: Path, impl: str, workers: int) -> dict[str, tuple[str, str]]:
    """Run the sample on `impl`; outcome per test (a test in a file that failed to import is
    an error with the import's reason). pytest runs from the copy's root, as Core Lightning's
    tests expect (they name their plugins `tests/plugins/...` from the working directory),
    with tests/ on pytest's `pythonpath` and this Python's folder first on PATH, so the
    plugins' `python3` finds pyln-client."""
    junit = tests.parent / f"junit-{impl}.xml"
    ids = [f"{file}::{name}" for file, names in SAMPLE.items() for name in names]
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "LNH_TEST_DIR": str(tests.parent / f"run-{impl}")}
    # tests/ on pytest's import path as its pytest.ini says, also for a checkout without one
    # (never on PYTHONPATH: the tests' plugins would inherit it and import tests/ modules)
    ini = [] if (tests / "pytest.ini").exists() else ["-o", "pythonpath=tests"]
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
               "--continue-on-collection-errors", f"--lnh-impl={impl}", f"--junitxml={junit}", "-o", "junit_family=xunit1",
               *ini, *(["-n", str(workers)] if workers > 1 else []), *(f"tests/{i}" for i in ids)]
    done = subprocess.run(command, cwd=tests.parent, env=env, capture_output=True, text=True)
    output = done.stdout + done.stderr
    found = outcomes(junit) if junit.exists() else {}
    broken_files = collection_errors(output)
    last_line = (output.strip().splitlines() or ["no output"])[-1][:120]

    def unreported(test: str) -> tuple[str, str]:
        file = test.split("::")[0]
        return "error", (f"collecting: {broken_files[file]}" if file in broken_files
                         else f"not reported by pytest: {last_line}")
    return {test: found.get(test) or unreported(test) for test in ids}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", required=True, type=Path,
                        help="a Core Lightning source checkout (its tests/ folder is read)")
    parser.add_argument("--impls", default=None,
                        help="comma-separated implementations (default builtin, plus cln when "
                             "LNH_LIGHTNINGD is set)")
    parser.add_argument("--workers", type=int, default=2, help="pytest -n (default 2)")
    args = parser.parse_args()
    if not (args.checkout / "tests" / "test_pay.py").is_file():
        parser.error(f"{args.checkout} is not a Core Lightning checkout: no tests/test_pay.py")
    missing = missing_requirements()
    if missing:
        parser.error(f"the checkout's tests need {', '.join(missing)}: pip install {' '.join(missing)}")
    impls = args.impls.split(",") if args.impls else \
        ["builtin"] + (["cln"] if os.environ.get("LNH_LIGHTNINGD") else [])
    command = f"python bench/bench_pyln_sample.py --checkout CHECKOUT --impls {','.join(impls)}"
    lines = header(SECTION, command)
    total = sum(len(names) for names in SAMPLE.values())
    lines += [f"Sample: {total} tests of Core Lightning's tests/ (listed below), imports "
              "rewritten from `pyln.testing` to `lnharness.pyln`, nothing else changed.", ""]
    results: dict[str, dict[str, tuple[str, str]]] = {}
    with tempfile.TemporaryDirectory(prefix="lnh-pyln-sample-") as work:
        tests = migrate(args.checkout, Path(work))
        for impl in impls:
            results[impl] = run_sample(tests, impl, args.workers)
            passed = sum(outcome == "passed" for outcome, _ in results[impl].values())
            print(f"{impl}: {passed}/{total} passed", flush=True)
    lines += ["| implementation | passed | of |", "|---|---|---|"]
    lines += [f"| {impl} | {sum(o == 'passed' for o, _ in found.values())} | {total} |"
              for impl, found in results.items()]
    lines += ["", "| test | " + " | ".join(impls) + " |", "|---|" + "---|" * len(impls)]
    for test in next(iter(results.values())):
        cells = [found[test][0] + (f": {found[test][1]}" if found[test][1] else "")
                 for found in results.values()]
        lines.append(f"| {test} | " + " | ".join(cells) + " |")
    write_section(SECTION, "\n".join(lines + [""]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
