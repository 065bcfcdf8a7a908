"""Names and helpers the channel manager's modules share (manager, open_flow, close_flow,
chain_events), and `ManagerParts`: the manager's state its mixins use.

Layer: channel. Imports services and channel.machine/store only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bitcoin.core import CTransaction, b2lx, x

from ..services import Services
from .machine import Channel
from .store import ChannelStore

ALL_CHANNELS = bytes(32)
"""channel_id of an error or warning about every channel with the peer (BOLT 1)."""
LIGHTNINGD = -1
"""Core Lightning's generic error code."""
COMMITMENT_FEE_TARGET_BLOCKS = 6
"""The confirmation target of the fee estimate our commitments follow (open, update_fee)."""


def channel_id_text(chan: Channel) -> str:
    """The channel id (or temporary id, before funding) as hex."""
    return (chan.channel_id or chan.temporary_channel_id).hex()


def scid_text(scid: int | None) -> str | None:
    """A short channel id as BLOCKxTXxOUT (None stays None)."""
    if scid is None:
        return None
    return f"{scid >> 40}x{(scid >> 16) & 0xFFFFFF}x{scid & 0xFFFF}"


def txid_of_hex(tx_hex: str) -> str:
    """The txid of a serialized transaction."""
    return b2lx(CTransaction.deserialize(x(tx_hex)).GetTxid())


class ManagerParts:
    """The state and methods of ChannelManager (manager.py) that its mixins (open_flow,
    close_flow, chain_events) use; the manager defines them. Each mixin declares the rest."""

    services: Services
    store: ChannelStore
    channels: dict[int, Channel]
    _reestablished: set[int]
    _lock: Callable[[Channel], asyncio.Lock]
    save: Callable[[Channel], None]
    _commit: Callable[..., Any]
    broadcast: Callable[..., Any]
