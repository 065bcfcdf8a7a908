"""Reorgs through generateblockfrom, block submission and chain tips."""

from __future__ import annotations

from decimal import Decimal

import pytest
from bitcoinrpc.authproxy import JSONRPCException


@pytest.fixture
def funded(rpc):
    address = rpc.getnewaddress()
    rpc.generatetoaddress(101, address)
    return rpc, address


def test_longer_branch_wins_and_returns_txs_to_mempool(funded):
    rpc, address = funded
    fork_parent = rpc.getbestblockhash()
    txid = rpc.sendtoaddress(rpc.getnewaddress(), Decimal("1"))
    old_tip = rpc.generatetoaddress(1, address)[0]
    assert rpc.getrawmempool() == []
    side1 = rpc.generateblockfrom(fork_parent, address)["hash"]
    assert rpc.getbestblockhash() == old_tip  # equal work: first seen stays
    side2 = rpc.generateblockfrom(side1, address)["hash"]
    assert rpc.getbestblockhash() == side2
    assert rpc.getblockcount() == 103
    assert rpc.getblock(old_tip)["confirmations"] == -1
    assert txid in rpc.getrawmempool()
    assert rpc.gettransaction(txid)["confirmations"] == 0
    tips = {t["hash"]: t for t in rpc.getchaintips()}
    assert tips[side2]["status"] == "active"
    assert tips[old_tip]["status"] == "valid-fork" and tips[old_tip]["branchlen"] == 1
    mined = rpc.generatetoaddress(1, address)[0]
    assert txid in rpc.getblock(mined)["tx"]


def test_branch_with_double_spend_evicts_the_conflict(funded):
    rpc, address = funded
    fork_parent = rpc.getbestblockhash()
    coin = rpc.listunspent()[0]
    outpoint = [{"txid": coin["txid"], "vout": coin["vout"]}]
    pay_a = rpc.signrawtransactionwithwallet(
        rpc.createrawtransaction(outpoint, {rpc.getnewaddress(): Decimal("49.999")}))["hex"]
    pay_b = rpc.signrawtransactionwithwallet(
        rpc.createrawtransaction(outpoint, {rpc.getnewaddress(): Decimal("49.998")}))["hex"]
    txid_a = rpc.sendrawtransaction(pay_a)
    rpc.generatetoaddress(1, address)
    side1 = rpc.generateblockfrom(fork_parent, address, [pay_b])["hash"]
    side2 = rpc.generateblockfrom(side1, address)["hash"]
    assert rpc.getbestblockhash() == side2
    txid_b = rpc.decoderawtransaction(pay_b)["txid"]
    assert rpc.getrawtransaction(txid_b, True)["blockhash"] == side1
    assert txid_a not in rpc.getrawmempool()
    with pytest.raises(JSONRPCException) as info:
        rpc.getrawtransaction(txid_a)
    assert info.value.error["code"] == -5


def test_submitblock_duplicate_and_invalid(funded):
    rpc, address = funded
    template = rpc.generateblock(address, [], False)
    assert rpc.submitblock(template["hex"]) is None
    assert rpc.getbestblockhash() == template["hash"]
    assert rpc.submitblock(template["hex"]) == "duplicate"
    bad = rpc.generateblock(address, [], False)["hex"]
    # the coinbase value sits after header, tx count, coinbase version/marker/inputs: flip a byte of the
    # first output value, which breaks the merkle root
    tampered = bytearray(bytes.fromhex(bad))
    index = tampered.find(bytes.fromhex("ffffffff"), 80 + 1 + 4 + 2 + 1 + 32 + 4) + 4 + 1 + 1
    tampered[index] ^= 0x01
    result = rpc.submitblock(tampered.hex())
    assert result == "bad-txnmrklroot"
    assert rpc.getblockcount() == 102
    with pytest.raises(JSONRPCException) as info:
        rpc.submitblock("00")
    assert info.value.error == {"code": -22, "message": "Block decode failed"}


def test_generateblock_with_raw_tx_and_txid(funded):
    rpc, address = funded
    txid = rpc.sendtoaddress(rpc.getnewaddress(), Decimal("0.5"))
    block_hash = rpc.generateblock(address, [txid])["hash"]
    assert rpc.getblock(block_hash)["tx"][1] == txid
    assert rpc.getrawmempool() == []


def test_deep_reorg_returns_parent_and_child_from_different_blocks(funded):
    rpc, address = funded
    fork_parent = rpc.getbestblockhash()
    parent = rpc.sendtoaddress(rpc.getnewaddress(), Decimal("10"))
    rpc.generatetoaddress(1, address)
    child_address = rpc.getnewaddress()
    vout = next(o["n"] for o in rpc.getrawtransaction(parent, True)["vout"] if o["value"] == Decimal("10"))
    raw = rpc.createrawtransaction([{"txid": parent, "vout": vout}], {child_address: Decimal("9.999")})
    child = rpc.sendrawtransaction(rpc.signrawtransactionwithwallet(raw)["hex"])
    rpc.generatetoaddress(1, address)
    tip = fork_parent
    for _ in range(3):
        tip = rpc.generateblockfrom(tip, address)["hash"]
    assert rpc.getbestblockhash() == tip
    assert set(rpc.getrawmempool()) == {parent, child}
    assert rpc.getmempoolentry(child)["depends"] == [parent]
