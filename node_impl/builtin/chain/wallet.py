"""On-chain wallet: P2WPKH keys from the node seed, UTXOs tracked from connected blocks.

Layer: chain. Imports core, wire, keys and tx only; it is given its storage, seed, network
and a callable for the node's block height, and is told of blocks and reorgs by the
composition root (node.py subscribes `on_block`/`on_reorg` to the chain watcher).

Keys are `keys.wallet_privkey(seed, i)`; every issued address plus a look-ahead window is
watched. `fund_tx` selects inputs, adds change, signs, and reserves the inputs (marks them spent
by the new tx) so concurrent fundings never pick the same coins; `release` undoes a reservation
for a tx that was never broadcast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bitcoin.base58 import Base58Error, CBase58Data
from bitcoin.core import (
    CBlock,
    CMutableTransaction,
    COutPoint,
    CTransaction,
    CTxIn,
    CTxInWitness,
    CTxOut,
    CTxWitness,
    b2lx,
    lx,
)
from bitcoin.core.script import (
    SIGHASH_ALL,
    SIGVERSION_WITNESS_V0,
    CScript,
    CScriptWitness,
    SignatureHash,
)
from coincurve import PrivateKey

from ..core.log import get_logger
from ..core.storage import Storage
from ..keys import derivation as keys
from ..tx.scripts import p2pkh, p2wpkh
from ..wire.bech32 import Bech32Error, bech32_decode, bech32_encode, convert_bits

log = get_logger("wallet")

LOOKAHEAD = 20
DUST_LIMIT_SAT = 546
# Weights (BOLT 3 Appendix A style upper bounds): P2WPKH input with a 72-byte signature.
TX_BASE_WEIGHT = 4 * 10 + 2  # version, locktime, counts; segwit marker and flag
P2WPKH_INPUT_WEIGHT = 4 * 41 + 1 + 1 + 72 + 1 + 33
FOREIGN_INPUT_BASE_WEIGHT = 4 * 41  # outpoint, empty scriptSig, nSequence (its witness apart)
NETWORK_HRP = {"regtest": "bcrt"}
BASE58_PREFIXES = {"regtest": {111: "p2pkh", 196: "p2sh"}}


class WalletError(Exception):
    """A wallet operation cannot be done (insufficient funds, bad address, ...)."""


@dataclass(frozen=True)
class ForeignInput:
    """An input of a tx the wallet funds that its caller signs: the output it spends
    (``txid`` in internal byte order), its value, nSequence, and its witness's weight."""

    txid: bytes
    vout: int
    amount_sat: int
    sequence: int
    witness_weight: int


@dataclass(frozen=True)
class FundedTx:
    """A tx from `Wallet.fund_with`: our inputs signed, the caller's first ones not yet."""

    tx: CTransaction
    foreign_inputs: int
    our_witnesses: tuple[CTxInWitness, ...]

    def signed(self, foreign_stacks: Sequence[Sequence[bytes]]) -> CTransaction:
        """The tx with the caller's witness stacks for its inputs, in order, and ours."""
        if len(foreign_stacks) != self.foreign_inputs:
            raise WalletError(f"{len(foreign_stacks)} witnesses for {self.foreign_inputs} inputs")
        witnesses = [CTxInWitness(CScriptWitness(list(stack))) for stack in foreign_stacks]
        return CTransaction(self.tx.vin, self.tx.vout, nLockTime=self.tx.nLockTime,
                            nVersion=self.tx.nVersion, witness=CTxWitness(witnesses + list(self.our_witnesses)))


@dataclass(frozen=True)
class Utxo:
    txid: str
    vout: int
    amount_sat: int
    script: bytes
    key_index: int
    blockheight: int | None


def output_weight(script: bytes) -> int:
    return 4 * (8 + 1 + len(script))


def fee_for_weight(weight: int, feerate_per_kw: int) -> int:
    """Fee in sat for `weight` at `feerate_per_kw` (sat per 1000 weight units), rounded up."""
    return (weight * feerate_per_kw + 999) // 1000


def address_to_script(address: str, network: str) -> bytes:
    """scriptPubKey of a segwit v0 (bech32) or base58 (P2PKH/P2SH) address of `network`."""
    hrp = NETWORK_HRP[network]
    if address.lower().startswith(hrp + "1"):
        try:
            got_hrp, words = bech32_decode(address)
        except Bech32Error as exc:
            raise WalletError(f"address {address!r}: {exc} (only segwit v0 bech32 is supported)") from None
        if got_hrp != hrp or not words or words[0] != 0:
            raise WalletError(f"address {address!r}: only segwit v0 addresses are supported")
        program = bytes(convert_bits(words[1:], 5, 8, pad=False))
        if len(program) not in (20, 32):
            raise WalletError(f"address {address!r}: bad witness program length {len(program)}")
        return bytes([0, len(program)]) + program
    try:
        data = CBase58Data(address)
    except (Base58Error, ValueError) as exc:
        raise WalletError(f"address {address!r} is not a {network} address: {exc}") from None
    kind = BASE58_PREFIXES[network].get(data.nVersion)
    if kind == "p2pkh" and len(data) == 20:
        return b"\x76\xa9\x14" + bytes(data) + b"\x88\xac"
    if kind == "p2sh" and len(data) == 20:
        return b"\xa9\x14" + bytes(data) + b"\x87"
    raise WalletError(f"address {address!r} is not a {network} address")


def script_to_address(script: bytes, network: str) -> str | None:
    """bech32 address of a segwit v0 script, else None."""
    if len(script) in (22, 34) and script[0] == 0 and script[1] == len(script) - 2:
        return bech32_encode(NETWORK_HRP[network], [0] + convert_bits(script[2:], 8, 5, pad=True))
    return None


class Wallet:
    """The node's on-chain wallet (tables wallet_utxos; var wallet_next_index)."""

    def __init__(self, *, db: Storage, seed: bytes, network: str,
                 blockheight: Callable[[], int]) -> None:
        """`blockheight()`: height of the last block the node processed (0 before the first)."""
        self.db = db
        self.network = network
        self._seed = seed
        self._blockheight = blockheight
        self.db.migrate("wallet", [
            "CREATE TABLE wallet_utxos (txid TEXT NOT NULL, vout INTEGER NOT NULL, "
            "amount_sat INTEGER NOT NULL, script BLOB NOT NULL, key_index INTEGER NOT NULL, "
            "blockheight INTEGER, spent_by TEXT, spent_height INTEGER, PRIMARY KEY (txid, vout))",
        ])
        self._scripts: dict[bytes, int] = {}
        self._watched_up_to = 0
        self._watch_through(self.next_index + LOOKAHEAD)

    @property
    def next_index(self) -> int:
        return int(self.db.get_var("wallet_next_index") or 0)

    def _watch_through(self, end_index: int) -> None:
        for index in range(self._watched_up_to, end_index):
            self._scripts[bytes(p2wpkh(keys.wallet_pubkey(self._seed, index)))] = index
        self._watched_up_to = max(self._watched_up_to, end_index)

    def new_address(self) -> tuple[str, bytes]:
        """A fresh P2WPKH address and its scriptPubKey."""
        index = self.next_index
        self.db.set_var("wallet_next_index", str(index + 1))
        self._watch_through(index + 1 + LOOKAHEAD)
        script = bytes(p2wpkh(keys.wallet_pubkey(self._seed, index)))
        address = script_to_address(script, self.network)
        if address is None:
            raise WalletError("internal: wallet script is not segwit v0")
        log.debug("new address %d: %s", index, address)
        return address, script

    def change_script(self) -> bytes:
        return self.new_address()[1]

    def is_ours(self, script: bytes) -> bool:
        return script in self._scripts

    # --- chain events -----------------------------------------------------------------------

    async def on_block(self, height: int, block_hash: str, block: CBlock) -> None:
        found = 0
        with self.db.transaction():
            for tx in block.vtx:
                txid = b2lx(tx.GetTxid())
                for txin in tx.vin:
                    prev = (b2lx(txin.prevout.hash), txin.prevout.n)
                    cur = self.db.execute(
                        "UPDATE wallet_utxos SET spent_by = ?, spent_height = ? "
                        "WHERE txid = ? AND vout = ?", (txid, height, *prev))
                    if cur.rowcount:
                        log.info("output %s:%d spent by %s in block %d", *prev, txid, height)
                for vout, txout in enumerate(tx.vout):
                    script = bytes(txout.scriptPubKey)
                    index = self._scripts.get(script)
                    if index is None:
                        continue
                    found += 1
                    self.db.execute(
                        "INSERT INTO wallet_utxos (txid, vout, amount_sat, script, key_index, blockheight) "
                        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(txid, vout) DO UPDATE SET "
                        "blockheight = excluded.blockheight",
                        (txid, vout, txout.nValue, script, index, height))
                    log.info("received %d sat in %s:%d (block %d)", txout.nValue, txid, vout, height)
                    if index + LOOKAHEAD > self._watched_up_to:
                        self._watch_through(index + 1 + LOOKAHEAD)
                    if index >= self.next_index:
                        self.db.set_var("wallet_next_index", str(index + 1))
        if found:
            log.debug("block %d: %d wallet outputs", height, found)

    async def on_reorg(self, fork_height: int) -> None:
        with self.db.transaction():
            self.db.execute("UPDATE wallet_utxos SET blockheight = NULL WHERE blockheight > ?",
                            (fork_height,))
            self.db.execute("UPDATE wallet_utxos SET spent_height = NULL WHERE spent_height > ?",
                            (fork_height,))

    # --- queries ----------------------------------------------------------------------------

    def _utxos(self, where: str) -> list[Utxo]:
        rows = self.db.query(
            "SELECT txid, vout, amount_sat, script, key_index, blockheight FROM wallet_utxos "
            f"WHERE {where} ORDER BY amount_sat DESC, txid, vout")
        return [Utxo(r["txid"], r["vout"], r["amount_sat"], bytes(r["script"]), r["key_index"],
                     r["blockheight"]) for r in rows]

    def _spent(self) -> list[Utxo]:
        return self._utxos("spent_by IS NOT NULL")

    def unspent(self, *, minconf: int = 0) -> list[Utxo]:
        """Unspent, unreserved outputs with at least `minconf` confirmations."""
        utxos = self._utxos("spent_by IS NULL")
        tip = self._blockheight()
        if minconf <= 0:
            return utxos
        return [u for u in utxos if u.blockheight is not None and tip - u.blockheight + 1 >= minconf]

    def listfunds_outputs(self, *, include_spent: bool = False) -> list[dict[str, Any]]:
        """listfunds `outputs` (Core Lightning's field names); spent outputs only on request."""
        outputs = []
        spent = self._spent() if include_spent else []
        for u, is_spent in [(u, False) for u in self.unspent()] + [(u, True) for u in spent]:
            status = "confirmed" if u.blockheight is not None else "unconfirmed"
            entry: dict[str, Any] = {
                "txid": u.txid, "output": u.vout, "amount_msat": u.amount_sat * 1000,
                "scriptpubkey": u.script.hex(), "address": script_to_address(u.script, self.network),
                "status": "spent" if is_spent else status, "reserved": False,
            }
            if u.blockheight is not None:
                entry["blockheight"] = u.blockheight
            outputs.append(entry)
        return outputs

    def balance_sat(self, *, minconf: int = 1) -> int:
        return sum(u.amount_sat for u in self.unspent(minconf=minconf))

    # --- spending ---------------------------------------------------------------------------

    def fund_tx(self, outputs: list[tuple[bytes, int]], feerate_per_kw: int, *, minconf: int = 1,
                send_all: bool = False) -> CTransaction:
        """Signed tx paying `outputs` [(scriptPubKey, amount_sat)] from our UTXOs, change to us.

        With `send_all` there must be exactly one output; its amount becomes everything minus
        the fee. The inputs are reserved at once (see `release`).
        """
        if send_all and len(outputs) != 1:
            raise WalletError("sending everything needs exactly one output")
        available = self.unspent(minconf=minconf)
        weight = TX_BASE_WEIGHT + sum(output_weight(script) for script, _ in outputs)
        target = sum(amount for _, amount in outputs)
        chosen: list[Utxo] = []
        total = 0
        change_sat = 0
        if send_all:
            chosen = available
            total = sum(u.amount_sat for u in chosen)
            weight += P2WPKH_INPUT_WEIGHT * len(chosen)
            amount = total - fee_for_weight(weight, feerate_per_kw)
            if not chosen or amount < DUST_LIMIT_SAT:
                raise WalletError(f"cannot afford to send all: {total} sat available in "
                                  f"{len(chosen)} confirmed outputs")
            outputs = [(outputs[0][0], amount)]
        else:
            change_weight = output_weight(bytes(22))
            available = _selection_order(available, target + fee_for_weight(
                weight + P2WPKH_INPUT_WEIGHT + change_weight, feerate_per_kw))
            for utxo in available:
                chosen.append(utxo)
                total += utxo.amount_sat
                weight += P2WPKH_INPUT_WEIGHT
                fee_without_change = fee_for_weight(weight, feerate_per_kw)
                if total < target + fee_without_change:
                    continue
                change_sat = total - target - fee_for_weight(weight + change_weight, feerate_per_kw)
                if change_sat < DUST_LIMIT_SAT:
                    change_sat = 0
                break
            else:
                raise WalletError(
                    f"insufficient funds: need {target} sat plus fee at {feerate_per_kw} sat/kw, "
                    f"have {total} sat in {len(available)} outputs with {minconf}+ confirmations")
        tx_outputs = [CTxOut(amount, CScript(script)) for script, amount in outputs]
        if change_sat:
            tx_outputs.append(CTxOut(change_sat, CScript(self.change_script())))
        tx = CMutableTransaction(
            [CTxIn(COutPoint(lx(u.txid), u.vout), nSequence=0xFFFFFFFD) for u in chosen],
            tx_outputs, nLockTime=self._blockheight(), nVersion=2)
        tx.wit = CTxWitness(self._sign(tx, chosen, first_index=0))
        final = CTransaction.from_tx(tx)
        self._reserve(chosen, b2lx(final.GetTxid()))
        return final

    def fund_with(self, foreign: Sequence[ForeignInput], outputs: Sequence[tuple[bytes, int]],
                  feerate_per_kw: int, *, extra_fee_sat: int = 0, locktime: int = 0,
                  minconf: int = 1) -> FundedTx:
        """A tx spending `foreign` inputs (first, in order; the caller signs them) and paying
        `outputs` (first, in order), with our coins added so that it pays `feerate_per_kw` on
        its whole weight plus `extra_fee_sat` (what a parent lacks, for CPFP), change to us.

        Our inputs are signed (SIGHASH_ALL) and reserved at once (see `release`). Raises
        WalletError when our confirmed coins cannot pay it."""
        weight = TX_BASE_WEIGHT + sum(output_weight(script) for script, _ in outputs) \
            + sum(FOREIGN_INPUT_BASE_WEIGHT + f.witness_weight for f in foreign)
        change_weight = output_weight(bytes(22))
        owed = sum(amount for _, amount in outputs) + extra_fee_sat - sum(f.amount_sat for f in foreign)
        available = _selection_order(self.unspent(minconf=minconf), owed + fee_for_weight(
            weight + P2WPKH_INPUT_WEIGHT + change_weight, feerate_per_kw) + DUST_LIMIT_SAT)
        chosen: list[Utxo] = []
        change_sat = -1
        for utxo in available:
            chosen.append(utxo)
            weight += P2WPKH_INPUT_WEIGHT
            change_sat = sum(u.amount_sat for u in chosen) - owed \
                - fee_for_weight(weight + change_weight, feerate_per_kw)
            if change_sat >= DUST_LIMIT_SAT:
                break
        else:
            raise WalletError(
                f"insufficient funds: need {max(owed, 0)} sat plus fee at {feerate_per_kw} sat/kw, have "
                f"{sum(u.amount_sat for u in chosen)} sat in {len(chosen)} outputs with {minconf}+ confirmations")
        tx = CMutableTransaction(
            [CTxIn(COutPoint(f.txid, f.vout), nSequence=f.sequence) for f in foreign]
            + [CTxIn(COutPoint(lx(u.txid), u.vout), nSequence=0xFFFFFFFD) for u in chosen],
            [CTxOut(amount, CScript(script)) for script, amount in outputs]
            + [CTxOut(change_sat, CScript(self.change_script()))],
            nLockTime=locktime, nVersion=2)
        ours = self._sign(tx, chosen, first_index=len(foreign))
        funded = FundedTx(CTransaction.from_tx(tx), len(foreign), tuple(ours))
        self._reserve(chosen, b2lx(funded.tx.GetTxid()))
        return funded

    def _sign(self, tx: CMutableTransaction, utxos: Sequence[Utxo], *, first_index: int) -> list[CTxInWitness]:
        """Witnesses of our P2WPKH inputs, which are `tx`'s inputs from `first_index` on."""
        witnesses = []
        for i, utxo in enumerate(utxos, start=first_index):
            privkey = keys.wallet_privkey(self._seed, utxo.key_index)
            pubkey = keys.pubkey_of(privkey)
            sighash = SignatureHash(CScript(p2pkh(pubkey)), tx, i, SIGHASH_ALL,
                                    amount=utxo.amount_sat, sigversion=SIGVERSION_WITNESS_V0)
            signature = PrivateKey(privkey).sign(sighash, hasher=None) + bytes([SIGHASH_ALL])
            witnesses.append(CTxInWitness(CScriptWitness([signature, pubkey])))
        return witnesses

    def _reserve(self, utxos: Sequence[Utxo], txid: str) -> None:
        with self.db.transaction():
            for utxo in utxos:
                self.db.execute("UPDATE wallet_utxos SET spent_by = ? WHERE txid = ? AND vout = ?",
                                (txid, utxo.txid, utxo.vout))

    def note_broadcast(self, tx: CTransaction) -> None:
        """Track our outputs of a tx we broadcast (change) as unconfirmed until mined."""
        txid = b2lx(tx.GetTxid())
        with self.db.transaction():
            for vout, txout in enumerate(tx.vout):
                script = bytes(txout.scriptPubKey)
                index = self._scripts.get(script)
                if index is not None:
                    self.db.execute(
                        "INSERT OR IGNORE INTO wallet_utxos (txid, vout, amount_sat, script, key_index) "
                        "VALUES (?, ?, ?, ?, ?)", (txid, vout, txout.nValue, script, index))

    def release(self, tx: CTransaction) -> None:
        """Give back the inputs `fund_tx` reserved for a tx that will not be broadcast."""
        txid = b2lx(tx.GetTxid())
        self.db.execute("UPDATE wallet_utxos SET spent_by = NULL "
                        "WHERE spent_by = ? AND spent_height IS NULL", (txid,))


def _selection_order(utxos: list[Utxo], single_input_need_sat: int) -> list[Utxo]:
    """Coins in the order to spend them: the smallest that pays alone first, then largest first.

    Spending the smallest sufficient coin keeps the big ones for later spends, so a node can
    fund several transactions at once from coins confirmed for exactly that.
    """
    by_size = sorted(utxos, key=lambda u: u.amount_sat, reverse=True)
    alone = [u for u in by_size if u.amount_sat >= single_input_need_sat]
    if not alone:
        return by_size
    best = alone[-1]
    return [best, *(u for u in by_size if u is not best)]
