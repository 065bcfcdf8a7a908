"""The one chain RPC client: errors carry method and code, wallets by URL, connection failures."""
from __future__ import annotations

import socket
import threading

import pytest
from lnharness.bitcoin_rpc import BitcoinRpc, RpcConnectionError, rpc_url
from lnharness.chain import Chain
from lnharness.errors import RpcError
from lnharness.ports import release_port, reserve_port

from tests.chain.chain_fixture import chain_fixture  # noqa: F401  (the `chain` fixture)


def test_error_names_method_and_code(chain: Chain):
    with pytest.raises(RpcError) as info:
        chain.rpc.getblockhash(10_000)
    assert (info.value.method, info.value.code) == ("getblockhash", -8)
    assert "getblockhash" in str(info.value) and "-8" in str(info.value)


def test_call_and_attribute_styles_agree(chain: Chain):
    assert chain.rpc.call("getblockcount") == chain.rpc.getblockcount() == 101


def test_wallet_urls_address_one_wallet(chain: Chain):
    node = chain.backend.node_rpc
    assert chain.backend.wallet_name in node.listwallets()
    assert node.wallet(chain.backend.wallet_name).getbalance() == chain.rpc.getbalance()
    with pytest.raises(RpcError) as info:
        node.wallet("no-such-wallet").getbalance()
    assert info.value.code == -18  # RPC_WALLET_NOT_FOUND


def test_wrong_password_is_an_rpc_error(chain: Chain):
    bad = BitcoinRpc(rpc_url("127.0.0.1", chain.backend.rpc_port, chain.backend.rpcuser, "wrong"))
    with pytest.raises(RpcError, match="401"):
        bad.getblockcount()


def test_nothing_listening_is_a_connection_error():
    port = reserve_port()
    try:
        rpc = BitcoinRpc(rpc_url("127.0.0.1", port, "u", "p"), timeout=5)
        with pytest.raises(RpcConnectionError) as info:
            rpc.getblockcount()
        assert info.value.kind == "refused" and info.value.code is None
        assert str(port) in str(info.value)
    finally:
        release_port(port)


def test_parallel_calls_from_threads(chain: Chain, executor):
    rpc = chain.rpc
    results = list(executor.map(lambda _: rpc.getblockcount(), range(50)))
    assert results == [101] * 50


def test_bad_urls_and_credentials_are_refused():
    with pytest.raises(ValueError, match="user:password"):
        BitcoinRpc("http://127.0.0.1:1/")
    with pytest.raises(ValueError, match="cannot go in a URL"):
        rpc_url("127.0.0.1", 1, "user", "pa:ss")


def test_connection_closed_before_the_answer_is_retried_then_reported():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    accepted = []

    def close_every_connection() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            conn.recv(65536)
            conn.close()

    thread = threading.Thread(target=close_every_connection, daemon=True)
    thread.start()
    try:
        rpc = BitcoinRpc(rpc_url("127.0.0.1", port, "u", "p"), timeout=5, retries=2)
        with pytest.raises(RpcConnectionError) as info:
            rpc.getblockcount()
        assert info.value.kind == "lost" and "3 attempts" in info.value.message
        assert len(accepted) == 3
    finally:
        listener.close()
