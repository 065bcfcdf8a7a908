"""`NodeFactory`: pyln-testing's node factory over lnharness's `NodeFactory`.

Nodes are lnharness nodes (of the test's implementation, `--lnh-impl`, or `impl=` per node)
wrapped in `node_cls` (pyln's `LightningNode` API). Processes, ports, directories and the
teardown checks are lnharness's.
"""
from __future__ import annotations

import itertools
import re
import shutil
import threading
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

from lnharness.backend import UnsupportedFeature
from lnharness.network import NodeFactory as EngineFactory
from lnharness.ports import release_port, reserve_port
from lnharness.pyln.chain import BitcoinD
from lnharness.pyln.flags import flag
from lnharness.pyln.node import FUNDAMOUNT, LightningNode, broken_lines, daemon_options
from lnharness.pyln.waits import wait_for

DEFAULT_FEERATES = (15000, 11000, 7500, 3750)
#: pyln-testing's daemon defaults where the built-in node's differ (a cln node gets them from
#: its adapter): Core Lightning's tests build routes with 5-block final delays
BUILTIN_PYLN_DEFAULTS = {"cltv-final": 5}
#: pyln-testing's lightningd settings the cln adapter does not make itself (v26.06: trace
#: logging; deprecated APIs off unless DEPRECATED_APIS=1)
CLN_PYLN_LOG_LEVEL = "trace"
#: keys of a `get_nodes`/`line_graph` opts dict that are node arguments, not daemon options
NODE_OPT_KEYS = frozenset({
    "disconnect", "may_fail", "broken_log", "allow_warning", "may_reconnect",
    "bad_notifications", "random_hsm", "feerates", "wait_for_bitcoind_sync",
    "allow_bad_gossip", "start", "gossip_store_file", "old_hsmsecret",
    "allow_broken_log", "expect_fail", "impl",
})
#: get_node arguments lnharness cannot honour: an error when given
UNSUPPORTED = {
    "dbfile": "no canned Core Lightning databases",
    "bkpr_dbfile": "no canned bookkeeper databases",
    "gossip_store_file": "no canned gossip stores",
}
#: implementations whose daemon logs Core Lightning's " WARNING:" lines (checked at teardown)
WARNING_CHECKED_IMPLS = ("cln",)


class NodeFactory:
    """pyln-testing's `node_factory`: `get_node`, `get_nodes`, `join_nodes`, `line_graph`."""

    def __init__(self, engine: EngineFactory, bitcoind: BitcoinD, executor: Executor, *,
                 node_cls: type[LightningNode] = LightningNode, testname: str = ""):
        self.engine = engine
        self.bitcoind = bitcoind
        self.executor = executor
        self.node_cls = node_cls
        self.testname = testname
        self.directory = engine.directory
        self.nodes: list[LightningNode] = []
        self.reserved_ports: list[int] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def get_node_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def split_options(self, opts: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(node arguments, daemon options) of one node's opts dict."""
        node_opts = {k: v for k, v in opts.items() if k in NODE_OPT_KEYS}
        return node_opts, {k: v for k, v in opts.items() if k not in NODE_OPT_KEYS}

    def get_node(self, node_id: int | None = None, options: dict[str, Any] | None = None,
                 dbfile: str | None = None, bkpr_dbfile: str | None = None,
                 feerates: Sequence[int] | None = DEFAULT_FEERATES, start: bool = True,
                 wait_for_bitcoind_sync: bool = True, may_fail: bool = False,
                 expect_fail: bool = False, cleandir: bool = True,
                 gossip_store_file: str | None = None, unused_grpc_port: bool = True,
                 impl: str | None = None, **kwargs: Any) -> LightningNode:
        """Create (and by default start) one node; see the README for what each argument
        does here. `impl` (lnharness's) picks the implementation of this node."""
        given = {"dbfile": dbfile, "bkpr_dbfile": bkpr_dbfile, "gossip_store_file": gossip_store_file}
        for name, value in given.items():
            if value is not None:
                raise UnsupportedFeature(f"get_node({name}=...) is not supported by "
                                         f"lnharness.pyln: {UNSUPPORTED[name]}")
        kind = impl or self.engine.default_impl
        if kind != "cln" and feerates is not None and tuple(feerates) != DEFAULT_FEERATES:
            raise UnsupportedFeature(f"get_node(feerates=...) is not supported by lnharness.pyln "
                                     f"on {kind!r} nodes: their fee estimates are the chain's; "
                                     "use bitcoind.set_feerate()")
        if flag("TEST_NETWORK") != "regtest":
            raise UnsupportedFeature(f"TEST_NETWORK={flag('TEST_NETWORK')!r}: lnharness runs "
                                     "regtest only")
        node_id = node_id or self.get_node_id()
        name = f"l{node_id}"
        options = dict(options or {})
        if flag("EXPERIMENTAL_DUAL_FUND"):
            if kind != "cln":
                raise UnsupportedFeature(f"EXPERIMENTAL_DUAL_FUND=1: implementation {kind!r} has "
                                         "no dual funding")
            options.setdefault("experimental-dual-fund", None)
        if kind == "builtin":
            for key, default in BUILTIN_PYLN_DEFAULTS.items():
                options.setdefault(key, default)
        if kind == "cln":
            options.setdefault("log-level", CLN_PYLN_LOG_LEVEL)
            options.setdefault("allow-deprecated-apis", bool(flag("DEPRECATED_APIS")))
        if cleandir:
            shutil.rmtree(self.directory / name, ignore_errors=True)
        broken_log = kwargs.get("broken_log")
        lnh_node = self.engine.get_node(
            kind, daemon_options(options, kind), may_fail=may_fail or expect_fail,
            may_reconnect=bool(kwargs.get("may_reconnect", False)),
            allow_broken_log=bool(kwargs.get("allow_broken_log")) or broken_log is not None,
            start=False, name=name)
        if not callable(getattr(lnh_node, "call", None)):
            raise UnsupportedFeature(f"lnharness.pyln drives nodes through Core Lightning's "
                                     f"JSON-RPC; implementation {kind!r} has none")
        node = self.node_cls(node_id, lnh_node.lightning_dir, self.bitcoind, self.executor,
                             may_fail=may_fail or expect_fail, options=options,
                             lnh_node=lnh_node, **kwargs)
        self.nodes.append(node)
        if kind == "cln" and feerates is not None:
            node.set_feerates(feerates, False)
        if start:
            try:
                node.start(wait_for_bitcoind_sync)
            except Exception:
                if expect_fail:
                    return node
                raise
        return node

    def get_nodes(self, num_nodes: int, opts: dict[str, Any] | Sequence[dict[str, Any]] | None = None
                  ) -> list[LightningNode]:
        """Create `num_nodes` nodes and start them in parallel; `opts` is one dict for all of
        them or a list of one per node (daemon options and node arguments, see `split_options`)."""
        if opts is None:
            per_node: list[dict[str, Any]] = [{} for _ in range(num_nodes)]
        elif isinstance(opts, dict):
            per_node = [opts] * num_nodes
        else:
            per_node = list(opts)
        if len(per_node) != num_nodes:
            raise ValueError(f"opts has {len(per_node)} entries for {num_nodes} nodes")
        jobs = []
        for node_opts in per_node:
            node_args, cli_opts = self.split_options(node_opts)
            jobs.append(self.executor.submit(self.get_node, options=cli_opts,
                                             node_id=self.get_node_id(), **node_args))
        return [job.result() for job in jobs]

    def join_nodes(self, nodes: Sequence[LightningNode], fundchannel: bool = True,
                   fundamount: int = FUNDAMOUNT, wait_for_announce: bool = False,
                   announce_channels: bool = True) -> None:
        """Connect each node to the next; with `fundchannel`, open a `fundamount` sat channel
        along each link and wait until all are active (and announced, `wait_for_announce`)."""
        if wait_for_announce and not announce_channels:
            raise ValueError("join_nodes: wait_for_announce=True with announce_channels=False "
                             "waits for announcements that never come")
        pairs = list(zip(nodes, nodes[1:], strict=False))
        if not fundchannel:
            for src, dst in pairs:
                src.connect(dst)
            for src, dst in pairs:
                wait_for(lambda s=src, d=dst: s.rpc.listpeers(d.info["id"])["peers"] != [])
                wait_for(lambda s=src, d=dst: d.rpc.listpeers(s.info["id"])["peers"] != [])
            return
        self.engine.join_nodes([n.lnh for n in nodes], int(fundamount),
                               wait_for_announce=wait_for_announce,
                               announce_channels=announce_channels)

    def line_graph(self, num_nodes: int, fundchannel: bool = True, fundamount: int = FUNDAMOUNT,
                   wait_for_announce: bool = False,
                   opts: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
                   announce_channels: bool = True) -> list[LightningNode]:
        """`num_nodes` nodes joined in a line (see `join_nodes`)."""
        nodes = self.get_nodes(num_nodes, opts=opts)
        self.join_nodes(nodes, fundchannel, fundamount, wait_for_announce, announce_channels)
        return nodes

    def get_unused_port(self) -> int:
        """A port reserved for this test (released at teardown)."""
        port = reserve_port()
        self.reserved_ports.append(port)
        return port

    def teardown(self) -> list[str]:
        """Stop every node (lnharness's checks: crashes, exit codes, broken logs), then check
        what pyln-testing adds: broken lines not allowed by `broken_log`, warnings."""
        problems = self.engine.teardown()
        for node in self.nodes:
            if node.broken_log is not None and not node.allow_broken_log:
                lines = broken_lines(node)
                if lines:
                    problems.append(f"{node.lnh.name} logged errors its broken_log "
                                    f"{node.broken_log!r} does not allow:\n      "
                                    + "\n      ".join(lines[:10]))
            if node.lnh.impl in WARNING_CHECKED_IMPLS and not node.allow_warning:
                warnings = [line for line in node.daemon.logs if re.search(r" WARNING:", line)]
                if warnings:
                    problems.append(f"{node.lnh.name} had warning messages:\n      "
                                    + "\n      ".join(warnings[:10]))
        for port in self.reserved_ports:
            release_port(port)
        return problems
