"""ClnRpc against a real unix-socket server speaking Core Lightning's framing."""
import json
import os
import socket
import threading

import pytest
from lnharness.errors import RpcError
from lnharness.node_impl.cln_rpc import ClnRpc


def serve_once(path, replies):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def run():
        conn, _ = server.accept()
        with conn:
            request = json.loads(conn.recv(65536))
            for reply in replies(request):
                conn.sendall(reply)
        server.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_reply_after_notification_split_across_chunks(tmp_path):
    path = tmp_path / "lightning-rpc"

    def replies(request):
        note = json.dumps({"jsonrpc": "2.0", "method": "message", "params": {"msg": "é"}})
        body = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": {"alias": "ünï"}})
        data = (note + "\n\n" + body + "\n\n").encode()
        return [data[:len(note) + 5], data[len(note) + 5:-3], data[-3:]]

    thread = serve_once(path, replies)
    assert ClnRpc(path).call("getinfo") == {"alias": "ünï"}
    thread.join(5)


def test_error_reply_raises_rpc_error(tmp_path):
    path = tmp_path / "lightning-rpc"

    def replies(request):
        error = {"code": -32601, "message": "Unknown command 'frobnicate'"}
        return [json.dumps({"jsonrpc": "2.0", "id": request["id"], "error": error}).encode()]

    thread = serve_once(path, replies)
    with pytest.raises(RpcError) as info:
        ClnRpc(path, name="l1").call("frobnicate")
    assert info.value.code == -32601 and "frobnicate" in info.value.message
    assert "l1" in str(info.value)
    thread.join(5)


def test_missing_socket_is_named(tmp_path):
    with pytest.raises(RpcError, match="cannot connect to .*lightning-rpc"):
        ClnRpc(tmp_path / "lightning-rpc").call("getinfo")


def test_long_socket_path(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    path = deep / "lightning-rpc"
    # bind through the directory fd too: the path itself is over the sun_path limit
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    fd = os.open(deep, os.O_RDONLY)
    server.bind(f"/proc/self/fd/{fd}/lightning-rpc")
    os.close(fd)
    server.listen(1)

    def run():
        conn, _ = server.accept()
        with conn:
            request = json.loads(conn.recv(65536))
            conn.sendall(json.dumps({"id": request["id"], "result": 7}).encode())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert len(str(path)) > 108
    assert ClnRpc(path).call("getblockheight") == 7
    thread.join(5)
    server.close()
