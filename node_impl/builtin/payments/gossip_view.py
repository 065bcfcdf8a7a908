"""What the payments layer asks of the gossip subsystem: routes, policies, route hints.

Layer: payments. Imports gossip (graph, pathfind types), wire.

GossipManager implements it; payments, forwarding and invoices are given one by the
composition root (node.py) and never see the manager itself.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

from ..gossip.graph import ChannelPolicy, Graph
from ..gossip.pathfind import RouteHop
from ..wire import bolt11


class GossipView(Protocol):
    """Routes and policies from the gossip graph, our own channels' policies and updates."""

    graph: Graph

    def find_route(self, destination: bytes, amount_msat: int, *, final_cltv_delta: int,
                   route_hints: Sequence[Sequence[Any]] = (),
                   exclude_channels: Collection[int | tuple[int, int]] = (),
                   exclude_nodes: Collection[bytes] = (), max_fee_msat: int | None = None,
                   max_delay: int | None = None,
                   local_spendable_msat: Mapping[int, int] | None = None,
                   policy_overrides: Mapping[tuple[int, int], ChannelPolicy] | None = None,
                   ) -> list[RouteHop]:
        """Cheapest route from us; raises pathfind.NoRouteError."""
        ...

    def failure_update_policy(self, raw: bytes, *, short_channel_id: int, erring_node_id: bytes,
                              next_node_id: bytes) -> ChannelPolicy | None:
        """The verified policy of a channel_update a BOLT 4 failure carried, or None."""
        ...

    def local_policies(self, short_channel_id: int) -> list[ChannelPolicy]:
        """Our announced policy for one of our channels, then the previous one during
        setchannel's enforcedelay; empty if none was announced."""
        ...

    def local_channel_update(self, short_channel_id: int) -> bytes:
        """Our latest signed channel_update for one of our channels, or b""."""
        ...

    def private_route_hints(self) -> list[list[bolt11.RouteHintHop]]:
        """BOLT 11 `r` fields for our channels the network does not know."""
        ...
