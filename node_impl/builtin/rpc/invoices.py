"""RPC methods over invoices (Core Lightning's names and result shapes): invoice,
listinvoices, delinvoice, waitinvoice, waitanyinvoice, decodepay, decode; and the decoding of a BOLT 11 invoice for RPC results.

Layer: rpc. Imports core, wire, payments (the invoice store) and rpc.params only.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..core.jsonrpc import INVALID_PARAMS, RpcError, RpcRegistry, param_error
from ..payments.invoices import (
    DEFAULT_EXPIRY_S,
    InvoiceError,
    InvoiceNotFound,
    InvoiceStatusMismatch,
    InvoiceStore,
)
from ..wire import bolt11 as bolt11_codec
from ..wire import bolt11_decode
from ..wire.fallback_address import describe_fallback
from . import params

# Core Lightning's error codes
LIGHTNINGD = -1
INVOICE_LABEL_EXISTS = 900
INVOICE_PREIMAGE_EXISTS = 901
INVOICE_EXPIRED_DURING_WAIT = 903
INVOICE_WAIT_TIMED_OUT = 904
INVOICE_NOT_FOUND = 905
INVOICE_STATUS_UNEXPECTED = 906
INVOICE_NO_DESCRIPTION = 908
MAX_INDEX = (1 << 64) - 1


def feature_hex(bits: frozenset[int]) -> str:
    """Feature bits as Core Lightning shows them: big-endian hex, no leading zero bytes."""
    value = 0
    for bit in bits:
        value |= 1 << bit
    return value.to_bytes((value.bit_length() + 7) // 8, "big").hex()


def decode_invoice_for_rpc(text: str, network: str | None) -> dict[str, Any]:
    """Core Lightning's decodepay fields for an invoice of `network` (None: any); -32602
    naming what is wrong."""
    try:
        inv = bolt11_decode.decode_invoice(text, network=network)
    except bolt11_codec.Bolt11Error as exc:
        raise RpcError(INVALID_PARAMS, f"Invalid bolt11: {exc}") from None
    result: dict[str, Any] = {
        "currency": bolt11_codec.NETWORK_PREFIXES[inv.network], "created_at": inv.timestamp,
        "expiry": inv.expiry, "payee": inv.payee, "payment_hash": inv.payment_hash.hex(),
        "payment_secret": inv.payment_secret.hex(), "min_final_cltv_expiry": inv.min_final_cltv_expiry,
        "signature": inv.signature[:64].hex(),
        "features": feature_hex(inv.features),
    }
    if inv.amount_msat is not None:
        result["amount_msat"] = inv.amount_msat
    if inv.description is not None:
        result["description"] = inv.description
    if inv.description_hash is not None:
        result["description_hash"] = inv.description_hash.hex()
    if inv.route_hints:
        result["routes"] = [[{"pubkey": hop.pubkey, "short_channel_id": hop.short_channel_id_str,
                              "fee_base_msat": hop.fee_base_msat,
                              "fee_proportional_millionths": hop.fee_proportional_millionths,
                              "cltv_expiry_delta": hop.cltv_expiry_delta} for hop in route]
                            for route in inv.route_hints]
    if inv.fallbacks:
        result["fallbacks"] = [describe_fallback(f, inv.network) for f in inv.fallbacks]
    if inv.metadata is not None:
        result["payment_metadata"] = inv.metadata.hex()
    return result


class InvoiceMethods:
    """invoice, listinvoices, delinvoice, waitinvoice, waitanyinvoice, decodepay, decode."""

    def __init__(self, invoices: InvoiceStore, network: str) -> None:
        self._invoices = invoices
        self._network = network

    async def invoice(self, amount_msat: Any, label: Any, description: Any, expiry: Any = None,
                      fallbacks: Any = None, preimage: Any = None,
                      exposeprivatechannels: Any = None, cltv: Any = None,
                      deschashonly: Any = False) -> dict[str, Any]:
        """Create an invoice ('any' for no amount); with deschashonly the invoice carries the
        description's SHA256 (description_hash), for a description too long for it."""
        amount = params.msat_or_any(amount_msat, "amount_msat")
        if amount == 0:
            raise param_error("amount_msat", f"should be positive msat or 'any': "
                                             f"invalid token '{amount_msat}'")
        preimage_bytes = None if preimage is None else params.hex_bytes(preimage, "preimage", 32)
        for name, value in (("fallbacks", fallbacks), ("exposeprivatechannels", exposeprivatechannels),
                            ("cltv", cltv)):
            if value is not None:
                raise param_error(name, "not supported by this node")
        hash_only = params.boolean(deschashonly, "deschashonly")
        text = params.description(description, "description", hash_only=hash_only)
        try:
            record = self._invoices.create(
                amount_msat=amount, label=params.string(label, "label"), description=text,
                description_hash_only=hash_only,
                expiry_s=params.integer(expiry, "expiry", minimum=1) if expiry is not None
                else DEFAULT_EXPIRY_S,
                preimage=preimage_bytes)
        except InvoiceError as exc:
            code = (INVOICE_LABEL_EXISTS if "Duplicate label" in str(exc)
                    else INVOICE_PREIMAGE_EXISTS if "preimage already used" in str(exc) else LIGHTNINGD)
            raise RpcError(code, str(exc)) from None
        except bolt11_codec.Bolt11Error as exc:
            raise RpcError(INVALID_PARAMS, f"invoice: {exc}") from None
        return {"payment_hash": record.payment_hash.hex(), "expires_at": record.expires_at,
                "bolt11": record.bolt11, "payment_secret": record.payment_secret.hex(),
                "created_index": record.created_index}

    async def listinvoices(self, label: Any = None, invstring: Any = None, payment_hash: Any = None,
                           offer_id: Any = None, index: Any = None, start: Any = None,
                           limit: Any = None) -> dict[str, Any]:
        """Invoices, or the one of a label, bolt11 string or payment hash (one filter at most);
        `index`=created with start/limit pages them."""
        if sum(f is not None for f in (label, invstring, payment_hash, offer_id)) > 1:
            raise RpcError(INVALID_PARAMS, "Can only specify one of {label}, {invstring}, "
                                           "{payment_hash} or {offer_id}")
        if offer_id is not None:  # this node makes no BOLT 12 offers: none of its invoices has one
            params.hex_bytes(offer_id, "offer_id", 32)
            return {"invoices": []}
        first, most = params.paging(index, start, limit, maximum=MAX_INDEX)
        records = [r for r in self._invoices.list() if r.created_index >= first]
        if label is not None:
            wanted_label = params.string(label, "label")
            records = [r for r in records if r.label == wanted_label]
        if invstring is not None:
            wanted_invoice = params.bolt11(invstring, "invstring")
            records = [r for r in records if r.bolt11 == wanted_invoice]
        if payment_hash is not None:
            wanted_hash = params.hex_bytes(payment_hash, "payment_hash", 32)
            records = [r for r in records if r.payment_hash == wanted_hash]
        return {"invoices": [r.to_rpc() for r in records[:most]]}

    async def delinvoice(self, label: Any, status: Any, desconly: Any = False) -> dict[str, Any]:
        """Delete an invoice (or, with desconly, only its description) whose status is `status`:
        905 if there is none, 906 if its status is another (data: current and expected)."""
        wanted = params.string(label, "label")
        expected = params.string(status, "status")
        try:
            record = await self._invoices.delete(wanted, expected_status=expected,
                                                 description_only=params.boolean(desconly, "desconly"))
        except InvoiceNotFound as exc:
            raise RpcError(INVOICE_NOT_FOUND, str(exc)) from None
        except InvoiceStatusMismatch as exc:
            raise RpcError(INVOICE_STATUS_UNEXPECTED, str(exc),
                           data={"current_status": exc.actual, "expected_status": exc.expected}) from None
        except InvoiceError as exc:
            raise RpcError(INVOICE_NO_DESCRIPTION, str(exc)) from None
        return record.to_rpc()

    async def waitanyinvoice(self, lastpay_index: Any = 0, timeout: Any = None) -> dict[str, Any]:
        """The first invoice paid after pay_index `lastpay_index` (0: any), waiting for one;
        904 after `timeout` seconds without."""
        after = params.integer(lastpay_index, "lastpay_index", maximum=MAX_INDEX)
        timeout_s = params.integer(timeout, "timeout") if timeout is not None else None
        record = await self._invoices.wait_any_paid(after, timeout_s)
        if record is None:
            raise RpcError(INVOICE_WAIT_TIMED_OUT, "Timed out while waiting for invoice to be paid")
        return record.to_rpc()

    async def waitinvoice(self, label: Any) -> dict[str, Any]:
        """Wait until the invoice is paid; error 903 if it expires first."""
        try:
            record = await self._invoices.wait_settled(params.string(label, "label"))
        except InvoiceError as exc:
            raise RpcError(LIGHTNINGD, str(exc)) from None
        if record.status() == "expired":
            raise RpcError(INVOICE_EXPIRED_DURING_WAIT, "invoice expired during wait",
                           data=record.to_rpc())
        return record.to_rpc()

    async def decodepay(self, bolt11: Any, description: Any = None) -> dict[str, Any]:
        """Decode a BOLT 11 invoice (must be for this node's network); `description` is checked
        against the invoice's description hash."""
        decoded = decode_invoice_for_rpc(params.bolt11(bolt11), self._network)
        if description is not None:
            text = params.description(description, hash_only=True)
            digest = hashlib.sha256(text.encode()).hexdigest()
            if decoded.get("description_hash") != digest:
                raise param_error("description", "does not match the invoice's description hash")
            decoded["description"] = description
        return decoded


    async def decode(self, string: Any) -> dict[str, Any]:
        """Decode a BOLT 11 invoice ("lightning:" prefix allowed) as decodepay, with type and
        valid; the other strings Core Lightning's decode reads (BOLT 12, runes, emergency
        recovery data) are refused with -32602."""
        text = params.bolt11(string, "string")
        kind = _other_decodable(text)
        if kind is not None:
            raise param_error("string", f"looks like {kind}, which this node cannot decode: "
                                        "only BOLT 11 invoices")
        try:
            decoded = decode_invoice_for_rpc(text, None)  # as Core Lightning: any network
        except RpcError as exc:
            raise param_error("string", f"Unparsable string: {exc.message}") from None
        return {"type": "bolt11 invoice", "valid": True, **decoded}


def _other_decodable(text: str) -> str | None:
    """What Core Lightning's decode would read `text` as, when it is not a BOLT 11 invoice."""
    lowered = text.lower()
    for prefix, kind in (("lno1", "a BOLT 12 offer"), ("lni1", "a BOLT 12 invoice"),
                         ("lnr1", "a BOLT 12 invoice_request"), ("lnp1", "a BOLT 12 payer proof"),
                         ("clnemerg1", "emergency recovery data")):
        if lowered.startswith(prefix):
            return kind
    if lowered.startswith("ln"):
        return None
    if all(c.isalnum() or c in "-_=" for c in text):  # base64url: Core Lightning reads a rune
        return "a rune"
    return None


def register(registry: RpcRegistry, *, invoices: InvoiceStore, network: str) -> None:
    """Add the invoice methods to `registry`."""
    methods = InvoiceMethods(invoices, network)
    for handler in (methods.invoice, methods.listinvoices, methods.waitinvoice, methods.decodepay,
                    methods.decode, methods.delinvoice, methods.waitanyinvoice):
        registry.register(handler.__name__, handler)
