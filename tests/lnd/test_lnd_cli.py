"""`lnharness impls` and `lnharness demo --impl lnd` as a user runs them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from lnharness.node_impl.lnd.adapter import LndNode
from lnharness.wait import wait_for

LNHARNESS = str(Path(sys.executable).with_name("lnharness"))
LND = LndNode.availability()


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LNHARNESS, *args], capture_output=True, text=True, timeout=300,
                          env=env)


def test_impls_says_why_lnd_is_unavailable_and_what_fixes_it(tmp_path):
    env = {**os.environ, "LNH_LND": str(tmp_path / "lnd")}
    out = run("impls", env=env)
    assert out.returncode == 0, out.stderr
    assert (f"lnd: unavailable: {tmp_path / 'lnd'} (LNH_LND) does not exist or is not "
            "executable; run `lnharness install lnd`") in out.stdout
    env = {**os.environ, "LNH_BIN_DIR": str(tmp_path / "bin"), "PATH": str(tmp_path)}
    env.pop("LNH_LND", None)
    out = run("impls", env=env)
    assert f"lnd: unavailable: lnd not found: LNH_LND is not set, {tmp_path / 'bin' / 'lnd'} " \
           "does not exist and there is no lnd on PATH; run `lnharness install lnd`" in out.stdout


@pytest.mark.skipif(not LND.available, reason=str(LND.reason))
def test_impls_says_where_lnd_is_and_its_version():
    out = run("impls")
    line = next(line for line in out.stdout.splitlines() if line.strip().startswith("lnd:"))
    assert "lnd: available (lnd version " in line and LND.version in line


@pytest.mark.skipif(not LND.available, reason=str(LND.reason))
def test_demo_on_lnd_tells_the_story(tmp_path):
    out = run("demo", "--impl", "lnd", env={**os.environ, "TMPDIR": str(tmp_path)})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "starting three lnd Lightning nodes" in out.stdout
    assert out.stdout.count("preimage ") == 2 and "Both cats delivered" in out.stdout
    assert "routing fee 0 msat" not in out.stdout.split("A second customer")[1]
    assert not list(tmp_path.glob("lnharness-demo-*")), "the demo must remove its directory"


@pytest.mark.skipif(not LND.available, reason=str(LND.reason))
def test_up_on_lnd_then_down(tmp_path):
    """`lnharness up --impl lnd` starts a line of lnd nodes and reports how to reach them;
    `lnharness down` stops it."""
    log = tmp_path / "up.log"
    with open(log, "w") as out:
        up = subprocess.Popen([LNHARNESS, "up", "--impl", "lnd", "--nodes", "2",
                               "--dir", str(tmp_path / "net")],
                              stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        wait_for(lambda: "network up in" in log.read_text() or up.poll() is not None, 300,
                 what="lnharness up --impl lnd to report the network")
        text = log.read_text()
        assert up.poll() is None, text
        assert "l1 (lnd): id=" in text and "l2 (lnd): id=" in text
        assert "export LNH_L1_ID=" in text
        down = run("down", "--dir", str(tmp_path / "net"))
        assert down.returncode == 0, down.stdout + down.stderr
        assert up.wait(120) == 0, log.read_text()
    finally:
        if up.poll() is None:
            up.kill()
