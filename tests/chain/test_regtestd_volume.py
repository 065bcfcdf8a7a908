"""Volume: the mempool and block assembly keep up with a thousand transactions at once.
How fast they do is measured by bench/bench_chain.py (results in bench/RESULTS.md)."""

from __future__ import annotations

from decimal import Decimal


def test_a_thousand_spends_enter_the_mempool_and_the_next_block(regtestd):
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
    txids = {rpc.sendrawtransaction(raw) for raw in raws}
    assert len(txids) == 1000
    assert set(rpc.getrawmempool()) == txids
    block = rpc.getblock(rpc.generatetoaddress(1, miner)[0])
    assert block["nTx"] == 1001
