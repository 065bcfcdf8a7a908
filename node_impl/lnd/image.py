"""The `lnd` image: this machine's lnd (found as the adapter finds it) on the Debian base."""
from __future__ import annotations

from pathlib import Path

from lnharness.containers.bundles import bundle
from lnharness.containers.images import ImageSpec
from lnharness.errors import UnavailableError

from . import config


def image_spec() -> ImageSpec:
    """Entry point `lnharness.images: lnd`."""
    found = config.find_lnd()
    if found is None:
        raise UnavailableError(config.not_found_reason())
    files, texts = bundle({"lnd": Path(found.path)})
    return ImageSpec(name="lnd", dockerfile="lnd.Dockerfile",
                     description=f"lnd from {found.path} ({found.how})", files=files, texts=texts)
