"""The base every lnharness image is built FROM: Debian bookworm, minimal.

Made here without a registry: `debootstrap --variant=minbase bookworm` into a temporary
directory (root only; about half a minute), loaded into the engine as an image (`docker
import`). Its tag is the hash of that recipe. Where a registry is reachable, `LNH_DOCKER_BASE`
may name a Debian bookworm image instead (pinned by digest, preferably); it is pulled when the
engine does not have it. The Python image's wheels are for bookworm's Python (3.11).
"""
from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TextIO

from lnharness.containers.engine import Engine
from lnharness.errors import UnavailableError

REPOSITORY = "lnharness"
NAME = "base"
SUITE = "bookworm"
#: the Python of SUITE, for which the Python image's wheels are fetched
PYTHON_VERSION = "3.11"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
RECIPE_VERSION = "1"  # bump when the way the base is made changes


def mirror() -> str:
    """The Debian mirror debootstrap uses: `LNH_DEBIAN_MIRROR` (read now) or deb.debian.org."""
    return os.environ.get("LNH_DEBIAN_MIRROR") or DEFAULT_MIRROR


def configured_base() -> str | None:
    """`LNH_DOCKER_BASE` (read now): a Debian bookworm image to build on instead."""
    return os.environ.get("LNH_DOCKER_BASE") or None


def reference() -> str:
    """The base image's reference: `LNH_DOCKER_BASE`, or `lnharness/base:<recipe hash>`."""
    configured = configured_base()
    if configured:
        return configured
    recipe = "\0".join(["debootstrap", "minbase", SUITE, mirror(), platform.machine(),
                        RECIPE_VERSION])
    return f"{REPOSITORY}/{NAME}:{hashlib.sha256(recipe.encode()).hexdigest()[:16]}"


def ensure(engine: Engine, out: TextIO | None = None) -> str:
    """The base image's reference, made (or pulled) first if the engine does not have it."""
    wanted = reference()
    if engine.image(wanted) is not None:
        _say(out, f"{wanted}: up to date (Debian {SUITE} base)")
        return wanted
    if configured_base():
        _say(out, f"{wanted}: pulling (LNH_DOCKER_BASE)")
        for _ in engine.stream("POST", "/images/create", params={"fromImage": wanted}, data=b""):
            pass
        if engine.image(wanted) is None:
            raise UnavailableError(f"LNH_DOCKER_BASE={wanted}: the engine could not pull it")
        return wanted
    _make(engine, wanted, out)
    return wanted


def _make(engine: Engine, wanted: str, out: TextIO | None) -> None:
    debootstrap = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if os.access("/usr/sbin/debootstrap", os.X_OK) else None)
    if debootstrap is None:
        raise UnavailableError("the base image is made with debootstrap, which is not installed "
                               "(apt-get install debootstrap), or set LNH_DOCKER_BASE to a "
                               f"Debian {SUITE} image from a registry")
    if os.geteuid() != 0:
        raise UnavailableError("debootstrap needs root: run `lnharness images build` once as "
                               f"root, or set LNH_DOCKER_BASE to a Debian {SUITE} image from a "
                               "registry")
    started = time.monotonic()
    _say(out, f"{wanted}: debootstrap --variant=minbase {SUITE} from {mirror()}")
    with tempfile.TemporaryDirectory(prefix="lnh-base-") as tmp:
        root, archive = Path(tmp) / "rootfs", Path(tmp) / "rootfs.tar"
        done = subprocess.run([debootstrap, "--variant=minbase", SUITE, str(root), mirror()],
                              capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-10:])
            raise UnavailableError(f"debootstrap exited with {done.returncode}:\n{tail}")
        _say(out, f"  debootstrap done in {time.monotonic() - started:.1f} s; loading it into "
                  "the engine")
        subprocess.run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(archive), "."],
                       check=True)
        repository, _, tag = wanted.rpartition(":")
        with open(archive, "rb") as data:
            for _ in engine.stream("POST", "/images/create", data=data,
                                   size=archive.stat().st_size,
                                   params={"fromSrc": "-", "repo": repository, "tag": tag}):
                pass
    if engine.image(wanted) is None:
        raise UnavailableError(f"{wanted}: the engine imported the root file system but has no "
                               "such image")
    _say(out, f"{wanted}: made in {time.monotonic() - started:.1f} s")


def _say(out: TextIO | None, text: str) -> None:
    if out is not None:
        print(text, file=out, flush=True)
