"""Benchmark of Lightning networks on the harness; writes the "Lightning networks on the
<chain> chain" section of bench/RESULTS.md.

Measures, for each implementation given (default: builtin) on the chosen chain:
- node ready: process start to the ready log line (median of 5 starts);
- direct payment round trip (pay returns the preimage): median of 50; and 200 sequential
  payments over one channel, first 50 vs last 50 (no slowdown over time);
- `line_graph(3, wait_for_announce=True)` plus one routed payment, from an empty
  directory (chain start included) to everything stopped: the pytest-level scenario;
- 5-node line: from a started chain with a funded faucet (no nodes yet) to "node 1 has a
  route to node 5" (start 5 nodes, open 4 channels, 6 confirmations, gossip); then the
  median of 20 4-hop payments;
- `lnharness demo` wall time (builtin only).

Run: python bench/bench_network.py [--impls builtin,cln] [--chain embedded]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lnharness.backend import select_chain_backend  # noqa: E402
from lnharness.chain import Chain  # noqa: E402
from lnharness.errors import WaitTimeout  # noqa: E402
from lnharness.network import NodeFactory  # noqa: E402
from results import header, write_section  # noqa: E402

SECTION = "## Lightning networks on the {chain} chain: {impls}"  # one section per set of impls


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class Network:
    """A chain plus a node factory in a fresh directory; closed with `close()`."""

    def __init__(self, root: Path, chain_name: str, impl: str):
        self.chain = Chain(select_chain_backend(chain_name)(root))
        self.chain.start()
        self.chain.fund_wallet()
        self.factory = NodeFactory(root, self.chain, default_impl=impl)

    def close(self) -> None:
        problems = self.factory.teardown()
        self.chain.close()
        if problems:
            raise RuntimeError("\n".join(problems))


def pay_times(payer, payee, count: int, amount_msat: int = 10_000) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(count):
        bolt11 = payee.invoice(amount_msat).bolt11
        times.append(seconds(lambda b=bolt11: payer.pay(b)))
    return times


def bench_impl(impl: str, chain_name: str, tmp: Path) -> dict[str, str]:
    row: dict[str, str] = {}
    net = Network(tmp / f"{impl}-direct", chain_name, impl)
    try:
        nodes = [net.factory.get_node(start=False) for _ in range(5)]
        starts = [seconds(node.start) for node in nodes]
        row["node ready (median of 5)"] = f"{statistics.median(starts):.2f} s"
        l1, l2 = nodes[:2]
        net.factory.join_nodes([l1, l2], fundamount_sat=5_000_000)
        first = pay_times(l1, l2, 50)
        row["direct payment (median of 50)"] = f"{1000 * statistics.median(first):.0f} ms"
        more = pay_times(l1, l2, 150)
        all_times = first + more
        row["200 payments: first 50 / last 50 median"] = (
            f"{1000 * statistics.median(all_times[:50]):.0f} / "
            f"{1000 * statistics.median(all_times[-50:]):.0f} ms")
    finally:
        net.close()

    def scenario() -> None:
        net = Network(tmp / f"{impl}-line3", chain_name, impl)
        try:
            l1, _, l3 = net.factory.line_graph(3, wait_for_announce=True)
            l1.pay(l3.invoice(50_000).bolt11)
        finally:
            net.close()
    row["line_graph(3, announced) + routed payment, whole test"] = f"{seconds(scenario):.2f} s"

    net = Network(tmp / f"{impl}-line5", chain_name, impl)
    try:
        start = time.perf_counter()
        nodes = net.factory.get_nodes(5)
        net.factory.join_nodes(nodes, fundamount_sat=5_000_000)
        net.chain.generate_block(5)
        try:
            nodes[0].wait_for_route(nodes[4])
        except WaitTimeout as exc:  # reported in the table, not hidden
            row["5-node line: empty chain to route 1->5"] = f"no route: {exc.what}, {exc.timeout:g} s"
            row["4-hop payment (median of 20)"] = "not measured (no route)"
            return row
        row["5-node line: empty chain to route 1->5"] = f"{time.perf_counter() - start:.2f} s"
        hops = pay_times(nodes[0], nodes[4], 20)
        row["4-hop payment (median of 20)"] = f"{1000 * statistics.median(hops):.0f} ms"
    finally:
        net.close()
    return row


def bench_demo(chain_name: str) -> str:
    cmd = [str(Path(sys.executable).with_name("lnharness")), "demo", f"--chain={chain_name}"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return f"{time.perf_counter() - start:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impls", default="builtin", help="comma-separated (default builtin)")
    parser.add_argument("--chain", default="embedded", help="chain backend (default embedded)")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = parser.parse_args()
    impls = args.impls.split(",")
    rows = {}
    with tempfile.TemporaryDirectory(prefix="lnh-bench-net-") as tmp:
        for impl in impls:
            rows[impl] = bench_impl(impl, args.chain, Path(tmp))
    demo = bench_demo(args.chain) if "builtin" in impls else None
    command = "python bench/bench_network.py" + "".join(f" {a}" for a in sys.argv[1:])
    section = SECTION.format(chain=args.chain, impls=", ".join(impls))
    lines = header(section, command)
    metrics = list(next(iter(rows.values())))
    lines.append(f"| measurement ({args.chain} chain) | " + " | ".join(impls) + " |")
    lines.append("|---|" + "---|" * len(impls))
    for metric in metrics:
        lines.append(f"| {metric} | " + " | ".join(rows[i][metric] for i in impls) + " |")
    if demo:
        lines.append(f"| `lnharness demo` wall time | {demo} |" + " |" * (len(impls) - 1))
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section(section, text)


if __name__ == "__main__":
    main()
