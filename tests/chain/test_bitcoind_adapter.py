"""The bitcoind adapter's own logic (probe, command line, wallet, restart), run here with the
embedded daemon standing in for the binary: it takes bitcoind's options, so LNH_BITCOIND can
point at a two-line wrapper. Bitcoin Core itself runs the conformance suite when installed.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from lnharness.chain import start_chain
from lnharness.node_impl.bitcoin.bitcoind import BitcoindBackend, _probe


@pytest.fixture
def stand_in_bitcoind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "stand-in-bitcoind"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} -m lnharness.node_impl.bitcoin.regtestd \"$@\"\n")
    script.chmod(0o755)
    monkeypatch.setenv("LNH_BITCOIND", str(script))
    return script


def test_probe_reports_the_version_line(stand_in_bitcoind: Path):
    ok, reason = BitcoindBackend.available()
    assert ok and reason.startswith(f"{stand_in_bitcoind} (") and "version" in reason


def test_probe_of_a_failing_binary_gives_its_exit_code(tmp_path: Path):
    broken = tmp_path / "broken-bitcoind"
    broken.write_text("#!/bin/sh\necho 'cannot run here' >&2\nexit 3\n")
    broken.chmod(0o755)
    ok, reason = _probe(str(broken))
    assert not ok and "exited with 3" in reason and "cannot run here" in reason


def test_command_line_is_regtest_with_txindex_fallbackfee_and_optional_zmq(
        stand_in_bitcoind: Path, tmp_path: Path):
    backend = BitcoindBackend(tmp_path / "node", zmq=True)
    try:
        cmd = backend.daemon.cmd
        assert cmd[0] == str(stand_in_bitcoind)
        for flag in ("-regtest", "-server", "-txindex", "-fallbackfee=0.00001",
                     f"-rpcport={backend.rpc_port}", f"-rpcuser={backend.rpcuser}",
                     f"-rpcpassword={backend.rpcpassword}", f"-datadir={backend.datadir}"):
            assert flag in cmd
        assert set(backend.zmq_endpoints) == {"zmqpubrawblock", "zmqpubrawtx", "zmqpubhashblock"}
        for topic, endpoint in backend.zmq_endpoints.items():
            assert endpoint.startswith("tcp://127.0.0.1:") and f"-{topic}={endpoint}" in cmd
    finally:
        backend.close()


def test_unknown_option_is_refused():
    with pytest.raises(TypeError):
        BitcoindBackend("/nonexistent", zmqq=True)  # type: ignore[call-arg]


def test_start_creates_the_wallet_and_restart_loads_it(stand_in_bitcoind: Path, tmp_path: Path):
    chain = start_chain(tmp_path, "bitcoind")
    try:
        assert chain.name == "bitcoind"
        assert chain.backend.wallet_name in chain.backend.node_rpc.listwallets()
        balance = chain.rpc.getbalance()
        assert balance >= 50
        chain.restart()
        assert chain.rpc.getbalance() == balance
        assert (chain.datadir / "bitcoin.conf").read_text().count(
            f"rpcport={chain.backend.rpc_port}") == 1
    finally:
        chain.backend.close()
