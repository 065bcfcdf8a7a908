"""`lnharness replay BUNDLE`: a saved network back up on fresh ports, its endpoints printed."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpc
from lnharness.wait import wait_for

LNHARNESS = str(Path(sys.executable).with_name("lnharness"))


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _hand_made_bundle(node_factory, bitcoind, where: Path) -> dict:
    """A bundle written by hand (not by the snapshot code): a 3-node line whose second
    channel was closed, as a failing test may leave it; stopped, then copied."""
    l1, l2, l3 = node_factory.line_graph(3)
    closed = l2.channels(l3)[0].funding_txid
    bitcoind.generate_block(1, wait_for_mempool=l2.close_channel(l3))
    l2.wait_channel_closed(l3, closed)
    nodes = (l1, l2, l3)
    funding = l1.channels(l2)[0].funding_txid
    ids = {node.name: node.node_id for node in nodes}
    for node in nodes:
        node.stop()
    bitcoind.stop()
    shutil.copytree(bitcoind.datadir, where / "chain")
    for node in nodes:
        shutil.copytree(node.lightning_dir, where / "nodes" / node.name)
    (where / "merged.log").write_text("")
    (where / "test_source.py").write_text("def test_x(): pass\n")
    manifest = {"format": 1, "test_id": "tests/test_x.py::test_x", "lnharness_version": "0.1.0",
                "chain": {"backend": bitcoind.name, "version": None, "command": None,
                          "directory": "chain"},
                "nodes": [{"name": name, "impl": "builtin", "version": None, "command": None,
                           "options": {}, "node_id": node_id, "directory": f"nodes/{name}"}
                          for name, node_id in ids.items()],
                "channels": [{"a": "l1", "b": "l2", "funding_txid": funding},
                             {"a": "l2", "b": "l3", "funding_txid": closed}]}
    (where / "manifest.json").write_text(json.dumps(manifest))
    return ids


def test_replay_restarts_the_bundle_and_prints_endpoints(node_factory, bitcoind, tmp_path):
    bundle = tmp_path / "bundle"
    ids = _hand_made_bundle(node_factory, bitcoind, bundle)
    before = _tree_digest(bundle)
    work = tmp_path / "work"
    log = tmp_path / "replay.log"
    with open(log, "w") as out:
        replay = subprocess.Popen([LNHARNESS, "replay", str(bundle), "--dir", str(work)],
                                  stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        wait_for(lambda: "network up in" in log.read_text() or replay.poll() is not None, 120,
                 what="lnharness replay to report the network")
        text = log.read_text()
        assert replay.poll() is None, text
        assert f"replaying {bundle} (tests/test_x.py::test_x)" in text
        assert "chain (" in text and "export LNH_CHAIN_RPC_URL=" in text
        for name, node_id in ids.items():
            found = re.search(rf"^{name} \(builtin\): id={node_id}, address={node_id}@127\.0\.0\.1:"
                              rf"(\d+), .*rpc_url=http://rpc:\w+@127\.0\.0\.1:(\d+)/", text, re.M)
            assert found, text
            rpc = BuiltinRpc.for_node(work / name, int(found.group(2)))
            assert rpc.call("getinfo")["id"] == node_id  # the node answers on its new port
        l1 = BuiltinRpc.for_node(work / "l1", int(re.search(r"^l1 .*rpc_url=\S+:(\d+)/", text,
                                                            re.M).group(1)))
        assert [c["state"] for c in l1.call("listpeerchannels")["channels"]] == ["CHANNELD_NORMAL"]
        assert all(p["connected"] for p in l1.call("listpeers")["peers"])
        # the channel closed in the saved state stays closed, nobody waits for it
        l3 = BuiltinRpc.for_node(work / "l3", int(re.search(r"^l3 .*rpc_url=\S+:(\d+)/", text,
                                                            re.M).group(1)))
        assert [c["state"] for c in l3.call("listpeerchannels")["channels"]
                if c["state"] == "CHANNELD_NORMAL"] == []
        down = subprocess.run([LNHARNESS, "down", "--dir", str(work)], capture_output=True,
                              text=True, timeout=120)
        assert down.returncode == 0, down.stdout + down.stderr
        assert replay.wait(60) == 0, log.read_text()
    finally:
        if replay.poll() is None:
            replay.kill()
    assert _tree_digest(bundle) == before  # the bundle is never modified


def test_replay_of_a_directory_without_manifest_is_an_error(tmp_path):
    result = subprocess.run([LNHARNESS, "replay", str(tmp_path)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith(f"lnharness replay: error: {tmp_path} holds no manifest.json")
