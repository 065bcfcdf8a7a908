"""`lnharness install lnd`: clear errors without Go or with a bad version; instant when done."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lnharness.node_impl.lnd.install import PINNED_VERSION, installed_binary

LNHARNESS = str(Path(sys.executable).with_name("lnharness"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LNHARNESS, *args], capture_output=True, text=True, timeout=120,
                          env=env)


def test_without_go_the_error_is_one_line_naming_what_to_install(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path), "LNH_BIN_DIR": str(tmp_path / "bin")}
    out = run("install", "lnd", env=env)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Go toolchain" in lines[0] and "https://go.dev/dl/" in lines[0]
    assert not (tmp_path / "bin" / "lnd").exists()


def test_a_version_that_is_not_a_release_tag_is_refused(tmp_path: Path) -> None:
    out = run("install", "lnd", "--version", "master; rm -rf /", "--bin-dir", str(tmp_path))
    assert out.returncode == 1
    assert "'master; rm -rf /' is not a release tag like v0.21.2-beta" in out.stderr


def test_an_unknown_name_lists_what_can_be_installed() -> None:
    out = run("install", "eclair")
    assert out.returncode == 1
    assert "nothing to install named 'eclair'; installable: ldk, lnd" in out.stderr


@pytest.mark.skipif(installed_binary() is None or shutil.which("go") is None,
                    reason="lnd is not installed (`lnharness install lnd` needs Go)")
def test_a_second_install_is_instant_and_keeps_the_binary() -> None:
    before = installed_binary().resolve().stat().st_mtime_ns
    out = run("install", "lnd")
    assert out.returncode == 0, out.stderr
    assert f"lnd {PINNED_VERSION} is already installed" in out.stdout
    assert installed_binary().resolve().stat().st_mtime_ns == before
