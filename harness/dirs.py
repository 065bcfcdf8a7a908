"""Per-test directories under one base directory.

Test directories hold secrets (node seeds, RPC passwords, wallets), so every directory made
here is 0700, and a base directory is used only if it belongs to the user running the
tests: the default one, /tmp/lnharness-<uid>, has a predictable name another user could
create first.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

from .errors import UnsafeDirectoryError

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-\[\]]+")
MAX_NAME = 120


def base_dir() -> Path:
    """The directory holding every test's directory: `LNH_TEST_DIR` or a per-user temp dir."""
    configured = os.environ.get("LNH_TEST_DIR")
    if configured:
        return prepare_base(Path(configured))
    return prepare_base(Path(tempfile.gettempdir()) / f"lnharness-{os.getuid()}", default=True)


def prepare_base(path: Path, *, default: bool = False) -> Path:
    """Create `path` (0700) if missing; refuse it if another user owns it. The `default`
    base, named by the harness, must also not be a symbolic link and is made 0700."""
    try:
        path.mkdir(mode=0o700, parents=True)
        os.chmod(path, 0o700)
    except FileExistsError:
        pass
    info = path.lstat() if default else path.stat()
    fix = "set LNH_TEST_DIR (or --lnh-test-dir) to a directory of your own"
    if default and stat.S_ISLNK(info.st_mode):
        raise UnsafeDirectoryError(f"test base directory {path} is a symbolic link: remove it or {fix}")
    if info.st_uid != os.getuid():
        raise UnsafeDirectoryError(
            f"test base directory {path} belongs to uid {info.st_uid}, not to you (uid "
            f"{os.getuid()}): it could read your nodes' secrets; {fix}")
    if default and stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


def tool_dir() -> Path:
    """Where `lnharness install` puts the binaries it builds: `LNH_BIN_DIR`, else
    `$XDG_CACHE_HOME/lnharness/bin` (default `~/.cache/lnharness/bin`). Read when called."""
    configured = os.environ.get("LNH_BIN_DIR")
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "lnharness" / "bin"


def bytecode_cache_dir() -> Path:
    """Where Python daemons keep their compiled bytecode when the environment forbids writing
    it next to the sources: `$XDG_CACHE_HOME/lnharness/pycache` (default
    `~/.cache/lnharness/pycache`). Read when called."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "lnharness" / "pycache"


def safe_name(name: str) -> str:
    """`name` made safe for a directory name; a parametrize id like `[cln-2]` is kept."""
    cleaned = _UNSAFE.sub("_", name).strip("._") or "test"
    return cleaned[:MAX_NAME]


def make_test_dir(name: str, base: Path | None = None) -> Path:
    """Create a new, empty, uniquely named directory for a test (safe across processes)."""
    parent = prepare_base(base) if base is not None else base_dir()
    stem = safe_name(name)
    for attempt in range(10_000):
        candidate = parent / (stem if attempt == 0 else f"{stem}-{attempt}")
        try:
            candidate.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"no free directory name for {stem!r} under {parent}")


def remove_test_dir(path: Path) -> None:
    """Delete a test directory and everything in it."""
    shutil.rmtree(path, ignore_errors=True)


def write_private(path: Path, data: bytes | str) -> None:
    """Write `data` to `path`, readable by this user only (0600 even if the file existed):
    for secrets such as a node's seed or the chain's RPC credentials."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
