"""Every chain backend answers the RPCs the harness and Lightning nodes rely on, alike.

Parametrized over every registered backend through the `chain` fixture (tests/chain/
conftest.py): the embedded chain always, bitcoind and docker when available.
"""
from __future__ import annotations

from decimal import Decimal

import pytest
from bitcoin.core import CBlock, b2lx
from lnharness.backend import FEATURE_KILL_DURABLE, FEATURE_SET_FEERATE, UnsupportedFeature
from lnharness.chain import Chain
from lnharness.errors import RpcError, WaitTimeout
from lnharness.p2wpkh import P2wpkhKey, Utxo

from tests.chain.chain_fixture import chain_fixture  # noqa: F401  (the `chain` fixture)

REGTEST_GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"


def assert_raises_rpc_error(code: int, message: str, fn, *args):
    """`fn(*args)` raises RpcError with `code` and `message` in its text."""
    with pytest.raises(RpcError) as info:
        fn(*args)
    assert info.value.code == code, info.value
    assert message in info.value.message, info.value


def has_8_decimals(amount: Decimal) -> bool:
    return isinstance(amount, Decimal) and amount.as_tuple().exponent == -8


def key_with_mature_coinbase(chain: Chain) -> tuple[P2wpkhKey, Utxo]:
    """A key of the test's own with one spendable coinbase output."""
    key = P2wpkhKey()
    block_hash = chain.generate_block(1, to_addr=key.address)[0]
    chain.generate_block(100)
    coinbase = chain.rpc.getblock(block_hash, 2)["tx"][0]
    output = coinbase["vout"][0]
    assert output["scriptPubKey"]["hex"] == key.script_pubkey.hex()
    return key, Utxo(coinbase["txid"], 0, int(output["value"] * 100_000_000))


def test_fresh_chain_is_funded_regtest_at_101(chain: Chain):
    info = chain.rpc.getblockchaininfo()
    assert info["chain"] == "regtest"
    assert (info["blocks"], info["headers"]) == (101, 101)
    assert info["initialblockdownload"] is False
    assert chain.rpc.getblockcount() == 101
    assert chain.rpc.getblockhash(0) == REGTEST_GENESIS
    assert chain.rpc.getbestblockhash() == chain.rpc.getblockhash(101)
    assert chain.rpc.getbalance() >= Decimal(50)


def test_networkinfo_satisfies_core_lightning(chain: Chain):
    info = chain.rpc.getnetworkinfo()
    assert info["version"] >= 220000 and chain.version() == info["version"]
    assert info["localrelay"] is True


def test_getblockhash_beyond_tip_is_error_minus_8(chain: Chain):
    assert_raises_rpc_error(-8, "Block height out of range", chain.rpc.getblockhash, 102)


def test_getblock_raw_matches_verbose(chain: Chain):
    block_hash = chain.rpc.getblockhash(50)
    block = CBlock.deserialize(bytes.fromhex(chain.rpc.getblock(block_hash, 0)))
    assert b2lx(block.GetHash()) == block_hash
    verbose = chain.rpc.getblock(block_hash)
    assert verbose["height"] == 50
    assert verbose["previousblockhash"] == chain.rpc.getblockhash(49)
    assert verbose["tx"] == [b2lx(tx.GetTxid()) for tx in block.vtx]


def test_unknown_method_is_minus_32601(chain: Chain):
    assert_raises_rpc_error(-32601, "Method not found", chain.rpc.call, "nosuchmethod")


def test_faucet_then_generate_block_waiting_for_the_txid(chain: Chain):
    address = chain.rpc.getnewaddress()
    txid = chain.faucet(address, 123_456)
    [block_hash] = chain.generate_block(1, wait_for_mempool=txid)
    assert txid in chain.rpc.getblock(block_hash)["tx"]
    tx = chain.rpc.getrawtransaction(txid, True)
    assert tx["blockhash"] == block_hash
    [vout] = [o for o in tx["vout"] if o["scriptPubKey"].get("address") == address]
    assert vout["value"] == Decimal("0.00123456") and has_8_decimals(vout["value"])
    utxo = chain.rpc.gettxout(txid, vout["n"])
    assert utxo["value"] == Decimal("0.00123456") and has_8_decimals(utxo["value"])
    assert utxo["confirmations"] == 1
    assert utxo["scriptPubKey"]["hex"]


def test_generate_block_waits_for_a_count_and_for_a_list(chain: Chain):
    txids = [chain.faucet(chain.rpc.getnewaddress(), 10_000 + i) for i in range(3)]
    hashes = chain.generate_block(2, wait_for_mempool=3)
    assert len(hashes) == 2 and chain.rpc.getblockcount() == 103
    assert set(txids) <= set(chain.rpc.getblock(hashes[0])["tx"])
    more = [chain.faucet(chain.rpc.getnewaddress(), 20_000 + i) for i in range(2)]
    [block_hash] = chain.generate_block(1, wait_for_mempool=more)
    assert set(more) <= set(chain.rpc.getblock(block_hash)["tx"])
    last = chain.faucet(chain.rpc.getnewaddress(), 30_000)
    [block_hash] = chain.generate_block(1, wait_for_mempool=True)
    assert last in chain.rpc.getblock(block_hash)["tx"]
    assert chain.rpc.getrawmempool() == []


def test_generate_block_to_address(chain: Chain):
    key = P2wpkhKey()
    [block_hash] = chain.generate_block(1, to_addr=key.address)
    coinbase = chain.rpc.getblock(block_hash, 2)["tx"][0]
    assert coinbase["vout"][0]["scriptPubKey"]["hex"] == key.script_pubkey.hex()


def test_wait_for_mempool_of_nothing_returns_at_once(chain: Chain):
    assert chain.wait_for_mempool(0, timeout=5) == []


def test_wait_for_mempool_times_out_naming_the_txid(chain: Chain):
    missing = "ab" * 32
    with pytest.raises(WaitTimeout, match=missing):
        chain.wait_for_mempool(missing, timeout=0.3)


def test_sendrawtransaction_of_our_own_spend(chain: Chain):
    key, utxo = key_with_mature_coinbase(chain)
    dest = P2wpkhKey()
    tx = key.spend([utxo], [(dest.script_pubkey, utxo.amount_sat - 1_000)])
    assert chain.rpc.testmempoolaccept([tx.hex])[0]["allowed"] is True
    assert chain.rpc.sendrawtransaction(tx.hex) == tx.txid
    assert chain.rpc.sendrawtransaction(tx.hex) == tx.txid  # already in the mempool: same txid
    assert tx.txid in chain.rpc.getrawmempool()
    assert chain.rpc.getmempoolentry(tx.txid)["vsize"] > 0
    # The spent coinbase output is gone as far as the mempool is concerned.
    assert chain.rpc.gettxout(utxo.txid, 0, True) is None
    chain.generate_block(1, wait_for_mempool=tx.txid)
    assert chain.rpc.gettxout(utxo.txid, 0) is None
    assert chain.rpc.gettxout(tx.txid, 0)["value"] == Decimal(utxo.amount_sat - 1_000) / 10**8


def test_double_spend_is_rejected(chain: Chain):
    key, utxo = key_with_mature_coinbase(chain)
    first = key.spend([utxo], [(P2wpkhKey().script_pubkey, utxo.amount_sat - 1_000)])
    second = key.spend([utxo], [(P2wpkhKey().script_pubkey, utxo.amount_sat - 1_000)])
    chain.rpc.sendrawtransaction(first.hex)
    with pytest.raises(RpcError) as info:
        chain.rpc.sendrawtransaction(second.hex)
    assert info.value.code == -26  # RPC_VERIFY_REJECTED (insufficient fee for replacement)
    chain.generate_block(1, wait_for_mempool=first.txid)
    with pytest.raises(RpcError) as info:
        chain.rpc.sendrawtransaction(second.hex)
    assert info.value.code == -25  # RPC_VERIFY_ERROR: inputs missing or spent


def test_gettxout_of_unknown_outpoint_is_null(chain: Chain):
    assert chain.rpc.gettxout("cd" * 32, 0) is None


def test_mempoolinfo_fee_fields_are_8_decimal_btc(chain: Chain):
    info = chain.rpc.getmempoolinfo()
    assert has_8_decimals(info["mempoolminfee"]) and has_8_decimals(info["minrelaytxfee"])
    assert info["minrelaytxfee"] == Decimal("0.00001000")


def test_estimatesmartfee_without_data_has_no_feerate(chain: Chain):
    result = chain.rpc.estimatesmartfee(6)
    assert "feerate" not in result and result["errors"]


def test_set_feerate_drives_estimatesmartfee(chain: Chain):
    if not chain.supports(FEATURE_SET_FEERATE):
        with pytest.raises(UnsupportedFeature, match=chain.name):
            chain.set_feerate(sat_per_kw=3750)
        return
    chain.set_feerate(sat_per_kw=3750)  # = 15000 sat/kvB
    for target, mode in ((2, "CONSERVATIVE"), (6, "ECONOMICAL"), (12, "ECONOMICAL"),
                         (100, "ECONOMICAL")):
        result = chain.rpc.estimatesmartfee(target, mode)
        assert result["feerate"] == Decimal("0.00015000") and has_8_decimals(result["feerate"])
    chain.set_feerate(sat_per_vbyte=2)
    assert chain.rpc.estimatesmartfee(2, "CONSERVATIVE")["feerate"] == Decimal("0.00002000")


def test_waitfornewblock_returns_the_new_tip(chain: Chain):
    tip = chain.rpc.waitfornewblock(1)  # times out at once: the current tip
    assert tip["height"] == 101
    chain.generate_block(1)
    assert chain.rpc.getblockcount() == 102


def test_simple_reorg_remines_the_transaction_at_the_same_height(chain: Chain):
    txid = chain.faucet(chain.rpc.getnewaddress(), 50_000)
    [old_hash] = chain.generate_block(1, wait_for_mempool=txid)
    assert chain.rpc.getblockcount() == 102
    hashes = chain.simple_reorg(102)
    assert len(hashes) == 2 and chain.rpc.getblockcount() == 103
    assert chain.rpc.getblockhash(102) == hashes[0] != old_hash
    assert chain.rpc.getrawtransaction(txid, True)["blockhash"] == hashes[0]
    assert txid not in chain.rpc.getrawmempool()


def test_simple_reorg_with_shift_moves_the_transaction_later(chain: Chain):
    txid = chain.faucet(chain.rpc.getnewaddress(), 60_000)
    chain.generate_block(1, wait_for_mempool=txid)  # confirmed at 102
    hashes = chain.simple_reorg(102, shift=2)
    assert chain.rpc.getblockcount() == 104 and len(hashes) == 3
    assert chain.rpc.getrawtransaction(txid, True)["blockhash"] == chain.rpc.getblockhash(104)
    assert txid not in chain.rpc.getblock(hashes[0])["tx"]
    [vout] = [o["n"] for o in chain.rpc.getrawtransaction(txid, True)["vout"]
              if o["value"] == Decimal("0.00060000")]
    assert chain.rpc.gettxout(txid, vout)["confirmations"] == 1


def test_simple_reorg_deeper_than_one_block_gets_longer(chain: Chain):
    old = chain.generate_block(3)  # 102..104
    hashes = chain.simple_reorg(102)
    assert chain.rpc.getblockcount() == 105
    assert [chain.rpc.getblockhash(h) for h in range(102, 106)] == hashes
    assert not set(old) & set(hashes)


def test_restart_keeps_chain_and_wallet(chain: Chain):
    chain.generate_block(5)
    balance = chain.rpc.getbalance()
    tip = chain.rpc.getbestblockhash()
    chain.restart()
    assert chain.rpc.getbestblockhash() == tip
    assert chain.rpc.getbalance() == balance


def test_kill_then_start_keeps_every_block(chain: Chain):
    if not chain.supports(FEATURE_KILL_DURABLE):
        pytest.skip(f"{chain.name} may lose recent blocks to SIGKILL (Bitcoin Core does)")
    chain.generate_block(20)
    tip = chain.rpc.getbestblockhash()
    chain.kill()
    chain.start()
    assert chain.rpc.getblockcount() == 121
    assert chain.rpc.getbestblockhash() == tip


def test_simple_reorg_leaves_pending_transactions_in_the_mempool(chain: Chain):
    chain.generate_block(2)
    pending = chain.faucet(chain.rpc.getnewaddress(), 70_000)
    chain.wait_for_mempool(pending)
    chain.simple_reorg(102)
    assert pending in chain.rpc.getrawmempool()
    [block_hash] = chain.generate_block(1, wait_for_mempool=pending)
    assert pending in chain.rpc.getblock(block_hash)["tx"]


def test_waitforblockheight_long_poll(chain: Chain, executor):
    assert chain.rpc.waitforblockheight(101, 1000)["height"] == 101  # reached: at once
    assert chain.rpc.waitforblockheight(105, 50)["height"] == 101  # times out: current tip
    waiting = executor.submit(chain.rpc.waitforblockheight, 102, 30_000)
    [block_hash] = chain.generate_block(1)
    assert waiting.result(timeout=30) == {"hash": block_hash, "height": 102}


# -- the current Bitcoin Core dialect (issue 12): fields by the release that added them --------
CORE_V30 = 300000
CORE_V31 = 310000


def skip_if_older_core(chain: Chain, version: int, what: str) -> None:
    """Bitcoin Core older than `version` lacks `what`; the embedded chain always has it."""
    if chain.backend.name != "embedded" and chain.backend.version() < version:
        pytest.skip(f"{what} needs Bitcoin Core {version // 10000}+")


def test_getblock_and_getblockheader_report_target_and_coinbase_tx(chain: Chain):
    skip_if_older_core(chain, CORE_V30, "getblock's target and coinbase_tx")
    block_hash = chain.generate_block(1)[0]
    block = chain.rpc.getblock(block_hash)
    header = chain.rpc.getblockheader(block_hash)
    assert block["target"] == header["target"] == "7fffff" + "0" * 58  # regtest's bits 207fffff
    coinbase = chain.rpc.getblock(block_hash, 2)["tx"][0]
    cb = block["coinbase_tx"]
    assert cb["version"] == coinbase["version"] and cb["locktime"] == coinbase["locktime"]
    assert cb["sequence"] == coinbase["vin"][0]["sequence"]
    assert cb["coinbase"] == coinbase["vin"][0]["coinbase"]
    witness = coinbase["vin"][0].get("txinwitness")
    assert cb.get("witness") == (witness[0] if witness else None)
    assert "coinbase_tx" not in header


def test_getmempoolentry_reports_the_chunk_and_no_bip125_flag(chain: Chain):
    skip_if_older_core(chain, CORE_V31, "getmempoolentry's chunkweight")
    key, utxo = key_with_mature_coinbase(chain)
    child_key = P2wpkhKey()
    parent = key.spend([utxo], [(child_key.script_pubkey, utxo.amount_sat - 200)])  # ~1.8 sat/vB
    child = child_key.spend([Utxo(parent.txid, 0, utxo.amount_sat - 200)],
                            [(P2wpkhKey().script_pubkey, utxo.amount_sat - 20_200)])
    lone_key, lone_utxo = key_with_mature_coinbase(chain)
    lone = lone_key.spend([lone_utxo], [(P2wpkhKey().script_pubkey, lone_utxo.amount_sat - 1_000)])
    for tx in (parent, child, lone):
        chain.rpc.sendrawtransaction(tx.hex)
    entries = {tx.txid: chain.rpc.getmempoolentry(tx.txid) for tx in (parent, child, lone)}
    pair_weight = entries[parent.txid]["weight"] + entries[child.txid]["weight"]
    for txid in (parent.txid, child.txid):  # the child pays for its parent: one chunk
        assert entries[txid]["chunkweight"] == pair_weight
        assert entries[txid]["fees"]["chunk"] == Decimal("0.00020200")
    assert entries[lone.txid]["chunkweight"] == entries[lone.txid]["weight"]
    assert entries[lone.txid]["fees"]["chunk"] == Decimal("0.00001000")
    assert all("bip125-replaceable" not in e for e in entries.values())
    verbose = chain.rpc.getrawmempool(True)
    assert verbose[child.txid]["chunkweight"] == pair_weight


def test_getmempoolinfo_reports_cluster_limits_and_policy(chain: Chain):
    skip_if_older_core(chain, CORE_V31, "getmempoolinfo's cluster fields")
    info = chain.rpc.getmempoolinfo()
    assert info["limitclustercount"] == 64
    assert info["limitclustersize"] == 101_000
    assert info["maxdatacarriersize"] == 100_000
    assert info["permitbaremultisig"] is True
    assert info["optimal"] is True
    assert "fullrbf" not in info
