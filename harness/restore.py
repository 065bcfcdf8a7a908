"""Restart a saved network (a snapshot or a repro bundle) from copies of its directories.

The saved chain datadir and node directories are copied (never used in place), then the
chain and every node start on fresh ports: adapters build their command line (ports, the
chain's port and credentials) at every construction, and nothing they store pins a port.
Peers' stored addresses carry the old ports, so every channel's peers are reconnected
explicitly; the network is returned once it is usable: every channel active and connected
on both ends, every node at the chain's tip.
"""
from __future__ import annotations

import fnmatch
import os
import shutil
import stat
import time
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from lnharness.backend import chain_backend_class
from lnharness.bundle_manifest import ChannelEntry, Manifest
from lnharness.chain import Chain
from lnharness.errors import LnhError
from lnharness.implementations import implementation, split_node_flags
from lnharness.node import LightningNode

if TYPE_CHECKING:
    from lnharness.network import NodeFactory


class RestoreError(LnhError):
    """A saved network cannot be restarted; the message says which part and why."""


def copy_dir(source: Path, destination: Path, excludes: Sequence[str] = ()) -> None:
    """Copy the tree `source` to `destination` (which must not exist), skipping paths
    (relative to `source`, glob patterns) in `excludes` and anything not a regular file or
    directory (sockets, pipes). Directories are 0700 like every test directory."""
    source = Path(source)

    def ignored(folder: str, names: list[str]) -> set[str]:
        skip = set()
        for name in names:
            path = Path(folder) / name
            relative = path.relative_to(source).as_posix()
            mode = path.lstat().st_mode
            if (any(fnmatch.fnmatchcase(relative, pattern) for pattern in excludes)
                    or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))):
                skip.add(name)
        return skip
    shutil.copytree(source, destination, ignore=ignored, symlinks=False, copy_function=copy_file)
    Path(destination).chmod(0o700)


#: files from this size on are copied with their runs of zero bytes left as holes
SPARSE_FROM_BYTES = 1 << 20
_BLOCK = 1 << 16
_ZEROS = bytes(_BLOCK)


def copy_file(source: str, destination: str) -> str:
    """`shutil.copy2`, except that a large file's all-zero blocks become holes: a chain's
    block files are preallocated (16 MiB of zeros for a few blocks), and a snapshot need
    not store nor copy them."""
    size = os.path.getsize(source)
    if size < SPARSE_FROM_BYTES:
        return str(shutil.copy2(source, destination))
    with open(source, "rb") as src, open(destination, "wb") as dst:
        while chunk := src.read(_BLOCK):
            if chunk == _ZEROS[:len(chunk)]:
                dst.seek(len(chunk), os.SEEK_CUR)
            else:
                dst.write(chunk)
        dst.truncate(size)
    shutil.copystat(source, destination)
    return destination


def replace_chain_data(chain: Chain, source: Path) -> None:
    """Kill `chain` (its data is discarded: no need for a clean stop) and put a copy of the
    datadir `source` in place of its own; the caller starts it again (same ports;
    `bitcoin.conf` is rewritten at start)."""
    chain.kill()
    shutil.rmtree(chain.datadir, ignore_errors=True)
    copy_dir(source, chain.datadir)


def start_chain_soon(factory: NodeFactory, timeout: float | None = None) -> Future[None]:
    """Start the factory's (stopped) chain on the factory's executor; the caller goes on
    (copying node directories, launching nodes) and passes the future to `bring_up`."""
    return factory._executor.submit(factory.chain.start, timeout)


def not_restorable(impls: Sequence[str]) -> dict[str, str]:
    """Implementation -> why its nodes cannot be restarted from a copy of their directory,
    for those of `impls` that cannot (see `LightningNode.restore_unsupported`)."""
    reasons = {}
    for name in dict.fromkeys(impls):
        reason = implementation(name).restore_unsupported
        if reason is not None:
            reasons[name] = reason
    return reasons


def bring_up(factory: NodeFactory, nodes: Sequence[LightningNode],
             channels: Sequence[tuple[LightningNode, LightningNode]], *,
             timeout: float | None = None, phases: dict[str, float] | None = None,
             only_open: bool = False,
             chain_starting: Future[None] | None = None) -> list[tuple[LightningNode, LightningNode]]:
    """Start the (stopped) `nodes` in parallel on the factory's chain, have each channel's
    opener dial its peer, and return once every channel is active and connected on both
    ends and every node has processed the chain's tip. `phases` gets each step's seconds.

    With `chain_starting` (the chain's `start`, under way, see `start_chain_soon`), the
    processes of nodes that can start before the chain (`LightningNode.starts_before_chain`)
    launch meanwhile and reconnect their channels' peers among themselves. With
    `only_open`, a channel its opener no longer lists as active (closed or closing in a
    saved failing state) is left as it is. Returns the channels brought up."""
    clock = _Phases(phases)

    def reconnect(pair: tuple[LightningNode, LightningNode]) -> None:
        a, b = pair
        if not a.is_connected(b):
            a.connect(b)
    reconnected: list[tuple[LightningNode, LightningNode]] = []
    if chain_starting is not None:
        # the chain starts while the nodes that can go first launch and dial their peers
        early = [node for node in nodes if node.starts_before_chain]
        factory._each(lambda node: node.launch(timeout), early)
        if not only_open:
            reconnected = [(a, b) for a, b in channels if a in early and b in early]
            factory._each(reconnect, reconnected)
        chain_starting.result()
        clock.done("chain started" + (f", {len(early)} node processes launched" if early else "")
                   + (f", {len(reconnected)} channels' peers reconnected" if reconnected else ""))
    factory._each(lambda node: node.start(timeout), list(nodes))
    clock.done("nodes started")
    if only_open:
        channels = [(a, b) for a, b in channels
                    if any(c.state == "active" for c in a.channels(b))]
    factory._each(reconnect, [pair for pair in channels if pair not in reconnected])
    clock.done("peers reconnected")
    factory._each(lambda pair: pair[0].wait_channel_active(pair[1], timeout=timeout),
                  list(channels))
    clock.done("channels active on both ends")
    factory.sync_blockheight(nodes)
    clock.done("nodes at the tip")
    return list(channels)


class _Phases:
    """Records the seconds since the previous step into a dict (or nowhere)."""

    def __init__(self, phases: dict[str, float] | None):
        self.phases = phases
        self.last = time.perf_counter()

    def done(self, step: str) -> None:
        now = time.perf_counter()
        if self.phases is not None:
            self.phases[step] = self.phases.get(step, 0.0) + now - self.last
        self.last = now


def copy_saved_nodes(saved: Path, manifest: Manifest, directory: Path) -> None:
    """Copy every node directory of the saved network `saved` to `directory/<name>`."""
    for entry in manifest.nodes:
        target = directory / entry.name
        if target.exists():
            raise RestoreError(f"cannot restore node {entry.name}: {target} already exists")
        copy_dir(saved / entry.directory, target)


def start_saved_nodes(factory: NodeFactory, manifest: Manifest, *,
                      timeout: float | None = None, phases: dict[str, float] | None = None,
                      only_open: bool = False,
                      chain_starting: Future[None] | None = None) -> list[LightningNode]:
    """Make the manifest's nodes (same names, implementations and options) on the node
    directories already copied into the factory's directory (`copy_saved_nodes`), start
    them and bring the channels up (`bring_up`); the chain must already run the saved
    chain's copy, or be starting on it (`chain_starting`, `only_open`: see `bring_up`).
    Returns the nodes in the manifest's order;
    `RestoreError` if a node comes back with another id than the saved one."""
    unfit = not_restorable([entry.impl for entry in manifest.nodes])
    if unfit:
        raise RestoreError("these implementations cannot restart from a copy of their "
                           "directory: " + "; ".join(f"{k}: {v}" for k, v in unfit.items()))
    nodes = []
    for entry in manifest.nodes:
        options, flags = split_node_flags(dict(entry.options))
        nodes.append(factory._make(entry.impl, options, name=entry.name, **flags))
    by_name = {node.name: node for node in nodes}
    bring_up(factory, nodes, [(by_name[c.a], by_name[c.b]) for c in manifest.channels],
             timeout=timeout, phases=phases, only_open=only_open, chain_starting=chain_starting)
    for entry, node in zip(manifest.nodes, nodes, strict=True):
        if entry.node_id is not None and node.node_id != entry.node_id:
            raise RestoreError(f"{entry.name} ({entry.impl}) came back as {node.node_id}, not "
                               f"the saved {entry.node_id}: its directory copy did not keep "
                               "its identity")
    return nodes


def restore_chain(saved: Path, manifest: Manifest, directory: Path, *,
                  timeout: float | None = None) -> Chain:
    """Start a chain of the saved backend in `directory` on a copy of the saved datadir."""
    cls = chain_backend_class(manifest.chain.backend)
    cls.require_available()
    backend = cls(directory)
    copy_dir(saved / manifest.chain.directory, backend.datadir)
    try:
        backend.start(timeout)
    except BaseException:
        backend.close()
        raise
    return Chain(backend)


def channel_entries(nodes: Sequence[LightningNode],
                    pairs: Sequence[tuple[int, int]]) -> list[ChannelEntry]:
    """Manifest entries for the channels between `nodes` given as (opener, peer) indexes,
    with the funding txid the opener lists (None if it lists none or several)."""
    entries = []
    for a, b in pairs:
        funding = {c.funding_txid for c in nodes[a].channels(nodes[b])}
        entries.append(ChannelEntry(nodes[a].name, nodes[b].name,
                                    funding.pop() if len(funding) == 1 else None))
    return entries
