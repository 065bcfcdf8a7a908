"""`settle`: the barrier before a test asserts — the network has nothing left in motion.

Settled means: every node has processed the chain's tip; every channel active on one end is
active on the other and both ends are connected; no HTLC is in flight on any active channel;
every node's graph holds every announced channel between the nodes. Everything is read
through the `LightningNode` interface, so it holds for every implementation.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lnharness.node import LightningNode
from lnharness.results import Channel
from lnharness.wait import wait_for

if TYPE_CHECKING:
    from lnharness.chain import Chain


class Unsettled:
    """What still moves (falsy, so `wait_for` keeps waiting and reports it on timeout)."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        shown = self.reasons[:8]
        more = f" (+{len(self.reasons) - len(shown)} more)" if len(self.reasons) > len(shown) else ""
        return "; ".join(shown) + more


def behind_tip(nodes: Sequence[LightningNode], tip: int) -> list[str]:
    """Nodes that have not processed block `tip` yet."""
    reasons = []
    for node in nodes:
        height = int(node.info()["blockheight"])
        if height < tip:
            reasons.append(f"{node.name} at height {height} < tip {tip}")
    return reasons


def unusable_channels(nodes: Sequence[LightningNode],
                      listed: dict[str, list[Channel]]) -> list[str]:
    """Channels active on one end but not on the other, or whose ends are not connected.

    `listed` maps each node's name to its `channels()`. Peers outside `nodes` are not judged.
    """
    by_id = {node.node_id: node for node in nodes}
    reasons: list[str] = []
    checked: set[tuple[str, str]] = set()
    for node in nodes:
        for channel in listed[node.name]:
            peer = by_id.get(channel.peer_id)
            if channel.state != "active" or peer is None:
                continue
            # matched by funding transaction: the one id every implementation shows alike
            theirs = next((c for c in listed[peer.name] if c.funding_txid == channel.funding_txid
                           and c.peer_id == node.node_id), None)
            if theirs is None or theirs.state != "active":
                state = theirs.state if theirs is not None else "not listed"
                reasons.append(f"{node.name}'s channel {channel.short_channel_id} is active, "
                               f"{peer.name}'s is {state}")
            elif channel.connected is False or theirs.connected is False:
                reasons.append(f"channel {channel.short_channel_id} of {node.name} and "
                               f"{peer.name} is not re-established on both ends")
            pair = (min(node.name, peer.name), max(node.name, peer.name))
            if pair in checked:
                continue
            checked.add(pair)
            for x, y in ((node, peer), (peer, node)):
                if not x.is_connected(y):
                    reasons.append(f"{x.name} is not connected to {y.name}")
    return reasons


def link_usable(a: LightningNode, b: LightningNode) -> Unsettled | bool:
    """True when `a` and `b` are connected both ways and every channel between them is
    active and connected on both ends, else what is not."""
    reasons = [f"{x.name} is not connected to {y.name}" for x, y in ((a, b), (b, a))
               if not x.is_connected(y)]
    if not reasons:
        reasons = unusable_channels([a, b], {a.name: a.channels(b), b.name: b.channels(a)})
    return Unsettled(reasons) if reasons else True


def htlcs_pending(nodes: Sequence[LightningNode]) -> list[str]:
    """Nodes with HTLCs in flight on their active channels."""
    reasons = []
    for node in nodes:
        count = node.htlcs_in_flight()
        if count:
            reasons.append(f"{node.name} has {count} HTLC(s) in flight")
    return reasons


def gossip_missing(nodes: Sequence[LightningNode], listed: dict[str, list[Channel]]) -> list[str]:
    """Announced channels between the nodes that some node's graph does not hold yet.

    A channel counts as announced once some node's graph holds it; channels that are no
    longer active between the nodes (closed, say) are not awaited.
    """
    known = {node.name: node.known_channels() for node in nodes}
    active = {c.short_channel_id for channels in listed.values() for c in channels
              if c.state == "active" and c.short_channel_id}
    announced = set().union(*known.values()) & active
    reasons = []
    for node in nodes:
        missing = announced - known[node.name]
        if missing:
            reasons.append(f"{node.name}'s graph lacks {', '.join(sorted(missing))}")
    return reasons


def settled(nodes: Sequence[LightningNode], chain: Chain) -> Unsettled | bool:
    """True when the nodes are settled, else what is not (stage by stage: the first stage
    with something left is reported, as the later ones depend on it)."""
    reasons = behind_tip(nodes, chain.height())
    if not reasons:
        listed = {node.name: node.channels() for node in nodes}
        reasons = unusable_channels(nodes, listed) or htlcs_pending(nodes) \
            or gossip_missing(nodes, listed)
    return Unsettled(reasons) if reasons else True


def settle(nodes: Sequence[LightningNode], chain: Chain, *, timeout: float | None = None) -> None:
    """Wait until `nodes` are settled (see the module's docstring); on timeout the error
    names what still moved."""
    if not nodes:
        return
    wait_for(lambda: settled(nodes, chain), timeout,
             what=f"{', '.join(node.name for node in nodes)} to settle",
             hint="logs: " + ", ".join(str(node.daemon.log_path) for node in nodes))
