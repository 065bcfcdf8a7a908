"""regtestd end to end over real RPC: startup, mining, wallet, transactions, fee estimates."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from bitcoinrpc.authproxy import JSONRPCException


def rpc_error(fn, *args):
    with pytest.raises(JSONRPCException) as info:
        fn(*args)
    return info.value.error


def test_ready_line_cookie_and_fresh_chain(regtestd, rpc):
    cookie = (regtestd.datadir / "regtest" / ".cookie").read_text()
    assert cookie.startswith("__cookie__:") and len(cookie.split(":")[1]) == 64
    info = rpc.getblockchaininfo()
    assert info["chain"] == "regtest"
    assert info["blocks"] == 0
    assert info["initialblockdownload"] is True
    assert rpc.getblockcount() == 0
    assert rpc.getbestblockhash() == "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
    net = rpc.getnetworkinfo()
    assert net["version"] >= 220000 and net["localrelay"] is True
    assert rpc.getpeerinfo() == [] and rpc.getconnectioncount() == 0


def test_generatetoaddress_and_block_queries(rpc):
    address = rpc.getnewaddress()
    hashes = rpc.generatetoaddress(101, address)
    assert len(hashes) == 101
    assert rpc.getblockcount() == 101
    assert rpc.getblockhash(101) == hashes[-1] == rpc.getbestblockhash()
    info = rpc.getblockchaininfo()
    assert info["initialblockdownload"] is False
    block = rpc.getblock(hashes[0])
    assert block["height"] == 1 and block["confirmations"] == 101
    assert block["nextblockhash"] == hashes[1]
    coinbase = rpc.getrawtransaction(block["tx"][0], True)
    assert coinbase["vout"][0]["value"] == Decimal("50.00000000")
    assert coinbase["vout"][0]["scriptPubKey"]["address"] == address
    raw = rpc.getblock(hashes[0], 0)
    assert raw[:8] == "00000020"
    verbose2 = rpc.getblock(hashes[0], 2)
    assert verbose2["tx"][0]["txid"] == block["tx"][0]
    header = rpc.getblockheader(hashes[0])
    assert header["previousblockhash"] == rpc.getblockhash(0)
    assert rpc.getblockheader(hashes[0], False) == raw[:160]
    assert rpc.getbalance() == Decimal("50.00000000")
    assert rpc.getbalances()["mine"]["immature"] == Decimal("5000.00000000")


def test_subsidy_halves_every_150_blocks(rpc):
    address = rpc.getnewaddress()
    hashes = rpc.generatetoaddress(151, address)
    block150 = rpc.getblock(hashes[149], 2)
    block151 = rpc.getblock(hashes[150], 2)
    assert block150["height"] == 150 and block150["tx"][0]["vout"][0]["value"] == Decimal("25.00000000")
    assert block151["tx"][0]["vout"][0]["value"] == Decimal("25.00000000")
    assert rpc.getblock(hashes[148], 2)["tx"][0]["vout"][0]["value"] == Decimal("50.00000000")


def test_sendtoaddress_confirms_and_updates_balances(rpc):
    miner = rpc.getnewaddress()
    rpc.generatetoaddress(101, miner)
    target = rpc.getnewaddress("", "bech32m")
    assert target.startswith("bcrt1p")
    txid = rpc.sendtoaddress(target, Decimal("1.5"))
    assert rpc.getmempoolinfo()["size"] == 1
    assert txid in rpc.getrawmempool()
    entry = rpc.getmempoolentry(txid)
    assert entry["fees"]["base"] > 0
    assert rpc.gettxout(txid, 0)["confirmations"] == 0
    block_hash = rpc.generatetoaddress(1, miner)[0]
    assert txid in rpc.getblock(block_hash)["tx"]
    assert rpc.getmempoolinfo()["size"] == 0
    unspent = rpc.listunspent(1, 9999999, [target])
    assert [(u["txid"], u["amount"]) for u in unspent] == [(txid, Decimal("1.50000000"))]
    tx = rpc.getrawtransaction(txid, True)
    assert tx["confirmations"] == 1 and tx["blockhash"] == block_hash
    fee = rpc.gettransaction(txid)["fee"]
    # spend the taproot output (key path) back to a P2WPKH address
    spend = rpc.sendtoaddress(rpc.getnewaddress(), Decimal("1.49"))
    rpc.generatetoaddress(1, miner)
    assert rpc.gettransaction(spend)["confirmations"] == 1
    assert fee < 0


def test_sendrawtransaction_errors(rpc):
    miner = rpc.getnewaddress()
    rpc.generatetoaddress(101, miner)
    assert rpc_error(rpc.sendrawtransaction, "zz")["code"] == -22
    assert rpc_error(rpc.sendrawtransaction, "00")["code"] == -22
    coin = rpc.listunspent()[0]
    raw = rpc.createrawtransaction([{"txid": coin["txid"], "vout": coin["vout"]}],
                                   {rpc.getnewaddress(): Decimal("49.999")})
    unsigned_err = rpc_error(rpc.sendrawtransaction, raw)
    assert unsigned_err["code"] == -26
    assert unsigned_err["message"].startswith("mempool-script-verify-flag-failed")
    signed = rpc.signrawtransactionwithwallet(raw)
    assert signed["complete"] is True
    txid = rpc.sendrawtransaction(signed["hex"])
    assert rpc.sendrawtransaction(signed["hex"]) == txid  # already in mempool: same answer
    rpc.generatetoaddress(1, miner)
    err = rpc_error(rpc.sendrawtransaction, signed["hex"])
    assert err == {"code": -27, "message": "Transaction outputs already in utxo set"}
    missing = rpc.createrawtransaction([{"txid": "11" * 32, "vout": 0}], {miner: 1})
    err = rpc_error(rpc.sendrawtransaction, missing)
    assert err == {"code": -25, "message": "bad-txns-inputs-missingorspent"}


def test_estimatesmartfee_and_setfeeestimate(rpc):
    assert rpc.estimatesmartfee(6) == {"errors": ["Insufficient data or no feerate found"], "blocks": 0}
    assert rpc.setfeeestimate(Decimal("0.00025")) is None
    assert rpc.estimatesmartfee(6) == {"feerate": Decimal("0.00025000"), "blocks": 6}
    assert rpc.estimatesmartfee(100)["feerate"] == Decimal("0.00025000")
    assert rpc_error(rpc.estimatesmartfee, 0)["code"] == -8


def test_waitfornewblock_returns_when_a_block_is_mined(regtestd, rpc):
    address = rpc.getnewaddress()
    genesis = rpc.getbestblockhash()
    started = time.monotonic()
    assert rpc.waitfornewblock(300) == {"hash": genesis, "height": 0}  # timeout honoured, tip unchanged
    assert time.monotonic() - started >= 0.25
    results = {}

    def waiter():
        begun = time.monotonic()
        results["tip"] = regtestd.rpc().waitfornewblock(20000, genesis)
        results["elapsed"] = time.monotonic() - begun

    thread = threading.Thread(target=waiter)
    thread.start()
    block_hash = rpc.generatetoaddress(1, address)[0]
    thread.join(10)
    assert results["tip"] == {"hash": block_hash, "height": 1}
    assert results["elapsed"] < 5
    assert rpc.waitforblockheight(1, 1000) == {"hash": block_hash, "height": 1}
    assert rpc.waitforblock(block_hash, 1000) == {"hash": block_hash, "height": 1}


def test_unknown_method_and_bad_params(rpc):
    assert rpc_error(rpc.getfoo) == {"code": -32601, "message": "Method not found"}
    assert rpc_error(rpc.getblockhash, 5)["code"] == -8
    assert rpc_error(rpc.getblock, "00" * 32)["code"] == -5
    assert rpc_error(rpc.getblock, "xyz")["code"] == -8
    assert rpc_error(rpc.generatetoaddress, 1, "notanaddress")["code"] == -5


def test_stop_exits_cleanly(regtestd, rpc):
    assert rpc.stop() == "Bitcoin Core stopping"
    assert regtestd.proc.wait(20) == 0
    assert not (regtestd.datadir / "regtest" / ".cookie").exists()


def test_prevouts_in_verbose_transactions(rpc):
    address = rpc.getnewaddress()
    hashes = rpc.generatetoaddress(101, address)
    txid = rpc.sendtoaddress(rpc.getnewaddress(), Decimal("1"))
    block_hash = rpc.generatetoaddress(1, address)[0]
    tx = rpc.getrawtransaction(txid, 2)
    prevout = tx["vin"][0]["prevout"]
    assert prevout["generated"] is True and prevout["height"] == 1
    assert prevout["value"] == Decimal("50.00000000") and tx["fee"] > 0
    assert rpc.getblock(block_hash, 3)["tx"][1]["vin"][0]["prevout"] == prevout
    assert rpc.getblock(block_hash, 2)["tx"][1]["fee"] == tx["fee"]
    assert hashes
