"""`NodeFactory`: creates, connects and tears down the Lightning nodes of one test."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from lnharness import snapshot as snapshots
from lnharness import topology
from lnharness.chain import Chain
from lnharness.errors import LnhError, UnavailableError
from lnharness.faults import Link, LinkError
from lnharness.graph_import import load_topology
from lnharness.implementations import NODE_FLAGS as NODE_FLAGS
from lnharness.implementations import UnknownImplementation as UnknownImplementation
from lnharness.implementations import implementation, split_node_flags
from lnharness.node import LightningNode
from lnharness.ports import PortBlock
from lnharness.runtime import PROCESS_RUNTIME, NodeRuntime
from lnharness.settle import Unsettled
from lnharness.settle import settle as settle_nodes
from lnharness.topology import ChannelSpec, NodeSpec, Topology
from lnharness.wait import wait_for

T = TypeVar("T")

ANNOUNCE_DEPTH = 6
#: hops a payment's onion holds (BOLT 4: 1300 bytes, about 20 hops of payloads)
MAX_ROUTE_HOPS = 20
#: the longest pause between two polls of a wait made for every node of a network at once
BULK_POLL_S = 0.25
#: on-chain margin added to what a node must fund, for the funding transaction's fee
FUNDING_FEE_MARGIN_SAT = 100_000


@dataclass
class ManagedNode:
    """A node plus what its teardown may tolerate."""
    node: LightningNode
    may_fail: bool
    allow_broken_log: bool


def node_identity(test_id: str, name: str) -> str:
    """The identity (what its keys derive from) of the node `name` in the test `test_id`."""
    return f"{test_id}/{name}"


def wait_for_routes(node: LightningNode, targets: Sequence[LightningNode],
                    amount_msat: int = 1000) -> None:
    """Wait until `node` has a route to every one of `targets` for `amount_msat`.

    A poll asks for a route to the first target still missing (give the farthest first),
    counts every node along it as reached too (the route's beginning leads there), and goes
    on until a target has none: one RPC per poll while gossip is on its way, and in a line
    or ring one route covers every nearer target."""
    pending = list(targets)

    def all_found() -> Unsettled | bool:
        while pending:
            hops = node.route_node_ids(pending[0], amount_msat)
            if hops is None:
                return Unsettled([f"no route yet to {', '.join(t.name for t in pending)}"])
            reached = {*hops, pending[0].node_id}
            pending[:] = [t for t in pending if t.node_id not in reached]
        return True
    wait_for(all_found, what=f"{node.name} to find a route to each of {len(targets)} nodes "
                             f"for {amount_msat} msat",
             hint=f"log: {node.daemon.log_path}", max_interval=BULK_POLL_S)


class NodeFactory:
    """Makes nodes of any registered implementation on one chain, under one directory."""

    def __init__(self, directory: Path, chain: Chain, *, default_impl: str = "builtin",
                 executor: ThreadPoolExecutor | None = None, test_id: str | None = None,
                 runtime: NodeRuntime | None = None):
        self.directory = Path(directory)
        #: where the nodes run: processes of this machine (default), or containers
        #: (`lnharness.containers.runtime.DockerRuntime`); closed at teardown
        self.runtime = runtime or PROCESS_RUNTIME
        #: the test these nodes belong to: keys of nodes whose adapter derives them
        #: (`LightningNode.derives_identity`) come from it and the node's name, so a rerun
        #: of the test shows the same node ids; None: from the name alone
        self.test_id = test_id
        self.chain = chain
        self.default_impl = default_impl
        self.managed: list[ManagedNode] = []
        self.links: list[Link] = []
        #: what the last `snapshot=True` call did (`lnharness.snapshot.SnapshotUse`)
        self.last_snapshot: snapshots.SnapshotUse | None = None
        #: ports kept from every lnharness process until teardown (see `ports.PortBlock`)
        self.port_blocks: list[PortBlock] = []
        self._executor = executor or ThreadPoolExecutor(max_workers=16)
        #: seconds the last `open_channels` spent in each phase (fund, open, active, announce)
        self.phase_seconds: dict[str, float] = {}

    @property
    def nodes(self) -> list[LightningNode]:
        return [m.node for m in self.managed]

    # -- single nodes -----------------------------------------------------------------
    def get_node(self, impl: str | None = None, options: dict[str, Any] | None = None, *,
                 may_fail: bool = False, may_reconnect: bool = False,
                 allow_broken_log: bool = False, start: bool = True,
                 name: str | None = None) -> LightningNode:
        """Create (and by default start) one node; `options` go to the implementation."""
        node = self._make(impl, options, may_fail=may_fail, may_reconnect=may_reconnect,
                          allow_broken_log=allow_broken_log, name=name)
        if start:
            node.start()
        return node

    def _make(self, impl: str | None, options: dict[str, Any] | None, *, may_fail: bool = False,
              may_reconnect: bool = False, allow_broken_log: bool = False,
              name: str | None = None) -> LightningNode:
        cls = implementation(impl or self.default_impl)
        index = len(self.managed) + 1
        name = name or f"l{index}"
        identity = ({"identity": node_identity(self.test_id, name)}
                    if self.test_id is not None and cls.derives_identity else {})
        placement: dict[str, Any] = dict(identity)
        if self.runtime is not PROCESS_RUNTIME:
            if cls.container_image is None:
                raise UnavailableError(f"Lightning implementation {cls.impl!r} cannot run in a "
                                       f"container: its adapter names no image "
                                       "(LightningNode.container_image)")
            placement["runtime"] = self.runtime
        node = cls(name, directory=self.directory / name, chain=self.chain, options=options,
                   may_reconnect=may_reconnect, **placement)
        self.managed.append(ManagedNode(node, may_fail, allow_broken_log))
        return node

    def _make_from_opts(self, impl: str | None, opts: dict[str, Any] | None,
                        name: str | None = None) -> LightningNode:
        options, flags = split_node_flags(opts)
        return self._make(impl, options, name=name, **flags)

    def get_nodes(self, n: int, impls: Sequence[str | None] | None = None,
                  opts: dict[str, Any] | Sequence[dict[str, Any] | None] | None = None) -> list[LightningNode]:
        """Create `n` nodes and start them in parallel; `opts` is one dict for all or one per node
        (implementation options, plus `get_node`'s flags, see `split_node_flags`)."""
        kinds = topology.impls_for(n, impls)
        if opts is None or isinstance(opts, dict):
            per_node: list[dict[str, Any] | None] = [opts] * n
        else:
            per_node = list(opts)
            if len(per_node) != n:
                raise ValueError(f"opts has {len(per_node)} entries for {n} nodes")
        nodes = [self._make_from_opts(kinds[i], per_node[i]) for i in range(n)]
        for future in [self._executor.submit(node.start) for node in nodes]:
            future.result()
        return nodes

    # -- channels ---------------------------------------------------------------------
    def open_channels(self, nodes: Sequence[LightningNode], channels: Sequence[ChannelSpec], *,
                      wait_for_announce: bool = False) -> None:
        """Fund the openers, open every channel, confirm them together and wait until active
        (and, with `wait_for_announce`, announced: see `wait_for_gossip`). The seconds each
        phase took are left in `phase_seconds` (fund, open, active, announce)."""
        self.phase_seconds = {}
        if not channels:
            return
        clock = time.perf_counter()

        def lap(phase: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            self.phase_seconds[phase] = now - clock
            clock = now
        self._fund(nodes, [(spec.opener, spec.capacity_sat + FUNDING_FEE_MARGIN_SAT)
                           for spec in channels])
        # a peer still processing the funding block may refuse a channel (lnd does)
        self.sync_blockheight(nodes)
        lap("fund")
        funding_txids = self._open_all(nodes, channels)
        depth = max(1, *(nodes[spec.peer].accept_depth for spec in channels))
        self.chain.generate_block(depth, wait_for_mempool=funding_txids)
        lap("open")

        def active(k: int) -> None:
            spec = channels[k]
            nodes[spec.opener].wait_channel_active(nodes[spec.peer], funding_txid=funding_txids[k])
        self._each(active, range(len(channels)))
        lap("active")
        if wait_for_announce:
            if depth < ANNOUNCE_DEPTH:
                self.chain.generate_block(ANNOUNCE_DEPTH - depth)
            self.wait_for_gossip(nodes, channels, funding_txids=funding_txids)
            lap("announce")
        else:
            self.sync_blockheight(nodes)

    def _open_all(self, nodes: Sequence[LightningNode], channels: Sequence[ChannelSpec]) -> list[str]:
        """Connect and fund every channel; return the funding txids in `channels`' order.

        Openers work in parallel; each opener funds its own channels one after the other,
        so two fundings of one wallet never pick the same coin."""
        by_opener: dict[int, list[int]] = {}
        for k, spec in enumerate(channels):
            by_opener.setdefault(spec.opener, []).append(k)

        def open_from(opener_index: int) -> list[tuple[int, str]]:
            opener, opened = nodes[opener_index], []
            for k in by_opener[opener_index]:
                spec = channels[k]
                peer = nodes[spec.peer]
                if not opener.is_connected(peer):
                    opener.connect(peer)
                opened.append((k, opener._fund_channel(peer, spec.capacity_sat, spec.push_msat,
                                                       spec.announce)))
            return opened
        txids: dict[int, str] = {}
        for opened in self._each(open_from, sorted(by_opener)):
            txids.update(opened)
        return [txids[k] for k in range(len(channels))]

    def sync_blockheight(self, nodes: Sequence[LightningNode] | None = None) -> None:
        """Wait until every node (default: all of them) has processed the chain's tip.

        Call it after mining: a node that lags computes CLTV expiries from an old height.
        """
        height = self.chain.height()
        self._each(lambda node: node.wait_for_blockheight(height),
                   list(nodes) if nodes is not None else self.nodes)

    def _fund(self, nodes: Sequence[LightningNode], outputs: Sequence[tuple[int, int]]) -> None:
        """Send one output per (node index, sat) in one block; wait until every node sees its coins.

        One output per channel, so a node opening several channels at once has a confirmed
        coin for each (the change of its first funding transaction is still unconfirmed).
        The outputs go out in a few `sendmany` transactions (`Chain.faucet_many`), not one
        send per node, which would stop at the mempool's chain limit past 25 nodes.
        """
        funded = sorted({i for i, _ in outputs})
        before = dict(zip(funded, self._each(lambda i: nodes[i].balance().onchain_sat, funded),
                          strict=True))
        addresses = self._each(lambda out: nodes[out[0]].new_address(), list(outputs))
        txids = self.chain.faucet_many([(address, amount) for address, (_, amount)
                                        in zip(addresses, outputs, strict=True)])
        self.chain.generate_block(1, wait_for_mempool=txids)
        targets = {i: before[i] + sum(amount for j, amount in outputs if j == i) for i in funded}
        self._each(lambda i: nodes[i].wait_onchain_balance(targets[i]), funded)

    def _each(self, work: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
        """`work(item)` for every item, in parallel on the factory's executor; results in order."""
        return [future.result() for future in [self._executor.submit(work, item) for item in items]]

    def wait_for_gossip(self, nodes: Sequence[LightningNode], channels: Sequence[ChannelSpec], *,
                        funding_txids: Sequence[str] | None = None) -> None:
        """Wait until every node that holds funds in a channel (`topology.funded_directions`)
        has a route to every node those funds can reach within `MAX_ROUTE_HOPS`, when some lie
        farther (a payment cannot go that far), until every node's graph holds every
        announced channel, and until every node has processed the chain's tip.

        `funding_txids` (in `channels`' order) tells which of a pair's channels were
        announced; without it every active channel of an announced pair is awaited.

        Each node asks for a route to its farthest target first and counts the nodes along
        it as reached (`wait_for_routes`), so a poll costs one RPC while gossip is on its way
        and nodes waiting in parallel leave the CPU to the gossip they wait for.
        """
        def routes_from(start: int) -> bool:
            near, far = topology.payable_from(channels, start, MAX_ROUTE_HOPS)
            wait_for_routes(nodes[start], [nodes[t] for t in reversed(near)])
            return bool(far)
        sources = sorted(topology.funded_directions(channels))
        far_away = any(self._each(routes_from, sources))
        if far_away:
            expected = self._announced_scids(nodes, channels, funding_txids)

            def complete(node: LightningNode) -> None:
                wait_for(lambda: not expected - node.known_channels(),
                         what=f"{node.name}'s graph to hold every announced channel "
                              f"({len(expected)})",
                         hint=f"log: {node.daemon.log_path}", max_interval=BULK_POLL_S)
            self._each(complete, list(nodes))
        self.sync_blockheight(nodes)

    def _announced_scids(self, nodes: Sequence[LightningNode], channels: Sequence[ChannelSpec],
                         funding_txids: Sequence[str] | None) -> set[str]:
        """Short channel ids of the announced channels, read from their openers."""
        wanted: dict[int, list[int]] = {}
        for k, spec in enumerate(channels):
            if spec.announce:
                wanted.setdefault(spec.opener, []).append(k)

        def scids(opener: int) -> set[str]:
            found = set()
            for k in wanted[opener]:
                peer = nodes[channels[k].peer]
                for channel in nodes[opener].channels(peer):
                    if channel.short_channel_id and channel.state == "active" and (
                            funding_txids is None or channel.funding_txid == funding_txids[k]):
                        found.add(channel.short_channel_id)
            return found
        return set().union(*self._each(scids, sorted(wanted)))

    def join_nodes(self, nodes: Sequence[LightningNode], fundamount_sat: int = 10**6, *,
                   wait_for_announce: bool = False, announce_channels: bool = True) -> None:
        """Open a channel from each node to the next one."""
        self.open_channels(nodes, topology.line(len(nodes), fundamount_sat, announce_channels),
                           wait_for_announce=wait_for_announce)

    def line_graph(self, n: int, impls: Sequence[str | None] | None = None, *,
                   fundamount_sat: int = 10**6, wait_for_announce: bool = False,
                   announce_channels: bool = True,
                   opts: dict[str, Any] | Sequence[dict[str, Any] | None] | None = None,
                   snapshot: bool = False) -> list[LightningNode]:
        """`n` nodes, each with a channel to the next. With `snapshot=True` the network comes
        from a saved snapshot of the same topology when there is one, else it is built and
        saved (see `lnharness.snapshot`): ask for it first in a test, on a fresh chain."""
        return self._shaped(topology.line, n, impls, opts, fundamount_sat, wait_for_announce,
                            announce_channels, snapshot)

    def star_graph(self, n: int, impls: Sequence[str | None] | None = None, *,
                   fundamount_sat: int = 10**6, wait_for_announce: bool = False,
                   announce_channels: bool = True,
                   opts: dict[str, Any] | Sequence[dict[str, Any] | None] | None = None,
                   snapshot: bool = False) -> list[LightningNode]:
        """`n` nodes; the first (the hub) has a channel to each of the others (`snapshot`: as
        in `line_graph`)."""
        return self._shaped(topology.star, n, impls, opts, fundamount_sat, wait_for_announce,
                            announce_channels, snapshot)

    def ring_graph(self, n: int, impls: Sequence[str | None] | None = None, *,
                   fundamount_sat: int = 10**6, wait_for_announce: bool = False,
                   announce_channels: bool = True,
                   opts: dict[str, Any] | Sequence[dict[str, Any] | None] | None = None,
                   snapshot: bool = False) -> list[LightningNode]:
        """A line whose last node also has a channel to the first (`snapshot`: as in
        `line_graph`)."""
        return self._shaped(topology.ring, n, impls, opts, fundamount_sat, wait_for_announce,
                            announce_channels, snapshot)

    def _shaped(self, shape: Callable[[int, int, bool], list[ChannelSpec]], n: int,
                impls: Sequence[str | None] | None,
                opts: dict[str, Any] | Sequence[dict[str, Any] | None] | None,
                fundamount_sat: int, wait_for_announce: bool,
                announce_channels: bool, use_snapshot: bool = False) -> list[LightningNode]:
        channels = shape(n, fundamount_sat, announce_channels)
        if use_snapshot:
            kinds = topology.impls_for(n, impls)
            per_node = opts if opts is None or isinstance(opts, dict) else list(opts)
            if isinstance(per_node, list) and len(per_node) != n:
                raise ValueError(f"opts has {len(per_node)} entries for {n} nodes")
            specs = [NodeSpec(f"l{len(self.managed) + i + 1}", kinds[i],
                              dict((per_node[i] if isinstance(per_node, list) else per_node) or {}))
                     for i in range(n)]
            return self._from_snapshot(
                specs, channels, wait_for_announce, f"{shape.__name__}_graph({n})",
                lambda: self._shaped(shape, n, impls, opts, fundamount_sat, wait_for_announce,
                                     announce_channels))
        nodes = self.get_nodes(n, impls, opts)
        self.open_channels(nodes, channels, wait_for_announce=wait_for_announce)
        return nodes

    def _from_snapshot(self, specs: Sequence[NodeSpec], channels: Sequence[ChannelSpec],
                       wait_for_announce: bool, description: str,
                       build: Callable[[], list[LightningNode]]) -> list[LightningNode]:
        saved = [snapshots.SavedNode(spec.name, spec.impl or self.default_impl, dict(spec.options))
                 for spec in specs]
        impls = ", ".join(dict.fromkeys(node.impl for node in saved))
        return snapshots.obtain(self, saved, channels, wait_for_announce=wait_for_announce,
                               build=build, description=f"{description} of {impls}")

    def graph(self, spec: Topology | dict[str, Any] | str | Path, *, fundamount_sat: int = 10**6,
              wait_for_announce: bool = False, snapshot: bool = False) -> dict[str, LightningNode]:
        """Nodes and channels of a topology, by name. `spec` is a `Topology` (from
        `topology.random_graph`, `topology.scale_free`, `graph_import.import_channel_graph`),
        a graph spec (dict or .json/.toml file, see `topology.load_graph_spec`), or a Core
        Lightning `listchannels` / LND `describegraph` JSON (dict or .json file), imported with
        `import_channel_graph`'s defaults (see `graph_import.load_topology`). `snapshot`: as
        in `line_graph`."""
        shape = load_topology(spec, default_capacity_sat=fundamount_sat)
        node_specs, channels = list(shape.nodes), list(shape.channels)

        def build() -> list[LightningNode]:
            nodes = self.start_nodes(node_specs)
            self.open_channels(nodes, channels, wait_for_announce=wait_for_announce)
            return nodes
        if snapshot:
            nodes = self._from_snapshot(node_specs, channels, wait_for_announce,
                                        f"graph of {len(node_specs)} nodes", build)
        else:
            nodes = build()
        return {node_spec.name: node for node_spec, node in zip(node_specs, nodes, strict=True)}

    def start_nodes(self, specs: Sequence[NodeSpec]) -> list[LightningNode]:
        """Create the nodes `specs` describe (names, implementations, options); start them in parallel."""
        nodes = [self._make_from_opts(spec.impl, spec.options, name=spec.name) for spec in specs]
        for future in [self._executor.submit(node.start) for node in nodes]:
            future.result()
        return nodes

    def retire(self, nodes: Sequence[LightningNode]) -> None:
        """Forget stopped `nodes` (no teardown for them) and release their ports; their
        directories stay, so new nodes of the same names can start from them."""
        for node in nodes:
            if node.daemon.is_running():
                raise LnhError(f"{node.name} still runs: stop it before retiring it")
        self.managed = [m for m in self.managed if not any(m.node is n for n in nodes)]
        for node in nodes:
            node.close()

    # -- faults and barriers -------------------------------------------------------------
    def link(self, a: LightningNode, b: LightningNode) -> Link:
        """Put a TCP proxy between `a` and `b` (see `lnharness.faults.Link`): from now on
        `a.connect(b)` and `b.connect(a)` go through it; nodes already connected are
        reconnected through it. Closed at teardown."""
        if a is b:
            raise LinkError(f"a link needs two different nodes, got {a.name} twice")
        for node in (a, b):
            if not any(node is known for known in self.nodes):
                raise LinkError(f"{node!r} is not a node of this factory; its nodes: "
                                f"{', '.join(n.name for n in self.nodes) or 'none'}")
        for link in self.links:
            if not link.closed and {id(link.a), id(link.b)} == {id(a), id(b)}:
                raise LinkError(f"{a.name} and {b.name} already have a link: {link!r}")
        link = Link(a, b)
        self.links.append(link)
        return link

    def settle(self, nodes: Sequence[LightningNode] | None = None, *,
               timeout: float | None = None) -> None:
        """Wait until the network is at rest: every node (default: all of them) has processed
        the chain's tip, every channel is active and connected on both ends, no HTLC is in
        flight, and every node's graph holds every announced channel. The barrier before a
        test asserts; the timeout error says what still moved."""
        settle_nodes(list(nodes) if nodes is not None else self.nodes, self.chain,
                      timeout=timeout)

    # -- teardown ---------------------------------------------------------------------
    def teardown(self) -> list[str]:
        """Stop every node; return one message per problem found (crash, error exit, broken log)."""
        problems: list[str] = []

        def stop(managed: ManagedNode) -> None:
            node = managed.node
            crashed = node.daemon.exited_unexpectedly()
            try:
                code = node.stop() if not crashed else node.daemon.returncode
            except Exception as exc:  # every node is stopped even if one fails
                problems.append(f"{node.name} ({node.impl}): could not stop: {exc}")
                code = None
            finally:
                node.close()
            tail = "\n".join("      " + line for line in node.daemon.log_tail(15))
            if crashed and not managed.may_fail:
                problems.append(f"{node.name} ({node.impl}) died during the test with code "
                                f"{node.daemon.returncode}; log {node.daemon.log_path}:\n{tail}")
            elif code not in (0, None) and not managed.may_fail:
                problems.append(f"{node.name} ({node.impl}) exited with code {code} when stopped; "
                                f"log {node.daemon.log_path}:\n{tail}")
            if not managed.allow_broken_log:
                broken = node.broken_log_lines()
                if broken:
                    problems.append(f"{node.name} ({node.impl}) logged errors "
                                    f"({node.daemon.log_path}):\n" +
                                    "\n".join("      " + line for line in broken[:10]))

        for future in [self._executor.submit(stop, m) for m in self.managed]:
            future.result()
        for link in self.links:
            try:
                link.close()
            except Exception as exc:  # every link is closed even if one fails
                problems.append(f"link {link.name}: could not close: {exc}")
        for block in self.port_blocks:
            block.release()
        try:
            self.runtime.close()
        except Exception as exc:  # reported like a node that could not stop
            problems.append(f"{self.runtime.name} runtime: could not close: {exc}")
        return problems
