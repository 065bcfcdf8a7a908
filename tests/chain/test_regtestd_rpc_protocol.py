"""The HTTP/JSON-RPC layer: auth, errors, batches, named params, wallet URLs, bad input."""

from __future__ import annotations

import base64
import http.client
import json
from decimal import Decimal

import pytest
from bitcoinrpc.authproxy import AuthServiceProxy, JSONRPCException


def post(regtestd, body: bytes, path: str = "/", auth: str | None = None, method: str = "POST"):
    cookie = auth or (regtestd.datadir / "regtest" / ".cookie").read_text()
    conn = http.client.HTTPConnection("127.0.0.1", regtestd.port, timeout=30)
    headers = {"Authorization": "Basic " + base64.b64encode(cookie.encode()).decode(),
               "Content-Type": "application/json"}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def call(regtestd, method, params=None, path="/"):
    body = json.dumps({"jsonrpc": "1.0", "id": 7, "method": method, "params": params or []}).encode()
    status, data = post(regtestd, body, path)
    return status, json.loads(data)


def test_wrong_password_is_http_401(regtestd):
    status, _ = post(regtestd, b'{"method":"getblockcount"}', auth="__cookie__:wrong")
    assert status == 401
    proxy = AuthServiceProxy(f"http://__cookie__:nope@127.0.0.1:{regtestd.port}")
    with pytest.raises(JSONRPCException) as info:
        proxy.getblockcount()
    assert "401" in info.value.error["message"]
    assert regtestd.rpc().getblockcount() == 0


def test_rpcuser_rpcpassword(make_regtestd):
    node = make_regtestd("-rpcuser=alice", "-rpcpassword=secret")
    assert not (node.datadir / "regtest" / ".cookie").exists()
    proxy = AuthServiceProxy(f"http://alice:secret@127.0.0.1:{node.port}")
    assert proxy.getblockcount() == 0
    status, _ = post(node, b'{"method":"getblockcount"}', auth="alice:wrong")
    assert status == 401
    # stop through an authenticated client (the fixture's cookie client cannot)
    proxy.stop()
    node.proc.wait(20)


def test_parse_error_and_invalid_requests(regtestd):
    status, data = post(regtestd, b"this is not json")
    assert status == 500
    assert json.loads(data) == {"result": None, "error": {"code": -32700, "message": "Parse error"}, "id": None}
    status, data = post(regtestd, b'"just a string"')  # neither object nor array, as Core says
    assert status == 500
    assert json.loads(data)["error"] == {"code": -32700, "message": "Top-level object parse error"}
    status, _ = post(regtestd, b"", method="GET")
    assert status == 405
    status, data = call(regtestd, "nosuchmethod")
    assert status == 404 and data["error"] == {"code": -32601, "message": "Method not found"}
    assert data["id"] == 7
    status, data = call(regtestd, "getblockhash", [99])
    assert status == 500 and data["error"] == {"code": -8, "message": "Block height out of range"}
    assert regtestd.rpc().getblockcount() == 0


def test_oversized_request_is_refused_cleanly(regtestd):
    conn = http.client.HTTPConnection("127.0.0.1", regtestd.port, timeout=30)
    cookie = (regtestd.datadir / "regtest" / ".cookie").read_text()
    conn.putrequest("POST", "/")
    conn.putheader("Authorization", "Basic " + base64.b64encode(cookie.encode()).decode())
    conn.putheader("Content-Length", str(64 * 1024 * 1024))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413
    conn.close()
    assert regtestd.rpc().getblockcount() == 0


def test_batch_request(regtestd):
    body = json.dumps([
        {"method": "getblockcount", "id": 1},
        {"method": "nosuch", "id": 2},
        {"method": "getblockhash", "params": [0], "id": 3},
    ]).encode()
    status, data = post(regtestd, body)
    assert status == 200
    replies = json.loads(data)
    assert [r["id"] for r in replies] == [1, 2, 3]
    assert replies[0]["result"] == 0 and replies[0]["error"] is None
    assert replies[1]["error"]["code"] == -32601
    assert replies[2]["result"] == "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"


def test_named_parameters(regtestd):
    status, data = call(regtestd, "getblockhash", {"height": 0})
    assert data["result"] == "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
    _, data = call(regtestd, "getblock", {"blockhash": data["result"], "verbosity": 0})
    assert data["result"].startswith("01000000")
    _, data = call(regtestd, "getblockhash", {"bogus": 1})
    assert data["error"] == {"code": -8, "message": "Unknown named parameter bogus"}


def test_amounts_have_eight_decimals_on_the_wire(regtestd):
    rpc = regtestd.rpc()
    rpc.setfeeestimate(Decimal("0.00001"))
    _, data = post(regtestd, b'{"method":"estimatesmartfee","params":[2],"id":1}')
    assert b'"feerate":0.00001000' in data


def test_wallet_urls(regtestd):
    rpc = regtestd.rpc()
    assert rpc.listwallets() == [""]
    assert rpc.createwallet("second") == {"name": "second"}
    with pytest.raises(JSONRPCException) as info:
        rpc.getnewaddress()
    assert info.value.error["code"] == -19
    default_addr = regtestd.rpc(wallet="").getnewaddress()
    second = regtestd.rpc(wallet="second")
    assert second.getaddressinfo(default_addr)["ismine"] is False
    assert second.getwalletinfo()["walletname"] == "second"
    with pytest.raises(JSONRPCException) as info:
        regtestd.rpc(wallet="missing").getbalance()
    assert info.value.error == {"code": -18, "message": "Requested wallet does not exist or is not loaded"}
    with pytest.raises(JSONRPCException) as info:
        rpc.createwallet("second")
    assert info.value.error["code"] in (-4, -35)
    assert rpc.unloadwallet("second") == {}
    assert rpc.listwallets() == [""]
    assert rpc.loadwallet("second") == {"name": "second"}
    with pytest.raises(JSONRPCException) as info:
        rpc.loadwallet("never-created")
    assert info.value.error["code"] == -18


def test_unknown_option_warns_and_malformed_option_fails(make_regtestd):
    node = make_regtestd("-zmqpubrawblock=tcp://127.0.0.1:28332", "-dbcache=50")
    log = node.log_path.read_text()
    assert "-zmqpubrawblock" in log and "-dbcache" in log
    bad = make_regtestd("-rpcport=notaport", start=False)
    with pytest.raises(RuntimeError, match="rpcport"):
        bad.start()
    bad_fee = make_regtestd("-fallbackfee=lots", start=False)
    with pytest.raises(RuntimeError, match="fallbackfee"):
        bad_fee.start()


def test_bitcoin_conf_file(make_regtestd, tmp_path):
    datadir = tmp_path / "confnode"
    datadir.mkdir()
    (datadir / "bitcoin.conf").write_text(
        "regtest=1\nserver=1\ntxindex=1\n[regtest]\nrpcuser=bob\nrpcpassword=pw\nfallbackfee=0.0001\n")
    node = make_regtestd(datadir=datadir)
    proxy = AuthServiceProxy(f"http://bob:pw@127.0.0.1:{node.port}")
    assert proxy.getblockchaininfo()["chain"] == "regtest"
    proxy.stop()
    node.proc.wait(20)


def test_jsonrpc_2_0_requests(regtestd):
    status, data = post(regtestd, b'{"jsonrpc":"2.0","method":"getblockcount","id":"a"}')
    assert status == 200 and json.loads(data) == {"jsonrpc": "2.0", "result": 0, "id": "a"}
    status, data = post(regtestd, b'{"jsonrpc":"2.0","method":"nosuch","id":1}')
    reply = json.loads(data)
    assert status == 200 and reply["error"]["code"] == -32601 and "result" not in reply


def test_rpcauth_salted_credentials(make_regtestd):
    import hashlib
    import hmac

    salt = "cb77f0957de88ff388cf817ddbc7273"
    digest = hmac.new(salt.encode(), b"hunter2", hashlib.sha256).hexdigest()
    node = make_regtestd(f"-rpcauth=carol:{salt}${digest}")
    proxy = AuthServiceProxy(f"http://carol:hunter2@127.0.0.1:{node.port}")
    assert proxy.getblockcount() == 0
    status, _ = post(node, b'{"method":"getblockcount"}', auth="carol:hunter3")
    assert status == 401
    assert node.rpc().getblockcount() == 0  # the cookie still works beside -rpcauth


def test_second_instance_on_same_datadir_or_port_fails(make_regtestd, regtestd):
    same_dir = make_regtestd(start=False, datadir=regtestd.datadir)
    with pytest.raises(RuntimeError, match="lock on data directory"):
        same_dir.start()
    same_port = make_regtestd(start=False)
    same_port.port = regtestd.port
    with pytest.raises(RuntimeError, match="Unable to start HTTP server"):
        same_port.start()
    assert regtestd.rpc().getblockcount() == 0
