"""The narrow interfaces between the channel layer and the payments layer above it.

Layer: channel. Imports channel (machine, store, updates) only.

- `ChannelOps`: what payments, forwarding and invoices may ask of the channels (find a
  channel, offer an HTLC on it, look again at undecided incoming HTLCs). ChannelManager
  implements it. The `Channel` objects it hands out are for reading (balances, ids, state);
  every change goes through ChannelOps.
- `HtlcHandler`: what the channel manager calls when an HTLC needs a decision or reached an
  outcome (incoming HTLC to settle, our HTLC fulfilled / failed / stranded, preimages for
  on-chain claims, invoices paid by an on-chain claim). Implemented in the payments layer
  (payments/htlcs.py) and handed to the manager by the composition root (node.py) with
  `ChannelManager.set_htlc_handler`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .machine import Channel
from .store import PaymentRecord
from .updates import Htlc


@dataclass(frozen=True)
class IncomingDecision:
    """How to settle an incoming HTLC: fulfill with a preimage, fail with a reason onion,
    or fail as malformed."""

    preimage: bytes | None = None
    reason: bytes | None = None
    malformed_code: int | None = None
    sha256_of_onion: bytes | None = None
    settles_invoice: bool = False
    pending: bool = False  # a forward is in flight: decide later


class ChannelOps(Protocol):
    """What the payments layer may ask of the channels (implemented by ChannelManager)."""

    def usable_channels(self) -> list[Channel]:
        """Normal channels whose peer is connected and re-established (with a scid)."""
        ...

    def all_channels(self) -> list[Channel]:
        """Every channel we know, in any state."""
        ...

    def channel_to(self, peer_id: bytes, amount_msat: int) -> Channel | None:
        """A normal channel with ``peer_id`` that can send ``amount_msat`` (else the best one)."""
        ...

    def channel_by_scid(self, scid: int | None, peer_id: bytes) -> Channel | None:
        """Our normal channel with ``peer_id`` (the one with ``scid`` if given)."""
        ...

    def channel_by_scid_any(self, scid: int | None) -> Channel | None:
        """Our channel with short_channel_id ``scid`` or our alias ``scid`` (any peer, any state)."""
        ...

    def channel_by_id(self, channel_id: bytes) -> Channel | None:
        """Our channel with this channel_id (any peer, any state)."""
        ...

    def is_usable(self, chan: Channel) -> bool:
        """Normal, its peer connected and the channel re-established."""
        ...

    async def add_outgoing_htlc(self, chan: Channel, amount_msat: int, payment_hash: bytes, cltv_expiry: int,
                                onion_packet: bytes, record: PaymentRecord) -> Htlc:
        """Offer an HTLC of our own payment on ``chan`` and send it; ``record`` is persisted in
        the same commit. Raises machine.LocalRequestError if it cannot be offered."""
        ...

    async def add_forwarded_htlc(self, chan: Channel, amount_msat: int, payment_hash: bytes, cltv_expiry: int,
                                 onion_packet: bytes, write_link: Callable[[Htlc], None]) -> Htlc:
        """Offer a forwarded HTLC on ``chan``; ``write_link`` stores the link in the same commit.
        Raises machine.LocalRequestError if it cannot be offered."""
        ...

    async def resettle(self, chan: Channel) -> None:
        """Look again at the undecided incoming HTLCs of ``chan`` (a forward resolved)."""
        ...


class HtlcHandler(Protocol):
    """What the channel manager calls for HTLC decisions and outcomes (payments layer)."""

    def decide_incoming(self, chan: Channel, htlc: Htlc) -> IncomingDecision:
        """How to settle an HTLC committed to us on ``chan`` (pending: ask again later)."""
        ...

    async def invoice_settled(self, payment_hash: bytes, amount_msat: int) -> None:
        """An incoming HTLC paying our invoice was fulfilled (in the channel's commit)."""
        ...

    def outgoing_fulfilled(self, chan: Channel, htlc: Htlc, preimage: bytes) -> None:
        """An HTLC we offered was fulfilled, by message or on chain (in the channel's commit)."""
        ...

    def outgoing_failed(self, chan: Channel, htlc: Htlc) -> None:
        """An HTLC we offered failed: by message, or timed out on chain (htlc.removal says)."""
        ...

    def outgoing_stranded(self, chan: Channel, htlc: Htlc, why: str) -> None:
        """An HTLC we offered on a closed channel can never be fulfilled (never signed, or the
        commitment on chain holds no output for it)."""
        ...

    def preimage_for(self, payment_hash: bytes) -> bytes | None:
        """The preimage of an HTLC offered to us, if known (our invoice, or learnt downstream
        by a forward), to claim it on chain."""
        ...

    async def claimed_on_chain(self, payment_hash: bytes, amount_msat: int) -> None:
        """Our on-chain claim of an HTLC offered to us confirmed (an invoice of ours is paid)."""
        ...

    async def on_block(self, height: int) -> None:
        """The channels processed block ``height`` (forwards that can no longer resolve fail back)."""
        ...
