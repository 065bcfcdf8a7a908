"""`lnharness impls` and `lnharness demo --impl ldk` as a user runs them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from lnharness.node_impl.ldk.adapter import LdkNode

LNHARNESS = str(Path(sys.executable).with_name("lnharness"))
LDK = LdkNode.availability()


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LNHARNESS, *args], capture_output=True, text=True, timeout=300,
                          env=env)


def test_impls_says_why_ldk_is_unavailable_and_what_fixes_it(tmp_path):
    env = {**os.environ, "LNH_BIN_DIR": str(tmp_path / "bin"), "PATH": str(tmp_path)}
    env.pop("LNH_LDK", None)
    out = run("impls", env=env)
    assert out.returncode == 0, out.stderr
    assert "ldk: unavailable: lnh-ldkd not found; run `lnharness install ldk`" in out.stdout
    not_ours = tmp_path / "lnh-ldkd"
    not_ours.write_text("#!/bin/sh\necho something else\n")
    not_ours.chmod(0o755)
    out = run("impls", env={**os.environ, "LNH_LDK": str(not_ours)})
    assert f"ldk: unavailable: {not_ours} (LNH_LDK) is not lnh-ldkd" in out.stdout


@pytest.mark.skipif(not LDK.available, reason=str(LDK.reason))
def test_impls_says_where_ldk_is_and_its_version():
    out = run("impls")
    line = next(line for line in out.stdout.splitlines() if line.strip().startswith("ldk:"))
    assert "ldk: available (lnh-ldkd 0.1.0 (ldk-node 0.7.0)" in line


@pytest.mark.skipif(not LDK.available, reason=str(LDK.reason))
def test_demo_on_ldk_tells_the_story(tmp_path):
    out = run("demo", "--impl", "ldk", env={**os.environ, "TMPDIR": str(tmp_path)})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "starting three ldk Lightning nodes" in out.stdout
    assert out.stdout.count("preimage ") == 2 and "Both cats delivered" in out.stdout
    assert not list(tmp_path.glob("lnharness-demo-*")), "the demo must remove its directory"
