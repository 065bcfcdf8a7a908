"""Wallet keys: derivation from a seed, P2WPKH and P2TR (BIP86-style key path) scripts, signing."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import coincurve

from .primitives import tagged_hash

SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def hash160(data: bytes) -> bytes:
    sha = hashlib.sha256(data).digest()
    try:
        return hashlib.new("ripemd160", sha).digest()
    except ValueError:  # OpenSSL without ripemd160
        from bitcoin.core.contrib.ripemd160 import ripemd160

        return ripemd160(sha)


@dataclass(frozen=True)
class WalletKey:
    """One wallet key and the output script it receives on."""

    kind: str  # "bech32" (P2WPKH) or "bech32m" (P2TR)
    internal: bool
    index: int
    secret: bytes  # 32 bytes

    @property
    def pubkey(self) -> bytes:
        return coincurve.PrivateKey(self.secret).public_key.format(compressed=True)

    @property
    def xonly_internal(self) -> bytes:
        return self.pubkey[1:]

    def taproot_tweak(self) -> bytes:
        return tagged_hash("TapTweak", self.xonly_internal)

    def tweaked_secret(self) -> bytes:
        d = int.from_bytes(self.secret, "big")
        if self.pubkey[0] == 3:
            d = SECP256K1_ORDER - d
        t = int.from_bytes(self.taproot_tweak(), "big")
        return ((d + t) % SECP256K1_ORDER).to_bytes(32, "big")

    def output_key(self) -> bytes:
        return coincurve.PrivateKey(self.tweaked_secret()).public_key.format(compressed=True)[1:]

    @property
    def script_pubkey(self) -> bytes:
        if self.kind == "bech32":
            return b"\x00\x14" + hash160(self.pubkey)
        return b"\x51\x20" + self.output_key()

    def descriptor_body(self) -> str:
        if self.kind == "bech32":
            return f"wpkh({self.pubkey.hex()})"
        return f"tr({self.xonly_internal.hex()})"

    def sign_ecdsa(self, sighash: bytes) -> bytes:
        """DER signature (low-S) of a 32-byte hash."""
        return coincurve.PrivateKey(self.secret).sign(sighash, hasher=None)

    def sign_schnorr_keypath(self, sighash: bytes, aux: bytes) -> bytes:
        """BIP340 signature with the taproot-tweaked key."""
        return coincurve.PrivateKey(self.tweaked_secret()).sign_schnorr(sighash, aux)


def derive_key(seed: bytes, kind: str, internal: bool, index: int) -> WalletKey:
    """Deterministic key number `index` of a (kind, internal) chain of this seed."""
    counter = 0
    while True:
        label = f"{kind}/{int(internal)}/{index}/{counter}".encode()
        secret = hmac.new(seed, label, hashlib.sha512).digest()[:32]
        value = int.from_bytes(secret, "big")
        if 0 < value < SECP256K1_ORDER:
            return WalletKey(kind, internal, index, secret)
        counter += 1
