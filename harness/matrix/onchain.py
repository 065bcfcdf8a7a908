"""Reading a channel's closing transactions on the chain (BOLT 3), and mining until an
on-chain outcome arrives: what the close scenarios check."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from bitcoin.core.script import (
    OP_CHECKSEQUENCEVERIFY,
    OP_CHECKSIG,
    OP_DROP,
    OP_ELSE,
    OP_ENDIF,
    OP_IF,
    CScript,
)
from lnharness.chain import Chain, btc_to_sat
from lnharness.errors import LnhError
from lnharness.node import LightningNode

T = TypeVar("T")

#: BOLT 3: the upper byte of a commitment transaction's input nSequence and of its locktime
COMMITMENT_SEQUENCE_TAG = 0x80
COMMITMENT_LOCKTIME_TAG = 0x20
#: blocks `mine_until` mines at most before it gives up
MAX_BLOCKS = 40


def spends(tx: dict[str, Any], txid: str) -> bool:
    """Whether `tx` (bitcoind's verbose JSON) spends an output of `txid`."""
    return any(vin.get("txid") == txid for vin in tx["vin"])


def is_commitment(tx: dict[str, Any], funding_txid: str) -> bool:
    """Whether `tx` is a BOLT 3 commitment transaction spending the funding output of
    `funding_txid`: one input, its nSequence and the locktime carrying the obscured
    commitment number under their 0x80 and 0x20 tags."""
    vin = tx["vin"]
    return (len(vin) == 1 and vin[0].get("txid") == funding_txid
            and vin[0]["sequence"] >> 24 == COMMITMENT_SEQUENCE_TAG
            and tx["locktime"] >> 24 == COMMITMENT_LOCKTIME_TAG)


def is_mutual_close(tx: dict[str, Any], funding_txid: str) -> bool:
    """Whether `tx` spends the funding output of `funding_txid` and is not a commitment
    (a BOLT 2 closing transaction)."""
    vin = tx["vin"]
    return (len(vin) == 1 and vin[0].get("txid") == funding_txid
            and not is_commitment(tx, funding_txid))


def _script_number(item: object) -> int | None:
    """A small number pushed by a script (OP_n or a minimal little-endian push)."""
    if isinstance(item, int):
        return item
    if isinstance(item, bytes) and 0 < len(item) <= 4:
        value = int.from_bytes(item, "little")
        sign = 0x80 << (8 * (len(item) - 1))
        return -(value & ~sign) if value & sign else value
    return None


def to_local_delay(witness_script: bytes) -> int | None:
    """The `to_self_delay` of a BOLT 3 `to_local` script, or None if it is not one:
    OP_IF <revocationpubkey> OP_ELSE <delay> OP_CHECKSEQUENCEVERIFY OP_DROP
    <local_delayedpubkey> OP_ENDIF OP_CHECKSIG."""
    try:
        items = list(CScript(witness_script))
    except Exception:  # not a parseable script: not a to_local output
        return None
    if len(items) != 9:
        return None
    shape = (items[0] == OP_IF and isinstance(items[1], bytes) and len(items[1]) == 33
             and items[2] == OP_ELSE and items[4] == OP_CHECKSEQUENCEVERIFY
             and items[5] == OP_DROP and isinstance(items[6], bytes) and len(items[6]) == 33
             and items[7] == OP_ENDIF and items[8] == OP_CHECKSIG)
    return _script_number(items[3]) if shape else None


@dataclass(frozen=True)
class DelayedSweep:
    """A confirmed spend of a commitment's `to_local` output through its delayed path."""
    txid: str
    height: int
    delay: int
    amount_sat: int


def delayed_sweep_in(block: dict[str, Any], height: int, commitment_txid: str) -> DelayedSweep | None:
    """The transaction of `block` (getblock verbosity 2) that spends the `to_local` output
    of `commitment_txid` by its delayed path, if there is one."""
    for tx in block["tx"]:
        for vin in tx["vin"]:
            witness = vin.get("txinwitness") or []
            if vin.get("txid") != commitment_txid or len(witness) < 2:
                continue
            delay = to_local_delay(bytes.fromhex(witness[-1]))
            # the delayed path selects OP_ELSE: an empty item just before the script
            if delay is not None and witness[-2] == "":
                amount = sum(btc_to_sat(out["value"]) for out in tx["vout"])
                return DelayedSweep(tx["txid"], height, delay, amount)
    return None


class ToLocalSweepWatch:
    """Called, looks through the blocks not seen yet (from `from_height` on) for the
    delayed sweep of `commitment_txid`'s `to_local` output; returns it once confirmed."""

    def __init__(self, chain: Chain, commitment_txid: str, from_height: int):
        self.chain = chain
        self.commitment_txid = commitment_txid
        self.next_height = from_height

    def __call__(self) -> DelayedSweep | None:
        while self.next_height <= self.chain.height():
            block = self.chain.rpc.getblock(self.chain.rpc.getblockhash(self.next_height), 2)
            found = delayed_sweep_in(block, self.next_height, self.commitment_txid)
            self.next_height += 1
            if found is not None:
                return found
        return None


class NotReached(LnhError):
    """`mine_until` mined its maximum of blocks and the awaited outcome never came."""


def mine_until(chain: Chain, nodes: Sequence[LightningNode], done: Callable[[], T | None],
               what: str, max_blocks: int = MAX_BLOCKS) -> T:
    """Mine one block at a time, each time waiting until every node has processed it, until
    `done()` returns something truthy, and return it: timelocks and sweeps advance with
    blocks, not with time."""
    for _ in range(max_blocks):
        result = done()
        if result:
            return result
        chain.generate_block(1)
        height = chain.height()
        for node in nodes:
            node.wait_for_blockheight(height)
    result = done()
    if not result:
        raise NotReached(f"{what}: not reached after mining {max_blocks} blocks "
                         f"(tip {chain.height()})")
    return result
