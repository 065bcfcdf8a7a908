"""The daemon's Rust: its own unit tests (request parsing, options, stores) pass and the code
is rustfmt-formatted. Skips without cargo."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from lnharness.dirs import tool_dir
from lnharness.node_impl.ldk.install import CRATE_DIR

pytestmark = pytest.mark.skipif(shutil.which("cargo") is None, reason="Rust's cargo is not on PATH")


def cargo(*args: str) -> subprocess.CompletedProcess[str]:
    # the target directory `lnharness install ldk` uses, so the dependencies are built once
    target = os.environ.get("CARGO_TARGET_DIR") or str(tool_dir().parent / "build" / "ldk-target")
    return subprocess.run(["cargo", *args], cwd=CRATE_DIR, capture_output=True, text=True,
                          timeout=1800, env={**os.environ, "CARGO_TARGET_DIR": target})


def test_cargo_test_passes() -> None:
    done = cargo("test", "--release", "--locked")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "test result: ok." in done.stdout and " 0 failed" in done.stdout


def test_the_rust_is_formatted() -> None:
    if subprocess.run(["cargo", "fmt", "--version"], capture_output=True).returncode != 0:
        pytest.skip("rustfmt is not installed")
    done = cargo("fmt", "--check")
    assert done.returncode == 0, "run `cargo fmt` in node_impl/ldk/daemon:\n" + done.stdout[-3000:]
