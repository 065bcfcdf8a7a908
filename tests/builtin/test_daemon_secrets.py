"""The built-in node keeps its secrets to its user (issue 12, defect 7): its directory is 0700,
its database (with -wal and -shm), seed and rpc_secret 0600, and no secret is on its command
line, neither as the harness's adapter starts it nor as these tests do."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from types import SimpleNamespace

from lnharness.node_impl.builtin.adapter import BuiltinNode as BuiltinAdapter

SECRET_FILES = ("node.sqlite3", "node.sqlite3-wal", "node.sqlite3-shm", "seed", "rpc_secret")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_node_files_are_private_even_under_a_permissive_umask(builtin_nodes):
    old = os.umask(0o022)  # the daemon inherits it; files would be 0644 without its own
    try:
        node = builtin_nodes.get_node(seed="42" * 32)
    finally:
        os.umask(old)
    node.rpc.invoice(amount_msat=1000, label="a", description="d")  # the database is written
    assert mode(node.lightning_dir) == 0o700
    for name in SECRET_FILES:
        assert mode(node.lightning_dir / name) == 0o600, name
    assert "42" * 32 not in " ".join(node.daemon.cmd)


def test_an_older_world_readable_database_is_made_private(builtin_nodes):
    node = builtin_nodes.get_node()
    node.stop()
    os.chmod(node.lightning_dir / "node.sqlite3", 0o644)
    node.start()
    assert mode(node.lightning_dir / "node.sqlite3") == 0o600


def test_adapter_passes_seed_and_chain_password_in_files_not_argv(tmp_path):
    chain = SimpleNamespace(rpcuser="user", rpcpassword="chain-password-123",
                            rpchost="127.0.0.1", rpc_port=18443)
    node = BuiltinAdapter("alice", directory=tmp_path / "alice", chain=chain)
    given = BuiltinAdapter("bob", directory=tmp_path / "bob", chain=chain,
                           options={"seed": "ab" * 32})
    try:
        for adapter in (node, given):
            command = " ".join(adapter._daemon.cmd)
            seed_file = adapter.lightning_dir / "seed"
            assert seed_file.read_text() not in command and "--seed" not in command
            assert "chain-password-123" not in command
            credentials = adapter.lightning_dir / "bitcoin_rpc_credentials"
            assert f"--bitcoin-rpccookie={credentials}" in command
            assert credentials.read_text() == "user:chain-password-123"
            assert mode(seed_file) == mode(credentials) == 0o600
            assert mode(adapter.lightning_dir) == 0o700
        assert (tmp_path / "bob" / "seed").read_text() == "ab" * 32
    finally:
        node.close()
        given.close()
