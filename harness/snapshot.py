"""Snapshots: a topology built once, saved, and restored by later calls from copies of its
directories, so a test skips the funding, opening and gossip work.

`NodeFactory.line_graph(..., snapshot=True)` (and `star_graph`, `ring_graph`, `graph`) asks
`obtain`: the first call for a key builds the network on the test's own chain, stops every
process, saves the chain's datadir and every node's directory under
`snapshot_root()/<key>/` (with a `manifest.json`, see `lnharness.bundle_manifest`), then
brings it back on fresh ports; every later call, in any test, xdist worker or run, kills
the test's still untouched chain, puts a copy of the saved datadir in its place, copies
the node directories and starts everything on fresh ports (`lnharness.restore`).

The key hashes everything the network depends on: its nodes (names, implementations and
their versions, options), its channels, `wait_for_announce`, the chain backend and its
version, and the source of lnharness's engine, of each adapter's package and of the chain
backend's package. A file lock per key makes one process build while the others wait.
"""
from __future__ import annotations

import fcntl
import functools
import hashlib
import inspect
import json
import logging
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lnharness import bundle_manifest
from lnharness.backend import FEATURE_PERSISTENT
from lnharness.bundle_manifest import ChainEntry, Manifest, NodeEntry
from lnharness.chain import MATURITY_BLOCKS
from lnharness.errors import LnhError
from lnharness.implementations import implementation
from lnharness.node import LightningNode
from lnharness.ports import block_ports
from lnharness.restore import (
    channel_entries,
    copy_dir,
    copy_saved_nodes,
    not_restorable,
    replace_chain_data,
    start_chain_soon,
    start_saved_nodes,
)
from lnharness.topology import ChannelSpec

if TYPE_CHECKING:
    from lnharness.network import NodeFactory

ENV_DIR = "LNH_SNAPSHOT_DIR"
#: in a snapshot: each node's peer port when it was saved (peers may redial it)
PORTS_FILE = "ports.json"
KEY_FORMAT = 1
#: a snapshot older than this is built again: nodes may prune gossip older than two weeks
MAX_AGE_S = 7 * 86400
#: files of a chain datadir not saved: its conf (holds the RPC password; rewritten at every
#: start) and its logs
CHAIN_EXCLUDES = ("bitcoin.conf", "debug.log", "regtest/debug.log", "*.lock", ".lock")
log = logging.getLogger("lnharness.snapshot")


class SnapshotError(LnhError):
    """A snapshot cannot be used here; the message says why and what to do."""


class SnapshotWarning(UserWarning):
    """A snapshot was asked for but the network was built fresh; the message says why."""


@dataclass(frozen=True)
class SnapshotUse:
    """What `snapshot=True` did: `built` (and saved), `restored`, or `fresh` (built, not
    saved, because `reason`)."""
    action: str
    key: str | None
    path: Path | None
    reason: str = ""
    seconds: float = 0.0
    #: seconds per step of a restore (or of the restart after a build), in order
    phases: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SavedNode:
    """One node of a topology as a snapshot key sees it."""
    name: str
    impl: str
    opts: dict[str, Any]


def snapshot_root() -> Path:
    """Where snapshots live: `LNH_SNAPSHOT_DIR`, else `$XDG_CACHE_HOME/lnharness/snapshots`
    (default `~/.cache/lnharness/snapshots`). Read when called."""
    configured = os.environ.get(ENV_DIR)
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "lnharness" / "snapshots"


@functools.cache
def source_digest(folder: Path) -> str:
    """SHA-256 of every Python (and Rust) source file under `folder`, names included."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*")
                       if p.suffix in (".py", ".rs", ".toml") and "__pycache__" not in p.parts):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _package_dir(cls: type) -> Path:
    return Path(inspect.getfile(cls)).resolve().parent


def snapshot_key(factory: NodeFactory, nodes: Sequence[SavedNode],
                 channels: Sequence[ChannelSpec], *, wait_for_announce: bool) -> tuple[str, dict[str, Any]]:
    """The key of a topology on the factory's chain, and what it hashes (JSON-able)."""
    chain = factory.chain
    engine = Path(inspect.getfile(LightningNode)).resolve().parent
    folders = {engine, _package_dir(type(chain.backend))}
    versions = {}
    for impl in dict.fromkeys(node.impl for node in nodes):
        cls = implementation(impl)
        folders.add(_package_dir(cls))
        versions[impl] = cls.availability().version
    try:
        chain_version: Any = chain.version()
    except Exception as exc:  # a backend without a version still gets a key
        chain_version = f"unknown ({type(exc).__name__})"
    material = {
        "format": KEY_FORMAT,
        "nodes": [[n.name, n.impl, n.opts] for n in nodes],
        "channels": [[c.opener, c.peer, c.capacity_sat, c.push_msat, c.announce] for c in channels],
        "wait_for_announce": wait_for_announce,
        "impl_versions": versions,
        "chain": [chain.name, chain_version],
        "source": sorted(source_digest(folder) for folder in folders),
    }
    try:
        text = json.dumps(material, sort_keys=True)
    except TypeError as exc:
        raise SnapshotError(f"snapshot=True needs JSON-able node options (they are part of the "
                            f"snapshot's key): {exc}") from None
    return hashlib.sha256(text.encode()).hexdigest()[:24], material


@contextmanager
def _locked(root: Path, key: str) -> Iterator[None]:
    """Hold the key's lock file (exclusive): one process builds or copies a key at a time."""
    with open(root / f"{key}.lock", "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _why_not(factory: NodeFactory, impls: Sequence[str]) -> str | None:
    """Why this factory's network cannot come from a snapshot (None: it can)."""
    unfit = not_restorable(impls)
    if unfit:
        return "; ".join(f"{impl} nodes cannot restart from a copy of their directory: {why}"
                         for impl, why in unfit.items())
    if not factory.chain.backend.supports(FEATURE_PERSISTENT):
        return f"the {factory.chain.name!r} chain backend keeps no datadir to save and restore"
    return None


def _require_fresh(factory: NodeFactory) -> None:
    """A restore replaces the chain: it must still be as the `bitcoind` fixture made it."""
    chain = factory.chain
    problems = []
    if factory.managed:
        problems.append(f"the factory already has nodes ({', '.join(n.name for n in factory.nodes)})")
    height = chain.height()
    if height != MATURITY_BLOCKS:
        problems.append(f"the chain is at height {height}, not {MATURITY_BLOCKS}")
    mempool = list(chain.rpc.getrawmempool())
    if mempool:
        problems.append(f"the chain's mempool holds {len(mempool)} transaction(s)")
    if problems:
        raise SnapshotError("snapshot=True needs a fresh chain and no nodes yet (a restore "
                            "replaces the chain's data with the snapshot's): "
                            + "; ".join(problems) + ". Ask for the snapshot first in the test")


def obtain(factory: NodeFactory, nodes: Sequence[SavedNode], channels: Sequence[ChannelSpec], *,
           wait_for_announce: bool, build: Callable[[], list[LightningNode]],
           description: str) -> list[LightningNode]:
    """The topology `nodes` + `channels` on the factory's chain: restored from its snapshot,
    or built by `build()` and saved. Records what happened in `factory.last_snapshot`."""
    started = time.perf_counter()
    reason = _why_not(factory, [n.impl for n in nodes])
    if reason is not None:
        warnings.warn(f"snapshot=True: building {description} fresh: {reason}", SnapshotWarning,
                      stacklevel=4)
        log.warning("building %s fresh: %s", description, reason)
        built = build()
        factory.last_snapshot = SnapshotUse("fresh", None, None, reason,
                                            time.perf_counter() - started)
        return built
    _require_fresh(factory)
    key, material = snapshot_key(factory, nodes, channels, wait_for_announce=wait_for_announce)
    root = snapshot_root()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = root / key
    phases: dict[str, float] = {"key": time.perf_counter() - started}
    action = "restored"
    with _locked(root, key):
        mark = time.perf_counter()
        phases["lock"] = mark - started - phases["key"]
        saved = path / bundle_manifest.FILE_NAME
        if saved.exists() and time.time() - saved.stat().st_mtime > MAX_AGE_S:
            # gossip older than two weeks may be pruned (BOLT 7): rebuild well before that
            log.info("snapshot %s is older than %d days: building it again", key,
                     MAX_AGE_S // 86400)
            shutil.rmtree(path)
        if not saved.exists():
            built = build()
            phases["built"] = time.perf_counter() - mark
            mark = time.perf_counter()
            _save(factory, built, nodes, channels, path, material, description)
            factory.retire(built)  # the builder, too, comes back on fresh ports (below)
            action = "built"
        manifest = bundle_manifest.read(path)
        # the saved nodes may redial each other at the ports they had when saved: keep every
        # lnharness process from giving those ports to another copy of them while ours runs
        stale = json.loads((path / PORTS_FILE).read_text())
        factory.port_blocks.append(block_ports(sorted(set(stale.values()))))
        if action == "restored":
            replace_chain_data(factory.chain, path / manifest.chain.directory)
        chain_starting = start_chain_soon(factory)
        if action == "restored":
            copy_saved_nodes(path, manifest, factory.directory)
        phases["saved" if action == "built" else "chain stopped, directories copied"] = (
            time.perf_counter() - mark)
    result = start_saved_nodes(factory, manifest, phases=phases, chain_starting=chain_starting)
    if wait_for_announce:
        mark = time.perf_counter()
        factory.wait_for_gossip(result, channels)
        phases["routes known"] = time.perf_counter() - mark
    seconds = time.perf_counter() - started
    factory.last_snapshot = SnapshotUse(action, key, path, seconds=seconds, phases=phases)
    log.info("%s snapshot %s of %s in %.2f s", action, key, description, seconds)
    return result


def _save(factory: NodeFactory, nodes: Sequence[LightningNode], asked: Sequence[SavedNode],
          channels: Sequence[ChannelSpec], path: Path, material: dict[str, Any],
          description: str) -> None:
    """Stop every node and the chain (consistent copies), then save them as the snapshot
    `path`: written to a partial directory first and renamed into place when complete."""
    entries = channel_entries(nodes, [(c.opener, c.peer) for c in channels])
    ids = [node.node_id for node in nodes]
    ports = {node.name: node.port for node in nodes}
    factory._each(lambda node: node.stop(), list(nodes))
    factory.chain.stop()
    for stale in path.parent.glob(f".{path.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)  # a builder that died (we hold the lock)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    partial.mkdir(mode=0o700)
    copy_dir(factory.chain.datadir, partial / "chain", CHAIN_EXCLUDES)
    (partial / "nodes").mkdir(mode=0o700)
    node_entries = []
    for node, node_id, spec in zip(nodes, ids, asked, strict=True):
        copy_dir(node.lightning_dir, partial / "nodes" / node.name, type(node).saved_excludes)
        # the options as asked (get_node's flags included), as a fresh build would be made
        node_entries.append(NodeEntry(name=node.name, impl=node.impl,
                                      version=type(node).availability().version,
                                      options=dict(spec.opts), node_id=node_id))
    manifest = Manifest(chain=ChainEntry(backend=factory.chain.name,
                                         version=str(material["chain"][1])),
                        nodes=node_entries, channels=entries,
                        test_id=f"snapshot: {description}",
                        lnharness_version=bundle_manifest.lnharness_version())
    bundle_manifest.write(partial, manifest)
    (partial / "key.json").write_text(json.dumps(material, indent=2, sort_keys=True) + "\n")
    (partial / PORTS_FILE).write_text(json.dumps(ports, sort_keys=True) + "\n")
    os.rename(partial, path)


# -- the cache as a whole (`lnharness snapshots`) --------------------------------------------
@dataclass(frozen=True)
class SnapshotInfo:
    """One saved snapshot: its key, directory, bytes on disk, when saved, what it holds."""
    key: str
    path: Path
    size_bytes: int
    saved_at: float
    description: str


def list_snapshots(root: Path | None = None) -> list[SnapshotInfo]:
    """Every complete snapshot under `root` (default `snapshot_root()`), oldest first."""
    root = root if root is not None else snapshot_root()
    found = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        manifest_path = path / bundle_manifest.FILE_NAME
        if path.name.startswith(".") or not manifest_path.is_file():
            continue
        try:
            description = bundle_manifest.read(path).test_id
        except bundle_manifest.ManifestError as exc:
            description = f"unreadable: {exc}"
        size = sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())  # on disk
        found.append(SnapshotInfo(path.name, path, size, manifest_path.stat().st_mtime, description))
    return sorted(found, key=lambda info: info.saved_at)


def clear_snapshots(root: Path | None = None) -> int:
    """Delete every snapshot (and partial one) under `root` (default `snapshot_root()`);
    return how many were complete. Waits for a snapshot being built to be saved first.
    The empty `<key>.lock` files stay: removing a lock file another process waits on would
    let two builders in."""
    root = root if root is not None else snapshot_root()
    if not root.is_dir():
        return 0
    removed = 0
    for path in sorted(root.iterdir()):
        if not path.is_dir():
            continue
        key = path.name.lstrip(".").split(".partial-")[0]
        with _locked(root, key):
            if (path / bundle_manifest.FILE_NAME).is_file() and not path.name.startswith("."):
                removed += 1
            shutil.rmtree(path, ignore_errors=True)
    return removed
