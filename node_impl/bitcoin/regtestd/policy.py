"""Transaction checks bitcoind applies before the mempool: context-free, standardness, finality."""

from __future__ import annotations

from .amounts import MAX_MONEY_SAT
from .primitives import Tx
from .script import dust_threshold_sat, is_standard_output, iter_ops, script_type

MAX_STANDARD_TX_WEIGHT = 400_000
MAX_BLOCK_WEIGHT = 4_000_000
MIN_STANDARD_TX_NONWITNESS_SIZE = 65
MAX_STANDARD_SCRIPTSIG_SIZE = 1650
COINBASE_MATURITY = 100
LOCKTIME_THRESHOLD = 500_000_000
SEQUENCE_FINAL = 0xFFFFFFFF
SEQUENCE_LOCKTIME_DISABLE_FLAG = 1 << 31
SEQUENCE_LOCKTIME_TYPE_FLAG = 1 << 22
SEQUENCE_LOCKTIME_MASK = 0x0000FFFF
SEQUENCE_LOCKTIME_GRANULARITY = 9
MAX_ANCESTORS = 25
MAX_DESCENDANTS = 25


class TxRejected(Exception):
    """A transaction refused by the mempool, with bitcoind's reason and debug text."""

    def __init__(self, reason: str, debug: str = "", *, missing_inputs: bool = False,
                 already_known: bool = False) -> None:
        super().__init__(f"{reason}, {debug}" if debug else reason)
        self.reason = reason
        self.debug = debug
        self.missing_inputs = missing_inputs
        self.already_known = already_known

    def __str__(self) -> str:
        return f"{self.reason}, {self.debug}" if self.debug else self.reason


def format_money(sat: int) -> str:
    """bitcoind's FormatMoney: at least 2 decimals, trailing zeros trimmed."""
    sign = "-" if sat < 0 else ""
    sat = abs(sat)
    text = f"{sat // 100_000_000}.{sat % 100_000_000:08d}"
    text = text.rstrip("0")
    if len(text.split(".")[1]) < 2:
        text += "0" * (2 - len(text.split(".")[1]))
    return sign + text


def check_transaction(tx: Tx) -> None:
    """Consensus context-free checks (CheckTransaction)."""
    if not tx.vin:
        raise TxRejected("bad-txns-vin-empty")
    if not tx.vout:
        raise TxRejected("bad-txns-vout-empty")
    if tx.base_size * 4 > MAX_BLOCK_WEIGHT:
        raise TxRejected("bad-txns-oversize")
    total = 0
    for out in tx.vout:
        if out.value_sat < 0:
            raise TxRejected("bad-txns-vout-negative")
        if out.value_sat > MAX_MONEY_SAT:
            raise TxRejected("bad-txns-vout-toolarge")
        total += out.value_sat
        if total > MAX_MONEY_SAT:
            raise TxRejected("bad-txns-txouttotal-toolarge")
    seen = set()
    for txin in tx.vin:
        if txin.outpoint in seen:
            raise TxRejected("bad-txns-inputs-duplicate")
        seen.add(txin.outpoint)
    if tx.is_coinbase():
        if not 2 <= len(tx.vin[0].script_sig) <= 100:
            raise TxRejected("bad-cb-length")
    elif any(txin.is_coinbase_input() for txin in tx.vin):
        raise TxRejected("bad-txns-prevout-null")


def check_standard(tx: Tx, dust_relay_fee_sat_per_kvb: int) -> None:
    """Relay policy checks (IsStandardTx)."""
    if not 1 <= tx.version <= 3:
        raise TxRejected("version")
    if tx.weight > MAX_STANDARD_TX_WEIGHT:
        raise TxRejected("tx-size")
    for txin in tx.vin:
        if len(txin.script_sig) > MAX_STANDARD_SCRIPTSIG_SIZE:
            raise TxRejected("scriptsig-size")
        try:
            if any(op > 0x60 for op, _ in iter_ops(txin.script_sig)):
                raise TxRejected("scriptsig-not-pushonly")
        except ValueError:
            raise TxRejected("scriptsig-not-pushonly") from None
    data_outputs = 0
    for out in tx.vout:
        if not is_standard_output(out.script_pubkey):
            raise TxRejected("scriptpubkey")
        kind = script_type(out.script_pubkey)
        if kind == "nulldata":
            data_outputs += 1
        elif kind == "anchor" and out.value_sat == 0:
            continue
        elif out.value_sat < dust_threshold_sat(out.script_pubkey, dust_relay_fee_sat_per_kvb):
            raise TxRejected("dust")
    if data_outputs > 1:
        raise TxRejected("multi-op-return")


def is_final(tx: Tx, block_height: int, block_time: int) -> bool:
    """IsFinalTx for a block at block_height whose lock time reference is block_time (MTP)."""
    if tx.locktime == 0:
        return True
    limit = block_height if tx.locktime < LOCKTIME_THRESHOLD else block_time
    if tx.locktime < limit:
        return True
    return all(txin.sequence == SEQUENCE_FINAL for txin in tx.vin)


def sequence_locks_satisfied(
    tx: Tx,
    coin_heights: list[int],
    coin_mtp: list[int],
    block_height: int,
    prev_mtp: int,
) -> bool:
    """BIP68: whether tx may be in a block at block_height (prev_mtp: MTP of that block's parent).

    coin_heights[i] is the height of the coin spent by input i (block_height when unconfirmed);
    coin_mtp[i] is the MTP of the block before it (the tip's MTP when unconfirmed).
    """
    if tx.version < 2:
        return True
    min_height = -1
    min_time = -1
    for i, txin in enumerate(tx.vin):
        seq = txin.sequence
        if seq & SEQUENCE_LOCKTIME_DISABLE_FLAG:
            continue
        value = seq & SEQUENCE_LOCKTIME_MASK
        if seq & SEQUENCE_LOCKTIME_TYPE_FLAG:
            min_time = max(min_time, coin_mtp[i] + (value << SEQUENCE_LOCKTIME_GRANULARITY) - 1)
        else:
            min_height = max(min_height, coin_heights[i] + value - 1)
    return min_height < block_height and min_time < prev_mtp


def signals_rbf(tx: Tx) -> bool:
    return any(txin.sequence < 0xFFFFFFFE for txin in tx.vin)
