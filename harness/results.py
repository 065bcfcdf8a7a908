"""Result types shared by every implementation: small frozen dataclasses, amounts in msat."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CHANNEL_STATES = ("opening", "active", "closing", "closed")
INVOICE_STATES = ("unpaid", "paid", "expired")
PAYMENT_STATES = ("complete", "failed")


@dataclass(frozen=True)
class Channel:
    """One channel as seen from the node that lists it."""
    channel_id: str
    short_channel_id: str | None
    peer_id: str
    state: str
    capacity_sat: int
    local_msat: int
    remote_msat: int
    funding_txid: str
    #: HTLCs on the channel not yet settled or failed, either way (None: the adapter cannot say)
    pending_htlcs: int | None = None
    #: the peer is connected and the channel re-established on that connection (None: the
    #: adapter cannot say); a channel that is active but not connected cannot carry a payment
    connected: bool | None = None
    #: the payment hashes (hex) of those HTLCs (None: the adapter cannot say)
    htlc_hashes: tuple[str, ...] | None = None
    native: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Balance:
    """Confirmed on-chain funds and our side of every active channel."""
    onchain_sat: int
    channels_msat: int


@dataclass(frozen=True)
class Invoice:
    """An invoice issued by a node."""
    bolt11: str
    payment_hash: str
    label: str
    amount_msat: int | None
    status: str = "unpaid"
    preimage: str | None = None
    native: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Payment:
    """The outcome of `pay`."""
    payment_hash: str
    status: str
    preimage: str | None
    fee_msat: int
    amount_msat: int
    native: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    parts: int = 1
    """How many HTLCs (parts) the payment that completed took: more than one when it was
    split across routes (a multi-part payment)."""


@dataclass(frozen=True)
class Availability:
    """Whether an implementation can run here: its version, or the reason it cannot."""
    name: str
    available: bool
    version: str | None = None
    reason: str | None = None

    def describe(self) -> str:
        if self.available:
            return f"{self.name}: available ({self.version or 'unknown version'})"
        return f"{self.name}: unavailable: {self.reason}"
