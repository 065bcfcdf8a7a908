"""Events the channel layer publishes (on the node's core.events.EventBus).

Layer: channel. Imports nothing above the channel layer; gossip and payments subscribe.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChannelNormal:
    """A channel became normal, or was re-established / loaded at start while normal.

    Published before the channel is listed as CHANNELD_NORMAL, and awaited: once the channel
    shows normal, every subscriber (gossip's registration, route hints) has run.
    """

    channel_id: bytes
    short_channel_id: int
    remote_node_id: bytes
    capacity_sat: int
    local_funding_privkey: bytes
    remote_funding_pubkey: bytes
    funding_txid: str
    """hex, as bitcoind shows it"""
    funding_outnum: int
    announce: bool
    htlc_minimum_msat: int
    htlc_maximum_msat: int


@dataclass(frozen=True)
class ChannelStoppedForwarding:
    """Our channel stopped forwarding: a shutdown started or it closed."""

    short_channel_id: int
