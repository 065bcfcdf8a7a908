"""`lnharness install ldk`: build the `lnh-ldkd` daemon (daemon/, a Cargo crate on the
`ldk-node` crate) with the machine's cargo into the tool cache.

The crate is copied to a build directory beside the tool directory and built there with
its committed Cargo.lock (`--locked`); cargo's target directory stays there too (or
wherever `CARGO_TARGET_DIR` points), so a rebuild after a change is incremental. The
binary lands in `lnharness.dirs.tool_dir()` as `lnh-ldkd`, with a stamp of the sources it
was built from: a second run with unchanged sources is instant.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

from lnharness.dirs import tool_dir
from lnharness.errors import LnhError

CRATE_DIR = Path(__file__).with_name("daemon")
BINARY = "lnh-ldkd"
#: the ldk-node release the daemon is built on (pinned in daemon/Cargo.toml)
LDK_NODE_VERSION = "0.7.0"
MIN_RUST = (1, 85)
INSTALL_HINT = "run `lnharness install ldk` (needs Rust's cargo) or set LNH_LDK to an lnh-ldkd binary"


class InstallError(LnhError):
    """An installation could not be done; the message says why and what fixes it."""


def installed_binary(bin_dir: Path | None = None) -> Path | None:
    """The `lnh-ldkd` that `lnharness install ldk` left in the tool directory."""
    path = (bin_dir or tool_dir()) / BINARY
    return path if path.exists() else None


def crate_files() -> list[Path]:
    """The crate's source files, in a stable order (what a build depends on)."""
    files = [CRATE_DIR / "Cargo.toml", CRATE_DIR / "Cargo.lock"]
    files += sorted((CRATE_DIR / "src").glob("*.rs"))
    return files


def sources_stamp() -> str:
    """A hash of the crate's sources: a build is current when its stamp matches."""
    digest = hashlib.sha256()
    for path in crate_files():
        digest.update(path.relative_to(CRATE_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def install(version: str | None = None, *, bin_dir: Path | None = None,
            out: TextIO = sys.stdout) -> list[Path]:
    """Build `lnh-ldkd` (on ldk-node `version`, which must be the pinned one); the path built."""
    if version not in (None, LDK_NODE_VERSION, f"v{LDK_NODE_VERSION}"):
        raise InstallError(f"the ldk daemon is built on ldk-node {LDK_NODE_VERSION}, pinned in its "
                           f"Cargo.toml; --version {version!r} is not offered")
    cargo = _cargo()
    target = (bin_dir or tool_dir()).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    binary = target / BINARY
    stamp_path = target / f"{BINARY}.sources"
    stamp = sources_stamp()
    if binary.exists() and stamp_path.exists() and stamp_path.read_text() == stamp:
        print(f"lnh-ldkd (ldk-node {LDK_NODE_VERSION}) is already installed in {target}", file=out)
        return [binary]
    work = target.parent / "build" / "ldk"
    _copy_crate(work)
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR") or target.parent / "build" / "ldk-target")
    _step(out, f"compiling lnh-ldkd on ldk-node {LDK_NODE_VERSION} with cargo "
               "(the first build takes several minutes)")
    _cargo_build(cargo, work, target_dir, out)
    partial = target / f"{BINARY}.partial"
    shutil.copyfile(target_dir / "release" / BINARY, partial)
    partial.chmod(0o755)
    partial.replace(binary)
    stamp_path.write_text(stamp)
    print(f"installed lnh-ldkd (ldk-node {LDK_NODE_VERSION}) in {target}", file=out)
    return [binary]


def _cargo() -> str:
    cargo = shutil.which("cargo")
    if cargo is None:
        raise InstallError("Rust's cargo is not on PATH: install Rust "
                           f"{MIN_RUST[0]}.{MIN_RUST[1]} or newer (https://rustup.rs), then run "
                           "`lnharness install ldk` again")
    found = subprocess.run([cargo, "--version"], capture_output=True, text=True,
                           timeout=60).stdout.strip()
    numbers = re.match(r"cargo (\d+)\.(\d+)", found)
    if numbers is None or (int(numbers[1]), int(numbers[2])) < MIN_RUST:
        raise InstallError(f"{cargo} is {found or 'of unknown version'}; the ldk daemon needs "
                           f"Rust {MIN_RUST[0]}.{MIN_RUST[1]} or newer (https://rustup.rs)")
    return cargo


def _copy_crate(work: Path) -> None:
    """The crate's sources in `work` (a fresh copy; the package's own may be read-only)."""
    (work / "src").mkdir(parents=True, exist_ok=True)
    for stale in (work / "src").glob("*.rs"):
        stale.unlink()
    for path in crate_files():
        shutil.copyfile(path, work / path.relative_to(CRATE_DIR))


def _cargo_build(cargo: str, work: Path, target_dir: Path, out: TextIO) -> None:
    """`cargo build --release --locked`, its progress lines shown as they come."""
    env = {**os.environ, "CARGO_TARGET_DIR": str(target_dir)}
    process = subprocess.Popen([cargo, "build", "--release", "--locked", "--color", "never"],
                               cwd=work, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    tail: list[str] = []
    compiled = 0
    for line in process.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-20:]
        if line.lstrip().startswith("Compiling"):
            compiled += 1
            if compiled % 20 == 1 or "lnh-ldkd" in line:
                _step(out, f"cargo: {line.strip()} ({compiled} crates compiled)")
    if process.wait() != 0:
        raise InstallError(f"cargo build of lnh-ldkd failed (exit {process.returncode}) in "
                           f"{work}:\n" + "\n".join(tail))


def _step(out: TextIO, text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text} ...", file=out, flush=True)
