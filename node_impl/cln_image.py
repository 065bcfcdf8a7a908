"""The `cln` image: this machine's Core Lightning install tree, on the python image.

lightningd finds its subdaemons and plugins beside itself, in `../libexec/c-lightning`
(the layout `make install` leaves): the image gets that tree under /opt/cln, with the
shared libraries of every binary in it.
"""
from __future__ import annotations

from pathlib import Path

from lnharness.containers.bundles import LIB_DIR, LIB_PLACEHOLDER, shared_libraries
from lnharness.containers.images import ImageSpec
from lnharness.errors import UnavailableError

from .cln import lightningd_path

ELF_MAGIC = b"\x7fELF"


def _is_elf(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == ELF_MAGIC


def image_spec() -> ImageSpec:
    """Entry point `lnharness.images: cln`."""
    found = lightningd_path()
    if found is None:
        raise UnavailableError("lightningd not found on PATH and LNH_LIGHTNINGD is not set")
    binary = Path(found).resolve()
    libexec = binary.parent.parent / "libexec" / "c-lightning"
    if not libexec.is_dir():
        raise UnavailableError(f"{binary} has no {libexec}: the cln image needs an installed "
                               "Core Lightning (`make install`), not a build tree")
    files: dict[str, Path] = {"cln/bin/lightningd": binary}
    for path in sorted(libexec.rglob("*")):
        if path.is_file():
            files[f"cln/libexec/c-lightning/{path.relative_to(libexec).as_posix()}"] = path
    for path in list(files.values()):
        if _is_elf(path):
            for library, source in shared_libraries(path).items():
                files[f"{LIB_DIR}/{library}"] = source
    return ImageSpec(name="cln", dockerfile="cln.Dockerfile", base="python",
                     description=f"Core Lightning from {binary}", files=files,
                     texts={LIB_PLACEHOLDER: b""})
