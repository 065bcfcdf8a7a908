"""Binaries of this machine for an image's build context, with the shared libraries they need.

A binary goes to `bin/<name>`; the libraries `ldd` lists for it go to `lib/` (the C
library itself excepted: the Debian base has it), where the image's `LD_LIBRARY_PATH`
finds them. A binary built against a newer C library than the base's fails the image's
smoke test (its Dockerfile runs it), with the loader's message.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from lnharness.errors import UnavailableError

#: the C library and its loader: provided by the base image, never copied
C_LIBRARY = re.compile(r"^(linux-vdso|linux-gate|ld-linux|libc|libm|libdl|libpthread|librt|"
                       r"libresolv|libutil|libnsl|libanl)\b")
LIB_DIR = "lib"
#: a file in lib/ so the directory exists for the Dockerfile's COPY when nothing else does
LIB_PLACEHOLDER = f"{LIB_DIR}/.lnharness"


def shared_libraries(binary: Path) -> dict[str, Path]:
    """Library name -> file of every shared library `binary` loads, the C library excepted.
    Empty for a static binary. `UnavailableError` when one cannot be found."""
    try:
        done = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise UnavailableError("ldd is not installed: it lists the libraries a binary needs "
                               "in its image") from None
    text = done.stdout + done.stderr
    if done.returncode != 0 or "not a dynamic executable" in text or "statically linked" in text:
        return {}
    found: dict[str, Path] = {}
    for line in text.splitlines():
        name, arrow, rest = line.strip().partition(" => ")
        if not arrow or C_LIBRARY.match(name):
            continue
        if rest.startswith("not found"):
            raise UnavailableError(f"{binary} needs {name}, which this machine does not have")
        path = rest.split(" (", 1)[0].strip()
        if path:
            found[name] = Path(path)
    return found


def bundle(binaries: dict[str, Path]) -> tuple[dict[str, Path], dict[str, bytes]]:
    """Build-context files for `binaries` (name in the image -> file here) and their
    libraries: (files, texts) of an `ImageSpec`."""
    files: dict[str, Path] = {}
    for name, binary in binaries.items():
        if not binary.is_file():
            raise UnavailableError(f"{binary} is not a file")
        files[f"bin/{name}"] = binary
        for library, path in shared_libraries(binary).items():
            files[f"{LIB_DIR}/{library}"] = path
    return files, {LIB_PLACEHOLDER: b""}
