"""Wallet logic: addresses, spendable coins, balances, funding and signing.

Part of regtestd's wallet layer: imports the chain data modules (index, mempool, primitives,
script) and the wallet's own (keys, store, signer) but never node.py: what it reads of the
chain comes through `WalletChainView`, which the node implements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .address import script_to_address
from .descriptor import add_checksum
from .index import ChainIndex
from .keys import WalletKey
from .mempool import Mempool
from .primitives import Tx, TxIn, TxOut
from .script import dust_threshold_sat
from .signer import sign_inputs
from .wallet_store import WalletStore

WALLET_COINBASE_MATURITY = 101  # the wallet spends a coinbase at depth >= 101, like bitcoind


class WalletChainView(Protocol):
    """What the wallet reads of the chain (the node implements it): the tip, the index's
    outputs to the wallet's scripts, the mempool, and any output's value and script."""

    @property
    def index(self) -> ChainIndex: ...

    @property
    def mempool(self) -> Mempool: ...

    def tip_height(self) -> int: ...

    def lookup_output(self, txid: bytes, vout: int) -> TxOut | None: ...


class InsufficientFunds(Exception):
    """Not enough spendable coins for the requested outputs plus fee."""


class FeeTooHighForOutputs(Exception):
    """Subtracting the fee leaves an output below dust."""


@dataclass
class WalletCoin:
    txid: bytes
    vout: int
    value_sat: int
    script_pubkey: bytes
    height: int | None  # None while unconfirmed
    confirmations: int
    coinbase: bool
    trusted: bool

    @property
    def outpoint(self) -> tuple[bytes, int]:
        return (self.txid, self.vout)


@dataclass
class FundResult:
    tx: Tx
    fee_sat: int
    change_position: int  # -1 when no change output


def _dummy_witness(key: WalletKey) -> list[bytes]:
    if key.kind == "bech32":
        return [b"\x00" * 72, b"\x00" * 33]
    return [b"\x00" * 64]


class Wallet:
    """A loaded wallet; all methods run under the node lock."""

    def __init__(self, name: str, path: Path, store: WalletStore) -> None:
        self.name = name
        self.path = path
        self.store = store
        self.locked: set[tuple[bytes, int]] = set()
        self.pay_tx_fee_sat_per_kvb: int | None = None  # settxfee

    # -- keys ------------------------------------------------------------------
    def new_address(self, kind: str, internal: bool = False, label: str = "") -> str:
        key = self.store.next_key(kind, internal, label)
        return script_to_address(key.script_pubkey) or ""

    def is_mine(self, spk: bytes) -> bool:
        return spk in self.store.keys

    def key_for(self, spk: bytes) -> WalletKey | None:
        return self.store.keys.get(spk)

    def descriptor_for(self, spk: bytes) -> str | None:
        key = self.store.keys.get(spk)
        return add_checksum(key.descriptor_body()) if key else None

    # -- coins -------------------------------------------------------------------
    def coins(self, chain: WalletChainView, include_spent_in_mempool: bool = False) -> list[WalletCoin]:
        """Wallet outputs of the chain and the mempool not yet spent (by the mempool either)."""
        tip = chain.tip_height()
        mempool = chain.mempool
        out: list[WalletCoin] = []
        for row in chain.index.outputs_for_scripts(list(self.store.keys)):
            if not include_spent_in_mempool and mempool.spender_of(row.txid, row.vout) is not None:
                continue
            out.append(WalletCoin(row.txid, row.vout, row.value_sat, row.script_pubkey, row.height,
                                  tip - row.height + 1, row.coinbase, True))
        for txid, entry in mempool.entries.items():
            from_me = all(self.is_mine(spent.script_pubkey) for spent in entry.spent_outputs)
            for n, txout in enumerate(entry.tx.vout):
                if not self.is_mine(txout.script_pubkey):
                    continue
                if not include_spent_in_mempool and mempool.spender_of(txid, n) is not None:
                    continue
                out.append(WalletCoin(txid, n, txout.value_sat, txout.script_pubkey, None, 0, False, from_me))
        return out

    def spendable_coins(self, chain: WalletChainView, minconf: int = 0) -> list[WalletCoin]:
        return [
            c for c in self.coins(chain)
            if c.trusted
            and c.confirmations >= minconf
            and not (c.coinbase and c.confirmations < WALLET_COINBASE_MATURITY)
            and c.outpoint not in self.locked
        ]

    def balances(self, chain: WalletChainView) -> dict[str, int]:
        trusted = untrusted = immature = 0
        for coin in self.coins(chain):
            if coin.coinbase and coin.confirmations < WALLET_COINBASE_MATURITY:
                immature += coin.value_sat
            elif coin.trusted:
                trusted += coin.value_sat
            else:
                untrusted += coin.value_sat
        return {"trusted": trusted, "untrusted_pending": untrusted, "immature": immature}

    # -- funding -------------------------------------------------------------------
    def fund(
        self,
        chain: WalletChainView,
        tx: Tx,
        feerate_sat_per_kvb: int,
        *,
        subtract_fee_from: list[int] | None = None,
        change_kind: str = "bech32",
        change_address_spk: bytes | None = None,
        change_position: int | None = None,
        add_inputs: bool = True,
        min_conf: int = 0,
    ) -> FundResult:
        """Add wallet inputs (and change) so tx pays feerate; preset inputs of tx are kept."""
        subtract_fee_from = subtract_fee_from or []
        preset_values = []
        preset_keys: list[WalletKey | None] = []
        for txin in tx.vin:
            spent = chain.lookup_output(txin.prev_txid, txin.prev_vout)
            if spent is None:
                raise InsufficientFunds(
                    f"Unable to find UTXO for external input {txin.prev_txid[::-1].hex()}:{txin.prev_vout}"
                )
            preset_values.append(spent.value_sat)
            preset_keys.append(self.key_for(spent.script_pubkey))
        used = {txin.outpoint for txin in tx.vin}
        candidates = sorted(
            (c for c in self.spendable_coins(chain, min_conf) if c.outpoint not in used),
            key=lambda c: (-c.value_sat, c.txid, c.vout),
        ) if add_inputs else []
        target = sum(out.value_sat for out in tx.vout)
        selected: list[WalletCoin] = []
        placeholder_spk = b"\x00\x14" + b"\x00" * 20 if change_kind == "bech32" else b"\x51\x20" + b"\x00" * 32

        def build(change_value: int | None, change_spk: bytes) -> tuple[Tx, int]:
            new = tx.copy()
            for coin in selected:
                new.vin.append(TxIn(coin.txid, coin.vout, b"", 0xFFFFFFFD))
            if change_value is None:
                return new, -1
            pos = len(new.vout) if change_position is None or change_position < 0 else min(change_position, len(new.vout))
            new.vout.insert(pos, TxOut(change_value, change_spk))
            return new, pos

        def fee_for(candidate: Tx) -> int:
            sized = candidate.copy()
            keys = preset_keys + [self.key_for(c.script_pubkey) for c in selected]
            for txin, key in zip(sized.vin, keys, strict=True):
                if not txin.witness and not txin.script_sig:
                    txin.witness = _dummy_witness(key) if key else [b"\x00" * 72, b"\x00" * 33]
            return math.ceil(feerate_sat_per_kvb * sized.vsize / 1000)

        remaining = list(candidates)
        while True:
            total_in = sum(preset_values) + sum(c.value_sat for c in selected)
            fee_no_change = fee_for(build(None, b"")[0])
            need = target if subtract_fee_from else target + fee_no_change
            if total_in >= need and (tx.vin or selected):
                break
            if not remaining:
                raise InsufficientFunds("Insufficient funds")
            selected.append(remaining.pop(0))

        change_spk = change_address_spk or placeholder_spk
        fee_with_change = fee_for(build(0, change_spk)[0])
        if subtract_fee_from:
            change_value = total_in - target
        else:
            change_value = total_in - target - fee_with_change
        if change_value >= dust_threshold_sat(change_spk) and change_value > 0:
            if change_address_spk is None:
                change_spk = self.store.next_key(change_kind, True).script_pubkey
            result, pos = build(change_value, change_spk)
            fee = fee_with_change
        else:
            result, pos = build(None, b"")
            fee = fee_no_change if subtract_fee_from else total_in - target
        if subtract_fee_from:
            self._subtract_fee(result, subtract_fee_from, fee, pos)
        fee = total_in - sum(o.value_sat for o in result.vout)
        return FundResult(result, fee, pos)

    @staticmethod
    def _subtract_fee(tx: Tx, indexes: list[int], fee: int, change_pos: int) -> None:
        # indexes refer to the outputs before the change output was inserted
        positions = [i if change_pos < 0 or i < change_pos else i + 1 for i in indexes]
        share, remainder = divmod(fee, len(positions))
        for n, pos in enumerate(positions):
            out = tx.vout[pos]
            out.value_sat -= share + (remainder if n == 0 else 0)
            if out.value_sat < dust_threshold_sat(out.script_pubkey):
                raise FeeTooHighForOutputs("The transaction amount is too small to pay the fee")
        tx.invalidate()

    # -- signing -------------------------------------------------------------------
    def sign(self, tx: Tx, spent_outputs: list[TxOut | None], sighash_type: int | None = None) -> list[dict]:
        """Sign every input this wallet can; returns bitcoind-style error entries for the others."""
        return sign_inputs(tx, spent_outputs, self.store.keys, sighash_type)
