"""lnharness-bitcoin-cli's parsing and printing, checked against bitcoin-cli's behaviour."""
from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest
from lnharness.errors import RpcError
from lnharness.node_impl.bitcoin.cli_shim import (
    CliError,
    convert_params,
    format_result,
    format_rpc_error,
    parse_command_line,
    resolve_endpoint,
    run,
)


def test_options_stop_at_the_method_and_keep_its_arguments():
    options, args = parse_command_line(
        ["-regtest", "-datadir=/d", "-rpcclienttimeout=60", "-rpcport=1234", "-rpcuser=u",
         "-stdinrpcpass", "-stdin", "getblockhash", "-1"])
    assert options.flag("regtest") and options.flag("stdinrpcpass") and options.flag("stdin")
    assert options.values == {"datadir": "/d", "rpcclienttimeout": "60", "rpcport": "1234",
                              "rpcuser": "u"}
    assert args == ["getblockhash", "-1"]


def test_unknown_option_is_refused_by_name():
    with pytest.raises(CliError, match="Invalid parameter -frobnicate"):
        parse_command_line(["-frobnicate", "getblockcount"])


def test_arguments_converted_like_bitcoin_cli():
    assert convert_params("getblockhash", ["5"]) == [5]
    assert convert_params("getblock", ["ab" * 32, "0"]) == ["ab" * 32, 0]
    assert convert_params("estimatesmartfee", ["2", "CONSERVATIVE"]) == [2, "CONSERVATIVE"]
    assert convert_params("gettxout", ["12" * 32, "1"]) == ["12" * 32, 1]
    assert convert_params("sendrawtransaction", ["0200", "0"]) == ["0200", 0]
    # Unknown methods and unlisted positions stay strings, even when they look numeric.
    assert convert_params("getnewaddress", ["123"]) == ["123"]
    assert convert_params("somethingnew", ["1", "true"]) == ["1", "true"]


def test_unparseable_json_argument_is_an_error():
    with pytest.raises(CliError, match="Error parsing JSON: five"):
        convert_params("getblockhash", ["five"])


def test_strings_print_raw_and_null_prints_nothing():
    assert format_result("00" * 32) == "00" * 32
    assert format_result(None) == ""


def test_json_printed_with_two_space_indent_and_amounts_as_written():
    result = {"feerate": Decimal("0.00001000"), "blocks": 2,
              "errors": [], "nested": {"ok": True, "list": [1, "x"], "empty": {}}}
    assert format_result(result) == (
        '{\n'
        '  "feerate": 0.00001000,\n'
        '  "blocks": 2,\n'
        '  "errors": [\n'
        '  ],\n'
        '  "nested": {\n'
        '    "ok": true,\n'
        '    "list": [\n'
        '      1,\n'
        '      "x"\n'
        '    ],\n'
        '    "empty": {\n'
        '    }\n'
        '  }\n'
        '}')


def test_tiny_amounts_are_not_printed_in_exponent_form():
    assert format_result({"value": Decimal("0.00000001")}) == '{\n  "value": 0.00000001\n}'
    assert format_result(Decimal("0E-8")) == "0.00000000"


def test_rpc_error_text_and_exit_status():
    text, status = format_rpc_error(RpcError("getblockhash", -8, "Block height out of range"))
    assert text == "error code: -8\nerror message:\nBlock height out of range"
    assert status == 8
    assert format_rpc_error(RpcError("x", -342, "non-JSON HTTP response with '401 "
                                     "Unauthorized' from server")) == (
        "error: Authorization failed: Incorrect rpcuser or rpcpassword", 1)


def test_endpoint_from_datadir_conf_then_cookie(tmp_path: Path):
    (tmp_path / "bitcoin.conf").write_text(
        "regtest=1\nrpcport=1\n[main]\nrpcport=2\n[regtest]\nrpcport=3\nrpcuser=alice\n")
    options, _ = parse_command_line([f"-datadir={tmp_path}", "-rpcpassword=pw", "x"])
    endpoint = resolve_endpoint(options, None)
    assert (endpoint.host, endpoint.port, endpoint.user, endpoint.password) == (
        "127.0.0.1", 3, "alice", "pw")
    (tmp_path / "regtest").mkdir()
    (tmp_path / "regtest" / ".cookie").write_text("__cookie__:secret")
    options, _ = parse_command_line([f"-datadir={tmp_path}", "x"])
    endpoint = resolve_endpoint(options, None)
    assert (endpoint.user, endpoint.password) == ("__cookie__", "secret")


def test_command_line_wins_over_conf_and_stdin_password_over_both(tmp_path: Path):
    (tmp_path / "bitcoin.conf").write_text("[regtest]\nrpcport=3\nrpcpassword=conf\n")
    options, _ = parse_command_line([f"-datadir={tmp_path}", "-rpcport=7", "-rpcuser=u", "x"])
    endpoint = resolve_endpoint(options, "fromstdin")
    assert (endpoint.port, endpoint.password) == (7, "fromstdin")


def test_missing_datadir_and_no_command_are_errors(tmp_path: Path):
    out, err = io.StringIO(), io.StringIO()
    assert run([f"-datadir={tmp_path / 'nope'}", "getblockcount"], io.StringIO(), out, err) == 1
    assert "does not exist" in err.getvalue() and out.getvalue() == ""
    err = io.StringIO()
    assert run(["-rpcpassword=x"], io.StringIO(), out, err) == 1
    assert err.getvalue() == "error: too few parameters (need at least command)\n"
