"""`lnharness install lnd`: build lnd and lncli from the Go module proxy into the tool cache.

lnd's go.mod has `replace` directives, so `go install .../cmd/lnd@version` refuses; the
small Go module in gomod/ requires lnd and repeats the replaces, and `go build` compiles
the two commands from it with the build tags the harness drives (the RPC sub-servers).
The result lands in `lnharness.dirs.tool_dir()` as `lnd-<version>` / `lncli-<version>`,
with `lnd` / `lncli` links to the last installed version. A second run is instant.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

from lnharness.dirs import tool_dir
from lnharness.errors import LnhError

PINNED_VERSION = "v0.21.2-beta"
MODULE = "github.com/lightningnetwork/lnd"
BUILD_TAGS = ("signrpc", "walletrpc", "chainrpc", "invoicesrpc", "routerrpc", "peersrpc")
MIN_GO = (1, 25)
GOMOD_DIR = Path(__file__).with_name("gomod")
_VERSION = re.compile(r"v\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?")


class InstallError(LnhError):
    """An installation could not be done; the message says why and what fixes it."""


def installed_binary(name: str = "lnd", bin_dir: Path | None = None) -> Path | None:
    """The `lnd` (or `lncli`) that `lnharness install lnd` left in the tool directory."""
    path = (bin_dir or tool_dir()) / name
    return path if path.exists() else None


def install(version: str | None = None, *, bin_dir: Path | None = None,
            out: TextIO = sys.stdout) -> list[Path]:
    """Build lnd and lncli at `version` (default the pinned release); the paths built."""
    version = version or PINNED_VERSION
    if not _VERSION.fullmatch(version):
        raise InstallError(f"lnd version {version!r} is not a release tag like {PINNED_VERSION}")
    go = _go_toolchain()
    target = (bin_dir or tool_dir()).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    binaries = [target / f"lnd-{version}", target / f"lncli-{version}"]
    stamp = target / f"lnd-{version}.tags"
    wanted = " ".join(BUILD_TAGS)
    if all(b.exists() for b in binaries) and stamp.exists() and stamp.read_text() == wanted:
        _link_current(target, version)
        print(f"lnd {version} is already installed in {target}", file=out)
        return binaries
    work = target.parent / "build" / f"lnd-{version}"
    _prepare_module(go, work, version, out)
    for command, binary in zip(("lnd", "lncli"), binaries, strict=True):
        _step(out, f"compiling {command} {version} (the first build takes a few minutes)")
        partial = binary.with_name(binary.name + ".partial")
        _run([go, "build", "-trimpath", "-tags", wanted, "-ldflags", "-s -w", "-o", str(partial),
              f"{MODULE}/cmd/{command}"], cwd=work, what=f"go build of {command}")
        partial.replace(binary)
    stamp.write_text(wanted)
    _link_current(target, version)
    shown = subprocess.run([str(binaries[0]), "--version"], capture_output=True, text=True,
                           timeout=60).stdout.strip()
    print(f"installed {shown or 'lnd ' + version} and lncli in {target}", file=out)
    return binaries


def _go_toolchain() -> str:
    go = shutil.which("go")
    if go is None:
        raise InstallError("the Go toolchain (`go`) is not on PATH: install Go "
                           f"{MIN_GO[0]}.{MIN_GO[1]} or newer (https://go.dev/dl/), then run "
                           "`lnharness install lnd` again")
    found = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True,
                           timeout=60).stdout.strip()
    numbers = re.match(r"go(\d+)\.(\d+)", found)
    if numbers is None or (int(numbers[1]), int(numbers[2])) < MIN_GO:
        raise InstallError(f"{go} is {found or 'of unknown version'}; lnd needs Go "
                           f"{MIN_GO[0]}.{MIN_GO[1]} or newer (https://go.dev/dl/)")
    return go


def _prepare_module(go: str, work: Path, version: str, out: TextIO) -> None:
    """The wrapper module in `work`, requiring lnd at `version`, its modules downloaded."""
    work.mkdir(parents=True, exist_ok=True)
    for name in ("go.mod", "go.sum", "tools.go"):
        shutil.copyfile(GOMOD_DIR / name, work / name)
    if version != PINNED_VERSION:
        gomod = work / "go.mod"
        gomod.write_text(gomod.read_text().replace(f"{MODULE} {PINNED_VERSION}",
                                                   f"{MODULE} {version}"))
        _step(out, f"resolving lnd {version}'s dependencies (go mod tidy)")
        _run([go, "mod", "tidy"], cwd=work, what=f"go mod tidy for lnd {version}")
    _step(out, "downloading modules from the Go module proxy (go mod download)")
    _run([go, "mod", "download"], cwd=work, what="go mod download")


def _link_current(target: Path, version: str) -> None:
    for command in ("lnd", "lncli"):
        link = target / command
        fresh = target / f".{command}.link"
        fresh.unlink(missing_ok=True)
        fresh.symlink_to(f"{command}-{version}")
        fresh.replace(link)


def _step(out: TextIO, text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text} ...", file=out, flush=True)


def _run(argv: list[str], *, cwd: Path, what: str) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-20:])
        raise InstallError(f"{what} failed (exit {done.returncode}) in {cwd}:\n{tail}")
