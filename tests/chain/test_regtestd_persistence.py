"""State survives stop/start and kill -9: chain, indexes, wallet keys (mempool on clean stop only)."""

from __future__ import annotations

from decimal import Decimal


def test_clean_restart_keeps_chain_wallet_and_mempool(regtestd):
    rpc = regtestd.rpc()
    address = rpc.getnewaddress()
    rpc.generatetoaddress(110, address)
    txid = rpc.sendtoaddress(rpc.getnewaddress(), Decimal("2"))
    tip = rpc.getbestblockhash()
    balance = rpc.getbalances()["mine"]
    regtestd.restart()
    rpc = regtestd.rpc()
    assert rpc.getbestblockhash() == tip
    assert rpc.getblockcount() == 110
    assert txid in rpc.getrawmempool()
    assert rpc.getbalances()["mine"] == balance
    assert rpc.getrawtransaction(rpc.getblock(rpc.getblockhash(5))["tx"][0], True)["confirmations"] == 106
    rpc.generatetoaddress(1, address)
    assert rpc.gettransaction(txid)["confirmations"] == 1


def test_kill_9_loses_no_block_and_no_wallet_key(regtestd):
    rpc = regtestd.rpc()
    address = rpc.getnewaddress()
    hashes = rpc.generatetoaddress(120, address)
    fresh = rpc.getnewaddress()  # issued just before the kill
    txid = rpc.sendtoaddress(fresh, Decimal("3"))
    confirm = rpc.generatetoaddress(1, address)[0]
    regtestd.kill()
    regtestd.start()
    rpc = regtestd.rpc()
    assert rpc.getblockcount() == 121
    assert rpc.getbestblockhash() == confirm
    assert rpc.getblockhash(60) == hashes[59]
    assert rpc.getrawtransaction(txid, True)["blockhash"] == confirm
    assert rpc.getaddressinfo(fresh)["ismine"] is True
    assert [u["amount"] for u in rpc.listunspent(1, 999, [fresh])] == [Decimal("3.00000000")]
    # the chain keeps working after recovery
    more = rpc.generatetoaddress(5, address)
    assert rpc.getblock(more[-1])["height"] == 126
    regtestd.kill()
    regtestd.start()
    assert regtestd.rpc().getbestblockhash() == more[-1]


def test_restart_after_200_blocks_keeps_the_tip(regtestd):
    rpc = regtestd.rpc()
    tip = rpc.generatetoaddress(200, rpc.getnewaddress())[-1]
    regtestd.restart()
    assert regtestd.rpc().getblockchaininfo()["bestblockhash"] == tip
    assert regtestd.rpc().getblockcount() == 200
