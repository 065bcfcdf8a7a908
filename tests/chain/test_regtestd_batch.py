"""regtestd's JSON-RPC batches and their bounds: per-element answers, notifications, an
oversized batch and deep nesting refused with one clean error while the daemon keeps serving."""

from __future__ import annotations

import json

from lnharness.node_impl.bitcoin.regtestd.dialect import MAX_BATCH_REQUESTS, MAX_JSON_DEPTH
from lnharness.node_impl.bitcoin.regtestd.rpc_server import json_depth_exceeds

from tests.chain.test_regtestd_rpc_protocol import post

GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"


def test_batch_elements_are_answered_independently(regtestd):
    body = json.dumps([
        {"jsonrpc": "2.0", "method": "getblockcount", "id": "a"},
        "not an object",
        {"jsonrpc": "2.0", "id": 5},
        {"jsonrpc": "2.0", "method": 7, "id": 6},
        {"jsonrpc": "3.0", "method": "getblockcount", "id": 8},
        {"method": "getblockhash", "params": {"height": 0}, "id": None},
        {"jsonrpc": "2.0", "method": "getblockhash", "params": ["x"], "id": [1, {"n": 2}]},
    ]).encode()
    status, data = post(regtestd, body)
    assert status == 200
    replies = json.loads(data)
    assert replies[0] == {"jsonrpc": "2.0", "result": 0, "id": "a"}
    assert replies[1] == {"result": None, "error": {"code": -32600, "message": "Invalid Request object"},
                          "id": None}
    assert replies[2]["error"] == {"code": -32600, "message": "Missing method"} and replies[2]["id"] == 5
    assert replies[3]["error"] == {"code": -32600, "message": "Method must be a string"}
    assert replies[4]["error"] == {"code": -32600, "message": "JSON-RPC version not supported"}
    assert replies[5] == {"result": GENESIS, "error": None, "id": None}
    assert replies[6]["error"]["code"] == -3 and replies[6]["id"] == [1, {"n": 2}]
    assert len(replies) == 7


def test_notifications_run_but_get_no_reply(regtestd):
    rpc = regtestd.rpc()
    address = rpc.getnewaddress()
    mine = {"jsonrpc": "2.0", "method": "generatetoaddress", "params": [1, address]}
    status, data = post(regtestd, json.dumps([mine, {"jsonrpc": "2.0", "method": "getblockcount",
                                                     "id": 1}]).encode())
    assert status == 200 and json.loads(data) == [{"jsonrpc": "2.0", "result": 1, "id": 1}]
    status, data = post(regtestd, json.dumps([mine, mine]).encode())
    assert (status, data) == (204, b"")
    status, data = post(regtestd, json.dumps(mine).encode())
    assert (status, data) == (204, b"")
    assert rpc.getblockcount() == 4


def test_empty_batch_is_an_empty_array(regtestd):
    assert post(regtestd, b"[]") == (200, b"[]")


def test_oversized_batch_is_refused_whole(regtestd):
    address = regtestd.rpc().getnewaddress()
    mine = {"method": "generatetoaddress", "params": [1, address], "id": 1}
    status, data = post(regtestd, json.dumps([mine] * (MAX_BATCH_REQUESTS + 1)).encode())
    assert status == 400
    reply = json.loads(data)
    assert reply["id"] is None and reply["error"]["code"] == -32600
    assert f"at most {MAX_BATCH_REQUESTS}" in reply["error"]["message"]
    assert regtestd.rpc().getblockcount() == 0  # nothing of it ran
    status, data = post(regtestd, json.dumps([{"method": "getblockcount", "id": i}
                                              for i in range(MAX_BATCH_REQUESTS)]).encode())
    assert status == 200 and len(json.loads(data)) == MAX_BATCH_REQUESTS


def test_deep_nesting_is_a_parse_error(regtestd):
    for depth in (MAX_JSON_DEPTH + 1, 100_000):
        for body in ("[" * depth + "]" * depth, '{"method":"echo","params":' + "[" * depth + "]" * depth + "}"):
            status, data = post(regtestd, body.encode())
            assert status == 500, depth
            assert json.loads(data)["error"] == {"code": -32700, "message": "Parse error"}
    within = '{"method":"echo","id":1,"params":' + "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1) + "}"
    status, data = post(regtestd, within.encode())
    assert status == 200 and json.loads(data)["error"] is None
    assert regtestd.rpc().getblockcount() == 0
    assert "Traceback" not in regtestd.log_path.read_text()


def test_json_depth_exceeds():
    assert not json_depth_exceeds(1, 0)
    assert not json_depth_exceeds([], 1) and json_depth_exceeds([], 0)
    assert json_depth_exceeds({"a": [[]]}, 2) and not json_depth_exceeds({"a": [[]]}, 3)
    assert not json_depth_exceeds([{"a": 1}, [2], 3], 2)
