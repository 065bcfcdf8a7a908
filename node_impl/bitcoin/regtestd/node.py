"""The node: kernel + index + mempool + wallets under one lock; block submission and mining."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Config
from .index import ChainIndex, Coin
from .mempool import Mempool, MempoolEntry
from .miner import assemble_block
from .policy import MAX_BLOCK_WEIGHT, TxRejected
from .primitives import Block, BlockHeader, DecodeError, Tx, TxOut
from .wallet import Wallet
from .wallet_store import WalletStore, WalletStoreError

if TYPE_CHECKING:
    from .kernel import ChainEvent, KernelChain

log = logging.getLogger("regtestd")

BLOCK_WEIGHT_FOR_TXS = MAX_BLOCK_WEIGHT - 4000
# generate* holds the lock at most this long at a time; RPCs waiting for it go in between
MINING_SLICE_SECONDS = 0.02
MAX_HANDOFF_SECONDS = 0.5  # bound on how long the miner waits for those RPCs to get the lock


class BlockRejected(Exception):
    """A block the kernel refused; .reason is bitcoind's reject reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WalletLoadError(Exception):
    """A wallet that cannot be created or loaded; .code is the RPC error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class SubmitOutcome:
    block_hash: bytes
    result: str | None  # None: accepted and connected; "duplicate", "inconclusive", or a reason


class Node:
    """Everything behind the RPC server. Take `lock` around any use."""

    def __init__(self, config: Config, kernel_loader: Callable[[], KernelChain] | None = None) -> None:
        """kernel_loader returns the KernelChain (it may have been started on another thread)."""
        self.config = config
        self.started_at = time.time()
        self.lock = threading.RLock()
        self.tip_changed = threading.Condition(self.lock)
        self._lock_waiters = 0  # threads inside locked() that do not have the lock yet
        self._waiters_changed = threading.Condition(threading.Lock())
        self.shutdown_requested = threading.Event()
        config.net_dir.mkdir(parents=True, exist_ok=True)
        self.index = ChainIndex(config.net_dir / "index.sqlite")
        self.times: list[int] = []
        self.fee_estimate_sat_per_kvb: int | None = None
        self.mock_time: int | None = None  # setmocktime: the clock used for new blocks
        self.mempool = Mempool(self, config.minrelaytxfee_sat_per_kvb, config.mempoolfullrbf)
        self.wallets: dict[str, Wallet] = {}
        self.ready = False  # chain and mempool loaded: wallets loaded from now on resubmit at once
        fee = self.index.get_meta("fee_estimate_sat_per_kvb")
        self.fee_estimate_sat_per_kvb = int(fee) if fee is not None else None
        if not config.disablewallet:
            names = config.wallets if config.wallet_option_given else [""]
            names += [n for n in self._startup_wallets() if n not in names]
            for name in names:
                self.load_wallet(name, create_if_missing=True)
        if kernel_loader is None:
            from .kernel import KernelChain

            self.kernel = KernelChain(config.net_dir, log)
        else:
            self.kernel = kernel_loader()
        self._replay_and_reconcile()
        self._load_mempool()
        self.ready = True
        for wallet in self.wallets.values():
            self.resubmit_wallet_txs(wallet)

    # -- the lock ----------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold `lock`, counted as a waiter until it is had (see let_waiters_in)."""
        with self._waiters_changed:
            self._lock_waiters += 1
        try:
            self.lock.acquire()
        finally:
            with self._waiters_changed:
                self._lock_waiters -= 1
                self._waiters_changed.notify_all()
        try:
            yield
        finally:
            self.lock.release()

    def let_waiters_in(self) -> None:
        """Called without the lock by a long job between its slices: return once every thread
        waiting in locked() has had the lock (bounded), so the job cannot starve them."""
        with self._waiters_changed:
            self._waiters_changed.wait_for(lambda: self._lock_waiters == 0, MAX_HANDOFF_SECONDS)

    # -- startup -------------------------------------------------------------------
    def _replay_and_reconcile(self) -> None:
        """Give the kernel back blocks it lost (kill -9), then align the index with its chain."""
        replayed = 0
        kernel_height = self.kernel.tip_height()
        kernel_kept_tip = (
            bool(self.index.active)
            and kernel_height == self.index.tip_height
            and self.kernel.hash_at(kernel_height) == self.index.active[-1]
        )
        for block_hash in self.index.logged_hashes():
            if kernel_kept_tip:
                # the kernel has our whole active chain; only side branches may be missing
                lost = self.index.height_of(block_hash) is None and not self.kernel.knows_block(block_hash)
            else:
                lost = not self.kernel.in_active_chain(block_hash)
            if lost:
                raw = self.index.logged_block(block_hash)
                if raw is not None:
                    replayed += int(self.kernel.process_block(raw).is_new)
        if replayed:
            log.info("Replayed %d blocks the kernel had lost", replayed)
        kernel_active = self.kernel.active_hashes()
        if not self.index.active:
            genesis_raw = self.kernel.read_block(kernel_active[0])
            self.index.set_genesis(kernel_active[0], Block.from_bytes(genesis_raw or b""))
        fork = 0
        for ours, theirs in zip(self.index.active, kernel_active, strict=False):
            if ours != theirs:
                break
            fork += 1
        while self.index.tip_height >= max(fork, 1):
            self.index.disconnect_tip()
        for height in range(len(self.index.active), len(kernel_active)):
            block_hash = kernel_active[height]
            found = self.index.logged_block(block_hash) or self.kernel.read_block(block_hash)
            if found is None:
                raise RuntimeError(f"block {block_hash[::-1].hex()} of the kernel chain cannot be read")
            raw = found
            self.index.log_block(block_hash, raw)
            self.index.connect_block(height, block_hash, Block.from_bytes(raw))
        self.index.commit()
        logged_times = self.index.active_times()
        self.times = [
            t if t is not None else BlockHeader.from_bytes(self.header_bytes(h)).time
            for h, t in zip(self.index.active, logged_times, strict=True)
        ]

    def _mempool_path(self) -> Path:
        return self.config.net_dir / "mempool.json"

    def _load_mempool(self) -> None:
        path = self._mempool_path()
        if not path.exists():
            return
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            log.warning("Ignoring unreadable %s: %s", path, exc)
            return
        accepted = 0
        for item in saved:
            try:
                self.mempool.accept(Tx.from_hex(item["hex"]), entry_time=item.get("time"))
                accepted += 1
            except (TxRejected, DecodeError, KeyError):
                continue
        log.info("Imported mempool transactions from disk: %d succeeded, %d failed", accepted, len(saved) - accepted)

    def save_mempool(self) -> None:
        entries = [{"hex": e.tx.serialize().hex(), "time": e.time} for e in self.mempool.entries.values()]
        path = self._mempool_path()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries))
        os.replace(tmp, path)

    def resubmit_wallet_txs(self, wallet: Wallet) -> None:
        """Put the wallet's own unconfirmed transactions back in the mempool (bitcoind does the
        same when a wallet loads): a kill -9 loses the mempool, never what a wallet sent."""
        accepted = failed = 0
        for txid, raw in wallet.store.remembered_txs():
            if txid in self.mempool or self.index.get_tx(txid) is not None:
                continue
            try:
                self.mempool.accept(Tx.from_bytes(raw))
                accepted += 1
            except TxRejected as exc:
                failed += 1
                log.info("Wallet \"%s\" transaction %s not resubmitted: %s", wallet.name, txid[::-1].hex(), exc)
        if accepted or failed:
            log.info("Wallet \"%s\" resubmitted %d transactions, %d refused", wallet.name, accepted, failed)

    def remember_wallet_tx(self, tx: Tx) -> None:
        """Record tx durably in every loaded wallet it spends from or pays to (before any answer)."""
        spent = [self.find_output_any(i.prev_txid, i.prev_vout) for i in tx.vin]
        scripts = [o.script_pubkey for o in tx.vout] + [s.script_pubkey for s in spent if s is not None]
        raw = tx.serialize()
        for wallet in self.wallets.values():
            if any(wallet.is_mine(spk) for spk in scripts):
                wallet.store.remember_tx(tx.txid, raw)

    # -- chain view (used by the mempool and RPCs) ----------------------------------
    def tip_height(self) -> int:
        return self.index.tip_height

    def tip_hash(self) -> bytes:
        return self.index.active[-1]

    def mtp_at(self, height: int) -> int:
        window = sorted(self.times[max(0, height - 10):height + 1])
        return window[len(window) // 2]

    def chain_coin(self, txid: bytes, vout: int) -> Coin | None:
        return self.index.get_coin(txid, vout)

    def has_unspent_outputs(self, txid: bytes) -> bool:
        return self.index.has_unspent_outputs(txid)

    def header_bytes(self, block_hash: bytes) -> bytes:
        raw = self.kernel.header_bytes(block_hash)
        if raw is None:
            raise KeyError(block_hash)
        return raw

    def block_bytes(self, block_hash: bytes) -> bytes | None:
        return self.index.logged_block(block_hash) or self.kernel.read_block(block_hash)

    def block_height(self, block_hash: bytes) -> int | None:
        """Height of any known block (active or not), None if unknown."""
        height = self.index.height_of(block_hash)
        if height is not None:
            return height
        entry = self.kernel.entry(block_hash)
        return None if entry is None else entry.height

    def lookup_output(self, txid: bytes, vout: int) -> TxOut | None:
        """An output spendable now: unspent chain coin or mempool output."""
        out = self.mempool.output(txid, vout)
        if out is not None:
            return out
        coin = self.index.get_coin(txid, vout)
        return TxOut(coin.value_sat, coin.script_pubkey) if coin else None

    def output_origin(self, txid: bytes, vout: int) -> tuple[int, bool] | None:
        """(height, created by a coinbase) of a known output; mempool outputs get the next height."""
        if self.mempool.output(txid, vout) is not None:
            return self.tip_height() + 1, False
        row = self.index.get_output(txid, vout)
        return (row.height, row.coinbase) if row else None

    def find_output_any(self, txid: bytes, vout: int) -> TxOut | None:
        """An output known to the index or mempool, spent or not."""
        out = self.mempool.output(txid, vout)
        if out is not None:
            return out
        row = self.index.get_output(txid, vout)
        return TxOut(row.value_sat, row.script_pubkey) if row else None

    # -- blocks ------------------------------------------------------------------------
    def submit_block(self, raw: bytes, *, commit: bool = True) -> SubmitOutcome:
        """Hand a serialized block to the kernel and apply what it did (caller holds the lock).

        commit=False leaves the fsync to the caller, who must commit before answering anyone.
        """
        block = Block.from_bytes(raw)
        block_hash = block.hash
        if self.kernel.knows_block(block_hash):
            if self.index.logged_block(block_hash) is not None or self.index.height_of(block_hash) is not None:
                return SubmitOutcome(block_hash, "duplicate")
            return SubmitOutcome(block_hash, "duplicate-invalid")  # known to the kernel, never accepted
        result = self.kernel.process_block(raw)
        if not result.valid:
            self._apply_events(result.events)
            if commit:
                self.index.commit()
            return SubmitOutcome(block_hash, result.reason or "rejected")
        self.index.log_block(block_hash, raw)
        self._apply_events(result.events)
        if commit:
            self.index.commit()
        if not result.is_new:
            return SubmitOutcome(block_hash, "duplicate")
        if result.checked or self.index.height_of(block_hash) is not None:
            return SubmitOutcome(block_hash, None)
        return SubmitOutcome(block_hash, "inconclusive")

    def _apply_events(self, events: list[ChainEvent]) -> None:
        if not events:
            return
        disconnected_blocks: list[list[Tx]] = []  # tip first
        reorged = False
        for event in events:
            if event.kind == "disconnect":
                if self.index.active[-1] != event.block_hash:
                    raise RuntimeError("kernel disconnected a block that is not the index tip")
                self.index.disconnect_tip()
                self.times.pop()
                reorged = True
                disconnected_blocks.append(Block.from_bytes(event.raw_block).txs[1:])
            else:
                block = Block.from_bytes(event.raw_block)
                self.index.log_block(event.block_hash, event.raw_block)
                self.index.connect_block(event.height, event.block_hash, block)
                self.times.append(block.header.time)
                self.mempool.remove_for_block(block.txs)
        if reorged:
            # re-validate everything: coins, maturity and locks may have changed; oldest block
            # first so that parents come back before their children
            self._resurrect([tx for txs in reversed(disconnected_blocks) for tx in txs])
        self.tip_changed.notify_all()
        log.info("UpdateTip: new best=%s height=%d", self.tip_hash()[::-1].hex(), self.tip_height())

    def _resurrect(self, disconnected_txs: list[Tx]) -> None:
        """After a reorg: disconnected transactions first, then the old mempool, re-validated."""
        old: list[MempoolEntry] = self.mempool.clear()
        for tx in disconnected_txs:
            try:
                self.mempool.accept(tx)
            except TxRejected:
                continue
        for entry in old:
            try:
                self.mempool.accept(entry.tx, entry_time=entry.time)
            except TxRejected:
                continue

    def now(self) -> int:
        """Wall clock, or the time set by setmocktime."""
        return self.mock_time if self.mock_time else int(time.time())

    def next_block_time(self, parent_height: int | None = None) -> int:
        height = self.tip_height() if parent_height is None else parent_height
        return max(self.mtp_at(height) + 1, self.now())

    def mine_blocks(self, count: int, payout_spk: bytes) -> list[bytes]:
        """Mine count blocks of mempool transactions (fewer if the node shuts down meanwhile).

        Called WITHOUT the lock: it is taken slice by slice, every slice committed (fsync)
        before the lock is released, so a block any RPC can see is durable; between slices
        the RPCs waiting for the lock are served, as bitcoind serves calls between blocks.
        """
        hashes: list[bytes] = []
        while len(hashes) < count and not self.shutdown_requested.is_set():
            with self.lock:
                deadline = time.monotonic() + MINING_SLICE_SECONDS
                try:
                    while len(hashes) < count:
                        hashes.append(self.mine_block(payout_spk, commit=False))
                        if time.monotonic() >= deadline:
                            break
                finally:
                    self.index.commit()
            self.let_waiters_in()
        return hashes

    def mine_block(self, payout_spk: bytes, txs: list[Tx] | None = None, *, commit: bool = True) -> bytes:
        """Mine one block on the tip (mempool contents when txs is None); returns its hash."""
        if txs is None:
            txs = self.mempool.select_for_block(BLOCK_WEIGHT_FOR_TXS)
            fees = sum(self.mempool.entries[tx.txid].fee_sat for tx in txs)
        else:
            fees = self.fees_of(txs)
        block = assemble_block(self.tip_hash(), self.tip_height() + 1, self.next_block_time(),
                               payout_spk, txs, fees)
        outcome = self.submit_block(block.serialize(), commit=commit)
        if outcome.result is not None:
            raise BlockRejected(outcome.result)
        return outcome.block_hash

    def mine_block_on(self, parent_hash: bytes, payout_spk: bytes, txs: list[Tx]) -> SubmitOutcome:
        """Mine one block on any known block (builds competing branches)."""
        parent_height = self.block_height(parent_hash)
        if parent_height is None:
            raise KeyError(parent_hash)
        times = self._branch_times(parent_hash, parent_height)
        window = sorted(times[-11:])
        block_time = max(window[len(window) // 2] + 1, self.now())
        fees = self.fees_of(txs, allow_unknown=True)
        block = assemble_block(parent_hash, parent_height + 1, block_time, payout_spk, txs, fees)
        return self.submit_block(block.serialize())

    def _branch_times(self, tip_hash: bytes, tip_height: int) -> list[int]:
        times: list[int] = []
        current = tip_hash
        for _ in range(min(11, tip_height + 1)):
            header = BlockHeader.from_bytes(self.header_bytes(current))
            times.append(header.time)
            current = header.prev_hash
        return list(reversed(times))

    def fees_of(self, txs: list[Tx], allow_unknown: bool = False) -> int:
        """Total fee of txs whose inputs are chain coins, mempool outputs or earlier txs of the list.

        allow_unknown (blocks for side branches): inputs may be spent on the active chain, so any
        output the index knows counts; a transaction with an input known nowhere counts as fee 0.
        """
        created: dict[tuple[bytes, int], int] = {}
        total = 0
        for tx in txs:
            value_in = 0
            known = True
            for txin in tx.vin:
                value = created.pop(txin.outpoint, None)
                if value is None:
                    if allow_unknown:
                        out = self.find_output_any(txin.prev_txid, txin.prev_vout)
                    else:
                        out = self.lookup_output(txin.prev_txid, txin.prev_vout)
                    if out is None:
                        if not allow_unknown:
                            raise KeyError(txin.outpoint)
                        known = False
                        break
                    value = out.value_sat
                value_in += value
            if known:
                total += max(value_in - sum(o.value_sat for o in tx.vout), 0)
            for n, out in enumerate(tx.vout):
                created[(tx.txid, n)] = out.value_sat
        return total

    # -- wallets ------------------------------------------------------------------------
    def wallet_path(self, name: str) -> Path:
        base = self.config.net_dir / "wallets"
        return base / "wallet.sqlite" if name == "" else base / name / "wallet.sqlite"

    def load_wallet(self, name: str, *, create_if_missing: bool = False, must_create: bool = False) -> Wallet:
        if name in self.wallets:
            raise WalletLoadError(-35, f"Wallet \"{name}\" is already loaded.")
        path = self.wallet_path(name)
        if must_create and path.exists():
            raise WalletLoadError(-4, f"Failed to create database path '{path.parent}'. Database already exists.")
        if not path.exists() and not (create_if_missing or must_create):
            raise WalletLoadError(-18, f"Wallet file verification failed. Failed to load database path '{path.parent}'. Path does not exist.")
        try:
            store = WalletStore(path, create=True)
        except (WalletStoreError, OSError) as exc:
            raise WalletLoadError(-4, f"Wallet file verification failed. {exc}") from exc
        wallet = Wallet(name, path, store)
        self.wallets[name] = wallet
        log.info("Wallet \"%s\" loaded from %s", name, path)
        if self.ready:
            self.resubmit_wallet_txs(wallet)
        return wallet

    def unload_wallet(self, name: str) -> None:
        wallet = self.wallets.pop(name)
        wallet.store.close()

    def _settings_path(self) -> Path:
        return self.config.net_dir / "settings.json"

    def _startup_wallets(self) -> list[str]:
        try:
            return list(json.loads(self._settings_path().read_text()).get("wallet", []))
        except (OSError, ValueError):
            return []

    def set_load_on_startup(self, name: str, load: bool) -> None:
        names = self._startup_wallets()
        if load and name not in names:
            names.append(name)
        elif not load and name in names:
            names.remove(name)
        else:
            return
        self._settings_path().write_text(json.dumps({"wallet": names}))

    # -- shutdown -------------------------------------------------------------------
    def close(self) -> None:
        with self.lock:
            if self.config.persistmempool:
                self.save_mempool()
            for wallet in self.wallets.values():
                wallet.store.close()
            self.index.close()
            self.kernel.close()
