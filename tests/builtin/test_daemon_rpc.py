"""Built-in node RPC: auth, JSON-RPC errors, getinfo, help, stop, command line."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys

import pytest
from lnharness.node_impl.builtin.core.config import parse_config
from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpc, BuiltinRpcError


def post(node, body: bytes, auth: str | None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", node.rpc_port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = auth
    try:
        conn.request("POST", "/", body, headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_bad_or_missing_auth_is_http_401(builtin_nodes):
    node = builtin_nodes.get_node()
    wrong = BuiltinRpc(f"http://127.0.0.1:{node.rpc_port}/", "not-the-secret", timeout=10)
    with pytest.raises(BuiltinRpcError) as err:
        wrong.getinfo()
    assert err.value.code == 401
    status, _ = post(node, b'{"method": "getinfo", "id": 1}', auth=None)
    assert status == 401
    assert node.rpc.getinfo()["id"] == node.node_id


def test_unknown_method_is_32601(builtin_nodes):
    node = builtin_nodes.get_node()
    with pytest.raises(BuiltinRpcError) as err:
        node.rpc.call("nosuchmethod")
    assert err.value.code == -32601
    assert err.value.message == "Unknown command 'nosuchmethod'"


def test_wrong_params_are_32602_naming_the_parameter(builtin_nodes):
    node = builtin_nodes.get_node()
    with pytest.raises(BuiltinRpcError) as err:
        node.rpc.invoice(amount_msat=1000, label="x")
    assert err.value.code == -32602 and "description" in err.value.message
    with pytest.raises(BuiltinRpcError) as err:
        node.rpc.getinfo(bogus=1)
    assert err.value.code == -32602 and "bogus" in err.value.message
    with pytest.raises(BuiltinRpcError) as err:
        node.rpc.invoice(amount_msat="lots", label="x", description="d")
    assert err.value.code == -32602 and "amount_msat" in err.value.message
    with pytest.raises(BuiltinRpcError) as err:
        node.rpc.listpeers("not-a-node-id")
    assert err.value.code == -32602 and "id" in err.value.message


def test_malformed_json_is_parse_error(builtin_nodes):
    node = builtin_nodes.get_node()
    status, body = post(node, b"{not json", auth=node.rpc._auth)
    assert status == 200
    assert json.loads(body)["error"]["code"] == -32700


def test_getinfo_and_positional_params(builtin_nodes):
    node = builtin_nodes.get_node(seed="11" * 32)
    info = node.rpc.getinfo()
    assert info["id"][:2] in ("02", "03") and len(info["id"]) == 66 and info["alias"] == node.name
    assert info["network"] == "regtest" and info["num_peers"] == 0
    init_bits = int(info["our_features"]["init"], 16)
    assert all(init_bits >> bit & 1 for bit in (0, 8, 12, 14, 44))
    assert info["binding"] == [{"type": "ipv4", "address": "127.0.0.1", "port": node.peer_port}]
    assert node.daemon.is_in_log(f"Server started with public key {info['id']}, alias {node.name}")
    assert node.rpc.call("help", ["getinfo"])["help"][0]["command"] == "getinfo"
    commands = {h["command"].split()[0] for h in node.rpc.help()["help"]}
    assert {"getinfo", "newaddr", "listfunds", "withdraw", "connect", "disconnect", "listpeers",
            "invoice", "listinvoices", "waitinvoice", "decodepay", "stop"} <= commands


def test_same_seed_same_node_id(builtin_nodes):
    a = builtin_nodes.get_node(seed="22" * 32)
    b = builtin_nodes.get_node(seed="22" * 32)
    c = builtin_nodes.get_node(seed="23" * 32)
    assert a.node_id == b.node_id != c.node_id


def test_stop_is_graceful_exit_0(builtin_nodes):
    node = builtin_nodes.get_node()
    assert node.rpc.stop() == "Shutdown complete"
    assert node.daemon.proc.wait(10) == 0
    node.daemon.wait_for_log("stopped")


def test_help_lists_the_command_line():
    out = subprocess.run([sys.executable, "-m", "lnharness.node_impl.builtin", "--help"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    for option in ("--lightning-dir", "--addr", "--rpc-port", "--rpc-bind", "--bitcoin-rpcurl", "--seed",
                   "--log-file", "--log-level", "--network", "--min-depth", "--cltv-delta"):
        assert option in out.stdout


def test_the_rpc_listens_on_the_loopback_unless_rpc_bind_says_otherwise(tmp_path):
    assert parse_config([f"--lightning-dir={tmp_path}"]).rpc_bind == "127.0.0.1"
    assert parse_config([f"--lightning-dir={tmp_path}", "--rpc-bind=0.0.0.0"]).rpc_bind == "0.0.0.0"


@pytest.mark.parametrize(("args", "complaint"), [
    (["--lightning-dir=/tmp/x", "--frobnicate"], "--frobnicate"),
    (["--lightning-dir=/tmp/x", "--network=bitcoin"], "--network=bitcoin is not supported"),
    (["--lightning-dir=/tmp/x", "--seed=abcd"], "--seed must be 32 bytes"),
])
def test_bad_command_line_exits_2_naming_the_option(args, complaint):
    out = subprocess.run([sys.executable, "-m", "lnharness.node_impl.builtin", *args],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert complaint in out.stderr


def test_port_in_use_exits_1_with_clear_error(builtin_nodes, tmp_path):
    busy = builtin_nodes.get_node()
    out = subprocess.run([sys.executable, "-m", "lnharness.node_impl.builtin", f"--lightning-dir={tmp_path / 'x'}",
                          f"--rpc-port={busy.rpc_port}", "--log-file=-"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert "cannot start" in out.stderr and "address already in use" in out.stderr.lower()


def test_client_mixes_positional_and_named_params(builtin_nodes):
    node = builtin_nodes.get_node()
    created = node.rpc.invoice(2000, "mixed", description="positional and named", expiry=60)
    (listed,) = node.rpc.listinvoices("mixed")["invoices"]
    assert listed["amount_msat"] == 2000 and listed["payment_hash"] == created["payment_hash"]
    with pytest.raises(TypeError, match="given by position and by name"):
        node.rpc.invoice(2000, amount_msat=1, label="x", description="y")
