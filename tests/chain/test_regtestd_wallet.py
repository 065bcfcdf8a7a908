"""Wallet RPCs: funding, change, fees, sendmany, history, wallets, errors."""

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
    address = rpc.getnewaddress()
    rpc.generatetoaddress(101, address)
    return rpc, address


def test_fee_follows_fallbackfee_then_estimate(chain):
    rpc, _ = chain
    txid = rpc.sendtoaddress(rpc.getnewaddress(), Decimal("1"))
    entry = rpc.getmempoolentry(txid)
    rate_sat_per_vb = entry["fees"]["base"] * 100_000_000 / entry["vsize"]
    assert Decimal("19.5") <= rate_sat_per_vb <= Decimal("21")  # -fallbackfee=0.0002 BTC/kvB = 20 sat/vB
    rpc.setfeeestimate(Decimal("0.0005"))
    txid = rpc.sendtoaddress(rpc.getnewaddress(), Decimal("1"))
    entry = rpc.getmempoolentry(txid)
    assert Decimal("49.5") <= entry["fees"]["base"] * 100_000_000 / entry["vsize"] <= Decimal("51")
    txid = rpc.sendtoaddress(address := rpc.getnewaddress(), Decimal("1"), "", "", False, True, None, "unset", None, 3)
    entry = rpc.getmempoolentry(txid)
    assert Decimal("2.9") <= entry["fees"]["base"] * 100_000_000 / entry["vsize"] <= Decimal("3.1")
    assert address


def test_fallbackfee_disabled(make_regtestd):
    node = make_regtestd()
    node.stop()
    node.extra_args = ["-fallbackfee=0"]
    node.start()
    rpc = node.rpc()
    # the fixture passes -fallbackfee=0.0002 first; the later -fallbackfee=0 wins like in bitcoind
    rpc.generatetoaddress(101, rpc.getnewaddress())
    err = rejection(rpc.sendtoaddress, rpc.getnewaddress(), 1)
    assert err["code"] == -6 and err["message"].startswith("Fee estimation failed. Fallbackfee is disabled.")


def test_subtract_fee_and_insufficient_funds(chain):
    rpc, _ = chain
    target = rpc.getnewaddress()
    txid = rpc.sendtoaddress(target, Decimal("50"), "", "", True)
    tx = rpc.getrawtransaction(txid, True)
    assert len(tx["vout"]) == 1 and tx["vout"][0]["value"] < Decimal("50")
    err = rejection(rpc.sendtoaddress, target, Decimal("1000"))
    assert err == {"code": -6, "message": "Insufficient funds"}
    err = rejection(rpc.sendtoaddress, "bcrt1qnotanaddress", Decimal("1"))
    assert err["code"] == -5
    err = rejection(rpc.sendtoaddress, target, Decimal("-1"))
    assert err["code"] == -3
    err = rejection(rpc.sendtoaddress, target, Decimal("0.000000001"))
    assert err["code"] == -3


def test_sendmany_and_history(chain):
    rpc, miner = chain
    a, b = rpc.getnewaddress("alice"), rpc.getnewaddress("bob", "bech32m")
    txid = rpc.sendmany("", {a: Decimal("1.25"), b: Decimal("0.75")})
    details = rpc.gettransaction(txid)
    assert details["confirmations"] == 0
    assert details["amount"] == Decimal("0E-8") or details["amount"] == 0  # paid to ourselves
    categories = sorted((d["category"], d["amount"]) for d in details["details"])
    assert ("receive", Decimal("1.25000000")) in categories and ("send", Decimal("-0.75000000")) in categories
    rpc.generatetoaddress(1, miner)
    listed = rpc.listtransactions("*", 100)
    assert any(e["txid"] == txid and e["category"] == "receive" and e.get("label") == "alice" for e in listed)
    assert rpc.listtransactions("*", 2, 0)[-1]["confirmations"] >= 1
    generated = [e for e in rpc.listtransactions("*", 1000) if e.get("generated")]
    assert {e["category"] for e in generated} == {"generate", "immature"}
    assert rejection(rpc.gettransaction, "00" * 32) == {"code": -5, "message": "Invalid or non-wallet transaction id"}


def test_fundrawtransaction_and_signing(chain):
    rpc, miner = chain
    dest = rpc.getnewaddress()
    raw = rpc.createrawtransaction([], {dest: Decimal("2")})
    funded = rpc.fundrawtransaction(raw)
    assert funded["fee"] > 0 and funded["changepos"] in (0, 1)
    decoded = rpc.decoderawtransaction(funded["hex"])
    assert len(decoded["vin"]) == 1 and len(decoded["vout"]) == 2
    signed = rpc.signrawtransactionwithwallet(funded["hex"])
    assert signed["complete"] is True
    txid = rpc.sendrawtransaction(signed["hex"])
    assert rpc.getmempoolentry(txid)["fees"]["base"] == funded["fee"]
    funded_rate = rpc.fundrawtransaction(rpc.createrawtransaction([], {dest: 1}), {"fee_rate": 10})
    vsize = rpc.decoderawtransaction(rpc.signrawtransactionwithwallet(funded_rate["hex"])["hex"])["vsize"]
    assert abs(funded_rate["fee"] * 100_000_000 - 10 * vsize) <= 10
    too_much = rpc.createrawtransaction([], {dest: 100000})
    assert rejection(rpc.fundrawtransaction, too_much) == {"code": -4, "message": "Insufficient funds"}
    foreign = rpc.createrawtransaction([{"txid": "22" * 32, "vout": 1}], {dest: 1})
    result = rpc.signrawtransactionwithwallet(foreign)
    assert result["complete"] is False and result["errors"][0]["txid"] == "22" * 32


def test_change_address_and_balances(chain):
    rpc, _ = chain
    change = rpc.getrawchangeaddress()
    info = rpc.getaddressinfo(change)
    assert info["ismine"] is True and info["ischange"] is True
    taproot_change = rpc.getrawchangeaddress("bech32m")
    assert taproot_change.startswith("bcrt1p")
    wallet = rpc.getwalletinfo()
    assert wallet["balance"] == Decimal("50.00000000") and wallet["immature_balance"] == Decimal("5000.00000000")
    rpc.sendtoaddress(rpc.getnewaddress(), Decimal("10"))
    balances = rpc.getbalances()["mine"]
    assert balances["trusted"] < Decimal("50") and balances["trusted"] > Decimal("49.99")  # own change is trusted
    assert rpc.getbalance("*", 1) == Decimal("0E-8") or rpc.getbalance("*", 1) == 0


def test_incoming_payment_is_untrusted_until_confirmed(make_regtestd):
    node = make_regtestd()
    rpc = node.rpc()
    rpc.createwallet("shop")
    shop = node.rpc(wallet="shop")
    payer = node.rpc(wallet="")
    miner = payer.getnewaddress()
    payer.generatetoaddress(101, miner)
    invoice_address = shop.getnewaddress()
    txid = payer.sendtoaddress(invoice_address, Decimal("0.001"))
    assert shop.getbalances()["mine"]["untrusted_pending"] == Decimal("0.00100000")
    assert shop.getbalance() == 0
    assert shop.listunspent(0)[0]["safe"] is False
    payer.generatetoaddress(1, miner)
    assert shop.getbalance() == Decimal("0.00100000")
    assert shop.gettransaction(txid)["details"][0]["category"] == "receive"
    assert shop.gettransaction(txid)["amount"] == Decimal("0.00100000")


def test_misc_rpcs(chain):
    rpc, miner = chain
    valid = rpc.validateaddress(miner)
    assert valid["isvalid"] is True and valid["iswitness"] is True and valid["witness_version"] == 0
    assert rpc.validateaddress("bc1qinvalid")["isvalid"] is False
    info = rpc.getdescriptorinfo("raw(deadbeef)")
    assert info["descriptor"] == "raw(deadbeef)#89f8spxm" and info["checksum"] == "89f8spxm"
    assert rejection(rpc.getdescriptorinfo, "raw(deadbeef)#00000000")["code"] == -5
    assert "generatetoaddress" in rpc.help()
    assert rpc.help("getblock").startswith("getblock blockhash")
    assert rpc.uptime() >= 0
    assert rejection(rpc.decoderawtransaction, "0011")["code"] == -22


def test_getreceivedbyaddress_scantxoutset_setmocktime(chain):
    rpc, miner = chain
    target = rpc.getnewaddress()
    rpc.sendtoaddress(target, Decimal("0.3"))
    assert rpc.getreceivedbyaddress(target) == 0
    assert rpc.getreceivedbyaddress(target, 0) == Decimal("0.30000000")
    future = rpc.getblockheader(rpc.getbestblockhash())["time"] + 3600  # the kernel refuses > 2 h ahead
    rpc.setmocktime(future)
    block_hash = rpc.generatetoaddress(1, miner)[0]
    assert rpc.getblockheader(block_hash)["time"] == future
    rpc.setmocktime(0)
    assert rpc.getreceivedbyaddress(target) == Decimal("0.30000000")
    scan = rpc.scantxoutset("start", [f"addr({target})"])
    assert scan["success"] is True and scan["total_amount"] == Decimal("0.30000000")
    assert scan["unspents"][0]["height"] == rpc.getblockcount()


@pytest.mark.parametrize("kind", ["bech32", "bech32m"])
def test_signrawtransactionwithkey(chain, kind):
    import os

    from lnharness.node_impl.bitcoin.regtestd.address import b58encode_check, script_to_address
    from lnharness.node_impl.bitcoin.regtestd.keys import WalletKey

    rpc, miner = chain
    secret = os.urandom(32)
    wif = b58encode_check(b"\xef" + secret + b"\x01")
    address = script_to_address(WalletKey(kind, False, 0, secret).script_pubkey)
    txid = rpc.sendtoaddress(address, Decimal("0.2"))
    vout = next(o["n"] for o in rpc.getrawtransaction(txid, True)["vout"]
                if o["scriptPubKey"].get("address") == address)
    raw = rpc.createrawtransaction([{"txid": txid, "vout": vout}], {miner: Decimal("0.1999")})
    unsigned = rpc.signrawtransactionwithkey(raw, [b58encode_check(b"\xef" + os.urandom(32) + b"\x01")])
    assert unsigned["complete"] is False
    signed = rpc.signrawtransactionwithkey(raw, [wif])
    assert signed["complete"] is True
    assert rpc.sendrawtransaction(signed["hex"]) == rpc.decoderawtransaction(raw)["txid"]
    assert rejection(rpc.signrawtransactionwithkey, raw, ["notakey"])["code"] == -5


def test_bumpfee(chain):
    rpc, miner = chain
    target = rpc.getnewaddress()
    txid = rpc.sendtoaddress(target, Decimal("1"))
    old_fee = rpc.getmempoolentry(txid)["fees"]["base"]
    assert rejection(rpc.bumpfee, txid, {"fee_rate": 1})["code"] == -8
    bumped = rpc.bumpfee(txid, {"fee_rate": 50})
    assert bumped["origfee"] == old_fee and bumped["fee"] > old_fee
    assert rpc.getrawmempool() == [bumped["txid"]]
    entry = rpc.getmempoolentry(bumped["txid"])
    assert Decimal("49.5") <= entry["fees"]["base"] * 100_000_000 / entry["vsize"] <= Decimal("51")
    paid = [o for o in rpc.getrawtransaction(bumped["txid"], True)["vout"] if o["value"] == Decimal("1")]
    assert paid and paid[0]["scriptPubKey"]["address"] == target
    rpc.generatetoaddress(1, miner)
    assert rejection(rpc.bumpfee, bumped["txid"])["code"] == -4
