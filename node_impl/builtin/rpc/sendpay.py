"""sendpay and listsendpays (Core Lightning's names, parameters and result fields): pay along
a route the caller chose, one part; the outcome is awaited with waitsendpay (rpc/payments.py).

Layer: rpc (top). Imports payments (pay), channel (store records), core, and rpc/params for
every parameter.

Single-part only: a non-zero `partid` is refused (-32602), as are an empty route (a payment to
ourselves), `localinvreqid` (BOLT 12) and `payment_metadata`. `groupid` is kept and shown.
"""

from __future__ import annotations

from typing import Any

from ..core.jsonrpc import INVALID_PARAMS, RpcError, RpcRegistry, param_error
from ..payments.pay import Payments, RouteHop
from . import params

SENDPAY_STATUSES = ("pending", "complete", "failed")
MAX_GROUPID = (1 << 64) - 1


def register(registry: RpcRegistry, *, payments: Payments) -> None:
    """Offer sendpay and listsendpays on `registry`."""

    async def sendpay(route: Any, payment_hash: Any, label: Any = None, amount_msat: Any = None,
                      bolt11: Any = None, payment_secret: Any = None, partid: Any = 0,
                      localinvreqid: Any = None, groupid: Any = None, payment_metadata: Any = None,
                      description: Any = None) -> dict[str, Any]:
        """Offer an HTLC along `route` ([{id, channel, amount_msat, delay}]); returns at once with
        status pending: waitsendpay gives the outcome."""
        hops = params.route_hops(route)
        hash_bytes = params.hex_bytes(payment_hash, "payment_hash", 32)
        if params.integer(partid, "partid", maximum=MAX_GROUPID) != 0:
            raise param_error("partid", "multi-part payments are not supported by this node: "
                                        "only partid 0 (one part)")
        for name, value in (("localinvreqid", localinvreqid), ("payment_metadata", payment_metadata)):
            if value is not None:
                raise param_error(name, "not supported by this node")
        if not hops:
            raise param_error("route", "an empty route (a payment to ourselves) is not supported "
                                       "by this node")
        final_msat = hops[-1].amount_msat
        if amount_msat is not None and params.msat(amount_msat, "amount_msat") != final_msat:
            raise RpcError(INVALID_PARAMS, f"Do not specify amount_msat ({amount_msat}) without "
                                           f"partid: if you do, it must be exactly the final amount "
                                           f"({final_msat}msat)")
        record = await payments.send_route(
            [RouteHop(h.node_id, h.short_channel_id, h.amount_msat, h.delay) for h in hops],
            payment_hash=hash_bytes,
            payment_secret=(params.hex_bytes(payment_secret, "payment_secret", 32)
                            if payment_secret is not None else None),
            amount_msat=final_msat,
            bolt11=params.bolt11(bolt11) if bolt11 is not None else None,
            label=params.string(label, "label") if label is not None else None,
            groupid=params.integer(groupid, "groupid", maximum=MAX_GROUPID) if groupid is not None else 1,
            description=params.string(description, "description") if description is not None else None)
        entry = record.to_sendpay_rpc()
        if record.status == "pending":
            entry["message"] = "Monitor status with listpays or waitsendpay"
        return entry

    async def listsendpays(bolt11: Any = None, payment_hash: Any = None, status: Any = None,
                           index: Any = None, start: Any = None, limit: Any = None) -> dict[str, Any]:
        """Payments sent (by pay, xpay, sendpay or sendonion), optionally only those of one
        invoice or payment hash, or of one status; `index`=created with start/limit pages them."""
        if bolt11 is not None and payment_hash is not None:
            raise RpcError(INVALID_PARAMS, "Can only specify one of {bolt11} or {payment_hash}")
        first, most = params.paging(index, start, limit, maximum=MAX_GROUPID)
        if first and (bolt11 is not None or payment_hash is not None):
            raise RpcError(INVALID_PARAMS, "Cannot use start with bolt11 or payment_hash")
        records = payments.listpays(
            bolt11=params.bolt11(bolt11) if bolt11 is not None else None,
            payment_hash=params.hex_bytes(payment_hash, "payment_hash", 32) if payment_hash is not None else None,
            status=params.choice(status, "status", SENDPAY_STATUSES) if status is not None else None)
        records = sorted((r for r in records if r.created_index >= first), key=lambda r: r.created_index)
        return {"payments": [r.to_sendpay_rpc() for r in records[:most]]}

    registry.register("sendpay", sendpay)
    registry.register("listsendpays", listsendpays)
