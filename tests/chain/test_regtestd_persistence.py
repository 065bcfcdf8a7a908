"""State survives stop/start and kill -9: chain, indexes, wallet keys (mempool on clean stop only)."""

from __future__ import annotations

import http.client
import random
import threading
from decimal import Decimal

from bitcoinrpc.authproxy import JSONRPCException


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


def test_kill_9_keeps_every_acknowledged_wallet_transaction(regtestd):
    """Issue 12, defect 3: a txid sendtoaddress (or sendrawtransaction of a wallet spend)
    returned survives a kill -9 that comes at a seeded moment while sends keep coming."""
    rng = random.Random(12)
    rpc = regtestd.rpc()
    mine = rpc.getnewaddress()
    rpc.generatetoaddress(110, mine)
    signed = rpc.signrawtransactionwithwallet(rpc.createrawtransaction(
        [{"txid": rpc.listunspent(1, 999)[0]["txid"], "vout": 0}], {rpc.getnewaddress(): Decimal("49.999")}))
    raw_txid = rpc.sendrawtransaction(signed["hex"])
    acked: list[str] = [raw_txid]
    ack_count = threading.Condition()
    kill_after = rng.randint(3, 8)
    stop = threading.Event()

    def sender() -> None:
        client = regtestd.rpc(timeout=10)
        while not stop.is_set():
            try:
                txid = client.sendtoaddress(client.getnewaddress(), Decimal(rng.randint(1, 100_000)) / 10**6)
            except (OSError, http.client.HTTPException, JSONRPCException):
                return  # the daemon died under us: whatever was not acknowledged may be lost
            with ack_count:
                acked.append(txid)
                ack_count.notify_all()

    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    with ack_count:
        assert ack_count.wait_for(lambda: len(acked) > kill_after, timeout=60), acked
    regtestd.kill()
    stop.set()
    thread.join(30)
    regtestd.start()
    rpc = regtestd.rpc()
    mempool = set(rpc.getrawmempool())
    missing = [t for t in acked if t not in mempool]
    assert not missing, f"acknowledged and lost: {missing} (acked {len(acked)})"
    for txid in acked:
        assert rpc.gettransaction(txid)["confirmations"] == 0
    spent = {(i["txid"], i["vout"]) for t in acked for i in rpc.getrawtransaction(t, True)["vin"]}
    assert not spent & {(u["txid"], u["vout"]) for u in rpc.listunspent(0, 9999)}
    block = rpc.generatetoaddress(1, mine)[0]
    assert set(acked) <= set(rpc.getblock(block)["tx"])
