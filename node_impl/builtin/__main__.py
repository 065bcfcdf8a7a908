"""`python -m lnharness.node_impl.builtin --lightning-dir=DIR ...`: run the built-in Lightning node."""

from __future__ import annotations

import asyncio
import os
import sys

from .core.config import parse_config
from .core.log import get_logger, setup_logging


def main(argv: list[str] | None = None) -> int:
    config = parse_config(argv)
    os.umask(0o077)  # every file the node writes (database, secrets, log) is the user's only
    config.lightning_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    setup_logging(list(config.log_files), config.log_level)
    from .node import Node  # after logging is set up, so import-time warnings are logged

    try:
        node = Node(config)
    except SystemExit:
        raise
    except Exception as exc:
        get_logger("node").error("cannot start: %s: %s", type(exc).__name__, exc, exc_info=True)
        return 1
    try:
        asyncio.run(node.run())
    except OSError as exc:  # e.g. a port already in use
        get_logger("node").error("cannot start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
