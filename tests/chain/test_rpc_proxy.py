"""ChainRpcProxy: a node's chain calls pass through it, or its mocks answer them in the test
process (fixed results with their digits, or a function of the request)."""
from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from lnharness.chain import Chain
from lnharness.node_impl.bitcoin.cli_shim import run
from lnharness.node_impl.bitcoin.rpc_proxy import ANY_PARAMS, ChainRpcProxy, params_key
from lnharness.ports import release_port, reserve_port

from tests.chain.chain_fixture import chain_fixture  # noqa: F401  (the `chain` fixture)


def cli(proxy: ChainRpcProxy, *args: str) -> tuple[int, str, str]:
    """lnharness-bitcoin-cli against the proxy (credentials are the proxy's business)."""
    out, err = io.StringIO(), io.StringIO()
    status = run(["-regtest", "-rpcconnect=127.0.0.1", f"-rpcport={proxy.port}", "-rpcuser=u",
                  "-rpcpassword=p", *args], io.StringIO(), out, err)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def unreachable_chain() -> Iterator[ChainRpcProxy]:
    """A proxy in front of a port nothing listens on: only mocks answer."""
    port = reserve_port()
    proxy = ChainRpcProxy(f"http://u:p@127.0.0.1:{port}/", name="t")
    yield proxy
    proxy.close()
    release_port(port)


def test_a_fixed_answer_keeps_bitcoinds_digits_and_is_counted(unreachable_chain):
    proxy = unreachable_chain
    proxy.mock("estimatesmartfee",
               {params_key([2, "CONSERVATIVE"]): {"feerate": Decimal("0.00060000"), "blocks": 2}})
    status, out, _ = cli(proxy, "estimatesmartfee", "2", "CONSERVATIVE")
    assert status == 0
    assert out == '{\n  "feerate": 0.00060000,\n  "blocks": 2\n}\n'
    assert proxy.calls("estimatesmartfee") == 1


def test_other_parameters_fall_back_to_any_or_to_the_chain(unreachable_chain):
    proxy = unreachable_chain
    proxy.mock("estimatesmartfee", {params_key([6, "ECONOMICAL"]): {"feerate": 1}})
    status, _, err = cli(proxy, "estimatesmartfee", "12", "ECONOMICAL")
    assert status == 28 and "chain unreachable" in err  # went on to the (absent) chain
    proxy.mock("estimatesmartfee", {ANY_PARAMS: {"feerate": Decimal("0.00000042")}})
    assert cli(proxy, "estimatesmartfee", "12", "ECONOMICAL")[1] == '{\n  "feerate": 0.00000042\n}\n'


def test_a_function_answers_in_the_test_process_with_the_request(unreachable_chain):
    proxy = unreachable_chain
    seen: list[dict[str, Any]] = []

    def censor(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(request)
        return {"id": request["id"], "result": {"censored": request["params"][0]}}
    proxy.mock("sendrawtransaction", censor)
    status, out, _ = cli(proxy, "sendrawtransaction", "00ff")
    assert status == 0 and '"censored": "00ff"' in out
    assert seen[0]["method"] == "sendrawtransaction" and seen[0]["params"] == ["00ff"]
    assert proxy.calls("sendrawtransaction") == 1


def test_a_function_can_answer_an_error_or_pass_the_call_on(unreachable_chain):
    proxy = unreachable_chain
    proxy.mock("sendrawtransaction", lambda r: {"id": r["id"], "result": None,
                                                "error": {"code": -26, "message": "censored"}})
    status, _, err = cli(proxy, "sendrawtransaction", "00")
    assert status == 26 and "censored" in err
    proxy.mock("sendrawtransaction", lambda r: None)
    assert "chain unreachable" in cli(proxy, "sendrawtransaction", "00")[2]
    assert proxy.calls("sendrawtransaction") == 1


def test_a_function_that_raises_is_an_rpc_error_naming_it(unreachable_chain):
    proxy = unreachable_chain
    proxy.mock("getblockcount", lambda r: 1 / 0)
    status, _, err = cli(proxy, "getblockcount")
    assert status != 0 and "ZeroDivisionError" in err


def test_setting_a_mock_again_restarts_its_count_and_none_removes_it(unreachable_chain):
    proxy = unreachable_chain
    proxy.mock("getmempoolinfo", {ANY_PARAMS: {"mempoolminfee": Decimal("0.00001000")}})
    proxy.mock("estimatesmartfee", {ANY_PARAMS: {"feerate": 1}})
    cli(proxy, "getmempoolinfo")
    cli(proxy, "estimatesmartfee", "2")
    proxy.mock("estimatesmartfee", {ANY_PARAMS: {"feerate": 2}})
    assert proxy.calls("estimatesmartfee") == 0
    assert proxy.calls("getmempoolinfo") == 1
    proxy.mock("getmempoolinfo", None)
    assert cli(proxy, "getmempoolinfo")[0] == 28  # to the chain again


def test_a_mock_that_is_neither_mapping_nor_function_is_refused(unreachable_chain):
    with pytest.raises(TypeError, match="mapping of parameter lists"):
        unreachable_chain.mock("getblockcount", 7)  # type: ignore[arg-type]


def test_unmocked_calls_and_errors_reach_the_chain_as_they_are(chain: Chain):
    backend = chain.backend
    proxy = ChainRpcProxy(backend.rpc_url, name="t", port=0)
    try:
        proxy.mock("getblockcount", {ANY_PARAMS: 10**6})
        status, out, _ = cli(proxy, "getblockhash", "0")
        assert status == 0 and out.strip() == chain.rpc.call("getblockhash", 0)
        status, _, err = cli(proxy, "getblockhash", "999999")
        assert status == 8 and "out of range" in err  # bitcoind's RPC_INVALID_PARAMETER
        assert cli(proxy, "getblockcount")[1] == "1000000\n"
    finally:
        proxy.close()
