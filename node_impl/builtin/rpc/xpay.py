"""xpay (Core Lightning's xpay plugin command): pay a BOLT 11 invoice with pay's machinery,
answered in xpay's shape and with xpay's error codes.

Layer: rpc (top). Imports payments (pay), wire (bolt11), core, and rpc/params for every
parameter.

What the built-in node cannot honour is refused with -32602 naming the parameter, never
ignored: askrene `layers` (there is no askrene), `partial_msat` below the invoice's amount
(a part of a multi-part payment), `payer_note` (BOLT 12 only) and BOLT 12 or BIP353 strings.
"""

from __future__ import annotations

from typing import Any

from ..core.jsonrpc import INVALID_PARAMS, RpcError, RpcRegistry, param_error
from ..payments.pay import (
    PAY_DESTINATION_PERM_FAIL,
    PAY_INVOICE_EXPIRED,
    PAY_ROUTE_NOT_FOUND,
    Payments,
)
from ..wire import bolt11 as bolt11_codec
from ..wire import bolt11_decode
from . import params

# Core Lightning's codes for xpay's failures (common/jsonrpc_errors.h)
PAY_UNSPECIFIED_ERROR = 209
PAY_INJECTPAYMENTONION_ALREADY_PAID = 219
KEPT_CODES = frozenset({INVALID_PARAMS, PAY_DESTINATION_PERM_FAIL, PAY_ROUTE_NOT_FOUND, PAY_INVOICE_EXPIRED})
"""pay's error codes xpay answers with too; every other payment failure is xpay's 209."""
DEFAULT_RETRY_FOR_S = 60
DEFAULT_MAXDELAY = 2016
MIN_DEFAULT_MAXFEE_MSAT = 5000
DEFAULT_MAXFEE_PERCENT = 1


def register(registry: RpcRegistry, *, payments: Payments, network: str) -> None:
    """Offer xpay on `registry`."""

    async def xpay(invstring: Any, amount_msat: Any = None, maxfee: Any = None, layers: Any = None,
                   retry_for: Any = DEFAULT_RETRY_FOR_S, partial_msat: Any = None,
                   maxdelay: Any = DEFAULT_MAXDELAY, payer_note: Any = None,
                   label: Any = None) -> dict[str, Any]:
        """Pay a BOLT 11 invoice, xpay's way: an absolute maxfee (default 1% or 5000 msat),
        result payment_preimage, failed_parts, successful_parts, amount_msat, amount_sent_msat."""
        text = params.bolt11(invstring, "invstring")
        if text[:3].lower() in ("lno", "lni", "lnr") or "@" in text:
            raise param_error("invstring", "BOLT 12 offers and invoices and BIP353 names are not "
                                           "supported by this node: give a BOLT 11 invoice")
        if layers is not None and layers != []:
            raise param_error("layers", "askrene layers are not supported by this node (it has no "
                                        "askrene): route with the gossip graph only, or omit layers")
        if payer_note is not None:
            raise param_error("payer_note", "only for BOLT 12 offers, which this node does not pay")
        try:
            invoice = bolt11_decode.decode_invoice(text, network=network)
        except bolt11_codec.Bolt11Error as exc:
            raise param_error("invstring", f"invalid invoice: {exc}") from None
        if invoice.amount_msat is None:
            if amount_msat is None:
                raise RpcError(INVALID_PARAMS, "amount_msat required")
            amount = params.msat(amount_msat, "amount_msat", minimum=1)
        else:
            if amount_msat is not None:
                raise RpcError(INVALID_PARAMS, "amount_msat unnecessary")
            amount = invoice.amount_msat
        if partial_msat is not None and params.msat(partial_msat, "partial_msat", minimum=1) != amount:
            raise param_error("partial_msat", "paying part of an invoice (multi-part payments) is not "
                                              f"supported by this node: give {amount} or omit it")
        fee_limit = (params.msat(maxfee, "maxfee") if maxfee is not None
                     else max(amount * DEFAULT_MAXFEE_PERCENT // 100, MIN_DEFAULT_MAXFEE_MSAT))
        timeout_s = params.number(retry_for, "retry_for", allow_zero=True)
        max_delay = params.integer(maxdelay, "maxdelay")
        note = params.string(label, "label") if label is not None else None
        existing = payments.store.payment(invoice.payment_hash)
        if existing is not None and existing.status == "complete":
            raise RpcError(PAY_INJECTPAYMENTONION_ALREADY_PAID, "Already paid this invoice successfully")
        try:
            record = await payments.pay(invoice, text, amount, label=note, timeout_s=timeout_s,
                                        max_fee_msat=fee_limit, max_delay=max_delay)
        except RpcError as exc:
            if exc.code in KEPT_CODES:
                raise
            raise RpcError(PAY_UNSPECIFIED_ERROR, exc.message, data=exc.data) from None
        attempts = int(record.data.get("attempt", 1))
        parts = record.data.get("parts") or {}  # a payment pay split (multipart.py)
        return {
            "payment_preimage": record.preimage.hex() if record.preimage else None,
            "failed_parts": attempts - 1 + sum(1 for p in parts.values() if p["status"] == "failed"),
            "successful_parts": sum(1 for p in parts.values() if p["status"] != "failed") or 1,
            "amount_msat": record.amount_msat,
            "amount_sent_msat": record.amount_sent_msat,
        }

    registry.register("xpay", xpay)
