"""write_bundle: the layout of a repro bundle, from directories and logs on disk."""
import os
import socket
import stat

from lnharness.bundle_manifest import ChainEntry, Manifest, NodeEntry
from lnharness.repro import Capture, bundle_log_lines, write_bundle


def make_capture(tmp_path):
    chain = tmp_path / "test" / "embedded"
    (chain / "regtest").mkdir(parents=True)
    (chain / "bitcoin.conf").write_text("regtest=1\n")
    debug = chain / "regtest" / "debug.log"
    debug.write_text("2026-12-05T07:00:00.000001Z start\n2026-12-05T07:00:02.000000Z UpdateTip\n")
    console = tmp_path / "test" / "embedded.log"  # the console repeats debug.log, plus a crash
    console.write_text("2026-12-05T07:00:00.000001Z start\nTraceback (most recent call last):\n")
    node = tmp_path / "test" / "l1"
    node.mkdir()
    (node / "seed").write_text("ab" * 32)
    os.chmod(node / "seed", 0o600)
    (node / "log").write_text("2026-12-05T07:00:01.000Z INFO node: up\n")
    os.symlink("seed", node / "seed-link")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(node / "rpc.sock"))  # a socket is a process's endpoint, not state
    manifest = Manifest(test_id="t.py::test_x", test_function="test_x", lnharness_version="0",
                        chain=ChainEntry(backend="embedded"),
                        nodes=[NodeEntry(name="l1", impl="builtin")])
    source = tmp_path / "t.py"
    source.write_text("def test_x():\n    assert False\n")
    capture = Capture(manifest=manifest, chain_datadir=chain, chain_logs=[debug, console],
                      node_dirs={"l1": node}, node_logs={"l1": node / "log"})
    return capture, source, server


def test_a_bundle_holds_the_copies_the_source_the_manifest_and_the_merged_log(tmp_path):
    capture, source, server = make_capture(tmp_path)
    try:
        bundle = write_bundle(capture, tmp_path / "bundle", test_source=source)
    finally:
        server.close()
    assert Manifest.read(bundle) == capture.manifest
    assert (bundle / "test_source.py").read_text() == source.read_text()
    assert (bundle / "chain" / "bitcoin.conf").read_text() == "regtest=1\n"
    assert (bundle / "chain" / "regtest" / "debug.log").is_file()
    copied = bundle / "nodes" / "l1"
    assert sorted(path.name for path in copied.iterdir()) == ["log", "seed", "seed-link"]
    assert stat.S_IMODE((copied / "seed").stat().st_mode) == 0o600  # secrets stay private
    assert os.readlink(copied / "seed-link") == "seed"
    assert bundle_log_lines(bundle) == [
        "chain 2026-12-05T07:00:00.000001Z start",
        "chain                             Traceback (most recent call last):",
        "l1    2026-12-05T07:00:01.000000Z INFO node: up",
        "chain 2026-12-05T07:00:02.000000Z UpdateTip",
    ]
    assert bundle_log_lines(bundle, ["l1"]) == ["l1    2026-12-05T07:00:01.000000Z INFO node: up"]
