"""`lnharness install ldk`: clear errors without cargo or with a bad version; instant when done."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lnharness.node_impl.ldk.install import LDK_NODE_VERSION, installed_binary, sources_stamp

LNHARNESS = str(Path(sys.executable).with_name("lnharness"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LNHARNESS, *args], capture_output=True, text=True, timeout=120,
                          env=env)


def test_without_cargo_the_error_is_one_line_naming_what_to_install(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path), "LNH_BIN_DIR": str(tmp_path / "bin")}
    out = run("install", "ldk", env=env)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "cargo is not on PATH" in lines[0] and "https://rustup.rs" in lines[0]
    assert not (tmp_path / "bin" / "lnh-ldkd").exists()


def test_only_the_pinned_ldk_node_is_offered(tmp_path: Path) -> None:
    out = run("install", "ldk", "--version", "0.8.0", "--bin-dir", str(tmp_path))
    assert out.returncode == 1
    assert f"built on ldk-node {LDK_NODE_VERSION}" in out.stderr and "'0.8.0'" in out.stderr


def test_the_stamp_follows_the_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lnharness.node_impl.ldk import install
    crate = tmp_path / "daemon"
    shutil.copytree(install.CRATE_DIR, crate, ignore=shutil.ignore_patterns("target"))
    monkeypatch.setattr(install, "CRATE_DIR", crate)
    first = sources_stamp()
    assert sources_stamp() == first
    main = crate / "src" / "main.rs"
    main.write_text(main.read_text() + "\n// changed\n")
    assert sources_stamp() != first


def _installed_and_current() -> bool:
    binary = installed_binary()
    stamp = binary.with_name(binary.name + ".sources") if binary else None
    return stamp is not None and stamp.exists() and stamp.read_text() == sources_stamp()


@pytest.mark.skipif(not _installed_and_current() or shutil.which("cargo") is None,
                    reason="the ldk daemon is not installed from these sources "
                           "(`lnharness install ldk` needs cargo)")
def test_a_second_install_is_instant_and_keeps_the_binary() -> None:
    before = installed_binary().stat().st_mtime_ns
    out = run("install", "ldk")
    assert out.returncode == 0, out.stderr
    assert "is already installed" in out.stdout
    assert installed_binary().stat().st_mtime_ns == before
