"""BOLT 8: the Noise_XK handshake and the encrypted message transport.

Layer: net. Imports nothing of the node.

Pure state machines without I/O: `InitiatorHandshake` and `ResponderHandshake`
turn act bytes into act bytes and finally into a `NoiseTransport`, which
encrypts and decrypts length-prefixed Lightning messages and rotates its keys
every 1000 nonces.  `transport.py` drives them over asyncio sockets.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from coincurve import PrivateKey, PublicKey
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

PROTOCOL_NAME = b"Noise_XK_secp256k1_ChaChaPoly_SHA256"
PROLOGUE = b"lightning"
HANDSHAKE_VERSION = 0

ACT_ONE_SIZE = 50
ACT_TWO_SIZE = 50
ACT_THREE_SIZE = 66
MAC_SIZE = 16
ENCRYPTED_LENGTH_SIZE = 2 + MAC_SIZE
MAX_MESSAGE_SIZE = 65535
KEY_ROTATION_INTERVAL = 1000


class HandshakeError(Exception):
    """The BOLT 8 handshake failed: which act, and why."""


class TransportError(Exception):
    """An encrypted message could not be decrypted or is too large."""


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hkdf_two_keys(salt: bytes, ikm: bytes) -> tuple[bytes, bytes]:
    """BOLT 8 HKDF: RFC 5869 extract-and-expand, empty info, 64 bytes split in two."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    t1 = hmac.new(prk, b"\x01", hashlib.sha256).digest()
    t2 = hmac.new(prk, t1 + b"\x02", hashlib.sha256).digest()
    return t1, t2


def _nonce(n: int) -> bytes:
    return b"\x00\x00\x00\x00" + n.to_bytes(8, "little")


def encrypt_with_ad(key: bytes, nonce: int, ad: bytes, plaintext: bytes) -> bytes:
    """ChaCha20-Poly1305 (RFC 8439) with BOLT 8's 96-bit nonce layout."""
    return ChaCha20Poly1305(key).encrypt(_nonce(nonce), plaintext, ad)


def decrypt_with_ad(key: bytes, nonce: int, ad: bytes, ciphertext: bytes) -> bytes:
    """Inverse of `encrypt_with_ad`; raises cryptography's InvalidTag on a bad MAC."""
    return ChaCha20Poly1305(key).decrypt(_nonce(nonce), ciphertext, ad)


def ecdh(private_key: bytes, public_key: bytes) -> bytes:
    """SHA256 of the compressed shared point (coincurve's default ECDH hash)."""
    return PrivateKey(private_key).ecdh(public_key)


def _parse_pubkey(raw: bytes, act: str) -> bytes:
    if len(raw) != 33 or raw[0] not in (2, 3):
        raise HandshakeError(f"{act}: bad public key serialization {raw[:1].hex()}...")
    try:
        PublicKey(raw)
    except ValueError as exc:
        raise HandshakeError(f"{act}: public key is not on the curve") from exc
    return raw


def _check_length(data: bytes, expected: int, act: str) -> None:
    if len(data) != expected:
        raise HandshakeError(f"{act}: expected {expected} bytes, got {len(data)}")


def _check_version(data: bytes, act: str) -> None:
    if data[0] != HANDSHAKE_VERSION:
        raise HandshakeError(f"{act}: unknown handshake version {data[0]}")


class _SymmetricState:
    """The handshake variables `ck` and `h` shared by both roles."""

    def __init__(self, responder_static_pubkey: bytes) -> None:
        self.h = sha256(PROTOCOL_NAME)
        self.ck = self.h
        self.mix_hash(PROLOGUE)
        self.mix_hash(responder_static_pubkey)

    def mix_hash(self, data: bytes) -> None:
        self.h = sha256(self.h + data)

    def mix_key(self, shared_secret: bytes) -> bytes:
        self.ck, temp_k = hkdf_two_keys(self.ck, shared_secret)
        return temp_k

    def split(self) -> tuple[bytes, bytes]:
        return hkdf_two_keys(self.ck, b"")


class _CipherState:
    """One direction of the transport: a key, its nonce and its chaining key."""

    def __init__(self, key: bytes, chaining_key: bytes) -> None:
        self.key = key
        self.chaining_key = chaining_key
        self.nonce = 0

    def encrypt(self, plaintext: bytes) -> bytes:
        ciphertext = encrypt_with_ad(self.key, self.nonce, b"", plaintext)
        self._advance()
        return ciphertext

    def decrypt(self, ciphertext: bytes) -> bytes:
        plaintext = decrypt_with_ad(self.key, self.nonce, b"", ciphertext)
        self._advance()
        return plaintext

    def _advance(self) -> None:
        self.nonce += 1
        if self.nonce == KEY_ROTATION_INTERVAL:
            self.chaining_key, self.key = hkdf_two_keys(self.chaining_key, self.key)
            self.nonce = 0


class NoiseTransport:
    """Encrypts outgoing and decrypts incoming Lightning messages after the handshake.

    Receiving is two steps because the length arrives first:
    `decrypt_length(first 18 bytes)` gives `n`, then `decrypt_body(next n + 16 bytes)`.
    """

    def __init__(
        self, sending_key: bytes, receiving_key: bytes, chaining_key: bytes, remote_pubkey: bytes
    ) -> None:
        self._send = _CipherState(sending_key, chaining_key)
        self._receive = _CipherState(receiving_key, chaining_key)
        self.remote_pubkey = remote_pubkey

    @property
    def sending_key(self) -> bytes:
        return self._send.key

    @property
    def receiving_key(self) -> bytes:
        return self._receive.key

    def encrypt_message(self, message: bytes) -> bytes:
        """Return the wire bytes (encrypted length, MAC, encrypted body, MAC) for one message."""
        if len(message) > MAX_MESSAGE_SIZE:
            raise TransportError(
                f"message of {len(message)} bytes exceeds the {MAX_MESSAGE_SIZE}-byte maximum"
            )
        length = self._send.encrypt(len(message).to_bytes(2, "big"))
        return length + self._send.encrypt(message)

    def decrypt_length(self, encrypted_length: bytes) -> int:
        """Decrypt the 18-byte length prefix; returns the body length without its MAC."""
        if len(encrypted_length) != ENCRYPTED_LENGTH_SIZE:
            raise TransportError(
                f"length prefix must be {ENCRYPTED_LENGTH_SIZE} bytes, got {len(encrypted_length)}"
            )
        try:
            return int.from_bytes(self._receive.decrypt(encrypted_length), "big")
        except InvalidTag as exc:
            raise TransportError("bad MAC on message length prefix") from exc

    def decrypt_body(self, encrypted_body: bytes) -> bytes:
        """Decrypt a message body (ciphertext plus its 16-byte MAC)."""
        try:
            return self._receive.decrypt(encrypted_body)
        except InvalidTag as exc:
            raise TransportError("bad MAC on message body") from exc


def _new_ephemeral_key(ephemeral_privkey: bytes | None) -> PrivateKey:
    return PrivateKey(ephemeral_privkey) if ephemeral_privkey is not None else PrivateKey(
        os.urandom(32)
    )


class InitiatorHandshake:
    """Initiator side: `act_one()`, then `process_act_two(data)` returns act three.

    After that, `transport` holds the `NoiseTransport`.  `ephemeral_privkey` is
    only for test vectors; leave it None to get a fresh random key.
    """

    def __init__(
        self,
        local_privkey: bytes,
        remote_pubkey: bytes,
        *,
        ephemeral_privkey: bytes | None = None,
    ) -> None:
        self._static = PrivateKey(local_privkey)
        self.remote_pubkey = _parse_pubkey(remote_pubkey, "remote node id")
        self._ephemeral = _new_ephemeral_key(ephemeral_privkey)
        self._state = _SymmetricState(self.remote_pubkey)
        self.transport: NoiseTransport | None = None

    def act_one(self) -> bytes:
        """Build the 50-byte act one (`-> e, es`)."""
        e_pub = self._ephemeral.public_key.format(compressed=True)
        self._state.mix_hash(e_pub)
        temp_k1 = self._state.mix_key(ecdh(self._ephemeral.secret, self.remote_pubkey))
        c = encrypt_with_ad(temp_k1, 0, self._state.h, b"")
        self._state.mix_hash(c)
        return bytes([HANDSHAKE_VERSION]) + e_pub + c

    def process_act_two(self, data: bytes) -> bytes:
        """Check the responder's act two (`<- e, ee`) and return the 66-byte act three."""
        _check_length(data, ACT_TWO_SIZE, "act two")
        _check_version(data, "act two")
        remote_ephemeral = _parse_pubkey(data[1:34], "act two")
        c = data[34:]
        self._state.mix_hash(remote_ephemeral)
        temp_k2 = self._state.mix_key(ecdh(self._ephemeral.secret, remote_ephemeral))
        try:
            decrypt_with_ad(temp_k2, 0, self._state.h, c)
        except InvalidTag as exc:
            raise HandshakeError("act two: bad MAC (responder is not who we expected?)") from exc
        self._state.mix_hash(c)
        return self._act_three(temp_k2, remote_ephemeral)

    def _act_three(self, temp_k2: bytes, remote_ephemeral: bytes) -> bytes:
        s_pub = self._static.public_key.format(compressed=True)
        c = encrypt_with_ad(temp_k2, 1, self._state.h, s_pub)
        self._state.mix_hash(c)
        temp_k3 = self._state.mix_key(ecdh(self._static.secret, remote_ephemeral))
        t = encrypt_with_ad(temp_k3, 0, self._state.h, b"")
        sending_key, receiving_key = self._state.split()
        self.transport = NoiseTransport(
            sending_key, receiving_key, self._state.ck, self.remote_pubkey
        )
        return bytes([HANDSHAKE_VERSION]) + c + t


class ResponderHandshake:
    """Responder side: `process_act_one(data)` returns act two, then
    `process_act_three(data)` returns the initiator's static public key.

    After that, `transport` holds the `NoiseTransport`.
    """

    def __init__(self, local_privkey: bytes, *, ephemeral_privkey: bytes | None = None) -> None:
        self._static = PrivateKey(local_privkey)
        self._ephemeral = _new_ephemeral_key(ephemeral_privkey)
        self._state = _SymmetricState(self._static.public_key.format(compressed=True))
        self._temp_k2: bytes | None = None
        self._remote_ephemeral: bytes | None = None
        self.transport: NoiseTransport | None = None

    def process_act_one(self, data: bytes) -> bytes:
        """Check the initiator's act one (`-> e, es`) and return the 50-byte act two."""
        _check_length(data, ACT_ONE_SIZE, "act one")
        _check_version(data, "act one")
        remote_ephemeral = _parse_pubkey(data[1:34], "act one")
        c = data[34:]
        self._state.mix_hash(remote_ephemeral)
        temp_k1 = self._state.mix_key(ecdh(self._static.secret, remote_ephemeral))
        try:
            decrypt_with_ad(temp_k1, 0, self._state.h, c)
        except InvalidTag as exc:
            raise HandshakeError("act one: bad MAC (initiator used the wrong node id?)") from exc
        self._state.mix_hash(c)
        self._remote_ephemeral = remote_ephemeral
        # Act two.
        e_pub = self._ephemeral.public_key.format(compressed=True)
        self._state.mix_hash(e_pub)
        self._temp_k2 = self._state.mix_key(ecdh(self._ephemeral.secret, remote_ephemeral))
        c2 = encrypt_with_ad(self._temp_k2, 0, self._state.h, b"")
        self._state.mix_hash(c2)
        return bytes([HANDSHAKE_VERSION]) + e_pub + c2

    def process_act_three(self, data: bytes) -> bytes:
        """Check act three (`-> s, se`); returns the initiator's 33-byte static public key."""
        if self._temp_k2 is None:
            raise HandshakeError("act three received before act one was processed")
        _check_length(data, ACT_THREE_SIZE, "act three")
        _check_version(data, "act three")
        c = data[1:50]
        t = data[50:]
        try:
            remote_static = decrypt_with_ad(self._temp_k2, 1, self._state.h, c)
        except InvalidTag as exc:
            raise HandshakeError("act three: bad MAC on the encrypted static key") from exc
        remote_static = _parse_pubkey(remote_static, "act three")
        self._state.mix_hash(c)
        temp_k3 = self._state.mix_key(ecdh(self._ephemeral.secret, remote_static))
        try:
            decrypt_with_ad(temp_k3, 0, self._state.h, t)
        except InvalidTag as exc:
            raise HandshakeError("act three: bad final MAC") from exc
        receiving_key, sending_key = self._state.split()
        self.transport = NoiseTransport(sending_key, receiving_key, self._state.ck, remote_static)
        return remote_static
