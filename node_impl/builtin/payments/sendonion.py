"""sendonion / waitsendpay (Core Lightning's names): send an HTLC carrying an onion the caller
built, and wait for its outcome. For tests of forwarding nodes (bad HMACs, wrong amounts or
CLTVs, unknown channels, replayed payment hashes) and for callers that do their own routing.

Layer: payments. Imports channel (ops, store, machine errors), services, core. The RPC
handlers (parameter parsing) are in rpc/payments.py.

The payment is recorded like any other (listpays); with the route's ``shared_secrets`` the
failure onion that comes back is decoded (``waitsendpay`` names the failure and its hop).
"""

from __future__ import annotations

import asyncio
import time

from ..channel.machine import LocalRequestError
from ..channel.ops import ChannelOps
from ..channel.store import ChannelStore, PaymentRecord
from ..core.jsonrpc import RpcError
from ..services import Services

PAY_IN_PROGRESS = 200
PAY_RHASH_ALREADY_USED = 201
PAY_TRY_OTHER_ROUTE = 204
PAY_STOPPED_RETRYING = 210
PAY_NO_SUCH_PAYMENT = 208
WAIT_POLL_S = 0.01


class OnionSender:
    """Sends HTLCs with a caller's onion and waits for their outcome."""

    def __init__(self, services: Services, channels: ChannelOps, store: ChannelStore) -> None:
        self.services = services
        self.channels = channels
        self.store = store

    async def send(self, *, packet: bytes, payment_hash: bytes, first_hop_id: bytes, first_hop_msat: int,
                   delay: int, shared_secrets: list[bytes], label: str | None, destination: bytes,
                   amount_msat: int | None) -> PaymentRecord:
        """Offer an HTLC of ``first_hop_msat`` to ``first_hop_id`` carrying ``packet``; as in Core
        Lightning its cltv_expiry is the current height + 1 + ``delay``. Returns the pending record."""
        existing = self.store.payment(payment_hash)
        if existing is not None and existing.status == "complete":
            raise RpcError(PAY_RHASH_ALREADY_USED, f"payment {payment_hash.hex()} already succeeded")
        if existing is not None and existing.status == "pending":
            raise RpcError(PAY_IN_PROGRESS, f"payment {payment_hash.hex()} is in progress")
        chan = self.channels.channel_to(first_hop_id, first_hop_msat)
        if chan is None:
            raise RpcError(PAY_TRY_OTHER_ROUTE, f"no channel with first hop {first_hop_id.hex()}")
        record = PaymentRecord(
            payment_hash=payment_hash, bolt11=None, destination=destination, amount_msat=amount_msat or first_hop_msat,
            amount_sent_msat=first_hop_msat, status="pending", preimage=None, failure=None,
            created_at=int(time.time()), completed_at=None, channel_id=chan.channel_id, htlc_id=None,
            data={"shared_secrets": [s.hex() for s in shared_secrets], "route": [], "label": label})
        try:
            await self.channels.add_outgoing_htlc(chan, first_hop_msat, payment_hash,
                                                  self.services.blockheight + 1 + delay, packet, record)
        except LocalRequestError as exc:
            raise RpcError(PAY_TRY_OTHER_ROUTE, f"cannot offer the HTLC to {first_hop_id.hex()}: {exc}") from None
        return record

    async def wait(self, payment_hash: bytes, timeout_s: float | None = None) -> PaymentRecord:
        """Wait for a sendonion payment: its record when complete, else RpcError naming the failure."""
        deadline = asyncio.get_running_loop().time() + (60.0 if timeout_s is None else timeout_s)
        while True:
            record = self.store.payment(payment_hash)
            if record is None:
                raise RpcError(PAY_NO_SUCH_PAYMENT, f"no payment with hash {payment_hash.hex()}")
            if record.status == "complete":
                return record
            if record.status == "failed":
                raise RpcError(int(record.data.get("error_code", PAY_TRY_OTHER_ROUTE)),
                               record.failure or "payment failed")
            if asyncio.get_running_loop().time() >= deadline:
                raise RpcError(PAY_STOPPED_RETRYING, f"payment {payment_hash.hex()} still pending")
            await asyncio.sleep(WAIT_POLL_S)
