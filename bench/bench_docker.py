"""Benchmark of the container overhead: the chain and built-in nodes in containers against
processes; writes the "Containers against processes" section of bench/RESULTS.md.

Per runtime: the chain from nothing to a funded wallet (start + 101 blocks), a built-in
node from nothing to ready, and `line_graph(3, wait_for_announce=True)` plus one routed
payment. The process column runs the chain the `docker` backend would put in its container
(bitcoind when one is found, else the embedded chain), so only the runtime differs. The
images must be built (`lnharness images build`); their build time is not counted.

Run: python bench/bench_docker.py [--repeat 3] [--no-write] [--note "..."]
"""
from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lnharness.backend import chain_backend_class  # noqa: E402
from lnharness.chain import Chain, start_chain  # noqa: E402
from lnharness.containers.runtime import DockerRuntime, docker_available  # noqa: E402
from lnharness.network import NodeFactory  # noqa: E402
from lnharness.runtime import PROCESS, NodeRuntime  # noqa: E402
from results import header, write_section  # noqa: E402

SECTION = "## Containers against processes"
RUNTIMES = (PROCESS, "docker")


def _timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def _chain_class(runtime: str) -> type:
    if runtime == "docker":
        return chain_backend_class("docker")
    from lnharness.node_impl.bitcoin.docker import inner_chain  # the same chain, as a process

    return chain_backend_class(inner_chain())


def _node_runtime(runtime: str, chain: Chain) -> NodeRuntime | None:
    return DockerRuntime.for_chain(chain) if runtime == "docker" else None


def measure(runtime: str, base: Path, repeat: int) -> dict[str, list[float]]:
    """Seconds of each measurement, `repeat` times, for `runtime`."""
    cls = _chain_class(runtime)
    found: dict[str, list[float]] = {"chain": [], "node": [], "line": []}
    for attempt in range(repeat):
        directory = base / f"{runtime}-{attempt}"
        started = time.monotonic()
        chain = start_chain(directory / "chain", cls)
        found["chain"].append(time.monotonic() - started)
        try:
            factory = NodeFactory(directory, chain, runtime=_node_runtime(runtime, chain))
            try:
                found["node"].append(_timed(lambda f=factory: f.get_node()))

                def line(f: NodeFactory = factory) -> None:
                    l1, _, l3 = f.line_graph(3, wait_for_announce=True)
                    l1.pay(l3.invoice(10_000).bolt11)
                found["line"].append(_timed(line))
            finally:
                problems = factory.teardown()
                if problems:
                    raise RuntimeError(f"{runtime}: teardown: {problems}")
        finally:
            chain.backend.close()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    ok, detail = docker_available("bitcoind" if _chain_class(PROCESS).name == "bitcoind"
                                  else "python")
    if not ok:
        print(f"containers unavailable: {detail}", file=sys.stderr)
        return 1
    command = "python bench/bench_docker.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    lines = header(SECTION, command.strip())
    results = {}
    with tempfile.TemporaryDirectory(prefix="lnh-bench-docker-") as tmp:
        for runtime in RUNTIMES:
            results[runtime] = measure(runtime, Path(tmp), args.repeat)
            print(runtime, {k: [round(v, 2) for v in vs] for k, vs in results[runtime].items()},
                  flush=True)
    inner = _chain_class(PROCESS).name
    rows = [("chain: start to funded wallet (101 blocks)", "chain"),
            ("built-in node: start to ready", "node"),
            ("line_graph(3, announced) + routed payment", "line")]
    lines += [f"Chain: {inner} (in the `docker` column, in its image); nodes: built-in. "
              f"Median of {args.repeat}, images already built. {detail}.", "",
              "| measurement | process | docker | overhead |", "|---|---|---|---|"]
    for label, key in rows:
        process = statistics.median(results[PROCESS][key])
        docker = statistics.median(results["docker"][key])
        lines.append(f"| {label} | {process:.2f} s | {docker:.2f} s | "
                     f"{docker - process:+.2f} s (x{docker / process:.1f}) |")
    if args.note:
        lines += ["", args.note]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
