"""The `cln` image: this machine's Core Lightning, on the python image.

lightningd finds its subdaemons and plugins relative to itself: in `../libexec/c-lightning`
when installed (`make install`), or, run from its build tree, the subdaemons beside it and
the plugins in `../plugins`. The image gets the same layout under /opt/cln (`bin/` or
`lightningd/`, on the image's PATH), with the shared libraries of every binary in it.
"""
from __future__ import annotations

import os
from pathlib import Path

from lnharness.containers.bundles import LIB_DIR, LIB_PLACEHOLDER, shared_libraries
from lnharness.containers.images import ImageSpec
from lnharness.errors import UnavailableError

from .cln import lightningd_path

ELF_MAGIC = b"\x7fELF"


def _is_elf(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == ELF_MAGIC


def _install_tree(binary: Path) -> dict[str, Path] | None:
    """`make install`'s layout: bin/lightningd and libexec/c-lightning/ (subdaemons, plugins)."""
    libexec = binary.parent.parent / "libexec" / "c-lightning"
    if not libexec.is_dir():
        return None
    files = {"cln/bin/lightningd": binary}
    for path in sorted(libexec.rglob("*")):
        if path.is_file():
            files[f"cln/libexec/c-lightning/{path.relative_to(libexec).as_posix()}"] = path
    return files


def _build_tree(binary: Path) -> dict[str, Path] | None:
    """A build tree: lightningd/lightningd with its lightning_* subdaemons, and the plugins
    (the executable files of ../plugins, not its sources or subdirectories)."""
    subdaemons = sorted(binary.parent.glob("lightning_*"))
    plugins_dir = binary.parent.parent / "plugins"
    if not subdaemons or not plugins_dir.is_dir():
        return None
    files = {"cln/lightningd/lightningd": binary}
    for path in subdaemons:
        if path.is_file() and os.access(path, os.X_OK):
            files[f"cln/lightningd/{path.name}"] = path
    for path in sorted(plugins_dir.iterdir()):
        if path.is_file() and os.access(path, os.X_OK):
            files[f"cln/plugins/{path.name}"] = path
    return files


def image_spec() -> ImageSpec:
    """Entry point `lnharness.images: cln`."""
    found = lightningd_path()
    if found is None:
        raise UnavailableError("lightningd not found on PATH and LNH_LIGHTNINGD is not set")
    binary = Path(found).resolve()
    files = _install_tree(binary) or _build_tree(binary)
    if files is None:
        raise UnavailableError(f"{binary} has neither ../libexec/c-lightning (an installed Core "
                               "Lightning) nor its subdaemons and ../plugins beside it (a "
                               "build tree): the cln image cannot find what lightningd runs")
    for path in list(files.values()):
        if _is_elf(path):
            for library, source in shared_libraries(path).items():
                files[f"{LIB_DIR}/{library}"] = source
    return ImageSpec(name="cln", dockerfile="cln.Dockerfile", base="python",
                     description=f"Core Lightning from {binary}", files=files,
                     texts={LIB_PLACEHOLDER: b""})
