"""The manifest of a repro bundle (`manifest.json`): what ran, how, and where its copy is.

A bundle is a directory: `manifest.json`, `test_source.py` (the failing test's module),
`chain/` (the chain's data directory), `nodes/<name>/` (each node's directory) and
`merged.log` (every process's log in time order). Format 1:

    {"format": 1, "test_id": ..., "test_function": ..., "lnharness_version": ...,
     "chain": {"backend", "version", "command", "directory": "chain"},
     "nodes": [{"name", "impl", "version", "command", "options", "node_id",
                "directory": "nodes/<name>"}],
     "channels": [{"a", "b", "funding_txid"}]}

`command`, `version`, `node_id` and `funding_txid` may be null (not known at capture).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT = 1
MANIFEST_NAME = "manifest.json"
TEST_SOURCE_NAME = "test_source.py"
MERGED_LOG_NAME = "merged.log"
CHAIN_DIR = "chain"
NODES_DIR = "nodes"


class ManifestError(ValueError):
    """A manifest that cannot be read: the message names the file and what is wrong."""


@dataclass(frozen=True)
class ChainEntry:
    """The chain backend: its name, version, command line, and its copy in the bundle."""
    backend: str
    version: str | None = None
    command: list[str] | None = None
    directory: str = CHAIN_DIR


@dataclass(frozen=True)
class NodeEntry:
    """One Lightning node: implementation, version, command line, options, id, its copy."""
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
    """A channel between two nodes of the bundle (by name)."""
    a: str
    b: str
    funding_txid: str | None = None


@dataclass(frozen=True)
class Manifest:
    """Everything `manifest.json` holds."""
    test_id: str
    lnharness_version: str
    chain: ChainEntry
    test_function: str | None = None
    nodes: list[NodeEntry] = field(default_factory=list)
    channels: list[ChannelEntry] = field(default_factory=list)
    format: int = FORMAT

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        order = ("format", "test_id", "test_function", "lnharness_version", "chain", "nodes",
                 "channels")
        return {key: data[key] for key in order}

    def to_json(self) -> str:
        # options may hold values JSON has no type for (paths): written as text
        return json.dumps(self.to_dict(), indent=2, default=str) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "manifest") -> Manifest:
        """A manifest from its JSON object; `ManifestError` names what is missing or wrong."""
        if not isinstance(data, dict):
            raise ManifestError(f"{source}: not a JSON object")
        if data.get("format") != FORMAT:
            raise ManifestError(f"{source}: format {data.get('format')!r} is not supported "
                                f"(this lnharness reads format {FORMAT})")
        try:
            return cls(test_id=data["test_id"], lnharness_version=data["lnharness_version"],
                       test_function=data.get("test_function"),
                       chain=ChainEntry(**data["chain"]),
                       nodes=[NodeEntry(**node) for node in data.get("nodes", [])],
                       channels=[ChannelEntry(**channel) for channel in data.get("channels", [])])
        except KeyError as exc:
            raise ManifestError(f"{source}: missing field {exc.args[0]!r}") from None
        except TypeError as exc:  # an unknown or missing field of an entry
            raise ManifestError(f"{source}: {exc}") from None

    def write(self, bundle: Path) -> Path:
        """Write `bundle/manifest.json`; return its path."""
        path = Path(bundle) / MANIFEST_NAME
        path.write_text(self.to_json())
        return path

    @classmethod
    def read(cls, bundle: Path) -> Manifest:
        """Read `bundle/manifest.json` (`bundle` may also be the file itself)."""
        path = Path(bundle)
        if path.is_dir():
            path = path / MANIFEST_NAME
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ManifestError(f"{path}: no such file (is {bundle} a repro bundle?)") from None
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{path}: not JSON: {exc}") from None
        return cls.from_dict(data, source=str(path))
