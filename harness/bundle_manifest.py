"""`manifest.json`: what a saved network holds (a repro bundle or a snapshot).

One reader and one writer for the format, shared by the capture side (`--lnh-repro`),
snapshots (`lnharness.snapshot`) and `lnharness replay`. A saved network is a directory:

    manifest.json     this file
    chain/            the chain backend's datadir (`Chain.datadir`), copied while stopped
    nodes/<name>/     each node's directory (`LightningNode.lightning_dir`)
    test_source.py    (bundles) the failing test's module source
    merged.log        (bundles) every process's log, merged by time

Format 1: `{"format": 1, "test_id": str, "test_function": str|null, "lnharness_version": str,
"chain": {"backend": str, "version": str|null, "command": [str]|null, "directory": "chain"},
"nodes": [{"name": str, "impl": str, "version": str|null, "command": [str]|null,
"options": {...}, "node_id": str|null, "directory": "nodes/<name>"}],
"channels": [{"a": name, "b": name, "funding_txid": str|null}]}`. In a channel, `a` is the
opener. `command`, `version`, `node_id` and `funding_txid` may be null (not known when
saved). Unknown keys are kept out: reading rejects them, naming the key.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

FORMAT = 1
FILE_NAME = "manifest.json"
MANIFEST_NAME = FILE_NAME
TEST_SOURCE_NAME = "test_source.py"
MERGED_LOG_NAME = "merged.log"
CHAIN_DIR = "chain"
NODES_DIR = "nodes"


class ManifestError(ValueError):
    """A manifest that cannot be read: the message names the file and what is wrong."""


@dataclass(frozen=True)
class ChainEntry:
    """The chain: its backend name and version, how it ran, where its datadir copy is."""
    backend: str
    version: str | None = None
    command: list[str] | None = None
    directory: str = CHAIN_DIR


@dataclass(frozen=True)
class NodeEntry:
    """One Lightning node: name, implementation, options and where its directory copy is."""
    name: str
    impl: str
    version: str | None = None
    command: list[str] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    node_id: str | None = None
    directory: str = ""

    def __post_init__(self) -> None:
        if not self.directory:
            object.__setattr__(self, "directory", f"{NODES_DIR}/{self.name}")


@dataclass(frozen=True)
class ChannelEntry:
    """A channel opened by node `a` to node `b`."""
    a: str
    b: str
    funding_txid: str | None = None


@dataclass(frozen=True)
class Manifest:
    """The whole manifest; `read`/`write` convert it from and to `manifest.json`."""
    chain: ChainEntry
    nodes: list[NodeEntry]
    channels: list[ChannelEntry] = field(default_factory=list)
    test_id: str = ""
    lnharness_version: str = ""
    test_function: str | None = None
    format: int = FORMAT

    def node(self, name: str) -> NodeEntry:
        """The node called `name`; KeyError naming the known ones otherwise."""
        for entry in self.nodes:
            if entry.name == name:
                return entry
        raise KeyError(f"no node {name!r} in the manifest; nodes: "
                       f"{', '.join(n.name for n in self.nodes) or 'none'}")

    def to_json(self) -> dict[str, Any]:
        return {"format": self.format, "test_id": self.test_id,
                "test_function": self.test_function,
                "lnharness_version": self.lnharness_version,
                "chain": vars(self.chain).copy(),
                "nodes": [vars(node).copy() for node in self.nodes],
                "channels": [vars(channel).copy() for channel in self.channels]}

    def write(self, directory: Path) -> Path:
        """`write(directory, self)`."""
        return write(directory, self)

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        """`read(directory)`: `directory` may also be the manifest file itself."""
        path = Path(directory)
        return read(path.parent if path.name == FILE_NAME and path.is_file() else path)


def lnharness_version() -> str:
    """The installed lnharness distribution's version ("unknown" if not installed)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("lnharness")
    except PackageNotFoundError:
        return "unknown"


def write(directory: Path, manifest: Manifest) -> Path:
    """Write `directory/manifest.json` (atomically: a reader sees the old file or the new)."""
    path = Path(directory) / FILE_NAME
    tmp = path.with_name(FILE_NAME + ".tmp")
    # options may hold values JSON has no type for (paths): written as text
    tmp.write_text(json.dumps(manifest.to_json(), indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)
    return path


def read(directory: Path) -> Manifest:
    """Read and check `directory/manifest.json`; `ManifestError` says what is wrong."""
    path = Path(directory) / FILE_NAME
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"{directory} holds no {FILE_NAME}: not a bundle or snapshot") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ManifestError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    if raw.get("format") != FORMAT:
        raise ManifestError(f"{path}: format {raw.get('format')!r} is not supported (this "
                            f"lnharness reads format {FORMAT})")
    _only(path, "manifest", raw, {"format", "test_id", "test_function", "lnharness_version",
                                  "chain", "nodes", "channels"})
    chain = ChainEntry(**_entry(path, "chain", raw.get("chain"), {"backend"},
                                {"version", "command", "directory"}))
    nodes = [NodeEntry(**_entry(path, f"nodes[{i}]", item, {"name", "impl"},
                                {"version", "command", "options", "node_id", "directory"}))
             for i, item in enumerate(_list(path, "nodes", raw.get("nodes")))]
    names = [node.name for node in nodes]
    if len(set(names)) != len(names):
        raise ManifestError(f"{path}: node names repeat: {names}")
    channels = [ChannelEntry(**_entry(path, f"channels[{i}]", item, {"a", "b"}, {"funding_txid"}))
                for i, item in enumerate(_list(path, "channels", raw.get("channels", [])))]
    for i, channel in enumerate(channels):
        for end in (channel.a, channel.b):
            if end not in names:
                raise ManifestError(f"{path}: channels[{i}] names node {end!r}, not in nodes {names}")
    for where, sub in [("chain", chain.directory), *((f"node {n.name}", n.directory) for n in nodes)]:
        relative = PurePosixPath(sub)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise ManifestError(f"{path}: {where}'s directory {sub!r} must be a path inside the bundle")
    return Manifest(chain=chain, nodes=nodes, channels=channels,
                    test_id=str(raw.get("test_id", "")),
                    lnharness_version=str(raw.get("lnharness_version", "")),
                    test_function=raw.get("test_function"), format=FORMAT)


def _only(path: Path, where: str, raw: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(raw) - allowed
    if unknown:
        raise ManifestError(f"{path}: {where} has unknown keys {sorted(unknown)}; "
                            f"allowed: {sorted(allowed)}")


def _entry(path: Path, where: str, raw: Any, required: set[str],
           optional: set[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ManifestError(f"{path}: {where} must be an object, got {raw!r}")
    _only(path, where, raw, required | optional)
    missing = required - set(raw)
    if missing:
        raise ManifestError(f"{path}: {where} lacks {sorted(missing)}")
    return dict(raw)


def _list(path: Path, where: str, raw: Any) -> list[Any]:
    if not isinstance(raw, list):
        raise ManifestError(f"{path}: {where} must be a list, got {raw!r}")
    return raw
