"""Built-in nodes run inside the test's own event loop, for tests that reach into a node's
parts (peers, channels, gossip) while it talks to others over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lnharness.node_impl.builtin.core.config import parse_config
from lnharness.node_impl.builtin.node import Node


async def until(predicate: Callable[[], Any], what: str, timeout_s: float = 20.0) -> None:
    """Poll `predicate` in the event loop until it is true; AssertionError naming `what` after
    `timeout_s`."""
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)
    try:
        await asyncio.wait_for(poll(), timeout_s)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def make_node(tmp_path: Path, name: str, *extra: str) -> Node:
    """A node in `tmp_path/name` listening on a free port, logging at debug level; not started
    (run it with `node.run()`)."""
    return Node(parse_config([f"--lightning-dir={tmp_path / name}", "--addr=127.0.0.1:0",
                              "--log-file=" + str(tmp_path / name / "log"), "--log-level=debug", *extra]))
