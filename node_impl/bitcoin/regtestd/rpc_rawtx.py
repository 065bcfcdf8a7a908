"""Raw transaction and mempool RPCs."""

from __future__ import annotations

import math
from typing import Any

from .address import AddressError, address_to_script
from .amounts import btc_to_sat, sat_to_btc
from .dialect import (
    DEFAULT_MAX_FEERATE_SAT_PER_KVB,
    MAX_DATACARRIER_BYTES,
    MAX_FEERATE_ARG_SAT_PER_KVB,
    MAX_MEMPOOL_BYTES,
    PERMIT_BARE_MULTISIG,
)
from .mempool import MempoolEntry
from .policy import TxRejected, signals_rbf
from .primitives import Block, Tx, TxIn, TxOut
from .rpc_args import as_bool, as_dict, as_hash, as_hex, as_int, as_list, as_str, decode_tx
from .rpc_errors import (
    RPC_DESERIALIZATION_ERROR,
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER,
    RPC_TYPE_ERROR,
    RPC_VERIFY_ALREADY_IN_CHAIN,
    RPC_VERIFY_ERROR,
    RPC_VERIFY_REJECTED,
    RpcError,
)
from .rpc_json import tx_to_json
from .rpc_registry import RequestContext, rpc
from .script import push_data

MAX_PACKAGE_COUNT = 25


# -- reading --------------------------------------------------------------------------
@rpc("Rawtransactions")
def getrawtransaction(ctx: RequestContext, txid: Any, verbose: Any = 0, blockhash: Any = None) -> Any:
    node = ctx.node
    tx_hash = as_hash(txid, "parameter 1")
    if isinstance(verbose, bool):
        verbosity = int(verbose)
    else:
        verbosity = as_int(verbose, "verbose")
    tx: Tx | None = None
    in_block: bytes | None = None
    if blockhash is not None:
        block_hash = as_hash(blockhash, "parameter 3")
        raw_block = node.block_bytes(block_hash) if node.block_height(block_hash) is not None else None
        if raw_block is None:
            raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block hash not found")
        for candidate in Block.from_bytes(raw_block).txs:
            if candidate.txid == tx_hash:
                tx = candidate
                in_block = block_hash
                break
        if tx is None:
            raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "No such transaction found in the provided block. Use gettransaction for wallet transactions.")
    else:
        entry = node.mempool.get(tx_hash)
        if entry is not None:
            tx = entry.tx
        else:
            found = node.index.get_tx(tx_hash)
            if found is not None:
                tx = Tx.from_bytes(found[0])
                in_block = found[1]
    if tx is None:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.")
    if verbosity <= 0:
        return tx.serialize().hex()
    spent = None
    meta = None
    if verbosity >= 2 and not tx.is_coinbase():
        spent = [node.find_output_any(i.prev_txid, i.prev_vout) for i in tx.vin]
        meta = [node.output_origin(i.prev_txid, i.prev_vout) for i in tx.vin]
    result = tx_to_json(tx, spent, prevout_meta=meta)
    if in_block is not None:
        result["blockhash"] = in_block[::-1].hex()
        height = node.index.height_of(in_block)
        if height is not None:
            from .primitives import BlockHeader

            block_time = BlockHeader.from_bytes(node.header_bytes(in_block)).time
            result["confirmations"] = node.tip_height() - height + 1
            result["time"] = block_time
            result["blocktime"] = block_time
        else:
            result["confirmations"] = 0
        if blockhash is not None:
            result["in_active_chain"] = height is not None
    return result


@rpc("Rawtransactions")
def decoderawtransaction(ctx: RequestContext, hexstring: Any, iswitness: Any = None) -> dict:
    text = as_str(hexstring, "hexstring")
    try:
        tx = Tx.from_hex(text)
    except ValueError:
        raise RpcError(RPC_DESERIALIZATION_ERROR, "TX decode failed") from None
    return tx_to_json(tx, include_hex=False)


@rpc("Rawtransactions")
def decodescript(ctx: RequestContext, hexstring: Any) -> dict:
    from .script import script_pubkey_json

    script = as_hex(hexstring, "hexstring")
    out = script_pubkey_json(script)
    out.pop("hex", None)
    return out


@rpc("Blockchain")
def gettxout(ctx: RequestContext, txid: Any, n: Any, include_mempool: Any = True) -> Any:
    node = ctx.node
    tx_hash = as_hash(txid, "txid")
    vout = as_int(n, "n")
    with_mempool = as_bool(include_mempool, "include_mempool")
    from .script import script_pubkey_json

    best = node.tip_hash()[::-1].hex()
    if with_mempool:
        if node.mempool.spender_of(tx_hash, vout) is not None:
            return None
        out = node.mempool.output(tx_hash, vout)
        if out is not None:
            return {"bestblock": best, "confirmations": 0, "value": sat_to_btc(out.value_sat),
                    "scriptPubKey": script_pubkey_json(out.script_pubkey), "coinbase": False}
    coin = node.index.get_coin(tx_hash, vout)
    if coin is None:
        return None
    return {
        "bestblock": best,
        "confirmations": node.tip_height() - coin.height + 1,
        "value": sat_to_btc(coin.value_sat),
        "scriptPubKey": script_pubkey_json(coin.script_pubkey),
        "coinbase": coin.coinbase,
    }


# -- building --------------------------------------------------------------------------
def parse_outputs(outputs: Any) -> list[TxOut]:
    """createrawtransaction's outputs: {address: amount, "data": hex} or a list of such objects."""
    if isinstance(outputs, dict):
        items = list(outputs.items())
    elif isinstance(outputs, list):
        items = []
        for obj in outputs:
            items.extend(as_dict(obj, "outputs").items())
    else:
        raise RpcError(-3, "JSON value of type " + type(outputs).__name__ + " is not of expected type object")
    result = []
    seen = set()
    for key, value in items:
        if key == "data":
            data = as_hex(value, "Data")
            result.append(TxOut(0, b"\x6a" + push_data(data)))
            continue
        try:
            spk = address_to_script(key)
        except AddressError:
            raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, f"Invalid Bitcoin address: {key}") from None
        if key in seen:
            raise RpcError(RPC_INVALID_PARAMETER, f"Invalid parameter, duplicated address: {key}")
        seen.add(key)
        result.append(TxOut(btc_to_sat(value), spk))
    return result


def build_raw_transaction(inputs: Any, outputs: Any, locktime: Any = 0, replaceable: Any = True) -> Tx:
    lock = as_int(locktime, "locktime")
    if lock < 0 or lock > 0xFFFFFFFF:
        raise RpcError(RPC_INVALID_PARAMETER, "Invalid parameter, locktime out of range")
    rbf = as_bool(replaceable, "replaceable")
    tx = Tx(version=2, vin=[], vout=parse_outputs(outputs), locktime=lock)
    for item in as_list(inputs, "inputs"):
        obj = as_dict(item, "inputs")
        prev = as_hash(obj.get("txid"), "txid")
        if "vout" not in obj:
            raise RpcError(RPC_INVALID_PARAMETER, "Invalid parameter, missing vout key")
        vout = as_int(obj["vout"], "vout")
        if vout < 0:
            raise RpcError(RPC_INVALID_PARAMETER, "Invalid parameter, vout cannot be negative")
        if rbf:
            sequence = 0xFFFFFFFD
        else:
            sequence = 0xFFFFFFFE if lock else 0xFFFFFFFF
        if "sequence" in obj:
            sequence = as_int(obj["sequence"], "sequence")
            if not 0 <= sequence <= 0xFFFFFFFF:
                raise RpcError(RPC_INVALID_PARAMETER, "Invalid parameter, sequence number is out of range")
        tx.vin.append(TxIn(prev, vout, b"", sequence))
    return tx


@rpc("Rawtransactions")
def createrawtransaction(ctx: RequestContext, inputs: Any, outputs: Any, locktime: Any = 0, replaceable: Any = True) -> str:
    return build_raw_transaction(inputs, outputs, locktime, replaceable).serialize().hex()


# -- mempool acceptance -------------------------------------------------------------------
def _max_feerate(value: Any) -> int:
    """The maxfeerate argument in sat/kvB (0: no limit), refused from 1 BTC/kvB up like Core."""
    if value is None:
        return DEFAULT_MAX_FEERATE_SAT_PER_KVB
    rate = btc_to_sat(value)
    if rate >= MAX_FEERATE_ARG_SAT_PER_KVB:
        raise RpcError(RPC_INVALID_PARAMETER, "Fee rates larger than or equal to 1BTC/kvB are not accepted")
    return rate


@rpc("Rawtransactions")
def sendrawtransaction(ctx: RequestContext, hexstring: Any, maxfeerate: Any = None, maxburnamount: Any = None) -> str:
    node = ctx.node
    tx = decode_tx(hexstring)
    max_rate = _max_feerate(maxfeerate)
    max_burn = btc_to_sat(maxburnamount) if maxburnamount is not None else 0
    for out in tx.vout:
        if out.script_pubkey[:1] == b"\x6a" and out.value_sat > max_burn:
            raise RpcError(RPC_VERIFY_ERROR, "Unspendable output exceeds maximum configured by user (maxburnamount)")
    existing = node.mempool.get(tx.txid)
    if existing is not None and existing.tx.wtxid == tx.wtxid:
        return tx.txid_hex
    if node.index.has_unspent_outputs(tx.txid):
        raise RpcError(RPC_VERIFY_ALREADY_IN_CHAIN, "Transaction outputs already in utxo set")
    try:
        fee, spent, conflicts, _, _ = node.mempool.check(tx)
    except TxRejected as exc:
        if exc.missing_inputs:
            raise RpcError(RPC_VERIFY_ERROR, str(exc)) from None
        if exc.already_known:
            raise RpcError(RPC_VERIFY_ALREADY_IN_CHAIN, "Transaction outputs already in utxo set") from None
        raise RpcError(RPC_VERIFY_REJECTED, str(exc)) from None
    if max_rate and fee > math.ceil(max_rate * tx.vsize / 1000):
        raise RpcError(RPC_VERIFY_ERROR, "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)")
    node.mempool.add(tx, fee, spent, conflicts)
    node.tip_changed.notify_all()
    return tx.txid_hex


def _fees_json(fee: int, vsize: int, wtxids: list[str]) -> dict:
    return {
        "base": sat_to_btc(fee),
        "effective-feerate": sat_to_btc(fee * 1000 // vsize),
        "effective-includes": wtxids,
    }


@rpc("Rawtransactions")
def testmempoolaccept(ctx: RequestContext, rawtxs: Any, maxfeerate: Any = None) -> list:
    node = ctx.node
    raws = as_list(rawtxs, "rawtxs")
    if not 1 <= len(raws) <= MAX_PACKAGE_COUNT:
        raise RpcError(RPC_INVALID_PARAMETER, "Array must contain between 1 and 25 transactions.")
    txs = [decode_tx(r, "rawtxs") for r in raws]
    max_rate = _max_feerate(maxfeerate)
    results = []
    package: dict[bytes, Tx] = {}
    failed = False
    for tx in txs:
        item: dict[str, Any] = {"txid": tx.txid_hex, "wtxid": tx.wtxid_hex}
        if failed:
            item["package-error"] = "package-not-validated"
            results.append(item)
            continue
        try:
            fee, _, _, _, _ = node.mempool.check(tx, extra_parents=package or None)
            if max_rate and fee > math.ceil(max_rate * tx.vsize / 1000):
                item["allowed"] = False
                item["reject-reason"] = "max-fee-exceeded"
                failed = len(txs) > 1
            else:
                item["allowed"] = True
                item["vsize"] = tx.vsize
                item["fees"] = _fees_json(fee, tx.vsize, [tx.wtxid_hex])
                package[tx.txid] = tx
        except TxRejected as exc:
            item["allowed"] = False
            # bitcoind reports missing inputs here as "missing-inputs", not the mempool reason
            item["reject-reason"] = "missing-inputs" if exc.missing_inputs else exc.reason
            item["reject-details"] = "missing-inputs" if exc.missing_inputs else str(exc)
            failed = len(txs) > 1
        results.append(item)
    return results


@rpc("Rawtransactions")
def submitpackage(ctx: RequestContext, package: Any, maxfeerate: Any = None, maxburnamount: Any = None) -> dict:
    """Accept a package (child with its unconfirmed parents), judged by the package fee rate."""
    node = ctx.node
    raws = as_list(package, "package")
    if not 1 <= len(raws) <= MAX_PACKAGE_COUNT:
        raise RpcError(RPC_INVALID_PARAMETER, "Array must contain between 1 and 25 transactions.")
    txs = [decode_tx(r, "package") for r in raws]
    mempool = node.mempool
    results: dict[str, Any] = {}
    checked: list[tuple[Tx, int, list, set]] = []
    pending: dict[bytes, Tx] = {}
    for tx in txs:
        existing = mempool.get(tx.txid)
        if existing is not None:
            results[tx.wtxid_hex] = {"txid": tx.txid_hex, "vsize": existing.vsize,
                                     "fees": {"base": sat_to_btc(existing.fee_sat)}}
            continue
        try:
            fee, spent, conflicts, _, _ = mempool.check(tx, extra_parents=pending, check_fee=False)
        except TxRejected as exc:
            results[tx.wtxid_hex] = {"txid": tx.txid_hex, "error": str(exc)}
            return {"package_msg": "transaction failed", "tx-results": results, "replaced-transactions": []}
        checked.append((tx, fee, spent, conflicts))
        pending[tx.txid] = tx
    total_fee = sum(c[1] for c in checked)
    total_vsize = sum(c[0].vsize for c in checked)
    min_fee = math.ceil(mempool.min_relay_fee_sat_per_kvb * total_vsize / 1000)
    if checked and total_fee < min_fee:
        for tx, _, _, _ in checked:
            results[tx.wtxid_hex] = {"txid": tx.txid_hex, "error": f"min relay fee not met, {total_fee} < {min_fee}"}
        return {"package_msg": "transaction failed", "tx-results": results, "replaced-transactions": []}
    replaced: list[str] = []
    wtxids = [c[0].wtxid_hex for c in checked]
    for tx, fee, spent, conflicts in checked:
        replaced.extend(c[::-1].hex() for c in conflicts)
        # spent outputs may come from a parent added just before
        mempool.add(tx, fee, spent, conflicts)
        results[tx.wtxid_hex] = {
            "txid": tx.txid_hex,
            "vsize": tx.vsize,
            "fees": {
                "base": sat_to_btc(fee),
                "effective-feerate": sat_to_btc(total_fee * 1000 // max(total_vsize, 1)),
                "effective-includes": wtxids,
            },
        }
    node.tip_changed.notify_all()
    return {"package_msg": "success", "tx-results": results, "replaced-transactions": replaced}


# -- mempool views ----------------------------------------------------------------------------
def mempool_entry_json(ctx: RequestContext, entry: MempoolEntry) -> dict:
    mempool = ctx.node.mempool
    txid = entry.txid
    ancestors = mempool.ancestors(txid)
    descendants = mempool.descendants(txid)
    anc_entries = [mempool.entries[a] for a in ancestors]
    desc_entries = [mempool.entries[d] for d in descendants]
    replaceable = signals_rbf(entry.tx) or any(signals_rbf(e.tx) for e in anc_entries)
    return {
        "vsize": entry.vsize,
        "weight": entry.weight,
        "time": entry.time,
        "height": entry.height,
        "descendantcount": len(descendants) + 1,
        "descendantsize": entry.vsize + sum(e.vsize for e in desc_entries),
        "ancestorcount": len(ancestors) + 1,
        "ancestorsize": entry.vsize + sum(e.vsize for e in anc_entries),
        "wtxid": entry.tx.wtxid_hex,
        "fees": {
            "base": sat_to_btc(entry.fee_sat),
            "modified": sat_to_btc(entry.fee_sat),
            "ancestor": sat_to_btc(entry.fee_sat + sum(e.fee_sat for e in anc_entries)),
            "descendant": sat_to_btc(entry.fee_sat + sum(e.fee_sat for e in desc_entries)),
        },
        "depends": [p[::-1].hex() for p in entry.parents],
        "spentby": [c[::-1].hex() for c in entry.children],
        "bip125-replaceable": replaceable,
        "unbroadcast": False,
    }


@rpc("Blockchain")
def getrawmempool(ctx: RequestContext, verbose: Any = False, mempool_sequence: Any = False) -> Any:
    mempool = ctx.node.mempool
    if as_bool(verbose, "verbose"):
        return {txid[::-1].hex(): mempool_entry_json(ctx, e) for txid, e in mempool.entries.items()}
    txids = [txid[::-1].hex() for txid in mempool.entries]
    if as_bool(mempool_sequence, "mempool_sequence"):
        return {"txids": txids, "mempool_sequence": mempool.sequence}
    return txids


def _entry_or_error(ctx: RequestContext, txid: Any) -> MempoolEntry:
    entry = ctx.node.mempool.get(as_hash(txid, "parameter 1"))
    if entry is None:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Transaction not in mempool")
    return entry


@rpc("Blockchain")
def getmempoolentry(ctx: RequestContext, txid: Any) -> dict:
    return mempool_entry_json(ctx, _entry_or_error(ctx, txid))


@rpc("Blockchain")
def getmempoolancestors(ctx: RequestContext, txid: Any, verbose: Any = False) -> Any:
    entry = _entry_or_error(ctx, txid)
    mempool = ctx.node.mempool
    ancestors = mempool.ancestors(entry.txid)
    if as_bool(verbose, "verbose"):
        return {a[::-1].hex(): mempool_entry_json(ctx, mempool.entries[a]) for a in ancestors}
    return [a[::-1].hex() for a in ancestors]


@rpc("Blockchain")
def getmempooldescendants(ctx: RequestContext, txid: Any, verbose: Any = False) -> Any:
    entry = _entry_or_error(ctx, txid)
    mempool = ctx.node.mempool
    descendants = mempool.descendants(entry.txid)
    if as_bool(verbose, "verbose"):
        return {d[::-1].hex(): mempool_entry_json(ctx, mempool.entries[d]) for d in descendants}
    return [d[::-1].hex() for d in descendants]


@rpc("Blockchain")
def getmempoolinfo(ctx: RequestContext) -> dict:
    mempool = ctx.node.mempool
    relay = ctx.node.config.minrelaytxfee_sat_per_kvb
    total_bytes = sum(e.vsize for e in mempool.entries.values())
    return {
        "loaded": True,
        "size": len(mempool),
        "bytes": total_bytes,
        "usage": total_bytes * 4,
        "total_fee": sat_to_btc(sum(e.fee_sat for e in mempool.entries.values())),
        "maxmempool": MAX_MEMPOOL_BYTES,
        "mempoolminfee": sat_to_btc(relay),
        "minrelaytxfee": sat_to_btc(relay),
        "incrementalrelayfee": sat_to_btc(mempool.min_relay_fee_sat_per_kvb),
        "unbroadcastcount": 0,
        "fullrbf": mempool.full_rbf,
        "permitbaremultisig": PERMIT_BARE_MULTISIG,
        "maxdatacarriersize": MAX_DATACARRIER_BYTES,
    }


@rpc("Blockchain")
def gettxspendingprevout(ctx: RequestContext, outputs: Any) -> list:
    """For each {txid, vout}: the mempool transaction spending it, if any (Core 24+)."""
    items = as_list(outputs, "outputs")
    if not items:
        raise RpcError(RPC_INVALID_PARAMETER, "Invalid parameter, outputs are missing")
    prevouts = []
    for item in items:
        obj = as_dict(item, "outputs")
        for key in obj:
            if key not in ("txid", "vout"):
                raise RpcError(RPC_TYPE_ERROR, f"Unexpected key {key}")
        for key in ("txid", "vout"):
            if obj.get(key) is None:
                raise RpcError(RPC_TYPE_ERROR, f"Missing {key}")
        txid = as_hash(obj["txid"], "txid")
        vout = as_int(obj["vout"], "vout")
        if vout < 0:
            raise RpcError(RPC_INVALID_PARAMETER, "Invalid parameter, vout cannot be negative")
        prevouts.append((txid, vout))
    result = []
    for txid, vout in prevouts:
        entry: dict[str, Any] = {"txid": txid[::-1].hex(), "vout": vout}
        spender = ctx.node.mempool.spender_of(txid, vout)
        if spender is not None:
            entry["spendingtxid"] = spender[::-1].hex()
        result.append(entry)
    return result
