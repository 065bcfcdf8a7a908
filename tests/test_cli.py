"""The `lnharness` command as a user runs it: a real process."""
import os
import subprocess
import sys
from pathlib import Path

from lnharness.wait import wait_for

LNHARNESS = str(Path(sys.executable).with_name("lnharness"))


def run(*args, **kwargs):
    return subprocess.run([LNHARNESS, *args], capture_output=True, text=True, timeout=120, **kwargs)


def test_impls_lists_every_implementation_and_backend(monkeypatch):
    monkeypatch.setenv("LNH_LIGHTNINGD", "/nonexistent/lightningd")
    result = run("impls")
    assert result.returncode == 0, result.stderr
    assert "builtin: available" in result.stdout
    assert "cln: unavailable: /nonexistent/lightningd (LNH_LIGHTNINGD) is not executable" in result.stdout
    assert "embedded: available" in result.stdout


def test_unknown_command_is_named():
    result = run("launch")
    assert result.returncode == 2
    assert "invalid choice: 'launch'" in result.stderr


def test_up_bad_topology_is_named(tmp_path):
    result = run("up", "--topology", "pentagon", "--dir", str(tmp_path))
    assert result.returncode == 2
    assert "'pentagon' is not line, star, ring or an existing .json/.toml graph file" in result.stderr


def test_up_ring_of_two_is_refused(tmp_path):
    result = run("up", "--topology", "ring", "--nodes", "2", "--dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.startswith("lnharness up: error: a ring needs at least 3 nodes, got 2")
    assert "Traceback" not in result.stderr


def test_down_without_up(tmp_path):
    result = run("down", "--dir", str(tmp_path))
    assert result.returncode == 1
    assert "no network is up" in result.stdout


def test_up_then_down(tmp_path):
    log = tmp_path / "up.log"
    with open(log, "w") as out:
        up = subprocess.Popen([LNHARNESS, "up", "--nodes", "2", "--dir", str(tmp_path / "net")],
                              stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        wait_for(lambda: "network up in" in log.read_text() or up.poll() is not None, 120,
                 what="lnharness up to report the network")
        text = log.read_text()
        assert up.poll() is None, text
        assert "export LNH_CHAIN_RPC_URL=" in text
        assert "export LNH_L1_ID=" in text and "export LNH_L2_RPC_URL=" in text
        assert "l1 (builtin): id=" in text
        again = run("up", "--dir", str(tmp_path / "net"))
        assert again.returncode == 1
        assert again.stderr.startswith("lnharness up: error: a network is already up in")
        down = run("down", "--dir", str(tmp_path / "net"))
        assert down.returncode == 0, down.stdout + down.stderr
        assert up.wait(60) == 0, log.read_text()
    finally:
        if up.poll() is None:
            up.kill()


def test_demo_tells_the_story_and_cleans_up(tmp_path):
    result = run("demo", env={**os.environ, "TMPDIR": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for step in ("starting the chain", "buyer1 opens a 500000 sat channel to the shop",
                 "before paying, /cat/1 answers 402", "buyer2 opens a 500000 sat channel to buyer1",
                 "buyer2 waits until gossip shows a route to the shop", "Both cats delivered"):
        assert step in out
    assert out.count("preimage ") == 2
    assert "routing fee 0 msat" in out  # buyer1 paid the shop directly
    assert "routing fee 0 msat" not in out.split("A second customer")[1]  # buyer2 paid buyer1 a fee
    assert not list(tmp_path.glob("lnharness-demo-*")), "the demo must remove its directory"
