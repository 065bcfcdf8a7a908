"""The hops of one HTLC's route and its onion (BOLT 4 payloads: forwarding hops, then the
final hop's payment_data and any extra records).

Layer: payments. Imports payments/onion only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from . import onion


@dataclass(frozen=True)
class Hop:
    """One hop of the route an attempt takes: the HTLC to node_id over short_channel_id."""

    node_id: bytes
    short_channel_id: int | None
    amount_msat: int
    cltv_expiry: int
    policy_timestamp: int = 0
    """Timestamp of the channel_update routing used for this channel (0: a route hint's or ours)."""


def build_onion(route: list[Hop], payment_hash: bytes, payment_secret: bytes | None, total_msat: int,
                 final_records: tuple[tuple[int, bytes], ...] = ()) -> tuple[bytes, list[bytes]]:
    """The onion of one HTLC along `route` (forwarding payloads, then the final one: payment_data
    with `total_msat` when there is a payment_secret) and the hops' shared secrets."""
    payloads = []
    for i, hop in enumerate(route):
        if i + 1 < len(route):
            nxt = route[i + 1]
            payloads.append(onion.HopPayload(amt_to_forward_msat=nxt.amount_msat, outgoing_cltv_value=nxt.cltv_expiry,
                                             short_channel_id=nxt.short_channel_id))
        else:
            payloads.append(onion.HopPayload(amt_to_forward_msat=hop.amount_msat, outgoing_cltv_value=hop.cltv_expiry,
                                             payment_secret=payment_secret,
                                             total_msat=None if payment_secret is None else total_msat,
                                             unknown_records=final_records))
    session_key = os.urandom(32)
    packet = onion.construct_onion(
        session_key, [onion.OnionHop(h.node_id, p.encode()) for h, p in zip(route, payloads, strict=True)],
        payment_hash)
    return packet, onion.hop_shared_secrets(session_key, [h.node_id for h in route])
