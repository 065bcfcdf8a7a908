"""Wallet transaction history in bitcoind's shapes (gettransaction, listtransactions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .address import script_to_address
from .amounts import sat_to_btc
from .policy import signals_rbf
from .primitives import BlockHeader, Tx, TxOut
from .wallet import WALLET_COINBASE_MATURITY, Wallet

if TYPE_CHECKING:
    from .node import Node


@dataclass
class WalletTx:
    tx: Tx
    block_hash: bytes | None
    height: int | None
    position: int | None
    confirmations: int
    time: int
    block_time: int | None
    debit_sat: int
    credit_sat: int
    fee_sat: int | None  # negative like bitcoind, None when not from this wallet
    order: float = 0.0  # wallet order: chain height when first seen (x.5 when seen unconfirmed)
    spent: list[TxOut | None] = field(default_factory=list)

    @property
    def from_me(self) -> bool:
        return self.debit_sat > 0


def _load(node: Node, wallet: Wallet, txid: bytes) -> WalletTx | None:
    entry = node.mempool.get(txid)
    block_hash = height = position = block_time = None
    if entry is not None:
        tx = entry.tx
        confirmations = 0
        when, seen_height = wallet.store.note_tx_seen(txid, entry.time, entry.height)
        order = seen_height + 0.5
    else:
        found = node.index.get_tx(txid)
        if found is None:
            return None
        raw, block_hash, height, position = found
        tx = Tx.from_bytes(raw)
        confirmations = node.tip_height() - height + 1
        block_time = BlockHeader.from_bytes(node.header_bytes(block_hash)).time
        when, seen_height = wallet.store.tx_seen.get(txid, (block_time, height))
        order = seen_height + 0.5 if txid in wallet.store.tx_seen else float(height)
    spent = [None if tx.is_coinbase() else node.find_output_any(i.prev_txid, i.prev_vout) for i in tx.vin]
    debit = sum(s.value_sat for s in spent if s is not None and wallet.is_mine(s.script_pubkey))
    credit = sum(o.value_sat for o in tx.vout if wallet.is_mine(o.script_pubkey))
    fee = None
    if debit > 0:
        fee = sum(o.value_sat for o in tx.vout) - debit
    return WalletTx(tx, block_hash, height, position, confirmations, when, block_time, debit, credit, fee,
                    order, spent)


def wallet_txids(node: Node, wallet: Wallet) -> set[bytes]:
    txids: set[bytes] = set()
    for row in node.index.outputs_for_scripts(list(wallet.store.keys), include_spent=True):
        txids.add(row.txid)
        if row.spent_txid is not None:
            txids.add(row.spent_txid)
    for txid, entry in node.mempool.entries.items():
        if any(wallet.is_mine(o.script_pubkey) for o in entry.tx.vout) or any(
            wallet.is_mine(s.script_pubkey) for s in entry.spent_outputs
        ):
            txids.add(txid)
    return txids


def get_wallet_tx(node: Node, wallet: Wallet, txid: bytes) -> WalletTx | None:
    if txid not in wallet_txids(node, wallet):
        return None
    return _load(node, wallet, txid)


def common_fields(wtx: WalletTx) -> dict:
    out: dict = {"confirmations": wtx.confirmations}
    if wtx.tx.is_coinbase():
        out["generated"] = True
    if wtx.block_hash is not None:
        out["blockhash"] = wtx.block_hash[::-1].hex()
        out["blockheight"] = wtx.height
        out["blockindex"] = wtx.position
        out["blocktime"] = wtx.block_time
    out["txid"] = wtx.tx.txid_hex
    out["wtxid"] = wtx.tx.wtxid_hex
    out["walletconflicts"] = []
    out["time"] = wtx.time
    out["timereceived"] = wtx.time
    if wtx.confirmations == 0:
        out["bip125-replaceable"] = "yes" if signals_rbf(wtx.tx) else "no"
    else:
        out["bip125-replaceable"] = "no"
    return out


def detail_entries(wallet: Wallet, wtx: WalletTx) -> list[dict]:
    """The per-output entries of listtransactions / gettransaction details."""
    entries = []
    for n, out in enumerate(wtx.tx.vout):
        mine = wallet.is_mine(out.script_pubkey)
        key = wallet.key_for(out.script_pubkey)
        if wtx.from_me and key is not None and key.internal:
            continue  # change
        address = script_to_address(out.script_pubkey)
        if wtx.from_me:
            item: dict[str, Any] = {}
            if address:
                item["address"] = address
            item.update({"category": "send", "amount": sat_to_btc(-out.value_sat), "vout": n,
                         "fee": sat_to_btc(wtx.fee_sat or 0), "abandoned": False})
            entries.append(item)
        if mine:
            if wtx.tx.is_coinbase():
                if wtx.confirmations <= 0:
                    category = "orphan"
                elif wtx.confirmations < WALLET_COINBASE_MATURITY:
                    category = "immature"
                else:
                    category = "generate"
            else:
                category = "receive"
            item = {}
            if address:
                item["address"] = address
            item.update({"category": category, "amount": sat_to_btc(out.value_sat)})
            label = wallet.store.labels.get(out.script_pubkey)
            if label is not None:
                item["label"] = label
            item["vout"] = n
            entries.append(item)
    return entries


def list_entries(node: Node, wallet: Wallet) -> list[dict]:
    rows = []
    for txid in wallet_txids(node, wallet):
        wtx = _load(node, wallet, txid)
        if wtx is None:
            continue
        common = common_fields(wtx)
        for item in detail_entries(wallet, wtx):
            merged = dict(item)
            merged.update(common)
            rows.append((wtx.order, wtx.position or 0, merged))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [r[2] for r in rows]
