"""The `ldk` image: this machine's lnh-ldkd (found as the adapter finds it) on the Debian base."""
from __future__ import annotations

import subprocess
from pathlib import Path

from lnharness.containers.bundles import bundle
from lnharness.containers.images import ImageSpec
from lnharness.errors import UnavailableError

from .adapter import find_daemon
from .install import BINARY, INSTALL_HINT


def image_spec() -> ImageSpec:
    """Entry point `lnharness.images: ldk`."""
    found = find_daemon()
    if found is None:
        raise UnavailableError(f"{BINARY} not found; {INSTALL_HINT}")
    path, how = found
    try:
        usage = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=30)
    except OSError as exc:
        raise UnavailableError(f"{path} ({how}) does not run: {exc}") from None
    if "--rpc-bind" not in usage.stdout + usage.stderr:
        # in a container its RPC must listen beyond the container's loopback
        raise UnavailableError(f"{path} ({how}) was built before --rpc-bind existed, which a "
                               f"container needs; {INSTALL_HINT}")
    files, texts = bundle({BINARY: Path(path)})
    return ImageSpec(name="ldk", dockerfile="ldk.Dockerfile",
                     description=f"{BINARY} from {path} ({how})", files=files, texts=texts)
