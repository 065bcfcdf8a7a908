"""Block assembly for regtest: coinbase (BIP34 height, witness commitment), merkle root, proof of work."""

from __future__ import annotations

import struct

from .primitives import Block, BlockHeader, Tx, TxIn, TxOut, dsha256, merkle_root
from .script import push_int

REGTEST_BITS = 0x207FFFFF
BLOCK_VERSION = 0x20000000
HALVING_INTERVAL = 150
WITNESS_COMMITMENT_HEADER = b"\xaa\x21\xa9\xed"
_TARGET = 0x7FFFFF << (8 * (0x20 - 3))


def block_subsidy_sat(height: int) -> int:
    halvings = height // HALVING_INTERVAL
    if halvings >= 64:
        return 0
    return (50 * 100_000_000) >> halvings


def make_coinbase(height: int, payout_spk: bytes, value_sat: int, txs: list[Tx]) -> Tx:
    """Coinbase paying value_sat to payout_spk, committing to the witnesses of txs."""
    coinbase = Tx(
        version=2,
        vin=[TxIn(b"\x00" * 32, 0xFFFFFFFF, push_int(height) + b"\x00", 0xFFFFFFFF, [b"\x00" * 32])],
        vout=[TxOut(value_sat, payout_spk)],
        locktime=0,
    )
    witness_root = merkle_root([b"\x00" * 32] + [tx.wtxid for tx in txs])
    commitment = dsha256(witness_root + b"\x00" * 32)
    coinbase.vout.append(TxOut(0, b"\x6a\x24" + WITNESS_COMMITMENT_HEADER + commitment))
    return coinbase


def solve(header: BlockHeader) -> BlockHeader:
    """Grind the nonce until the header meets the regtest target (about two tries)."""
    prefix = header.serialize()[:76]
    nonce = 0
    while True:
        candidate = prefix + struct.pack("<I", nonce)
        if int.from_bytes(dsha256(candidate), "little") <= _TARGET:
            header.nonce = nonce
            return header
        nonce += 1


def assemble_block(
    prev_hash: bytes, height: int, block_time: int, payout_spk: bytes, txs: list[Tx], fees_sat: int
) -> Block:
    """A solved block on top of prev_hash at height containing txs (in that order)."""
    coinbase = make_coinbase(height, payout_spk, block_subsidy_sat(height) + fees_sat, txs)
    all_txs = [coinbase, *txs]
    header = BlockHeader(
        version=BLOCK_VERSION,
        prev_hash=prev_hash,
        merkle_root=merkle_root([tx.txid for tx in all_txs]),
        time=block_time,
        bits=REGTEST_BITS,
        nonce=0,
    )
    return Block(solve(header), all_txs)
