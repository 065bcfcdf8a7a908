"""sendonion / waitsendpay (Core Lightning's names): send an HTLC carrying an onion the caller
built, and wait for its outcome. For tests of forwarding nodes (bad HMACs, wrong amounts or
CLTVs, unknown channels, replayed payment hashes) and for callers that do their own routing.

The payment is recorded like any other (listpays); with the route's ``shared_secrets`` the
failure onion that comes back is decoded (``waitsendpay`` names the failure and its hop).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from ..channel.machine import LocalRequestError
from ..channel.store import PaymentRecord
from ..core.jsonrpc import RpcError, param_error
from .onion import ONION_PACKET_SIZE

if TYPE_CHECKING:
    from ..channel.manager import ChannelManager

PAY_IN_PROGRESS = 200
PAY_RHASH_ALREADY_USED = 201
PAY_TRY_OTHER_ROUTE = 204
PAY_STOPPED_RETRYING = 210
PAY_NO_SUCH_PAYMENT = 208
WAIT_POLL_S = 0.01


class OnionSender:
    """The sendonion and waitsendpay RPCs of one node."""

    def __init__(self, manager: ChannelManager) -> None:
        self.manager = manager
        self.node = manager.node
        self.store = manager.store
        manager.node.rpc.register("sendonion", self.sendonion)
        manager.node.rpc.register("waitsendpay", self.waitsendpay)

    async def sendonion(self, onion: Any, first_hop: Any, payment_hash: Any, shared_secrets: Any = None,
                        label: Any = None, destination: Any = None, amount_msat: Any = None) -> dict[str, Any]:
        """Offer an HTLC to ``first_hop`` {id, amount_msat, delay} carrying ``onion`` (hex, 1366 bytes);
        as in Core Lightning its cltv_expiry is the current height + 1 + ``delay``."""
        packet = _hex_param("onion", onion, ONION_PACKET_SIZE)
        hash_bytes = _hex_param("payment_hash", payment_hash, 32)
        if not isinstance(first_hop, dict):
            raise param_error("first_hop", "expected {id, amount_msat, delay}")
        peer_id = _hex_param("first_hop.id", first_hop.get("id"), 33)
        hop_msat = first_hop.get("amount_msat")
        delay = first_hop.get("delay")
        if not isinstance(hop_msat, int) or isinstance(hop_msat, bool) or hop_msat <= 0:
            raise param_error("first_hop.amount_msat", "expected a positive amount in msat")
        if not isinstance(delay, int) or isinstance(delay, bool) or delay <= 0:
            raise param_error("first_hop.delay", "expected a positive number of blocks")
        if shared_secrets is None:
            secrets: list[bytes] = []
        elif isinstance(shared_secrets, list):
            secrets = [_hex_param("shared_secrets", s, 32) for s in shared_secrets]
        else:
            raise param_error("shared_secrets", "expected a list of 32-byte hex secrets")
        if label is not None and not isinstance(label, str):
            raise param_error("label", "expected a string")
        dest = _hex_param("destination", destination, 33) if destination is not None else peer_id
        if amount_msat is not None and (not isinstance(amount_msat, int) or amount_msat <= 0):
            raise param_error("amount_msat", "expected a positive amount in msat")
        existing = self.store.payment(hash_bytes)
        if existing is not None and existing.status == "complete":
            raise RpcError(PAY_RHASH_ALREADY_USED, f"payment {payment_hash} already succeeded")
        if existing is not None and existing.status == "pending":
            raise RpcError(PAY_IN_PROGRESS, f"payment {payment_hash} is in progress")
        chan = self.manager.channel_to(peer_id, hop_msat)
        if chan is None:
            raise RpcError(PAY_TRY_OTHER_ROUTE, f"no channel with first hop {peer_id.hex()}")
        record = PaymentRecord(
            payment_hash=hash_bytes, bolt11=None, destination=dest, amount_msat=amount_msat or hop_msat,
            amount_sent_msat=hop_msat, status="pending", preimage=None, failure=None,
            created_at=int(time.time()), completed_at=None, channel_id=chan.channel_id, htlc_id=None,
            data={"shared_secrets": [s.hex() for s in secrets], "route": [], "label": label})
        try:
            await self.manager.add_outgoing_htlc(chan, hop_msat, hash_bytes, self.node.blockheight + 1 + delay,
                                                 packet, record)
        except LocalRequestError as exc:
            raise RpcError(PAY_TRY_OTHER_ROUTE, f"cannot offer the HTLC to {peer_id.hex()}: {exc}") from None
        return {"status": "pending", "payment_hash": hash_bytes.hex(), "amount_sent_msat": hop_msat,
                "created_at": record.created_at, "destination": dest.hex()}

    async def waitsendpay(self, payment_hash: Any, timeout: Any = None) -> dict[str, Any]:
        """Wait for a sendonion payment: its record when complete, else an error naming the failure."""
        hash_bytes = _hex_param("payment_hash", payment_hash, 32)
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout < 0):
            raise param_error("timeout", "expected a number of seconds")
        deadline = asyncio.get_running_loop().time() + (60.0 if timeout is None else float(timeout))
        while True:
            record = self.store.payment(hash_bytes)
            if record is None:
                raise RpcError(PAY_NO_SUCH_PAYMENT, f"no payment with hash {payment_hash}")
            if record.status == "complete":
                return {**record.to_rpc(), "payment_preimage": record.preimage.hex() if record.preimage else None}
            if record.status == "failed":
                raise RpcError(int(record.data.get("error_code", PAY_TRY_OTHER_ROUTE)),
                               record.failure or "payment failed")
            if asyncio.get_running_loop().time() >= deadline:
                raise RpcError(PAY_STOPPED_RETRYING, f"payment {payment_hash} still pending")
            await asyncio.sleep(WAIT_POLL_S)


def _hex_param(name: str, value: Any, size: int) -> bytes:
    if not isinstance(value, str):
        raise param_error(name, f"expected {size} bytes of hex")
    try:
        data = bytes.fromhex(value)
    except ValueError:
        raise param_error(name, "not hex") from None
    if len(data) != size:
        raise param_error(name, f"expected {size} bytes, got {len(data)}")
    return data
