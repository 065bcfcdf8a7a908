"""Repro bundles: what a failing test's network was, and a copy of it anyone can replay.

`capture_network` asks the running processes what only they can tell (node ids, channels,
the chain's version) and notes where everything lives; `write_bundle` later copies the
chain's and every node's directory, the test's source and one merged log into a bundle
directory (layout: `lnharness.bundle_manifest`). The pytest plugin captures before it
stops the nodes and writes the bundle once they have stopped, so databases are copied
whole, not while a process writes them.
"""
from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lnharness.bundle_manifest import (
    CHAIN_DIR,
    MERGED_LOG_NAME,
    TEST_SOURCE_NAME,
    ChainEntry,
    ChannelEntry,
    Manifest,
    ManifestError,
    NodeEntry,
)
from lnharness.mergelog import read_lines, write_merged_log

if TYPE_CHECKING:
    from lnharness.backend import ChainBackend
    from lnharness.node import LightningNode

CHAIN_LOG_NAME = "chain"


def lnharness_version() -> str:
    """The installed lnharness's version ("unknown" when it is not installed)."""
    try:
        return version("lnharness")
    except PackageNotFoundError:
        return "unknown"


@dataclass
class Capture:
    """A network as it was at a failure: the manifest, and where its files are now."""
    manifest: Manifest
    chain_datadir: Path
    #: the chain's logs, most complete first (debug.log, then the console output)
    chain_logs: list[Path] = field(default_factory=list)
    node_dirs: dict[str, Path] = field(default_factory=dict)
    node_logs: dict[str, Path] = field(default_factory=dict)


def _ask(question: Any) -> Any:
    """`question()`, or None when the process cannot answer (stopped, crashed)."""
    try:
        return question()
    except Exception:  # a dead node has no answer; the bundle says null
        return None


def _chain_version(backend: ChainBackend) -> str | None:
    if not backend.is_running():
        return None
    info = _ask(backend.node_rpc.getnetworkinfo)
    if not info:
        return None
    return str(info.get("subversion") or info.get("version"))


def _node_entry(node: LightningNode) -> NodeEntry:
    # adapters keep the id they read at start, so a node that crashed still has one
    return NodeEntry(name=node.name, impl=node.impl,
                     version=_ask(lambda: type(node).availability().version),
                     command=list(node.daemon.cmd), options=dict(node.options),
                     node_id=_ask(lambda: node.node_id))


def _channel_entries(nodes: Sequence[LightningNode]) -> list[ChannelEntry]:
    """Every channel between two of `nodes` (by funding transaction), from each node's list."""
    names: dict[str, str] = {}
    for node in nodes:
        node_id = _ask(lambda node=node: node.node_id)
        if node_id:
            names[node_id] = node.name
    entries: list[ChannelEntry] = []
    seen: set[tuple[frozenset[str], str]] = set()
    for node in nodes:
        if not node.daemon.is_running():
            continue
        for channel in _ask(node.channels) or []:
            peer = names.get(channel.peer_id)
            key = (frozenset((node.name, peer or "")), channel.funding_txid)
            if peer is None or key in seen:
                continue
            seen.add(key)
            entries.append(ChannelEntry(a=node.name, b=peer,
                                        funding_txid=channel.funding_txid or None))
    return entries


def capture_network(*, test_id: str, test_function: str | None, chain: ChainBackend,
                    nodes: Sequence[LightningNode]) -> Capture:
    """What the running `chain` and `nodes` are, for a bundle (call it before stopping them).

    A node that does not answer gets null for what only it could say."""
    entry = ChainEntry(backend=chain.name, version=_chain_version(chain),
                       command=_ask(lambda: list(chain.daemon.cmd)))
    manifest = Manifest(test_id=test_id, test_function=test_function,
                        lnharness_version=lnharness_version(), chain=entry,
                        nodes=[_node_entry(node) for node in nodes],
                        channels=_channel_entries(nodes))
    logs = list(reversed(chain.log_files()))
    return Capture(manifest=manifest, chain_datadir=chain.datadir, chain_logs=logs,
                   node_dirs={node.name: node.lightning_dir for node in nodes},
                   node_logs={node.name: node.daemon.log_path for node in nodes})


def _copy_tree(source: Path, target: Path) -> None:
    """Copy the regular files and directories under `source` (sockets and pipes are
    skipped: they are endpoints of a process, not state); keeps modes, so secrets stay 0600."""
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not source.is_dir():
        return
    for root, dirs, files in os.walk(source):
        relative = Path(root).relative_to(source)
        for name in dirs:
            (target / relative / name).mkdir(mode=0o700, exist_ok=True)
        for name in files:
            path = Path(root) / name
            try:
                mode = path.lstat().st_mode
                if stat.S_ISREG(mode):
                    shutil.copy2(path, target / relative / name)
                elif stat.S_ISLNK(mode):
                    os.symlink(os.readlink(path), target / relative / name)
            except FileNotFoundError:  # a file the process removed while we walked
                continue


def _splice(base: list[str], other: list[str]) -> list[str]:
    """`base` plus the lines of `other` it lacks, each placed after the line `other` has
    before it (so a traceback on the console follows the log line it followed there)."""
    where: dict[str, list[int]] = {}
    for index, line in enumerate(base):
        where.setdefault(line, []).append(index)
    after: dict[int, list[str]] = {}
    cursor = -1  # the line of `base` that `other` reached; -1: before the first
    for line in other:
        found = next((index for index in where.get(line, ()) if index > cursor), None)
        if found is None:
            after.setdefault(cursor, []).append(line)
        else:
            cursor = found
    spliced = list(after.get(-1, []))
    for index, line in enumerate(base):
        spliced.append(line)
        spliced.extend(after.get(index, []))
    return spliced


def _chain_log_lines(paths: Sequence[Path]) -> list[str]:
    """The chain's log: the first (most complete) file, with what the others add spliced in
    (bitcoind and the embedded chain repeat debug.log on the console, which adds only what
    went to stderr, such as a crash's traceback)."""
    lines: list[str] = []
    for path in paths:
        lines = _splice(lines, read_lines(path))
    return lines


def write_bundle(capture: Capture, bundle: Path, *, test_source: Path | None) -> Path:
    """Write the bundle of `capture` into the directory `bundle` (created if missing);
    return `bundle`. Copies the files as they are now: call it once the processes stopped."""
    bundle = Path(bundle)
    bundle.mkdir(mode=0o700, parents=True, exist_ok=True)
    manifest = capture.manifest
    _copy_tree(capture.chain_datadir, bundle / CHAIN_DIR)
    for entry in manifest.nodes:
        _copy_tree(capture.node_dirs[entry.name], bundle / entry.directory)
    if test_source is not None and Path(test_source).is_file():
        shutil.copyfile(test_source, bundle / TEST_SOURCE_NAME)
    sources = [(CHAIN_LOG_NAME, _chain_log_lines(capture.chain_logs))]
    sources += [(entry.name, read_lines(capture.node_logs[entry.name])) for entry in manifest.nodes]
    write_merged_log(bundle / MERGED_LOG_NAME, sources)
    manifest.write(bundle)
    return bundle


def bundle_log_lines(bundle: Path, processes: Sequence[str] | None = None) -> list[str]:
    """The merged log of `bundle` (only the lines of `processes`, when given: names from
    its manifest, or `chain`); a `ManifestError` when `bundle` is not a bundle."""
    bundle = Path(bundle)
    manifest = Manifest.read(bundle)
    if processes:
        known = [CHAIN_LOG_NAME, *(node.name for node in manifest.nodes)]
        unknown = [name for name in processes if name not in known]
        if unknown:
            raise ManifestError(f"{bundle}: no process named {', '.join(unknown)}; "
                                f"its processes: {', '.join(known)}")
    path = bundle / MERGED_LOG_NAME
    if not path.is_file():
        raise ManifestError(f"{bundle}: no {MERGED_LOG_NAME} in the bundle")
    lines = read_lines(path)
    if not processes:
        return lines
    wanted = set(processes)
    return [line for line in lines if line.split(" ", 1)[0] in wanted]
