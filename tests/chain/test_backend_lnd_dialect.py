"""What LND's bitcoind backend (btcd rpcclient + btcwallet, rpcpolling) asks of a chain
backend, answered alike by every backend: bitcoind's shapes and error codes are the reference.

Parametrized over every registered backend through the `chain` fixture: the embedded chain
always, bitcoind and docker when available (they skip here otherwise).
"""
from __future__ import annotations

import base64
import http.client
import json
import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from bitcoin.core import CBlock, CBlockHeader, b2lx
from lnharness.chain import Chain
from lnharness.p2wpkh import P2wpkhKey

from tests.chain.chain_fixture import chain_fixture  # noqa: F401  (the `chain` fixture)
from tests.chain.test_backend_conformance import assert_raises_rpc_error, key_with_mature_coinbase

REGTEST_GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
TWO_HOURS = 2 * 3600


def post_json(chain: Chain, payload: Any) -> tuple[int, Any]:
    """POST `payload` as JSON to the node URL; (HTTP status, parsed body or None if empty)."""
    parts = urlsplit(chain.backend.rpc_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    auth = base64.b64encode(f"{parts.username}:{parts.password}".encode()).decode()
    try:
        conn.request("POST", "/", body=json.dumps(payload).encode(),
                     headers={"Authorization": "Basic " + auth, "Content-Type": "application/json"})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    return response.status, (json.loads(body, parse_float=Decimal) if body else None)


# -- transport ------------------------------------------------------------------------------
def test_getinfo_is_method_not_found_so_rpcclient_detects_bitcoind(chain: Chain):
    assert_raises_rpc_error(-32601, "Method not found", chain.rpc.call, "getinfo")


def test_batch_answers_every_element_with_its_id(chain: Chain):
    """btcwallet's mempool poller: a 2.0 batch of getrawmempool/getrawtransaction."""
    txid = chain.faucet(chain.rpc.getnewaddress(), 40_000)
    status, replies = post_json(chain, [
        {"jsonrpc": "2.0", "method": "getrawmempool", "params": [False], "id": 11},
        {"jsonrpc": "2.0", "method": "getrawtransaction", "params": [txid, 0], "id": 12},
        {"jsonrpc": "2.0", "method": "getrawtransaction", "params": ["ab" * 32, 0], "id": 13},
        {"jsonrpc": "2.0", "method": "getinfo", "params": [], "id": 14},
        {"jsonrpc": "1.0", "method": "getblockhash", "params": [0], "id": 15},
        {"jsonrpc": "1.0", "method": "getblockhash", "params": [10_000], "id": 16},
    ])
    assert status == 200
    by_id = {reply["id"]: reply for reply in replies}
    assert [reply["id"] for reply in replies] == [11, 12, 13, 14, 15, 16]
    assert txid in by_id[11]["result"] and "error" not in by_id[11]
    assert by_id[11]["jsonrpc"] == "2.0"
    assert isinstance(by_id[12]["result"], str) and len(by_id[12]["result"]) > 100
    assert by_id[13]["error"]["code"] == -5 and "result" not in by_id[13]
    assert "No such mempool or blockchain transaction" in by_id[13]["error"]["message"]
    assert by_id[14]["error"]["code"] == -32601
    assert by_id[15] == {"result": REGTEST_GENESIS, "error": None, "id": 15}
    assert by_id[16]["result"] is None and by_id[16]["error"]["code"] == -8


def test_empty_batch_is_an_empty_array_as_bitcoind_answers(chain: Chain):
    assert post_json(chain, []) == (200, [])


# -- startup checks -----------------------------------------------------------------------
def test_networkinfo_is_a_current_core(chain: Chain):
    info = chain.rpc.getnetworkinfo()
    assert info["version"] >= 250000
    subversion = info["subversion"]
    assert subversion.startswith("/Satoshi:") and subversion.endswith("/")
    major = int(subversion[len("/Satoshi:"):].split(".")[0])
    # btcd's rpcclient compares the version *string* with "25.0.0": 25..99 only.
    assert 25 <= major <= 99 and info["version"] // 10000 == major
    assert isinstance(info["warnings"], list)


def test_blockchaininfo_is_unpruned_with_tip(chain: Chain):
    info = chain.rpc.getblockchaininfo()
    assert info["pruned"] is False
    assert info["bestblockhash"] == chain.rpc.getblockhash(info["blocks"])
    assert info["bits"] == "207fffff"
    assert info["target"] == "7fffff" + "0" * 58
    assert isinstance(info["warnings"], list)


def test_taproot_is_active_in_getdeploymentinfo(chain: Chain):
    info = chain.rpc.getdeploymentinfo()
    assert info["hash"] == chain.rpc.getbestblockhash() and info["height"] == 101
    if "taproot" in info["deployments"]:
        assert info["deployments"]["taproot"]["active"] is True
    else:  # Bitcoin Core after v31 buries it: only the active script flags name it
        assert "TAPROOT" in info["script_flags"], info
    assert info["deployments"]["segwit"] == {"type": "buried", "active": True, "height": 0}
    at_genesis = chain.rpc.getdeploymentinfo(REGTEST_GENESIS)
    assert at_genesis["height"] == 0 and at_genesis["deployments"]["csv"]["active"] is True
    assert_raises_rpc_error(-5, "Block not found", chain.rpc.getdeploymentinfo, "ab" * 32)


def test_health_and_peer_calls(chain: Chain):
    assert isinstance(chain.rpc.uptime(), int) and chain.rpc.uptime() >= 0
    assert chain.rpc.getpeerinfo() == []
    assert isinstance(chain.rpc.getzmqnotifications(), list)


def test_tip_timestamp_is_current(chain: Chain):
    """btcwallet's IsSynced: the tip must be less than 2 hours old (it was mined just now)."""
    now = time.time()
    for height in (1, 101):
        header = chain.rpc.getblockheader(chain.rpc.getblockhash(height))
        assert abs(header["time"] - now) < 600, (height, header["time"], now)
    [block_hash] = chain.generate_block(1)
    assert abs(chain.rpc.getblockheader(block_hash)["time"] - time.time()) < TWO_HOURS
    assert chain.rpc.getblockchaininfo()["initialblockdownload"] is False


# -- blocks ---------------------------------------------------------------------------------
def test_getblockheader_raw_and_verbose_agree(chain: Chain):
    block_hash = chain.rpc.getblockhash(100)
    raw = chain.rpc.getblockheader(block_hash, False)
    header = CBlockHeader.deserialize(bytes.fromhex(raw))
    assert len(raw) == 160 and b2lx(header.GetHash()) == block_hash
    verbose = chain.rpc.getblockheader(block_hash, True)
    assert verbose == chain.rpc.getblockheader(block_hash)
    assert verbose["hash"] == block_hash and verbose["height"] == 100
    assert verbose["previousblockhash"] == b2lx(header.hashPrevBlock)
    assert verbose["nextblockhash"] == chain.rpc.getblockhash(101)
    assert verbose["merkleroot"] == b2lx(header.hashMerkleRoot) and verbose["time"] == header.nTime
    assert verbose["bits"] == "207fffff" and verbose["target"] == "7fffff" + "0" * 58
    assert verbose["confirmations"] == 2 and verbose["nTx"] == 1
    assert_raises_rpc_error(-5, "Block not found", chain.rpc.getblockheader, "ab" * 32, False)


def test_getblock_verbosity_0_and_1(chain: Chain):
    block_hash = chain.rpc.getblockhash(101)
    block = CBlock.deserialize(bytes.fromhex(chain.rpc.getblock(block_hash, 0)))
    verbose = chain.rpc.getblock(block_hash, 1)
    assert verbose["tx"] == [b2lx(tx.GetTxid()) for tx in block.vtx]
    assert verbose["height"] == 101 and verbose["confirmations"] == 1 and "nextblockhash" not in verbose
    assert_raises_rpc_error(-5, "Block not found", chain.rpc.getblock, "ab" * 32, 0)


# -- transactions and mempool ---------------------------------------------------------------
def test_getrawtransaction_verbose_0_and_1_and_not_found(chain: Chain):
    txid = chain.faucet(chain.rpc.getnewaddress(), 60_000)
    raw = chain.rpc.getrawtransaction(txid, 0)
    in_mempool = chain.rpc.getrawtransaction(txid, 1)
    assert in_mempool["hex"] == raw and in_mempool["txid"] == txid
    assert "blockhash" not in in_mempool and "confirmations" not in in_mempool
    [block_hash] = chain.generate_block(1, wait_for_mempool=txid)
    mined = chain.rpc.getrawtransaction(txid, 1)
    assert mined["blockhash"] == block_hash and mined["confirmations"] == 1
    assert mined["blocktime"] == mined["time"] == chain.rpc.getblockheader(block_hash)["time"]
    assert chain.rpc.getrawtransaction(txid, False) == raw
    assert_raises_rpc_error(-5, "No such mempool or blockchain transaction", chain.rpc.getrawtransaction,
                            "ab" * 32, 1)


def test_gettxspendingprevout_names_the_mempool_spender(chain: Chain):
    key, utxo = key_with_mature_coinbase(chain)
    tx = key.spend([utxo], [(P2wpkhKey().script_pubkey, utxo.amount_sat - 1_000)])
    unspent = {"txid": "cd" * 32, "vout": 3}
    assert chain.rpc.gettxspendingprevout([{"txid": utxo.txid, "vout": 0}, unspent]) == [
        {"txid": utxo.txid, "vout": 0}, unspent]
    chain.rpc.sendrawtransaction(tx.hex)
    assert chain.rpc.gettxspendingprevout([{"txid": utxo.txid, "vout": 0}]) == [
        {"txid": utxo.txid, "vout": 0, "spendingtxid": tx.txid}]
    assert_raises_rpc_error(-8, "outputs are missing", chain.rpc.gettxspendingprevout, [])
    assert_raises_rpc_error(-8, "vout cannot be negative", chain.rpc.gettxspendingprevout,
                            [{"txid": utxo.txid, "vout": -1}])
    assert_raises_rpc_error(-8, "must be of length 64", chain.rpc.gettxspendingprevout,
                            [{"txid": "abcd", "vout": 0}])


def test_testmempoolaccept_then_sendrawtransaction_with_maxfeerate(chain: Chain):
    """lnd's publish: testmempoolaccept([tx], maxfeerate) then sendrawtransaction(tx, maxfeerate)."""
    key, utxo = key_with_mature_coinbase(chain)
    greedy = key.spend([utxo], [(P2wpkhKey().script_pubkey, utxo.amount_sat // 2)])
    [verdict] = chain.rpc.testmempoolaccept([greedy.hex], Decimal("0.1"))
    assert verdict["allowed"] is False and verdict["reject-reason"] == "max-fee-exceeded"
    assert verdict["txid"] == greedy.txid and verdict["wtxid"]
    assert_raises_rpc_error(-25, "Fee exceeds maximum", chain.rpc.sendrawtransaction, greedy.hex,
                            Decimal("0.1"))
    assert_raises_rpc_error(-8, "Fee rates larger than or equal to 1BTC/kvB are not accepted",
                            chain.rpc.sendrawtransaction, greedy.hex, 1)
    tx = key.spend([utxo], [(P2wpkhKey().script_pubkey, utxo.amount_sat - 2_000)])
    [verdict] = chain.rpc.testmempoolaccept([tx.hex], 0)
    assert verdict["allowed"] is True and verdict["vsize"] > 0
    assert verdict["fees"]["base"] == Decimal("0.00002000")
    assert chain.rpc.sendrawtransaction(tx.hex, 0) == tx.txid
    assert chain.rpc.getrawmempool() == [tx.txid]
    assert chain.rpc.gettxout(utxo.txid, 0, True) is None
    assert chain.rpc.gettxout(utxo.txid, 0, False)["value"] == Decimal(utxo.amount_sat) / 10**8
    [again] = chain.rpc.testmempoolaccept([tx.hex])
    assert again["allowed"] is False and again["reject-reason"] == "txn-already-in-mempool"


def test_fee_calls(chain: Chain):
    for mode in ("CONSERVATIVE", "ECONOMICAL"):
        result = chain.rpc.estimatesmartfee(6, mode)
        assert "feerate" in result or result["errors"]
    assert_raises_rpc_error(-8, "Invalid estimate_mode parameter", chain.rpc.estimatesmartfee, 6, "FAST")
    info = chain.rpc.getmempoolinfo()
    assert info["mempoolminfee"] >= info["minrelaytxfee"] > 0
    assert info["loaded"] is True
