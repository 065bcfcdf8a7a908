"""CSV and CLTV scripts (as Lightning uses them) checked by the kernel, with BIP68/locktime policy."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest
from bitcoinrpc.authproxy import JSONRPCException
from lnharness.node_impl.bitcoin.regtestd.address import address_to_script, encode_segwit
from lnharness.node_impl.bitcoin.regtestd.primitives import Tx, TxIn, TxOut
from lnharness.node_impl.bitcoin.regtestd.script import push_int


def rejection(fn, *args):
    with pytest.raises(JSONRPCException) as info:
        fn(*args)
    return info.value.error


def fund_script(rpc, witness_script: bytes, amount: Decimal) -> tuple[bytes, int]:
    address = encode_segwit(0, hashlib.sha256(witness_script).digest())
    txid = rpc.sendtoaddress(address, amount)
    vout = next(o["n"] for o in rpc.getrawtransaction(txid, True)["vout"]
                if o["scriptPubKey"].get("address") == address)
    return bytes.fromhex(txid)[::-1], vout


def spend_script(outpoint, witness_script, value_sat, to_address, *, sequence, locktime=0) -> str:
    tx = Tx(version=2, vin=[TxIn(outpoint[0], outpoint[1], b"", sequence, [witness_script])],
            vout=[TxOut(value_sat, address_to_script(to_address))], locktime=locktime)
    return tx.serialize().hex()


@pytest.fixture
def chain(rpc):
    address = rpc.getnewaddress()
    rpc.generatetoaddress(101, address)
    return rpc, address


def test_csv_relative_lock(chain):
    rpc, miner = chain
    script = push_int(5) + b"\xb2\x75\x51"  # 5 OP_CHECKSEQUENCEVERIFY OP_DROP OP_1
    outpoint = fund_script(rpc, script, Decimal("0.01"))
    rpc.generatetoaddress(1, miner)
    spend = spend_script(outpoint, script, 999_000, miner, sequence=5)
    assert rejection(rpc.sendrawtransaction, spend) == {"code": -26, "message": "non-BIP68-final"}
    too_short = spend_script(outpoint, script, 999_000, miner, sequence=4)
    rpc.generatetoaddress(4, miner)
    err = rejection(rpc.sendrawtransaction, too_short)
    assert err["code"] == -26 and err["message"].startswith("mempool-script-verify-flag-failed")
    txid = rpc.sendrawtransaction(spend)
    assert rpc.getblock(rpc.generatetoaddress(1, miner)[0])["tx"][1] == txid


def test_cltv_absolute_lock(chain):
    rpc, miner = chain
    height = rpc.getblockcount()
    lock = height + 3
    script = push_int(lock) + b"\xb1\x75\x51"  # lock OP_CHECKLOCKTIMEVERIFY OP_DROP OP_1
    outpoint = fund_script(rpc, script, Decimal("0.01"))
    rpc.generatetoaddress(1, miner)
    spend = spend_script(outpoint, script, 999_000, miner, sequence=0xFFFFFFFE, locktime=lock)
    assert rejection(rpc.sendrawtransaction, spend) == {"code": -26, "message": "non-final"}
    early = spend_script(outpoint, script, 999_000, miner, sequence=0xFFFFFFFE, locktime=lock - 1)
    rpc.generatetoaddress(2, miner)
    err = rejection(rpc.sendrawtransaction, early)  # final, but the script wants a later locktime
    assert err["code"] == -26 and err["message"].startswith("mempool-script-verify-flag-failed")
    txid = rpc.sendrawtransaction(spend)
    assert txid in rpc.getblock(rpc.generatetoaddress(1, miner)[0])["tx"]


def test_op_return_and_p2wsh_outputs(chain):
    rpc, miner = chain
    raw = rpc.createrawtransaction([], {"data": "6c6e686172", miner: Decimal("1")})
    signed = rpc.signrawtransactionwithwallet(rpc.fundrawtransaction(raw)["hex"])["hex"]
    txid = rpc.sendrawtransaction(signed)
    decoded = rpc.getrawtransaction(txid, True)
    data_out = next(o for o in decoded["vout"] if o["scriptPubKey"]["type"] == "nulldata")
    assert data_out["scriptPubKey"]["asm"] == "OP_RETURN 6c6e686172"
    rpc.generatetoaddress(1, miner)
    assert rpc.gettxout(txid, data_out["n"]) is None  # unspendable: never in the UTXO set
    paid = next(o["n"] for o in decoded["vout"] if o["scriptPubKey"].get("address") == miner)
    assert rpc.gettxout(txid, paid)["value"] == Decimal("1.00000000")
