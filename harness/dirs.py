"""Per-test directories under one base directory."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-\[\]]+")
MAX_NAME = 120


def base_dir() -> Path:
    """The directory holding every test's directory: `LNH_TEST_DIR` or a per-user temp dir."""
    configured = os.environ.get("LNH_TEST_DIR")
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / f"lnharness-{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def tool_dir() -> Path:
    """Where `lnharness install` puts the binaries it builds: `LNH_BIN_DIR`, else
    `$XDG_CACHE_HOME/lnharness/bin` (default `~/.cache/lnharness/bin`). Read when called."""
    configured = os.environ.get("LNH_BIN_DIR")
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "lnharness" / "bin"


def safe_name(name: str) -> str:
    """`name` made safe for a directory name; a parametrize id like `[cln-2]` is kept."""
    cleaned = _UNSAFE.sub("_", name).strip("._") or "test"
    return cleaned[:MAX_NAME]


def make_test_dir(name: str, base: Path | None = None) -> Path:
    """Create a new, empty, uniquely named directory for a test (safe across processes)."""
    parent = base if base is not None else base_dir()
    parent.mkdir(parents=True, exist_ok=True)
    stem = safe_name(name)
    for attempt in range(10_000):
        candidate = parent / (stem if attempt == 0 else f"{stem}-{attempt}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"no free directory name for {stem!r} under {parent}")


def remove_test_dir(path: Path) -> None:
    """Delete a test directory and everything in it."""
    shutil.rmtree(path, ignore_errors=True)
