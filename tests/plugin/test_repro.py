"""Repro bundles (`--lnh-repro` / `LNH_REPRO=1`): a deliberately failing test of a user's
project leaves a bundle whose manifest, directories and merged log are right, and
`lnharness logs` prints it."""
import itertools
import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from lnharness.bundle_manifest import Manifest
from lnharness.mergelog import parse_timestamp

FAILS_AFTER_PAYING = """
import json, os

def test_fails_after_paying(node_factory):
    l1, l2 = node_factory.line_graph(2)
    invoice = l2.invoice(1000, label="evidence")
    l1.pay(invoice.bolt11)
    facts = {"l1": l1.node_id, "l2": l2.node_id, "funding": l1.channels()[0].funding_txid,
             "payment_hash": invoice.payment_hash}
    with open(os.environ["FACTS_FILE"], "w") as out:
        json.dump(facts, out)
    assert False, "deliberate failure"
"""

NOT_IN_THE_BODY = """
import pytest

@pytest.fixture
def broken_network(node_factory):
    node_factory.get_node()
    raise RuntimeError("deliberate setup failure")

def test_passes(bitcoind):
    bitcoind.generate_block(1)

def test_fails_at_teardown(bitcoind, teardown_checks):
    bitcoind.generate_block(2)
    teardown_checks.add_error("deliberate teardown failure")

def test_fails_in_setup(broken_network):
    pass
"""


def run(pytester, *args):
    # a subprocess, so the plugin comes from the installed entry point, as in a user's project
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", *args)


def bundles_named_in(output: str) -> list[Path]:
    return [Path(path) for path in re.findall(r"^repro bundle: (\S+)$", output, flags=re.M)]


def test_a_failing_test_leaves_a_bundle_anyone_can_read(pytester, tmp_path, monkeypatch):
    source = pytester.makepyfile(FAILS_AFTER_PAYING)
    facts_file = tmp_path / "facts.json"
    monkeypatch.setenv("FACTS_FILE", str(facts_file))
    repro_dir = tmp_path / "bundles"
    result = run(pytester, "--lnh-repro", f"--lnh-repro-dir={repro_dir}",
                 f"--lnh-test-dir={tmp_path / 'base'}")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    [bundle] = bundles_named_in(output)
    assert bundle.parent == repro_dir and bundle.name == "test_fails_after_paying"
    test_id = f"{source.name}::test_fails_after_paying"
    assert f"{test_id}: repro bundle: {bundle}" in output
    facts = json.loads(facts_file.read_text())

    manifest = Manifest.read(bundle)
    assert manifest.test_id == test_id
    assert manifest.test_function == "test_fails_after_paying"
    assert manifest.lnharness_version
    assert manifest.chain.directory == "chain" and manifest.chain.version
    assert any("-datadir=" in part for part in manifest.chain.command)
    assert [(n.name, n.impl, n.node_id) for n in manifest.nodes] == [
        ("l1", "builtin", facts["l1"]), ("l2", "builtin", facts["l2"])]
    for node in manifest.nodes:
        assert node.directory == f"nodes/{node.name}" and node.version
        assert any(part.startswith("--lightning-dir=") for part in node.command)
    assert [(c.a, c.b, c.funding_txid) for c in manifest.channels] == [("l1", "l2", facts["funding"])]

    assert (bundle / "test_source.py").read_text() == source.read_text()
    assert (bundle / "chain" / "bitcoin.conf").is_file()
    assert (bundle / "chain" / "regtest").is_dir()
    for name in ("l1", "l2"):
        assert (bundle / "nodes" / name / "node.sqlite3").is_file()
        assert (bundle / "nodes" / name / "seed").is_file()
        log = (bundle / "nodes" / name / "log").read_text()
        assert f"Server started with public key {facts[name]}" in log

    merged = (bundle / "merged.log").read_text().splitlines()
    processes = {line.split(" ", 1)[0] for line in merged}
    assert processes == {"chain", "l1", "l2"}
    stamps = [parse_timestamp(line.split(None, 1)[1]) for line in merged]
    times = [parsed[0] for parsed in stamps if parsed is not None]
    # in time order, but a process's own lines keep their file's order: bitcoind's threads
    # stamp a line before they take its log's lock, so its file can step back microseconds
    latest = list(itertools.accumulate(times, max))
    behind = [(t, m) for t, m in zip(times, latest, strict=True) if t < m - timedelta(milliseconds=10)]
    assert not behind, f"the merged log is not in time order: {behind[:3]}"
    # every process's own lines are all there, in their own order
    own_l2 = [parsed[1] for parsed in map(parse_timestamp, (bundle / "nodes" / "l2" / "log")
                                          .read_text().splitlines()) if parsed]
    merged_l2 = [parsed[1] for parsed in (parse_timestamp(line.split(None, 1)[1])
                                          for line in merged if line.startswith("l2 ")) if parsed]
    assert merged_l2 == own_l2
    assert any(line.startswith("l2 ") and facts["payment_hash"] in line for line in merged)

    shown = subprocess.run([sys.executable, "-m", "lnharness.cli", "logs", str(bundle)],
                           capture_output=True, text=True, check=True)
    assert shown.stdout.splitlines() == merged
    only_l1 = subprocess.run([sys.executable, "-m", "lnharness.cli", "logs", str(bundle),
                              "--process", "l1"], capture_output=True, text=True, check=True)
    assert only_l1.stdout.splitlines() == [line for line in merged if line.startswith("l1 ")]


def test_failures_in_setup_and_teardown_leave_bundles_and_a_pass_none(pytester, tmp_path,
                                                                        monkeypatch):
    pytester.makepyfile(NOT_IN_THE_BODY)
    base = tmp_path / "base"
    monkeypatch.setenv("LNH_REPRO", "1")
    result = run(pytester, f"--lnh-test-dir={base}")
    result.assert_outcomes(passed=2, errors=2)
    bundles = bundles_named_in(result.stdout.str())
    assert sorted(bundle.name for bundle in bundles) == ["test_fails_at_teardown",
                                                         "test_fails_in_setup"]
    assert all(bundle.parent == base / "repro" for bundle in bundles)  # the default place
    assert sorted(path.name for path in (base / "repro").iterdir()) == [
        "test_fails_at_teardown", "test_fails_in_setup"]

    teardown = Manifest.read(base / "repro" / "test_fails_at_teardown")
    assert teardown.test_id.endswith("::test_fails_at_teardown")
    assert teardown.nodes == [] and teardown.channels == []
    assert (base / "repro" / "test_fails_at_teardown" / "chain" / "regtest").is_dir()
    merged = (base / "repro" / "test_fails_at_teardown" / "merged.log").read_text().splitlines()
    assert merged and all(line.startswith("chain ") for line in merged)

    setup = Manifest.read(base / "repro" / "test_fails_in_setup")
    assert [(node.name, node.impl) for node in setup.nodes] == [("l1", "builtin")]
    assert setup.nodes[0].node_id
    assert (base / "repro" / "test_fails_in_setup" / "nodes" / "l1" / "log").is_file()


def test_without_the_option_no_bundle_is_written(pytester, tmp_path, monkeypatch):
    pytester.makepyfile("def test_fails(bitcoind):\n    assert False\n")
    base = tmp_path / "base"
    monkeypatch.delenv("LNH_REPRO", raising=False)
    result = run(pytester, f"--lnh-test-dir={base}")
    result.assert_outcomes(failed=1)
    assert "repro bundle" not in result.stdout.str()
    assert not (base / "repro").exists()
