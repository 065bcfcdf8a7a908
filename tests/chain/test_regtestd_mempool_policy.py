"""Mempool acceptance with bitcoind's rules and reject reasons; block template ordering."""

from __future__ import annotations

from decimal import Decimal

import pytest
from bitcoinrpc.authproxy import JSONRPCException


def rejection(fn, *args):
    with pytest.raises(JSONRPCException) as info:
        fn(*args)
    return info.value.error


@pytest.fixture
def chain(rpc):
    """A wallet with mature coins: (rpc, miner address)."""
    address = rpc.getnewaddress()
    rpc.generatetoaddress(110, address)
    return rpc, address


def spend(rpc, coin, outputs, locktime=0, sequence=None, prevtxs=None):
    inp = {"txid": coin["txid"], "vout": coin["vout"]}
    if sequence is not None:
        inp["sequence"] = sequence
    raw = rpc.createrawtransaction([inp], outputs, locktime)
    signed = rpc.signrawtransactionwithwallet(raw, prevtxs or [])
    assert signed["complete"], signed
    return signed["hex"]


def mature_coin(rpc):
    return sorted(rpc.listunspent(), key=lambda c: -c["confirmations"])[0]


def test_min_relay_fee_and_dust(chain):
    rpc, _ = chain
    coin = mature_coin(rpc)
    zero_fee = spend(rpc, coin, {rpc.getnewaddress(): coin["amount"]})
    err = rejection(rpc.sendrawtransaction, zero_fee)
    assert err["code"] == -26 and err["message"].startswith("min relay fee not met, 0 < ")
    dust = spend(rpc, coin, {rpc.getnewaddress(): Decimal("0.00000100"),
                             rpc.getnewaddress(): coin["amount"] - Decimal("0.001")})
    assert rejection(rpc.sendrawtransaction, dust) == {"code": -26, "message": "dust"}
    result = rpc.testmempoolaccept([dust])[0]
    assert result["allowed"] is False and result["reject-reason"] == "dust"


def test_coinbase_maturity(rpc):
    address = rpc.getnewaddress()
    first = rpc.generatetoaddress(1, address)[0]
    rpc.generatetoaddress(98, address)
    coinbase = rpc.getblock(first)["tx"][0]
    raw = spend(rpc, {"txid": coinbase, "vout": 0}, {address: Decimal("49.999")})
    err = rejection(rpc.sendrawtransaction, raw)
    assert err == {"code": -26, "message": "bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth 99"}
    rpc.generatetoaddress(1, address)
    assert rpc.sendrawtransaction(raw) == rpc.decoderawtransaction(raw)["txid"]


def test_locktime_and_bip68(chain):
    rpc, address = chain
    height = rpc.getblockcount()
    coin = mature_coin(rpc)
    future = spend(rpc, coin, {address: Decimal("49.999")}, locktime=height + 5, sequence=0xFFFFFFFD)
    assert rejection(rpc.sendrawtransaction, future) == {"code": -26, "message": "non-final"}
    assert rpc.lockunspent(False, [{"txid": coin["txid"], "vout": coin["vout"]}]) is True
    # a coin confirmed once, spent with a relative lock of 5 blocks
    fresh_txid = rpc.sendtoaddress(rpc.getnewaddress(), Decimal("1"))
    rpc.generatetoaddress(1, address)
    vout = next(o["n"] for o in rpc.getrawtransaction(fresh_txid, True)["vout"] if o["value"] == Decimal("1"))
    relative = spend(rpc, {"txid": fresh_txid, "vout": vout}, {address: Decimal("0.999")}, sequence=5)
    assert rejection(rpc.sendrawtransaction, relative) == {"code": -26, "message": "non-BIP68-final"}
    rpc.generatetoaddress(3, address)
    assert rejection(rpc.sendrawtransaction, relative)["message"] == "non-BIP68-final"
    rpc.generatetoaddress(1, address)
    assert rpc.sendrawtransaction(relative)
    assert rpc.getblockcount() == height + 5
    assert rpc.sendrawtransaction(future) == rpc.decoderawtransaction(future)["txid"]


def test_bad_signature_is_rejected(chain):
    rpc, address = chain
    coin = mature_coin(rpc)
    raw = bytearray(bytes.fromhex(spend(rpc, coin, {address: Decimal("49.999")})))
    # the witness signature starts after the outputs; flip a byte near the end of the signature
    raw[-45] ^= 0x01
    err = rejection(rpc.sendrawtransaction, raw.hex())
    assert err["code"] == -26 and err["message"].startswith("mempool-script-verify-flag-failed")


def test_taproot_key_path_spend_and_tamper(chain):
    rpc, address = chain
    taproot = rpc.getnewaddress("", "bech32m")
    txid = rpc.sendtoaddress(taproot, Decimal("2"))
    rpc.generatetoaddress(1, address)
    coin = next(c for c in rpc.listunspent(1, 99, [taproot]))
    good = spend(rpc, coin, {address: Decimal("1.9999")})
    witness = rpc.decoderawtransaction(good)["vin"][0]["txinwitness"]
    assert len(witness) == 1 and len(witness[0]) == 128  # 64-byte BIP340 signature, SIGHASH_DEFAULT
    tampered = good.replace(witness[0], witness[0][:-2] + ("00" if witness[0][-2:] != "00" else "01"))
    assert rejection(rpc.sendrawtransaction, tampered)["message"].startswith("mempool-script-verify-flag-failed")
    assert rpc.sendrawtransaction(good)
    assert txid


def test_replace_by_fee(chain):
    rpc, address = chain
    coin = mature_coin(rpc)
    total = coin["amount"]
    original = spend(rpc, coin, {rpc.getnewaddress(): total - Decimal("0.0001")})
    original_txid = rpc.sendrawtransaction(original)
    cheaper = spend(rpc, coin, {rpc.getnewaddress(): total - Decimal("0.00005")})
    err = rejection(rpc.sendrawtransaction, cheaper)
    assert err["code"] == -26 and err["message"].startswith("insufficient fee, rejecting replacement")
    barely = spend(rpc, coin, {rpc.getnewaddress(): total - Decimal("0.000101")})
    err = rejection(rpc.sendrawtransaction, barely)
    assert "not enough additional fees to relay" in err["message"]
    better = spend(rpc, coin, {rpc.getnewaddress(): total - Decimal("0.0005")})
    better_txid = rpc.sendrawtransaction(better)
    assert rpc.getrawmempool() == [better_txid]
    assert original_txid not in rpc.getrawmempool()


def test_double_spend_of_confirmed_output(chain):
    rpc, address = chain
    coin = mature_coin(rpc)
    first = spend(rpc, coin, {address: coin["amount"] - Decimal("0.001")})
    rpc.sendrawtransaction(first)
    rpc.generatetoaddress(1, address)
    second = spend(rpc, coin, {address: coin["amount"] - Decimal("0.002")})
    assert rejection(rpc.sendrawtransaction, second) == {"code": -25, "message": "bad-txns-inputs-missingorspent"}
    result = rpc.testmempoolaccept([second])[0]
    assert result["allowed"] is False and result["reject-reason"] == "missing-inputs"


def test_unconfirmed_chain_and_ancestor_feerate_mining(chain):
    rpc, address = chain
    coin = mature_coin(rpc)
    parent_addr = rpc.getnewaddress()
    parent = spend(rpc, coin, {parent_addr: coin["amount"] - Decimal("0.00000200")})  # 1 sat/vB-ish
    parent_txid = rpc.sendrawtransaction(parent)
    child = spend(rpc, {"txid": parent_txid, "vout": 0}, {address: coin["amount"] - Decimal("0.01")})
    child_txid = rpc.sendrawtransaction(child)
    grandchild_coin = {"txid": child_txid, "vout": 0}
    grandchild = spend(rpc, grandchild_coin, {rpc.getnewaddress(): coin["amount"] - Decimal("0.0101")})
    grandchild_txid = rpc.sendrawtransaction(grandchild)
    entry = rpc.getmempoolentry(grandchild_txid)
    assert entry["ancestorcount"] == 3 and entry["depends"] == [child_txid]
    assert rpc.getmempoolentry(parent_txid)["descendantcount"] == 3
    assert rpc.getmempoolancestors(grandchild_txid) and set(rpc.getmempoolancestors(grandchild_txid)) == {parent_txid, child_txid}
    # an unrelated transaction paying more than the parent alone but less than the package
    other = mature_coin(rpc)
    other_tx = rpc.sendrawtransaction(spend(rpc, other, {address: other["amount"] - Decimal("0.00005")}))
    block = rpc.getblock(rpc.generatetoaddress(1, address)[0])
    assert block["tx"][1:4] == [parent_txid, child_txid, grandchild_txid]
    assert block["tx"][4] == other_tx
    assert rpc.getrawmempool() == []
    # outputs created and spent inside the same block are not in the UTXO set
    assert rpc.gettxout(parent_txid, 0) is None and rpc.gettxout(child_txid, 0) is None
    assert rpc.gettxout(grandchild_txid, 0) is not None
    info = rpc.gettxoutsetinfo()
    assert int(info["total_amount"] * 100_000_000) == sum(
        (50 * 100_000_000) >> (h // 150) for h in range(1, info["height"] + 1))


def test_testmempoolaccept_and_submitpackage(chain):
    rpc, address = chain
    coin = mature_coin(rpc)
    parent = spend(rpc, coin, {rpc.getnewaddress(): coin["amount"]})  # zero fee
    decoded = rpc.decoderawtransaction(parent)
    parent_txid = decoded["txid"]
    prevtx = {"txid": parent_txid, "vout": 0, "scriptPubKey": decoded["vout"][0]["scriptPubKey"]["hex"],
              "amount": decoded["vout"][0]["value"]}
    child = spend(rpc, {"txid": parent_txid, "vout": 0}, {address: coin["amount"] - Decimal("0.001")},
                  prevtxs=[prevtx])
    single = rpc.testmempoolaccept([parent])[0]
    assert single["allowed"] is False and single["reject-reason"] == "min relay fee not met"
    result = rpc.submitpackage([parent, child])
    assert result["package_msg"] == "success"
    assert set(rpc.getrawmempool()) == {parent_txid, rpc.decoderawtransaction(child)["txid"]}
    good = mature_coin(rpc)
    ok = rpc.testmempoolaccept([spend(rpc, good, {address: good["amount"] - Decimal("0.0001")})])[0]
    assert ok["allowed"] is True and ok["fees"]["base"] == Decimal("0.00010000")
    assert ok["vsize"] > 0


def test_maxfeerate(chain):
    rpc, address = chain
    coin = mature_coin(rpc)
    expensive = spend(rpc, coin, {address: Decimal("1")})
    err = rejection(rpc.sendrawtransaction, expensive)
    assert err["code"] == -25 and "Fee exceeds maximum" in err["message"]
    assert rpc.sendrawtransaction(expensive, 0)


def test_conflict_without_full_rbf(make_regtestd):
    node = make_regtestd("-mempoolfullrbf=0")
    rpc = node.rpc()
    address = rpc.getnewaddress()
    rpc.generatetoaddress(101, address)
    coin = mature_coin(rpc)
    final = spend(rpc, coin, {address: coin["amount"] - Decimal("0.0001")}, sequence=0xFFFFFFFE)
    rpc.sendrawtransaction(final)
    replacement = spend(rpc, coin, {address: coin["amount"] - Decimal("0.001")})
    assert rejection(rpc.sendrawtransaction, replacement) == {"code": -26, "message": "txn-mempool-conflict"}
    assert rpc.getmempoolinfo()["fullrbf"] is False
