"""Result objects shaped like bitcoind's: transactions, blocks, headers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .amounts import sat_to_btc
from .primitives import Block, BlockHeader, Tx, TxOut
from .script import script_asm, script_pubkey_json

if TYPE_CHECKING:
    from .node import Node

REGTEST_DIFFICULTY = 4.656542373906925e-10


def difficulty(bits: int) -> float:
    shift = (bits >> 24) & 0xFF
    diff = 0x0000FFFF / (bits & 0x00FFFFFF)
    while shift < 29:
        diff *= 256.0
        shift += 1
    while shift > 29:
        diff /= 256.0
        shift -= 1
    return diff


def target_hex(bits: int) -> str:
    """The proof-of-work target encoded by compact `bits`, as 64 hex digits (Core 29+)."""
    exponent, mantissa = bits >> 24, bits & 0x007FFFFF
    target = mantissa >> 8 * (3 - exponent) if exponent <= 3 else mantissa << 8 * (exponent - 3)
    return format(target, "064x")


def chainwork_hex(height: int) -> str:
    """Cumulative work at height on regtest, where every block's work is 2."""
    return format(2 * (height + 1), "064x")


def tx_to_json(tx: Tx, spent: list[TxOut | None] | None = None, include_hex: bool = True,
               prevout_meta: list[tuple[int, bool] | None] | None = None) -> dict:
    """bitcoind's TxToUniv; spent (and prevout_meta: (height, coinbase)) add fee and prevouts."""
    vin = []
    for n, txin in enumerate(tx.vin):
        if tx.is_coinbase():
            item: dict = {"coinbase": txin.script_sig.hex()}
        else:
            item = {
                "txid": txin.prev_txid[::-1].hex(),
                "vout": txin.prev_vout,
                "scriptSig": {"asm": script_asm(txin.script_sig), "hex": txin.script_sig.hex()},
            }
        if txin.witness:
            item["txinwitness"] = [w.hex() for w in txin.witness]
        prevout = spent[n] if spent is not None and not tx.is_coinbase() else None
        if prevout is not None:
            meta = prevout_meta[n] if prevout_meta is not None else None
            item["prevout"] = {
                "generated": meta[1] if meta else False,
                "height": meta[0] if meta else 0,
                "value": sat_to_btc(prevout.value_sat),
                "scriptPubKey": script_pubkey_json(prevout.script_pubkey),
            }
        item["sequence"] = txin.sequence
        vin.append(item)
    vout = [
        {"value": sat_to_btc(out.value_sat), "n": n, "scriptPubKey": script_pubkey_json(out.script_pubkey)}
        for n, out in enumerate(tx.vout)
    ]
    result = {
        "txid": tx.txid_hex,
        "hash": tx.wtxid_hex,
        "version": tx.version,
        "size": tx.total_size,
        "vsize": tx.vsize,
        "weight": tx.weight,
        "locktime": tx.locktime,
        "vin": vin,
        "vout": vout,
    }
    known = [s for s in spent if s is not None] if spent is not None else []
    if spent is not None and not tx.is_coinbase() and len(known) == len(spent):
        result["fee"] = sat_to_btc(sum(s.value_sat for s in known) - sum(o.value_sat for o in tx.vout))
    if include_hex:
        result["hex"] = tx.serialize().hex()
    return result


def header_fields(node: Node, block_hash: bytes, header: BlockHeader, ntx: int | None) -> dict:
    height = node.block_height(block_hash)
    active_height = node.index.height_of(block_hash)
    tip = node.tip_height()
    if active_height is not None:
        confirmations = tip - active_height + 1
        mediantime = node.mtp_at(active_height)
    else:
        confirmations = -1
        times = node._branch_times(block_hash, height or 0)
        window = sorted(times)
        mediantime = window[len(window) // 2]
    out = {
        "hash": block_hash[::-1].hex(),
        "confirmations": confirmations,
        "height": height,
        "version": header.version,
        "versionHex": format(header.version & 0xFFFFFFFF, "08x"),
        "merkleroot": header.merkle_root[::-1].hex(),
        "time": header.time,
        "mediantime": mediantime,
        "nonce": header.nonce,
        "bits": format(header.bits, "08x"),
        "target": target_hex(header.bits),
        "difficulty": difficulty(header.bits),
        "chainwork": chainwork_hex(height or 0),
    }
    if ntx is not None:
        out["nTx"] = ntx
    if height:
        out["previousblockhash"] = header.prev_hash[::-1].hex()
    if active_height is not None and active_height < tip:
        out["nextblockhash"] = node.index.active[active_height + 1][::-1].hex()
    return out


def block_to_json(node: Node, block: Block, raw: bytes, verbosity: int) -> dict:
    block_hash = block.hash
    out = header_fields(node, block_hash, block.header, len(block.txs))
    stripped = 80 + len(raw) - 80 - sum(t.total_size - t.base_size for t in block.txs)
    out["strippedsize"] = stripped
    out["size"] = len(raw)
    out["weight"] = stripped * 3 + len(raw)
    if verbosity == 1:
        out["tx"] = [tx.txid_hex for tx in block.txs]
    else:
        txs = []
        for tx in block.txs:
            spent = None
            meta = None
            if not tx.is_coinbase():
                spent = [node.find_output_any(i.prev_txid, i.prev_vout) for i in tx.vin]
                meta = [node.output_origin(i.prev_txid, i.prev_vout) for i in tx.vin]
            item = tx_to_json(tx, spent if verbosity >= 3 else None, prevout_meta=meta)
            known = [s for s in spent if s is not None] if spent is not None else []
            if verbosity == 2 and spent is not None and len(known) == len(spent):
                item["fee"] = sat_to_btc(sum(s.value_sat for s in known) - sum(o.value_sat for o in tx.vout))
            txs.append(item)
        out["tx"] = txs
    # bitcoind orders nTx after tx-related size fields; keys order does not matter to JSON clients
    return out
