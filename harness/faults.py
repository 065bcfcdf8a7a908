"""Faults on demand between two nodes: `Link`, a TCP proxy on the path between them.

`NodeFactory.link(a, b)` makes one. From then on `a.connect(b)` dials a proxy port that
forwards to `b`, and `b.connect(a)` one that forwards to `a` (`LightningNode.dial_address`),
whatever the implementation: the proxy sits on the socket path, the nodes do not know. The
proxies run where the nodes' runtime puts them (`NodeRuntime.proxy_host`): in this process
for processes, in a container of the test's network for nodes in containers.
"""
from __future__ import annotations

from dataclasses import dataclass

from lnharness.errors import LnhError
from lnharness.node import LightningNode
from lnharness.runtime import FaultProxyControl
from lnharness.settle import link_usable
from lnharness.wait import wait_for


class LinkError(LnhError):
    """A link cannot be made or used: the same node twice, an unknown node, a closed link."""


@dataclass(frozen=True)
class LinkStats:
    """Bytes a link delivered each way, bytes it swallowed, and connections it accepted."""
    a_to_b_bytes: int
    b_to_a_bytes: int
    dropped_bytes: int
    connections: int
    open_connections: int


class Link:
    """A proxy between nodes `a` and `b`: `cut()`, `restore()`, `delay(ms)`, `blackhole()`,
    `stats()`. Made by `NodeFactory.link`, closed at the factory's teardown (or `close()`).

    Only connections a node dials with `connect` go through it; a node that redials by
    itself (`may_reconnect`) may use an address it learned from gossip instead.
    """

    def __init__(self, a: LightningNode, b: LightningNode):
        if a is b:
            raise LinkError(f"a link needs two different nodes, got {a.name} twice")
        if a.runtime is not b.runtime:
            raise LinkError(f"{a.name} and {b.name} run in different runtimes "
                            f"({a.runtime.name}, {b.runtime.name}): no proxy reaches both")
        self.a, self.b = a, b
        self.name = f"{a.name}<->{b.name}"
        self.mode = "pass"
        self.delay_ms = 0.0
        self._closed = False
        #: where the proxies run: this process, or a container of the nodes' network
        self._host = a.runtime.proxy_host(self.name)
        self._proxies: list[FaultProxyControl] = []
        addresses = []
        try:
            for target in (b, a):  # first: a dials b through it; second: b dials a
                proxy, address = self._host.open((target.host, target.port))
                self._proxies.append(proxy)
                addresses.append(address)
        except BaseException:
            self._host.close()
            raise
        #: where a dials b, and b dials a, through the proxies
        self.a_to_b_address, self.b_to_a_address = addresses
        self.a_to_b_port, self.b_to_a_port = (address[1] for address in addresses)
        a.dial_through(b, self.a_to_b_address)
        b.dial_through(a, self.b_to_a_address)
        if a.is_connected(b) or b.is_connected(a):
            self._reroute()

    def __repr__(self) -> str:
        state = "closed" if self._closed else self.mode
        return f"<Link {self.name} {state} delay={self.delay_ms:g}ms>"

    # -- faults ----------------------------------------------------------------------------
    def cut(self) -> None:
        """Drop the connections between the two nodes and refuse new ones (until `restore`);
        returns once both nodes have noticed."""
        self._check_open("cut")
        self.mode = "cut"
        for proxy in self._proxies:
            proxy.set_mode("cut")
        self._wait_disconnected()

    def blackhole(self) -> None:
        """Accept bytes both ways and deliver none; connections stay open (until `restore`,
        which drops those that lost bytes: their streams cannot be resumed)."""
        self._check_open("blackhole")
        self.mode = "blackhole"
        for proxy in self._proxies:
            proxy.set_mode("blackhole")

    def delay(self, ms: float) -> None:
        """Deliver every chunk `ms` milliseconds after it was sent, each way, in order;
        `delay(0)` removes the delay. Bytes already in transit keep their delay."""
        self._check_open("delay")
        if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not 0 <= ms < 3_600_000:
            raise ValueError(f"delay must be a number of milliseconds in [0, 3600000), got {ms!r}")
        self.delay_ms = float(ms)
        for proxy in self._proxies:
            proxy.set_delay(ms / 1000)

    def restore(self, *, reconnect: bool = True, timeout: float | None = None) -> None:
        """End every fault (cut, blackhole, delay). Connections that lost bytes are dropped.

        With `reconnect` (the default), `a` dials `b` again if the two are not connected,
        and this returns once the link is usable: both ends connected, every channel
        between them active on both ends.
        """
        self._check_open("restore")
        self.mode, self.delay_ms = "pass", 0.0
        for proxy in self._proxies:
            proxy.set_delay(0)
            proxy.set_mode("pass")
        if sum(proxy.drop_broken() for proxy in self._proxies):
            self._wait_disconnected(timeout)
        if reconnect:
            if not (self.a.is_connected(self.b) and self.b.is_connected(self.a)):
                self.a.connect(self.b)
            self._wait_usable(timeout)

    def stats(self) -> LinkStats:
        """Bytes delivered each way so far, bytes swallowed by a blackhole or delivered
        late into one, and connections accepted (total and open now)."""
        self._check_open("stats")
        ab, ba = (proxy.counters() for proxy in self._proxies)
        return LinkStats(a_to_b_bytes=ab.to_target_bytes + ba.to_client_bytes,
                         b_to_a_bytes=ab.to_client_bytes + ba.to_target_bytes,
                         dropped_bytes=ab.dropped_bytes + ba.dropped_bytes,
                         connections=ab.connections + ba.connections,
                         open_connections=ab.open_connections + ba.open_connections)

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Remove the proxy: its connections drop, and the nodes dial each other directly
        again. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.a.dial_through(self.b, None)
        self.b.dial_through(self.a, None)
        self._release()

    def _release(self) -> None:
        self._host.close()

    # -- waits -----------------------------------------------------------------------------
    def _check_open(self, action: str) -> None:
        if self._closed:
            raise LinkError(f"cannot {action} link {self.name}: it is closed")

    def _wait_disconnected(self, timeout: float | None = None) -> None:
        for x, y in ((self.a, self.b), (self.b, self.a)):
            if x.daemon.is_running():
                def gone(x: LightningNode = x, y: LightningNode = y) -> bool:
                    return not x.is_connected(y)
                wait_for(gone, timeout,
                         what=f"{x.name} to notice the connection to {y.name} dropped ({self.name})")

    def _wait_usable(self, timeout: float | None = None) -> None:
        wait_for(lambda: link_usable(self.a, self.b), timeout,
                 what=f"{self.name} to be usable again (connected both ends, channels active "
                      "on both)")

    def _reroute(self) -> None:
        """The nodes were connected directly: reconnect them through the proxy."""
        self.a.disconnect(self.b)
        self._wait_disconnected()
        self.a.connect(self.b)
        self._wait_usable()
