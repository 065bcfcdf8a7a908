"""wait (Core Lightning's name, parameters and result) for the sendpays subsystem: block until
one of its indexes reaches a value.

Layer: rpc (top). Imports channel (the payment store), core, and rpc/params.

`wait sendpays created|updated|deleted nextvalue` answers at once with
`{"subsystem", <index>: value}` when the index is already there, else logs
`waiting on sendpays <index> <nextvalue>` (Core Lightning's line) and answers with the change
that reached it: `{"subsystem", <index>: value, "sendpays": {groupid, partid, payment_hash,
status}}`. The invoices, forwards and htlcs subsystems are refused (-32602): this node keeps
no indexes for them. Payments are never deleted, so `deleted` stays 0.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..channel.store import ChannelStore, PaymentRecord
from ..core.jsonrpc import RpcRegistry, param_error
from ..core.log import get_logger
from . import params

log = get_logger("rpc")
SUBSYSTEMS = ("invoices", "forwards", "sendpays", "htlcs")
INDEXES = ("created", "updated", "deleted")
MAX_INDEX = (1 << 64) - 1


def register(registry: RpcRegistry, *, store: ChannelStore) -> None:
    """Offer wait on `registry`, over the sendpays indexes of `store`."""
    waiters: list[tuple[str, int, asyncio.Future[dict[str, Any]]]] = []

    def changed(index_name: str, value: int, record: PaymentRecord) -> None:
        for waiter in list(waiters):
            name, nextvalue, future = waiter
            if name == index_name and value >= nextvalue and not future.done():
                waiters.remove(waiter)
                future.set_result({
                    "subsystem": "sendpays", index_name: value,
                    "sendpays": {"groupid": int(record.data.get("groupid", 1)), "partid": 0,
                                 "payment_hash": record.payment_hash.hex(),
                                 "status": record.status}})

    store.payment_listeners.append(changed)

    async def wait(subsystem: Any, indexname: Any, nextvalue: Any) -> dict[str, Any]:
        """Wait until the sendpays index `indexname` is at least `nextvalue`."""
        if params.choice(subsystem, "subsystem", SUBSYSTEMS) != "sendpays":
            raise param_error("subsystem", f"{subsystem}: not supported by this node (only sendpays)")
        name = params.choice(indexname, "indexname", INDEXES)
        target = params.integer(nextvalue, "nextvalue", maximum=MAX_INDEX)
        current = store.sendpays_index(name)
        if current >= target:
            return {"subsystem": "sendpays", name: current}
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        waiter = (name, target, future)
        waiters.append(waiter)
        log.info("waiting on sendpays %s %d", name, target)
        try:
            return await future
        finally:
            if waiter in waiters:
                waiters.remove(waiter)

    registry.register("wait", wait)
