"""Transactions signed by a key the test holds (P2WPKH), without any wallet RPC.

For tests and benchmarks that need their own spends: mine or send to `key.address`, then
`key.spend(...)` builds and signs a transaction spending those outputs.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

import coincurve
from bitcoin import segwit_addr
from bitcoin.core import (
    CMutableTransaction,
    COutPoint,
    CTxIn,
    CTxInWitness,
    CTxOut,
    CTxWitness,
    Hash160,
    b2lx,
    lx,
)
from bitcoin.core.script import (
    OP_0,
    OP_CHECKSIG,
    OP_DUP,
    OP_EQUALVERIFY,
    OP_HASH160,
    SIGHASH_ALL,
    SIGVERSION_WITNESS_V0,
    CScript,
    CScriptWitness,
    SignatureHash,
)

REGTEST_HRP = "bcrt"


@dataclass(frozen=True)
class Utxo:
    """An output this key can spend."""
    txid: str
    vout: int
    amount_sat: int


@dataclass(frozen=True)
class SignedTx:
    txid: str
    hex: str


def address_to_script(address: str) -> bytes:
    """scriptPubKey of a regtest segwit address (bech32/bech32m)."""
    version, program = segwit_addr.decode(REGTEST_HRP, address)
    if version is None or program is None:
        raise ValueError(f"{address!r} is not a regtest segwit address")
    return bytes(CScript([version if version == 0 else 0x50 + version, bytes(program)]))


class P2wpkhKey:
    """A private key and its regtest P2WPKH address."""

    def __init__(self, secret: bytes | None = None):
        self._key = coincurve.PrivateKey(secret if secret is not None else secrets.token_bytes(32))
        self.pubkey = self._key.public_key.format(compressed=True)
        self.pubkey_hash = Hash160(self.pubkey)
        self.script_pubkey = bytes(CScript([OP_0, self.pubkey_hash]))
        self.address = segwit_addr.encode(REGTEST_HRP, 0, self.pubkey_hash)

    def spend(self, utxos: list[Utxo], outputs: list[tuple[bytes, int]]) -> SignedTx:
        """Sign a version-2 transaction spending `utxos` (all this key's) to `outputs`.

        `outputs` are (scriptPubKey, amount_sat); the fee is what the inputs leave over.
        """
        if not utxos:
            raise ValueError("spend needs at least one input")
        fee_sat = sum(u.amount_sat for u in utxos) - sum(amount for _, amount in outputs)
        if fee_sat < 0:
            raise ValueError(f"outputs exceed inputs by {-fee_sat} sat")
        tx = CMutableTransaction(
            [CTxIn(COutPoint(lx(u.txid), u.vout), nSequence=0xFFFFFFFD) for u in utxos],
            [CTxOut(amount, CScript(script)) for script, amount in outputs], nVersion=2)
        script_code = CScript([OP_DUP, OP_HASH160, self.pubkey_hash, OP_EQUALVERIFY, OP_CHECKSIG])
        witnesses = []
        for index, utxo in enumerate(utxos):
            sighash = SignatureHash(script_code, tx, index, SIGHASH_ALL, amount=utxo.amount_sat,
                                    sigversion=SIGVERSION_WITNESS_V0)
            signature = self._key.sign(sighash, hasher=None) + bytes([SIGHASH_ALL])
            witnesses.append(CTxInWitness(CScriptWitness([signature, self.pubkey])))
        tx.wit = CTxWitness(witnesses)
        return SignedTx(b2lx(tx.GetTxid()), tx.serialize().hex())
