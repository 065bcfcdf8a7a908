"""manifest.json of repro bundles and snapshots: one reader and writer, strict on input."""
from __future__ import annotations

import json

import pytest
from lnharness import bundle_manifest
from lnharness.bundle_manifest import ChainEntry, ChannelEntry, Manifest, ManifestError, NodeEntry


def _manifest() -> Manifest:
    return Manifest(chain=ChainEntry(backend="embedded", version="270000"),
                    nodes=[NodeEntry(name="l1", impl="builtin", options={"fee-base": 1}),
                           NodeEntry(name="l2", impl="lnd", node_id="02" + "ab" * 32)],
                    channels=[ChannelEntry("l1", "l2", "ff" * 32)], test_id="tests/x.py::test_y",
                    lnharness_version="0.1.0")


def test_write_then_read_gives_the_same_manifest(tmp_path):
    bundle_manifest.write(tmp_path, _manifest())
    raw = json.loads((tmp_path / "manifest.json").read_text())
    assert raw["format"] == 1 and raw["nodes"][0]["directory"] == "nodes/l1"
    assert raw["chain"] == {"backend": "embedded", "version": "270000", "command": None,
                            "directory": "chain"}
    assert bundle_manifest.read(tmp_path) == _manifest()


@pytest.mark.parametrize("change, message", [
    (lambda m: m.update(format=2), "format 2 is not supported"),
    (lambda m: m.update(extra=1), r"manifest has unknown keys \['extra'\]"),
    (lambda m: m["nodes"][0].pop("impl"), r"nodes\[0\] lacks \['impl'\]"),
    (lambda m: m["nodes"][1].update(name="l1"), "node names repeat"),
    (lambda m: m["channels"][0].update(b="l9"), r"channels\[0\] names node 'l9'"),
    (lambda m: m["nodes"][0].update(directory="../../etc"), "must be a path inside the bundle"),
    (lambda m: m["chain"].update(directory="/var/lib"), "must be a path inside the bundle"),
])
def test_a_bad_manifest_is_refused_naming_the_problem(tmp_path, change, message):
    raw = _manifest().to_json()
    change(raw)
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match=message):
        bundle_manifest.read(tmp_path)


def test_a_directory_without_a_manifest_is_named(tmp_path):
    with pytest.raises(ManifestError, match="holds no manifest.json: not a bundle or snapshot"):
        bundle_manifest.read(tmp_path)


def sample() -> Manifest:
    return Manifest(
        test_id="tests/test_x.py::test_pay[builtin]", test_function="test_pay",
        lnharness_version="0.1.0",
        chain=ChainEntry(backend="embedded", version="/Satoshi:30.0.0/", command=["python", "-m", "x"]),
        nodes=[NodeEntry(name="l1", impl="builtin", version="v", command=["a"],
                         options={"fee-base": 1}, node_id="02" + "ab" * 32),
               NodeEntry(name="l2", impl="lnd")],
        channels=[ChannelEntry(a="l1", b="l2", funding_txid="cd" * 32)])


def test_written_manifest_has_the_agreed_shape_and_reads_back(tmp_path):
    manifest = sample()
    manifest.write(tmp_path)
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert data["format"] == 1 and data["test_function"] == "test_pay"
    assert data["chain"] == {"backend": "embedded", "version": "/Satoshi:30.0.0/",
                             "command": ["python", "-m", "x"], "directory": "chain"}
    assert data["nodes"][0]["directory"] == "nodes/l1"
    assert data["nodes"][1] == {"name": "l2", "impl": "lnd", "version": None, "command": None,
                                "options": {}, "node_id": None, "directory": "nodes/l2"}
    assert data["channels"] == [{"a": "l1", "b": "l2", "funding_txid": "cd" * 32}]
    assert Manifest.read(tmp_path) == manifest
    assert Manifest.read(tmp_path / "manifest.json") == manifest
