"""A random walk of sends, blocks, reorgs, restarts and kill -9: the index must stay exact.

The UTXO total must equal the subsidies of the active chain, and every mempool transaction must
still be minable by the kernel (which would reject a block spending what our index got wrong).
"""

from __future__ import annotations

import random
from decimal import Decimal


def expected_supply_sat(height: int) -> int:
    return sum((50 * 100_000_000) >> (h // 150) for h in range(1, height + 1))


def test_random_walk_keeps_index_consistent(regtestd):
    rng = random.Random(20261125)
    rpc = regtestd.rpc()
    miner = rpc.getnewaddress()
    rpc.generatetoaddress(105, miner)
    for step in range(40):
        action = rng.choice(["send", "send", "send", "chain", "mine", "reorg", "double_spend_reorg",
                             "restart", "kill"])
        if action == "double_spend_reorg":  # a confirmed payment replaced by a conflicting branch
            coins = [u for u in rpc.listunspent(3) if u["amount"] > Decimal("0.01")]
            if coins:
                coin = {"txid": coins[0]["txid"], "vout": coins[0]["vout"]}
                pays = [
                    rpc.signrawtransactionwithwallet(rpc.createrawtransaction(
                        [coin], {rpc.getnewaddress(): coins[0]["amount"] - fee}))["hex"]
                    for fee in (Decimal("0.0001"), Decimal("0.0002"))
                ]
                rpc.sendrawtransaction(pays[0])
                rpc.generatetoaddress(1, miner)
                fork = rpc.getblockhash(rpc.getblockcount() - 1)
                first = rpc.generateblockfrom(fork, miner, [pays[1]])["hash"]
                second = rpc.generateblockfrom(first, miner)["hash"]
                assert rpc.getbestblockhash() == second, f"step {step}: reorg did not happen"
        elif action == "chain":  # a parent and a child spending it, mined in the same block
            parent = rpc.sendtoaddress(rpc.getnewaddress(), Decimal("0.5"))
            vout = next(o["n"] for o in rpc.getrawtransaction(parent, True)["vout"]
                        if o["value"] == Decimal("0.5"))
            raw = rpc.createrawtransaction([{"txid": parent, "vout": vout}], {miner: Decimal("0.4999")})
            rpc.sendrawtransaction(rpc.signrawtransactionwithwallet(raw)["hex"])
        elif action == "send":
            kind = rng.choice(["bech32", "bech32m"])
            amount = Decimal(rng.randint(1000, 5_000_000)) / 100_000_000
            rpc.sendtoaddress(rpc.getnewaddress("", kind), amount)
        elif action == "mine":
            rpc.generatetoaddress(rng.randint(1, 3), miner)
        elif action == "reorg":
            height = rpc.getblockcount()
            parent = rpc.getblockhash(height - 1)
            first = rpc.generateblockfrom(parent, miner)["hash"]
            second = rpc.generateblockfrom(first, miner)["hash"]
            assert rpc.getbestblockhash() == second, f"step {step}: reorg did not happen"
        elif action == "restart":
            regtestd.restart()
            rpc = regtestd.rpc()
        else:
            regtestd.kill()
            regtestd.start()
            rpc = regtestd.rpc()
        info = rpc.gettxoutsetinfo()
        assert int(info["total_amount"] * 100_000_000) == expected_supply_sat(info["height"]), f"step {step} {action}"
    while rpc.getrawmempool():
        rpc.generatetoaddress(1, miner)
    info = rpc.gettxoutsetinfo()
    assert int(info["total_amount"] * 100_000_000) == expected_supply_sat(info["height"])
    balances = rpc.getbalances()["mine"]
    listed = sum(u["amount"] for u in rpc.listunspent(0))
    assert balances["trusted"] == listed


def test_concurrent_clients_keep_index_consistent(regtestd):
    import threading

    from bitcoinrpc.authproxy import JSONRPCException

    rpc = regtestd.rpc()
    miner = rpc.getnewaddress()
    rpc.generatetoaddress(120, miner)
    errors: list = []

    def client(seed: int) -> None:
        own = regtestd.rpc()
        rng = random.Random(seed)
        for _ in range(40):
            roll = rng.random()
            try:
                if roll < 0.45:
                    own.sendtoaddress(own.getnewaddress(), Decimal("0.01"))
                elif roll < 0.6:
                    own.generatetoaddress(1, miner)
                elif roll < 0.7:
                    regtestd.rpc().waitfornewblock(50)
                else:
                    own.getblock(own.getbestblockhash(), 2)
                    own.getrawmempool(True)
                    own.getbalances()
            except JSONRPCException as exc:
                if exc.error["code"] != -6:  # insufficient funds is a fair answer under load
                    errors.append(exc.error)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    rpc.generatetoaddress(1, miner)
    assert rpc.getrawmempool() == []
    info = rpc.gettxoutsetinfo()
    assert int(info["total_amount"] * 100_000_000) == expected_supply_sat(info["height"])
