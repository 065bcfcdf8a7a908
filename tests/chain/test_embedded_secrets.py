"""The embedded chain keeps its RPC password off the command line and its files private."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest
from lnharness.node_impl.bitcoin.embedded import EmbeddedBackend

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes and /proc")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_password_is_not_in_argv_and_secrets_are_private(tmp_path: Path):
    """Issue 12, defect 7 (chain side): the password reaches regtestd through bitcoin.conf
    (0600, datadir 0700), never argv; the daemon's own files are 0600 in 0700 directories."""
    backend = EmbeddedBackend(tmp_path / "chain", rpcpassword="s3cret-not-in-ps")
    backend.start()
    try:
        cmdline = Path(f"/proc/{backend.daemon.pid}/cmdline").read_bytes().split(b"\0")
        assert not any(b"s3cret-not-in-ps" in arg for arg in cmdline), cmdline
        assert not any(arg.startswith(b"-rpcpassword") for arg in cmdline), cmdline
        assert _mode(backend.datadir) == 0o700
        assert _mode(backend.datadir / "bitcoin.conf") == 0o600
        net_dir = backend.datadir / "regtest"
        assert _mode(net_dir) == 0o700
        wallets = list((net_dir / "wallets").rglob("wallet.sqlite"))
        assert wallets and all(_mode(w) == 0o600 for w in wallets)
        assert _mode(net_dir / "index.sqlite") == 0o600
        assert backend.node_rpc.getblockcount() >= 0  # the credentials from the file work
    finally:
        backend.close()
