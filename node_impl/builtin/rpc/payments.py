"""RPC methods of the payments layer (Core Lightning's names and result shapes).

Layer: rpc (top). Imports payments (pay, forward, sendonion, onion), channel (store), wire
(bolt11), core, and rpc/params for every parameter.

pay, listpays, listforwards, sendonion, waitsendpay. Each handler parses its parameters here
and calls the payments subsystem's typed method; node.py registers them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..channel.store import PaymentRecord
from ..core.jsonrpc import RpcRegistry, param_error
from ..payments.forward import STATUSES, Forwarding
from ..payments.onion import KEYSEND_PREIMAGE_TYPE, ONION_PACKET_SIZE
from ..payments.pay import Payments
from ..payments.sendonion import OnionSender
from ..wire import bolt11 as bolt11_codec
from ..wire import bolt11_decode
from . import params

DEFAULT_RETRY_FOR_S = 60.0


def register(registry: RpcRegistry, *, payments: Payments, forwarding: Forwarding, onion_sender: OnionSender,
             network: str) -> None:
    """Offer the payment methods on `registry`."""

    async def pay(bolt11: Any, amount_msat: Any = None, label: Any = None, maxfeepercent: Any = 0.5,
                  retry_for: Any = None, maxdelay: Any = None, exemptfee: Any = 5000,
                  description: Any = None) -> dict[str, Any]:
        """Pay a BOLT 11 invoice; returns the preimage. `description`, when given, must be the
        invoice's (or hash to its description_hash)."""
        bolt11 = params.bolt11(bolt11)
        try:
            invoice = bolt11_decode.decode_invoice(bolt11, network=network)
        except bolt11_codec.Bolt11Error as exc:
            raise param_error("bolt11", f"invalid invoice: {exc}") from None
        if description is not None:
            description = params.string(description, "description")
            _check_description(invoice, description)
        if invoice.amount_msat is None:
            if amount_msat is None:
                raise param_error("amount_msat", "required for an invoice without an amount")
            amount = params.msat(amount_msat, "amount_msat", minimum=1)
        else:
            if amount_msat is not None:
                raise param_error("amount_msat", "must not be given: the invoice has an amount")
            amount = invoice.amount_msat
        timeout_s = params.number(retry_for, "retry_for") if retry_for is not None else DEFAULT_RETRY_FOR_S
        max_fee_msat = _max_fee_msat(amount, maxfeepercent, exemptfee)
        max_delay = int(params.number(maxdelay, "maxdelay")) if maxdelay is not None else None
        if label is not None:
            label = params.string(label, "label")
        record = await payments.pay(invoice, bolt11, amount, label=label, timeout_s=timeout_s,
                                    max_fee_msat=max_fee_msat, max_delay=max_delay,
                                    description=description)
        return _pay_result(record)

    async def keysend(destination: Any, amount_msat: Any, label: Any = None, maxfeepercent: Any = None,
                      retry_for: Any = None, maxdelay: Any = None, exemptfee: Any = None, routehints: Any = None,
                      extratlvs: Any = None, maxfee: Any = None) -> dict[str, Any]:
        """Pay ``destination`` without an invoice: the preimage travels in the onion (keysend)."""
        node = params.node_id(destination, "destination")
        amount = params.msat(amount_msat, "amount_msat", minimum=1)
        if routehints not in (None, []):
            raise param_error("routehints", "route hints for keysend are not supported by this node")
        if maxfee is not None and (maxfeepercent is not None or exemptfee is not None):
            raise param_error("maxfee", "cannot be given with maxfeepercent or exemptfee")
        if maxfee is not None:
            max_fee_msat = params.msat(maxfee, "maxfee")
        else:
            max_fee_msat = _max_fee_msat(amount, 0.5 if maxfeepercent is None else maxfeepercent,
                                         5000 if exemptfee is None else exemptfee)
        records = params.tlv_records(extratlvs, "extratlvs", reserved=(KEYSEND_PREIMAGE_TYPE,)) \
            if extratlvs is not None else ()
        record = await payments.keysend(
            node, amount, label=params.string(label, "label") if label is not None else None,
            timeout_s=params.number(retry_for, "retry_for") if retry_for is not None else DEFAULT_RETRY_FOR_S,
            max_fee_msat=max_fee_msat,
            max_delay=int(params.number(maxdelay, "maxdelay")) if maxdelay is not None else None,
            extra_records=records)
        return _pay_result(record)

    async def listpays(bolt11: Any = None, payment_hash: Any = None, status: Any = None) -> dict[str, Any]:
        """Outgoing payments, optionally only those of one invoice, hash or status."""
        records = payments.listpays(
            bolt11=params.bolt11(bolt11) if bolt11 is not None else None,
            payment_hash=params.hex_bytes(payment_hash, "payment_hash", 32) if payment_hash is not None else None,
            status=params.string(status, "status") if status is not None else None)
        return {"pays": [r.to_rpc() for r in records]}

    async def listforwards(status: Any = None, in_channel: Any = None, out_channel: Any = None) -> dict[str, Any]:
        """HTLCs this node forwarded (Core Lightning's listforwards)."""
        if status is not None and status not in STATUSES:
            raise param_error("status", f"expected one of {', '.join(STATUSES)}")
        return {"forwards": forwarding.listforwards(
            status=status,
            in_channel=params.short_channel_id(in_channel, "in_channel") if in_channel is not None else None,
            out_channel=params.short_channel_id(out_channel, "out_channel") if out_channel is not None else None)}

    async def sendonion(onion: Any, first_hop: Any, payment_hash: Any, shared_secrets: Any = None,
                        label: Any = None, destination: Any = None, amount_msat: Any = None) -> dict[str, Any]:
        """Offer an HTLC to ``first_hop`` {id, amount_msat, delay} carrying ``onion`` (hex, 1366 bytes);
        as in Core Lightning its cltv_expiry is the current height + 1 + ``delay``."""
        packet = params.hex_bytes(onion, "onion", ONION_PACKET_SIZE)
        hash_bytes = params.hex_bytes(payment_hash, "payment_hash", 32)
        if not isinstance(first_hop, dict):
            raise param_error("first_hop", "expected {id, amount_msat, delay}")
        peer_id = params.node_id(first_hop.get("id"), "first_hop.id")
        hop_msat = params.msat(first_hop.get("amount_msat"), "first_hop.amount_msat", minimum=1)
        delay = params.integer(first_hop.get("delay"), "first_hop.delay", minimum=1)
        if shared_secrets is None:
            secrets: list[bytes] = []
        elif isinstance(shared_secrets, list):
            secrets = [params.hex_bytes(s, "shared_secrets", 32) for s in shared_secrets]
        else:
            raise param_error("shared_secrets", "expected a list of 32-byte hex secrets")
        if label is not None:
            label = params.string(label, "label")
        dest = params.node_id(destination, "destination") if destination is not None else peer_id
        total_msat = params.msat(amount_msat, "amount_msat", minimum=1) if amount_msat is not None else None
        record = await onion_sender.send(packet=packet, payment_hash=hash_bytes, first_hop_id=peer_id,
                                         first_hop_msat=hop_msat, delay=delay, shared_secrets=secrets,
                                         label=label, destination=dest, amount_msat=total_msat)
        return {"status": "pending", "payment_hash": hash_bytes.hex(), "amount_sent_msat": hop_msat,
                "created_at": record.created_at, "destination": dest.hex()}

    async def waitsendpay(payment_hash: Any, timeout: Any = None) -> dict[str, Any]:
        """Wait for a sendonion payment: its record when complete, else an error naming the failure."""
        hash_bytes = params.hex_bytes(payment_hash, "payment_hash", 32)
        timeout_s = params.number(timeout, "timeout", allow_zero=True) if timeout is not None else None
        record = await onion_sender.wait(hash_bytes, timeout_s)
        return {**record.to_rpc(), **record.to_sendpay_rpc()}

    for name, handler in (
        ("pay", pay),
        ("keysend", keysend),
        ("listpays", listpays),
        ("listforwards", listforwards),
        ("sendonion", sendonion),
        ("waitsendpay", waitsendpay),
    ):
        registry.register(name, handler)


def _check_description(invoice: bolt11_codec.Invoice, description: str) -> None:
    """Core Lightning's check of pay's `description` against the invoice's."""
    if invoice.description_hash is not None:
        if hashlib.sha256(description.encode()).digest() != invoice.description_hash:
            raise param_error("description", "does not match description_hash")
    elif invoice.description is not None and description != invoice.description:
        raise param_error("description", "does not match description in the invoice")


def _max_fee_msat(amount_msat: int, maxfeepercent: Any, exemptfee: Any) -> int:
    """The fee a payment may pay: `maxfeepercent` of the amount, at least `exemptfee` (Core
    Lightning's pay and keysend)."""
    fee_percent = params.number(maxfeepercent, "maxfeepercent", allow_zero=True, maximum=100)
    return max(int(amount_msat * fee_percent / 100),
               int(params.number(exemptfee, "exemptfee", allow_zero=True, maximum=params.MAX_MSAT)))


def _pay_result(record: PaymentRecord) -> dict[str, Any]:
    return {
        "payment_preimage": record.preimage.hex() if record.preimage else None,
        "payment_hash": record.payment_hash.hex(),
        "status": "complete",
        "amount_msat": record.amount_msat,
        "amount_sent_msat": record.amount_sent_msat,
        "destination": record.destination.hex(),
        "created_at": record.created_at,
        "parts": sum(1 for p in (record.data.get("parts") or {}).values() if p["status"] != "failed") or 1,
    }
