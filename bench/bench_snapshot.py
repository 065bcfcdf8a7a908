"""Benchmark of snapshots; writes the "Snapshots: line_graph(5, announced)" section of
bench/RESULTS.md.

Each run starts from what the `bitcoind` fixture hands a test (a started chain with 101
blocks, no nodes) and measures, on the built-in node and the embedded chain by default:
- fresh: `line_graph(5, wait_for_announce=True)`, then the first payment l1 -> l5;
- restore: the same with `snapshot=True`, the snapshot having been saved before;
the time until the network is returned (usable: it returns once a payment is possible) and
until the first payment completed,
and for restores the median time of each step (`SnapshotUse.phases`). The first call,
which builds, saves and restarts the network, is reported once.

Run: python bench/bench_snapshot.py [--runs 5] [--impl builtin] [--chain embedded] [--nodes 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lnharness.chain import start_chain  # noqa: E402
from lnharness.network import NodeFactory  # noqa: E402
from results import header, write_section  # noqa: E402

SECTION = "## Snapshots: line_graph({nodes}, announced) on {impl}, {chain} chain"
DEFAULT_NODES = 5
TARGET_S = 0.2


def one_run(root: Path, chain_name: str, impl: str, snapshot: bool,
            nodes_count: int = DEFAULT_NODES) -> dict[str, object]:
    """One test's worth: fresh chain, the network (fresh or from the snapshot), one payment."""
    root.mkdir()
    chain = start_chain(root, chain_name)
    factory = NodeFactory(root, chain, default_impl=impl)
    try:
        start = time.perf_counter()
        nodes = factory.line_graph(nodes_count, wait_for_announce=True, snapshot=snapshot)
        returned = time.perf_counter() - start
        payment = nodes[0].pay(nodes[-1].invoice(10_000).bolt11)
        paid = time.perf_counter() - start
        if payment.status != "complete":
            raise RuntimeError(f"first payment did not complete: {payment}")
        use = factory.last_snapshot
        return {"returned": returned, "paid": paid,
                "action": use.action if use else "fresh", "phases": dict(use.phases) if use else {}}
    finally:
        problems = factory.teardown()
        chain.close()
        if problems:
            raise RuntimeError("\n".join(problems))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each kind (default 5)")
    parser.add_argument("--impl", default="builtin", help="implementation (default builtin)")
    parser.add_argument("--chain", default="embedded", help="chain backend (default embedded)")
    parser.add_argument("--nodes", type=int, default=DEFAULT_NODES,
                        help=f"nodes in the line (default {DEFAULT_NODES})")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lnh-bench-snap-") as tmp:
        os.environ["LNH_SNAPSHOT_DIR"] = str(Path(tmp) / "snapshots")
        runs = iter(range(10**6))
        first = one_run(Path(tmp) / f"run{next(runs)}", args.chain, args.impl, True, args.nodes)
        if first["action"] != "built":
            raise RuntimeError(f"the first snapshot=True call did {first['action']}, not built")
        fresh, restored = [], []
        for _ in range(args.runs):  # interleaved, so a change in the machine's load hits both
            fresh.append(one_run(Path(tmp) / f"run{next(runs)}", args.chain, args.impl, False, args.nodes))
            restored.append(one_run(Path(tmp) / f"run{next(runs)}", args.chain, args.impl, True, args.nodes))
        if any(r["action"] != "restored" for r in restored):
            raise RuntimeError(f"a later call did not restore: {[r['action'] for r in restored]}")

    def cell(rows: list[dict[str, object]], what: str) -> str:
        values = [float(r[what]) for r in rows]  # type: ignore[arg-type]
        return (f"{statistics.median(values):.2f} s (min {min(values):.2f}, "
                f"max {max(values):.2f})")

    command = "python bench/bench_snapshot.py" + "".join(f" {a}" for a in sys.argv[1:])
    section = SECTION.format(nodes=args.nodes, impl=args.impl, chain=args.chain)
    lines = header(section, command)
    lines += [f"{args.runs} runs of each kind, interleaved; each from a started chain with 101 "
              "blocks and no nodes (what the `bitcoind` fixture hands a test). The network is "
              "returned once a payment is possible; \"first payment done\" adds the payment "
              f"l1 -> l{args.nodes} ({args.nodes - 1} hops).", "",
              "| | network returned: usable (a payment possible) | first payment done |", "|---|---|---|",
              f"| fresh build | {cell(fresh, 'returned')} | {cell(fresh, 'paid')} |",
              f"| restore from snapshot | {cell(restored, 'returned')} | {cell(restored, 'paid')} |",
              f"| first call: build, save, restart (once per key) | {float(first['returned']):.2f} s "  # type: ignore[arg-type]
              f"| {float(first['paid']):.2f} s |", "",  # type: ignore[arg-type]
              "Where a restore's time goes (median of the runs, seconds):", "",
              "| step | seconds |", "|---|---|"]
    steps = list(restored[0]["phases"])  # type: ignore[call-overload]
    for step in steps:
        values = [float(r["phases"].get(step, 0.0)) for r in restored]  # type: ignore[attr-defined]
        lines.append(f"| {step} | {statistics.median(values):.3f} |")
    possible = statistics.median(float(r["returned"]) for r in restored)  # type: ignore[arg-type]
    paid = statistics.median(float(r["paid"]) for r in restored)  # type: ignore[arg-type]
    lines += ["", f"Target (issue #15): under {TARGET_S} s from a restore to usable, the first "
              "payment possible: "
              f"{'met' if possible < TARGET_S else 'not met'} ({possible:.2f} s). The network is "
              "returned only once a payment can go: every channel active and connected on both "
              "ends, every node at the chain's tip, every route known; with that first "
              f"payment (4 hops) done, {paid:.2f} s. A restore trades the funding, opening and "
              "gossip work for copying and restarting: it kills the test's chain, copies the "
              "saved datadir and starts the chain at once, while it copies the node "
              "directories and starts the nodes (which reconnect their peers before the chain "
              "answers, where the implementation allows); what remains is mostly those "
              "processes' start, which a fresh build pays too."]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section(section, text)


if __name__ == "__main__":
    main()
