"""Speed of the things tests do all the time (bounds are loose for loaded CI machines;
typical values on an idle 2-core machine: ready 0.3 s, 101 blocks 0.45 s, 1000 spends 1.3 s)."""

from __future__ import annotations

import time
from decimal import Decimal


def test_ready_and_generate_101(make_regtestd):
    node = make_regtestd()
    assert node.ready_after < 5.0
    rpc = node.rpc()
    started = time.monotonic()
    rpc.generatetoaddress(101, rpc.getnewaddress())
    assert time.monotonic() - started < 5.0


def test_thousand_sendrawtransaction(regtestd):
    rpc = regtestd.rpc()
    miner = rpc.getnewaddress()
    rpc.generatetoaddress(101, miner)
    addresses = [rpc.getnewaddress() for _ in range(1000)]
    rpc.sendmany("", {a: Decimal("0.01") for a in addresses})
    rpc.generatetoaddress(1, miner)
    raws = []
    for coin in rpc.listunspent(1, 9999, addresses):
        raw = rpc.createrawtransaction([{"txid": coin["txid"], "vout": coin["vout"]}],
                                       {miner: Decimal("0.0099")})
        raws.append(rpc.signrawtransactionwithwallet(raw)["hex"])
    assert len(raws) == 1000
    started = time.monotonic()
    for raw in raws:
        rpc.sendrawtransaction(raw)
    elapsed = time.monotonic() - started
    assert rpc.getmempoolinfo()["size"] == 1000
    assert elapsed < 20.0, f"1000 sendrawtransaction took {elapsed:.2f}s"
    block = rpc.getblock(rpc.generatetoaddress(1, miner)[0])
    assert block["nTx"] == 1001
