"""The mempool: acceptance (bitcoind's policy and reject reasons), RBF, packages and block selection."""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from .index import Coin
from .policy import (
    COINBASE_MATURITY,
    MAX_ANCESTORS,
    MAX_DESCENDANTS,
    MIN_STANDARD_TX_NONWITNESS_SIZE,
    TxRejected,
    check_standard,
    check_transaction,
    format_money,
    is_final,
    sequence_locks_satisfied,
    signals_rbf,
)
from .primitives import Tx, TxOut


class ChainView(Protocol):
    """What the mempool needs to know about the active chain."""

    def chain_coin(self, txid: bytes, vout: int) -> Coin | None: ...
    def tip_height(self) -> int: ...
    def mtp_at(self, height: int) -> int: ...
    def has_unspent_outputs(self, txid: bytes) -> bool: ...


@dataclass
class MempoolEntry:
    tx: Tx
    fee_sat: int
    vsize: int
    weight: int
    time: int
    height: int
    spent_outputs: list[TxOut]
    parents: set[bytes] = field(default_factory=set)
    children: set[bytes] = field(default_factory=set)

    @property
    def txid(self) -> bytes:
        return self.tx.txid


def fee_for_vsize(feerate_sat_per_kvb: int, vsize: int) -> int:
    """CFeeRate::GetFee: fee for vsize bytes at a rate, rounded up."""
    return math.ceil(feerate_sat_per_kvb * vsize / 1000)


class Mempool:
    """Unconfirmed transactions; every method is called with the node lock held."""

    def __init__(self, chain: ChainView, min_relay_fee_sat_per_kvb: int, full_rbf: bool = True) -> None:
        self.chain = chain
        self.min_relay_fee_sat_per_kvb = min_relay_fee_sat_per_kvb
        self.full_rbf = full_rbf
        self.entries: dict[bytes, MempoolEntry] = {}
        self.spenders: dict[tuple[bytes, int], bytes] = {}
        self.sequence = 0

    # -- views ------------------------------------------------------------
    def __contains__(self, txid: bytes) -> bool:
        return txid in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, txid: bytes) -> MempoolEntry | None:
        return self.entries.get(txid)

    def output(self, txid: bytes, vout: int) -> TxOut | None:
        entry = self.entries.get(txid)
        if entry is None or vout >= len(entry.tx.vout):
            return None
        return entry.tx.vout[vout]

    def spender_of(self, txid: bytes, vout: int) -> bytes | None:
        return self.spenders.get((txid, vout))

    def ancestors(self, txid: bytes) -> set[bytes]:
        out: set[bytes] = set()
        stack = list(self.entries[txid].parents)
        while stack:
            parent = stack.pop()
            if parent not in out:
                out.add(parent)
                stack.extend(self.entries[parent].parents)
        return out

    def descendants(self, txid: bytes) -> set[bytes]:
        out: set[bytes] = set()
        stack = list(self.entries[txid].children)
        while stack:
            child = stack.pop()
            if child not in out:
                out.add(child)
                stack.extend(self.entries[child].children)
        return out

    # -- acceptance --------------------------------------------------------
    def check(
        self,
        tx: Tx,
        extra_parents: dict[bytes, Tx] | None = None,
        *,
        check_fee: bool = True,
    ) -> tuple[int, list[TxOut], set[bytes], list[int], list[int]]:
        """Run every acceptance check; returns (fee, spent outputs, conflicts, coin heights, coin mtps).

        extra_parents: transactions of the same package not yet in the mempool.
        check_fee=False leaves the fee rate to the caller (packages are judged as a whole).
        Raises TxRejected with bitcoind's reason.
        """
        chain = self.chain
        check_transaction(tx)
        if tx.is_coinbase():
            raise TxRejected("coinbase")
        check_standard(tx, 3000)
        if tx.base_size < MIN_STANDARD_TX_NONWITNESS_SIZE:
            raise TxRejected("tx-size-small")
        next_height = chain.tip_height() + 1
        tip_mtp = chain.mtp_at(next_height - 1)
        if not is_final(tx, next_height, tip_mtp):
            raise TxRejected("non-final")
        txid = tx.txid
        existing = self.entries.get(txid)
        if existing is not None:
            if existing.tx.wtxid == tx.wtxid:
                raise TxRejected("txn-already-in-mempool")
            raise TxRejected("txn-same-nonwitness-data-in-mempool")

        conflicts: set[bytes] = set()
        spent: list[TxOut] = []
        coin_heights: list[int] = []
        coin_mtps: list[int] = []
        missing = False
        immature_depth: int | None = None
        for txin in tx.vin:
            outpoint = txin.outpoint
            spender = self.spenders.get(outpoint)
            if spender is not None:
                conflicts.add(spender)
            parent = self.entries.get(txin.prev_txid)
            if parent is not None:
                if txin.prev_vout >= len(parent.tx.vout):
                    missing = True
                    break
                spent.append(parent.tx.vout[txin.prev_vout])
                coin_heights.append(next_height)
                coin_mtps.append(tip_mtp)
                continue
            if extra_parents and txin.prev_txid in extra_parents:
                ptx = extra_parents[txin.prev_txid]
                if txin.prev_vout >= len(ptx.vout):
                    missing = True
                    break
                spent.append(ptx.vout[txin.prev_vout])
                coin_heights.append(next_height)
                coin_mtps.append(tip_mtp)
                continue
            coin = chain.chain_coin(txin.prev_txid, txin.prev_vout)
            if coin is None:
                missing = True
                break
            if coin.coinbase and next_height - coin.height < COINBASE_MATURITY and immature_depth is None:
                immature_depth = next_height - coin.height
            spent.append(TxOut(coin.value_sat, coin.script_pubkey))
            coin_heights.append(coin.height)
            coin_mtps.append(chain.mtp_at(max(coin.height - 1, 0)))
        if missing:
            if chain.has_unspent_outputs(txid):
                raise TxRejected("txn-already-known", already_known=True)
            raise TxRejected("bad-txns-inputs-missingorspent", missing_inputs=True)

        if not sequence_locks_satisfied(tx, coin_heights, coin_mtps, next_height, tip_mtp):
            raise TxRejected("non-BIP68-final")
        if immature_depth is not None:  # checked after BIP68, in CheckTxInputs, like bitcoind
            raise TxRejected(
                "bad-txns-premature-spend-of-coinbase", f"tried to spend coinbase at depth {immature_depth}"
            )
        value_in = sum(out.value_sat for out in spent)
        value_out = sum(out.value_sat for out in tx.vout)
        if value_in < value_out:
            raise TxRejected(
                "bad-txns-in-belowout",
                f"value in ({format_money(value_in)}) < value out ({format_money(value_out)})",
            )
        fee = value_in - value_out
        vsize = tx.vsize
        min_fee = fee_for_vsize(self.min_relay_fee_sat_per_kvb, vsize)
        if fee < min_fee and check_fee:
            raise TxRejected("min relay fee not met", f"{fee} < {min_fee}")
        if conflicts:
            self._check_replacement(tx, fee, vsize, conflicts)
        self._check_chain_limits(tx, extra_parents)
        from .scriptcheck import first_failing_input  # imports the kernel library

        failing = first_failing_input(tx, spent)
        if failing is not None:
            raise TxRejected(
                f"mempool-script-verify-flag-failed (Script failed verification of input {failing})"
            )
        return fee, spent, conflicts, coin_heights, coin_mtps

    def _check_chain_limits(self, tx: Tx, extra_parents: dict[bytes, Tx] | None = None) -> None:
        parents = {txin.prev_txid for txin in tx.vin if txin.prev_txid in self.entries}
        pending = sum(1 for txin in tx.vin if extra_parents and txin.prev_txid in extra_parents)
        ancestors = set(parents)
        for parent in parents:
            ancestors |= self.ancestors(parent)
        if len(ancestors) + pending + 1 > MAX_ANCESTORS:
            raise TxRejected(
                "too-long-mempool-chain", f"too many unconfirmed ancestors [limit: {MAX_ANCESTORS}]"
            )
        for ancestor in ancestors:
            if len(self.descendants(ancestor)) + 1 >= MAX_DESCENDANTS:
                raise TxRejected(
                    "too-long-mempool-chain",
                    f"too many descendants for tx {ancestor[::-1].hex()} [limit: {MAX_DESCENDANTS}]",
                )

    def _check_replacement(self, tx: Tx, fee: int, vsize: int, conflicts: set[bytes]) -> None:
        """Replacement rules (BIP125 rules 2-5 as bitcoind applies them); full RBF unless disabled."""
        txid_hex = tx.txid_hex
        if not self.full_rbf:
            for conflict in conflicts:
                entry = self.entries[conflict]
                if not signals_rbf(entry.tx) and not any(
                    signals_rbf(self.entries[a].tx) for a in self.ancestors(conflict)
                ):
                    raise TxRejected("txn-mempool-conflict")
        all_conflicts = set(conflicts)
        for conflict in conflicts:
            all_conflicts |= self.descendants(conflict)
        if len(all_conflicts) > 100:
            raise TxRejected(
                "too many potential replacements",
                f"rejecting replacement {txid_hex}; too many potential replacements "
                f"({len(all_conflicts)} > 100)",
            )
        for txin in tx.vin:
            if txin.prev_txid in all_conflicts:
                raise TxRejected(
                    "bad-txns-spends-conflicting-tx",
                    f"{txid_hex} spends conflicting transaction {txin.prev_txid[::-1].hex()}",
                )
        conflict_inputs = {txin.prev_txid for c in conflicts for txin in self.entries[c].tx.vin}
        for txin in tx.vin:
            if txin.prev_txid in self.entries and txin.prev_txid not in conflict_inputs:
                raise TxRejected(
                    "replacement-adds-unconfirmed",
                    f"replacement {txid_hex} adds unconfirmed input, idx {tx.vin.index(txin)}",
                )
        new_rate = fee / vsize
        for conflict in conflicts:
            entry = self.entries[conflict]
            old_rate = entry.fee_sat / entry.vsize
            if new_rate <= old_rate:
                raise TxRejected(
                    "insufficient fee",
                    f"rejecting replacement {txid_hex}; new feerate "
                    f"{format_money(int(new_rate * 1000))} BTC/kvB <= old feerate "
                    f"{format_money(int(old_rate * 1000))} BTC/kvB",
                )
        conflict_fees = sum(self.entries[c].fee_sat for c in all_conflicts)
        if fee < conflict_fees:
            raise TxRejected(
                "insufficient fee",
                f"rejecting replacement {txid_hex}, less fees than conflicting txs; "
                f"{format_money(fee)} < {format_money(conflict_fees)}",
            )
        additional = fee - conflict_fees
        relay = fee_for_vsize(self.min_relay_fee_sat_per_kvb, vsize)
        if additional < relay:
            raise TxRejected(
                "insufficient fee",
                f"rejecting replacement {txid_hex}, not enough additional fees to relay; "
                f"{format_money(additional)} < {format_money(relay)}",
            )

    def add(self, tx: Tx, fee: int, spent: list[TxOut], conflicts: set[bytes],
            entry_time: int | None = None) -> MempoolEntry:
        """Insert a checked transaction, evicting what it replaces."""
        for conflict in conflicts:
            if conflict in self.entries:
                self.remove_with_descendants(conflict)
        txid = tx.txid
        entry = MempoolEntry(
            tx=tx,
            fee_sat=fee,
            vsize=tx.vsize,
            weight=tx.weight,
            time=entry_time if entry_time is not None else int(time.time()),
            height=self.chain.tip_height(),
            spent_outputs=spent,
        )
        for txin in tx.vin:
            self.spenders[txin.outpoint] = txid
            if txin.prev_txid in self.entries:
                entry.parents.add(txin.prev_txid)
                self.entries[txin.prev_txid].children.add(txid)
        self.entries[txid] = entry
        self.sequence += 1
        return entry

    def accept(self, tx: Tx, entry_time: int | None = None) -> MempoolEntry:
        fee, spent, conflicts, _, _ = self.check(tx)
        return self.add(tx, fee, spent, conflicts, entry_time)

    # -- removal ---------------------------------------------------------------
    def remove(self, txid: bytes) -> None:
        """Remove one transaction (its children keep their other links)."""
        entry = self.entries.pop(txid, None)
        if entry is None:
            return
        for txin in entry.tx.vin:
            if self.spenders.get(txin.outpoint) == txid:
                del self.spenders[txin.outpoint]
        for parent in entry.parents:
            if parent in self.entries:
                self.entries[parent].children.discard(txid)
        for child in entry.children:
            if child in self.entries:
                self.entries[child].parents.discard(txid)
        self.sequence += 1

    def remove_with_descendants(self, txid: bytes) -> list[bytes]:
        if txid not in self.entries:
            return []
        doomed = [txid, *self.descendants(txid)]
        for victim in doomed:
            self.remove(victim)
        return doomed

    def remove_for_block(self, txs: Iterable[Tx]) -> None:
        """Drop confirmed transactions and everything that conflicts with them."""
        for tx in txs:
            txid = tx.txid
            if txid in self.entries:
                self.remove(txid)
            for txin in tx.vin:
                spender = self.spenders.get(txin.outpoint)
                if spender is not None and spender != txid:
                    self.remove_with_descendants(spender)

    # -- block template ---------------------------------------------------------
    def select_for_block(self, max_weight: int) -> list[Tx]:
        """Transactions for the next block by ancestor fee rate, parents before children."""
        included: set[bytes] = set()
        order: list[Tx] = []
        weight = 0

        def package(txid: bytes) -> list[bytes]:
            members = [a for a in self.ancestors(txid) if a not in included]
            members.append(txid)
            return members

        def score(members: list[bytes]) -> tuple[float, int, int]:
            fee = sum(self.entries[m].fee_sat for m in members)
            size = sum(self.entries[m].vsize for m in members)
            return fee / size, fee, size

        heap: list[tuple[float, int, bytes]] = []
        for seq, txid in enumerate(self.entries):
            rate, _, _ = score(package(txid))
            heap.append((-rate, seq, txid))
        heapq.heapify(heap)
        while heap:
            neg_rate, seq, txid = heapq.heappop(heap)
            if txid in included:
                continue
            members = package(txid)
            rate, _, _ = score(members)
            if rate < -neg_rate - 1e-12:
                heapq.heappush(heap, (-rate, seq, txid))
                continue
            members.sort(key=lambda m: len(self.ancestors(m)))
            package_weight = sum(self.entries[m].weight for m in members)
            if weight + package_weight > max_weight:
                continue
            for member in members:
                included.add(member)
                order.append(self.entries[member].tx)
            weight += package_weight
        return order

    def clear(self) -> list[MempoolEntry]:
        entries = list(self.entries.values())
        self.entries.clear()
        self.spenders.clear()
        self.sequence += 1
        return entries
