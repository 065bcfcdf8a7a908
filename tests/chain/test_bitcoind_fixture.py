"""The `bitcoind` fixture and the `--lnh-chain` option."""
from __future__ import annotations

import os

import pytest
from lnharness.chain import Chain


def test_bitcoind_fixture_is_a_started_funded_chain(bitcoind: Chain, directory):
    assert bitcoind.rpc.getblockcount() == 101
    assert bitcoind.rpc.getbalance() >= 50
    assert bitcoind.datadir.parent == directory
    assert bitcoind.backend.is_running()
    txid = bitcoind.faucet(bitcoind.get_new_address(), 10_000)
    [block_hash] = bitcoind.generate_block(1, wait_for_mempool=txid)
    assert txid in bitcoind.rpc.getblock(block_hash)["tx"]


def test_chain_is_stopped_after_the_test(pytester: pytest.Pytester):
    pytester.makepyfile(test_inner="""
        def test_record_pid(bitcoind, tmp_path_factory):
            pid_file = tmp_path_factory.getbasetemp().parent / "chain.pid"
            pid_file.write_text(str(bitcoind.backend.daemon.pid))
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--lnh-chain=embedded",
                                           f"--basetemp={pytester.path / 'bt'}")
    result.assert_outcomes(passed=1)
    pid = int((pytester.path / "chain.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_unknown_chain_is_a_usage_error_naming_the_valid_ones(pytester: pytest.Pytester):
    pytester.makepyfile(test_inner="def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("--lnh-chain=nosuch")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    [line] = [ln for ln in result.stderr.lines if "nosuch" in ln]
    for name in ("auto", "embedded", "bitcoind", "docker"):
        assert name in line.split("valid:")[1]


def test_unavailable_chain_is_a_usage_error_with_the_reason(pytester: pytest.Pytester,
                                                           monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LNH_BITCOIND", str(pytester.path / "no-bitcoind"))
    pytester.makepyfile(test_inner="def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("--lnh-chain=bitcoind")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*bitcoind*no-bitcoind*"])
