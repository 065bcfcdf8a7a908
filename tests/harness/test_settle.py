"""What `settle` waits for, judged on fake nodes: each condition holds it back on its own."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest
from lnharness.errors import WaitTimeout
from lnharness.results import Channel
from lnharness.settle import settle, settled


@dataclass
class FakeChain:
    tip: int = 110

    def height(self) -> int:
        return self.tip


@dataclass
class FakeNode:
    name: str
    node_id: str
    height: int = 110
    listed: list[Channel] = field(default_factory=list)
    peers: set[str] = field(default_factory=set)
    graph: set[str] = field(default_factory=set)
    daemon: object = field(default_factory=lambda: type("D", (), {"log_path": "/dev/null"})())

    def info(self) -> dict:
        return {"blockheight": self.height}

    def channels(self, peer=None) -> list[Channel]:
        return [c for c in self.listed if peer is None or c.peer_id == peer.node_id]

    def is_connected(self, other) -> bool:
        return other.node_id in self.peers

    def htlcs_in_flight(self) -> int:
        return sum(c.pending_htlcs or 0 for c in self.listed if c.state == "active")

    def known_channels(self) -> set[str]:
        return set(self.graph)


def channel(peer_id: str, state: str = "active", htlcs: int = 0) -> Channel:
    return Channel(channel_id="cc" * 32, short_channel_id="103x1x0", peer_id=peer_id, state=state,
                   capacity_sat=10**6, local_msat=0, remote_msat=0, funding_txid="ff" * 32,
                   pending_htlcs=htlcs)


def pair() -> tuple[FakeNode, FakeNode]:
    a = FakeNode("l1", "02" + "a" * 64, listed=[channel("02" + "b" * 64)], peers={"02" + "b" * 64},
                 graph={"103x1x0"})
    b = FakeNode("l2", "02" + "b" * 64, listed=[channel("02" + "a" * 64)], peers={"02" + "a" * 64},
                 graph={"103x1x0"})
    return a, b


def test_a_quiet_network_is_settled():
    assert settled(list(pair()), FakeChain()) is True


@pytest.mark.parametrize("disturb, complaint", [
    (lambda a, b: setattr(a, "height", 109), "l1 at height 109 < tip 110"),
    (lambda a, b: setattr(b, "listed", [channel(a.node_id, state="opening")]),
     "l1's channel 103x1x0 is active, l2's is opening"),
    (lambda a, b: b.peers.clear(), "l2 is not connected to l1"),
    (lambda a, b: setattr(a, "listed", [channel(b.node_id, htlcs=2)]), "l1 has 2 HTLC(s) in flight"),
    (lambda a, b: b.graph.clear(), "l2's graph lacks 103x1x0"),
])
def test_each_condition_holds_settle_back(disturb, complaint):
    a, b = pair()
    disturb(a, b)
    outcome = settled([a, b], FakeChain())
    assert not outcome and complaint in repr(outcome)


def test_a_channel_not_reestablished_holds_settle_back():
    a, b = pair()
    a.listed = [replace(channel(b.node_id), connected=False)]
    assert "not re-established" in repr(settled([a, b], FakeChain()))
    a.listed = [replace(a.listed[0], connected=True)]
    assert settled([a, b], FakeChain()) is True


def test_gossip_of_a_closed_channel_is_not_awaited():
    a, b = pair()
    a.listed = [channel(b.node_id, state="closed")]
    b.listed = [channel(a.node_id, state="closed")]
    b.graph.clear()  # l2 pruned it, l1 not yet: nothing to wait for
    assert settled([a, b], FakeChain()) is True


def test_timeout_names_what_still_moves():
    a, b = pair()
    a.height = 100
    with pytest.raises(WaitTimeout, match="l1, l2 to settle.*l1 at height 100 < tip 110"):
        settle([a, b], FakeChain(), timeout=0.05)
