"""pyln-testing's waiting helpers on lnharness's `wait_for`."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lnharness.errors import WaitTimeout
from lnharness.pyln.flags import flag
from lnharness.wait import wait_for as harness_wait_for


class PylnWaitTimeout(WaitTimeout, ValueError):
    """A `wait_for` ran out of time: lnharness's `WaitTimeout` (a TimeoutError, naming what
    was awaited and the last value seen) that is also the ValueError pyln-testing raises."""


def wait_for(success: Callable[[], Any], timeout: float | None = None) -> Any:
    """Call `success` until it returns a truthy value and return that value; after
    `timeout` seconds (default `TIMEOUT`, read now) raise `PylnWaitTimeout`."""
    limit = flag("TIMEOUT") if timeout is None else timeout
    try:
        return harness_wait_for(success, limit)
    except WaitTimeout as exc:
        raise PylnWaitTimeout(exc.what, exc.timeout, exc.last, exc.hint) from None


def only_one(arr: Sequence[Any]) -> Any:
    """The single element of `arr`; an AssertionError naming the count otherwise."""
    if len(arr) != 1:
        raise AssertionError(f"expected exactly one element, got {len(arr)}: {arr!r}")
    return arr[0]


def sync_blockheight(bitcoind: Any, nodes: Sequence[Any]) -> None:
    """Wait until every node's `getinfo` blockheight has reached the chain's tip."""
    height = bitcoind.rpc.getblockchaininfo()["blocks"]
    for node in nodes:
        def caught_up(node: Any = node) -> bool:
            return bool(node.rpc.getinfo()["blockheight"] >= height)
        wait_for(caught_up)
