"""The `bitcoind` image: this machine's bitcoind (`LNH_BITCOIND` or PATH) on the Debian base."""
from __future__ import annotations

from pathlib import Path

from lnharness.containers.bundles import bundle
from lnharness.containers.images import ImageSpec
from lnharness.errors import UnavailableError

from .bitcoind import bitcoind_path


def image_spec() -> ImageSpec:
    """Entry point `lnharness.images: bitcoind`."""
    path = bitcoind_path()
    if path is None:
        raise UnavailableError("bitcoind not found on PATH and LNH_BITCOIND is not set")
    files, texts = bundle({"bitcoind": Path(path)})
    return ImageSpec(name="bitcoind", dockerfile="bitcoind.Dockerfile",
                     description=f"Bitcoin Core from {path}", files=files, texts=texts)
