"""Benchmark of networks of many built-in nodes; writes the "Networks of many nodes" section
of bench/RESULTS.md.

For each size (default 10, 25, 50, 100), from a started chain with a funded wallet: a ring of
built-in nodes with announced channels (`ring_graph(n, wait_for_announce=True)`), timed by
phase (start the nodes, fund them, open the channels, until all active, until announced:
every node has a route to every node its funds reach within 20 hops and every graph holds
every channel), then one payment across the ring (n/2 hops, at most 20). Memory: the peak
RSS (VmHWM) of every node process, summed and divided by n. CPU: seconds the node
processes, the chain process and the harness (this process) used, to show where the time
goes on a busy machine.

Run: python bench/bench_scale.py [--sizes 10,25,50,100] [--chain embedded] [--no-write]
     [--note "what else ran on the machine"]
"""
from __future__ import annotations

import argparse
import os
import resource
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lnharness import topology  # noqa: E402
from lnharness.backend import select_chain_backend  # noqa: E402
from lnharness.chain import Chain  # noqa: E402
from lnharness.network import MAX_ROUTE_HOPS, NodeFactory  # noqa: E402
from results import header, write_section  # noqa: E402

SECTION = "## Networks of many nodes"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a live process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15)


def peak_rss_mb(pid: int | None) -> float:
    """Peak resident set size (VmHWM) of a live process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, TypeError):
        pass
    return 0.0


def harness_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_ring(n: int, chain_name: str, root: Path) -> dict[str, str]:
    chain = Chain(select_chain_backend(chain_name)(root))
    chain.start()
    chain.fund_wallet()
    factory = NodeFactory(root, chain)
    row: dict[str, str] = {}
    try:
        chain_cpu0, harness_cpu0 = cpu_seconds(chain.daemon.pid), harness_cpu()
        began = time.perf_counter()
        nodes = factory.get_nodes(n)
        row["start"] = f"{time.perf_counter() - began:.1f} s"
        # ring_graph's steps, the start timed apart from open_channels' phases
        factory.open_channels(nodes, topology.ring(n, 10**6), wait_for_announce=True)
        for phase in ("fund", "open", "active", "announce"):
            row[phase] = f"{factory.phase_seconds[phase]:.1f} s"
        total = time.perf_counter() - began
        row["total"] = f"**{total:.1f} s**"
        hops = min(n // 2, MAX_ROUTE_HOPS)
        invoice = nodes[hops].invoice(10_000)
        paid = time.perf_counter()
        payment = nodes[0].pay(invoice.bolt11)
        row["payment"] = f"{hops} hops, {1000 * (time.perf_counter() - paid):.0f} ms"
        if payment.status != "complete":
            row["payment"] += f" ({payment.status})"
        pids = [node.daemon.pid for node in nodes]
        row["peak RSS per node"] = f"{sum(peak_rss_mb(pid) for pid in pids) / n:.0f} MB"
        row["CPU: nodes / chain / harness"] = (
            f"{sum(cpu_seconds(pid) for pid in pids):.0f} / "
            f"{cpu_seconds(chain.daemon.pid) - chain_cpu0:.0f} / "
            f"{harness_cpu() - harness_cpu0:.0f} s")
    finally:
        problems = factory.teardown()
        chain.close()
    if problems:
        raise RuntimeError("\n".join(problems))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,25,50,100", help="comma-separated node counts")
    parser.add_argument("--chain", default="embedded", help="chain backend (default embedded)")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    parser.add_argument("--note", default="", help="a sentence about the conditions, appended")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    command = shlex.join(["python", "bench/bench_scale.py", *sys.argv[1:]])
    lines = header(SECTION, command)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="lnh-bench-scale-") as tmp:
        for n in sizes:
            rows[n] = bench_ring(n, args.chain, Path(tmp) / f"ring{n}")
            print(n, rows[n], f"load {os.getloadavg()[0]:.1f}", flush=True)
    metrics = list(next(iter(rows.values())))
    lines.append(f"| ring of built-in nodes, announced ({args.chain} chain) | "
                 + " | ".join(f"{n} nodes" for n in sizes) + " |")
    lines.append("|---|" + "---|" * len(sizes))
    for metric in metrics:
        lines.append(f"| {metric} | " + " | ".join(rows[n][metric] for n in sizes) + " |")
    lines += ["", f"Load average at the end {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
              "(it counts this run's own node processes). "
              "Phases: start = every node process ready and synced; fund = the faucet's "
              "sendmany transactions confirmed in one block and seen by every node; open = "
              "every funding transaction sent and mined; active = every channel usable on both "
              "ends; announce = 5 more blocks, then every node has a route to every node its "
              "funds reach within 20 hops, every graph holds every channel (the ring's far "
              "side lies beyond 20 hops) and every node is at the tip. Peak RSS is each node "
              "process's VmHWM; CPU is user + system seconds of all node processes, of the "
              "chain (from its start) and of the harness process." + (
                  f" {args.note}" if args.note else ""), ""]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
