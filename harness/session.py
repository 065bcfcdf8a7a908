"""A long-running network for interactive work (`lnharness up` / `lnharness down`)."""
from __future__ import annotations

import json
import os
import re
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from lnharness import topology
from lnharness.backend import select_chain_backend
from lnharness.chain import Chain
from lnharness.errors import LnhError
from lnharness.graph_import import load_topology
from lnharness.network import NodeFactory
from lnharness.node import LightningNode
from lnharness.wait import wait_for

STATE_FILE = "lnharness-up.json"
SHAPES = ("line", "star", "ring")


@dataclass(frozen=True)
class UpConfig:
    """What `lnharness up` starts."""
    directory: Path
    nodes: int = 3
    topology: str = "line"
    impl: str = "builtin"
    chain: str = "auto"
    fundamount_sat: int = 10**6


def env_snippet(chain: Chain, nodes: list[LightningNode]) -> str:
    """Shell `export` lines for the chain's and every node's endpoints."""
    lines = [f"export LNH_CHAIN_RPC_URL='{chain.rpc_url}'"]
    for node in nodes:
        prefix = "LNH_" + re.sub(r"[^A-Z0-9]", "_", node.name.upper())
        for key, value in node.connection_info().items():
            lines.append(f"export {prefix}_{key.upper()}='{value}'")
    return "\n".join(lines)


def start_network(config: UpConfig, out: TextIO) -> tuple[Chain, NodeFactory]:
    """Start the chain and the nodes, open the channels; print how to reach everything."""
    if config.nodes < 1:
        raise ValueError(f"--nodes must be at least 1, got {config.nodes}")
    if config.topology in SHAPES:
        getattr(topology, config.topology)(config.nodes, config.fundamount_sat)  # bad sizes fail now
    else:
        load_topology(Path(config.topology), default_capacity_sat=config.fundamount_sat)  # so do bad files
    config.directory.mkdir(parents=True, exist_ok=True)
    chain = Chain(select_chain_backend(config.chain)(config.directory))
    chain.start()
    chain.fund_wallet()
    factory = NodeFactory(config.directory, chain, default_impl=config.impl)
    try:
        if config.topology in SHAPES:
            make = getattr(factory, f"{config.topology}_graph")
            nodes = make(config.nodes, fundamount_sat=config.fundamount_sat,
                         wait_for_announce=config.nodes > 1)
        else:
            nodes = list(factory.graph(Path(config.topology), fundamount_sat=config.fundamount_sat,
                                       wait_for_announce=True).values())
    except BaseException:
        factory.teardown()
        chain.close()
        raise
    print_endpoints(chain, nodes, out)
    return chain, factory


def print_endpoints(chain: Chain, nodes: list[LightningNode], out: TextIO) -> None:
    """Print the chain's RPC URL, every node's id, address and RPC endpoint, and the
    `export LNH_*=...` lines (`lnharness up`, `lnharness replay`)."""
    print(f"chain ({chain.name}): {chain.rpc_url}", file=out)
    for node in nodes:
        info = node.connection_info()
        print(f"{node.name} ({node.impl}): " + ", ".join(f"{k}={v}" for k, v in info.items()), file=out)
    print("\n# paste into a shell:\n" + env_snippet(chain, nodes), file=out, flush=True)


def run_until_signalled(config: UpConfig, out: TextIO) -> int:
    """`lnharness up`: run the network until Ctrl-C or `lnharness down`, then stop it cleanly."""
    refuse_if_up(config.directory)
    chain, factory = start_network(config, out)
    return serve_until_signalled(config.directory, chain, factory, out)


def refuse_if_up(directory: Path) -> None:
    """Raise if a network started by `up` (or `replay`) still runs in `directory`."""
    state = directory / STATE_FILE
    if state.exists():
        pid = json.loads(state.read_text()).get("pid")
        if pid and _alive(pid):
            raise LnhError(f"a network is already up in {directory} (pid {pid}); "
                           f"run `lnharness down --dir {directory}` first")


def serve_until_signalled(directory: Path, chain: Chain, factory: NodeFactory, out: TextIO) -> int:
    """Keep a started network running until Ctrl-C, SIGTERM or `lnharness down --dir
    directory`; then stop every node and the chain. 1 if a node had a problem."""
    state = directory / STATE_FILE
    state.write_text(json.dumps({"pid": os.getpid()}))
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"\nnetwork up in {directory}; Ctrl-C or `lnharness down --dir {directory}` stops it",
          file=out, flush=True)
    try:
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print("stopping ...", file=out, flush=True)
        problems = factory.teardown()
        chain.close()
        state.unlink(missing_ok=True)
        for problem in problems:
            print(problem, file=out)
    return 1 if problems else 0


def bring_down(directory: Path, out: TextIO, timeout: float | None = None) -> int:
    """`lnharness down`: ask the `up` process running in `directory` to stop, and wait."""
    state = directory / STATE_FILE
    if not state.exists():
        print(f"no network is up in {directory} (no {STATE_FILE})", file=out)
        return 1
    pid = int(json.loads(state.read_text())["pid"])
    if not _alive(pid):
        state.unlink()
        print(f"the network in {directory} was not running (stale pid {pid}); cleaned up", file=out)
        return 1
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not _alive(pid), timeout, what=f"lnharness up (pid {pid}) to stop")
    print(f"network in {directory} stopped", file=out)
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child counts as gone
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
