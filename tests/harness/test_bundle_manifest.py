"""manifest.json of a repro bundle: written and read back, and refused when malformed."""
import json

import pytest
from lnharness.bundle_manifest import (
    ChainEntry,
    ChannelEntry,
    Manifest,
    ManifestError,
    NodeEntry,
)


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
    assert data["format"] == 1
    assert data["chain"] == {"backend": "embedded", "version": "/Satoshi:30.0.0/",
                             "command": ["python", "-m", "x"], "directory": "chain"}
    assert data["nodes"][0]["directory"] == "nodes/l1"
    assert data["nodes"][1] == {"name": "l2", "impl": "lnd", "version": None, "command": None,
                                "options": {}, "node_id": None, "directory": "nodes/l2"}
    assert data["channels"] == [{"a": "l1", "b": "l2", "funding_txid": "cd" * 32}]
    assert Manifest.read(tmp_path) == manifest
    assert Manifest.read(tmp_path / "manifest.json") == manifest


def test_an_unknown_format_is_refused(tmp_path):
    data = sample().to_dict()
    data["format"] = 2
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="format 2 is not supported"):
        Manifest.read(tmp_path)


def test_a_missing_field_is_named(tmp_path):
    data = sample().to_dict()
    del data["chain"]
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="missing field 'chain'"):
        Manifest.read(tmp_path)


def test_a_directory_without_a_manifest_is_named(tmp_path):
    with pytest.raises(ManifestError, match="is .* a repro bundle"):
        Manifest.read(tmp_path)
