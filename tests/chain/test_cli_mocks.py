"""lnharness-bitcoin-cli's canned answers (a node's mocks file), without a chain."""
from __future__ import annotations

import io
from decimal import Decimal

import pytest
from lnharness.node_impl.bitcoin.cli_mocks import (
    ANY_PARAMS,
    MOCKS_ENV,
    mock_calls,
    params_key,
    set_mock,
)
from lnharness.node_impl.bitcoin.cli_shim import run

# nothing listens on this port: a call that is not answered by the mocks fails to connect
UNANSWERED = ["-regtest", "-rpcconnect=127.0.0.1", "-rpcport=1", "-rpcuser=u", "-rpcpassword=p"]


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = run([*UNANSWERED, *args], io.StringIO(), out, err)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def mocks(tmp_path, monkeypatch):
    path = tmp_path / "mocks.json"
    monkeypatch.setenv(MOCKS_ENV, str(path))
    return path


def test_a_mocked_call_is_answered_with_bitcoinds_digits_and_counted(mocks):
    set_mock(mocks, "estimatesmartfee",
             {params_key([2, "CONSERVATIVE"]): {"feerate": Decimal("0.00060000"), "blocks": 2}})
    status, out, _ = cli("estimatesmartfee", "2", "CONSERVATIVE")
    assert status == 0
    assert out == '{\n  "feerate": 0.00060000,\n  "blocks": 2\n}\n'
    assert mock_calls(mocks, "estimatesmartfee") == 1


def test_setting_another_method_keeps_the_digits_of_the_first(mocks):
    set_mock(mocks, "getmempoolinfo", {ANY_PARAMS: {"mempoolminfee": Decimal("0.00004000")}})
    set_mock(mocks, "estimatesmartfee", {ANY_PARAMS: {"feerate": Decimal("0.00060000")}})
    assert cli("getmempoolinfo")[1] == '{\n  "mempoolminfee": 0.00004000\n}\n'


def test_other_parameters_fall_back_to_any_or_to_the_chain(mocks):
    set_mock(mocks, "estimatesmartfee", {params_key([6, "ECONOMICAL"]): {"feerate": 1}})
    status, _, err = cli("estimatesmartfee", "12", "ECONOMICAL")
    assert status == 1 and "Could not connect" in err  # went to the (absent) chain
    set_mock(mocks, "estimatesmartfee", {ANY_PARAMS: {"feerate": Decimal("0.00000042")}})
    assert cli("estimatesmartfee", "12", "ECONOMICAL")[1] == '{\n  "feerate": 0.00000042\n}\n'


def test_setting_a_mock_again_restarts_its_count_and_none_removes_it(mocks):
    set_mock(mocks, "getmempoolinfo", {ANY_PARAMS: {"mempoolminfee": Decimal("0.00001000")}})
    set_mock(mocks, "estimatesmartfee", {ANY_PARAMS: {"feerate": 1}})
    cli("getmempoolinfo")
    cli("estimatesmartfee", "2")
    set_mock(mocks, "estimatesmartfee", {ANY_PARAMS: {"feerate": 2}})
    assert mock_calls(mocks, "estimatesmartfee") == 0
    assert mock_calls(mocks, "getmempoolinfo") == 1
    set_mock(mocks, "getmempoolinfo", None)
    assert cli("getmempoolinfo")[0] == 1  # to the chain again


def test_without_the_variable_nothing_is_mocked(mocks, monkeypatch):
    set_mock(mocks, "getblockcount", {ANY_PARAMS: 7})
    monkeypatch.delenv(MOCKS_ENV)
    assert cli("getblockcount")[0] == 1


def test_a_result_that_is_not_json_is_refused(mocks):
    with pytest.raises(TypeError, match="not JSON"):
        set_mock(mocks, "getblockcount", {ANY_PARAMS: object()})
