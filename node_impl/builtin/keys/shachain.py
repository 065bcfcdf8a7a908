"""BOLT 3 per-commitment secrets: generation from a seed and compact storage.

Layer: keys. Imports nothing of the node.

Secrets are indexed by a 48-bit number that starts at ``2**48 - 1`` for the
first commitment and counts down; commitment number ``n`` uses index
``START_INDEX - n`` (see :func:`index_of_commitment`).

The receiver of a peer's secrets keeps at most 49 of them in a
:class:`SecretStore`: every older secret can be derived again from a newer one
that shares its prefix, and every insertion checks that the secrets really
come from one seed.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

INDEX_BITS = 48
START_INDEX = (1 << INDEX_BITS) - 1
_BUCKETS = INDEX_BITS + 1


class ShachainError(ValueError):
    """A per-commitment secret is inconsistent, out of order or unknown."""


def index_of_commitment(commitment_number: int) -> int:
    """The secret index of commitment number ``commitment_number`` (0 = first)."""
    if not 0 <= commitment_number <= START_INDEX:
        raise ValueError(f"commitment number {commitment_number} outside 0..2^48-1")
    return START_INDEX - commitment_number


def _check_index(index: int) -> None:
    if not 0 <= index <= START_INDEX:
        raise ValueError(f"per-commitment index {index} outside 0..2^48-1")


def derive_secret(base: bytes, bits: int, index: int) -> bytes:
    """Derive the secret for ``index`` from ``base``, flipping only the lowest ``bits`` bits.

    ``base`` is the secret whose index shares bits ``bits``..47 with ``index``
    (and has zeros below); ``bits=48`` with the seed as base is the generator.
    """
    if len(base) != 32:
        raise ValueError(f"base secret must be 32 bytes, got {len(base)}")
    value = bytearray(base)
    for bit in range(bits - 1, -1, -1):
        if (index >> bit) & 1:
            value[bit // 8] ^= 1 << (bit % 8)
            value = bytearray(hashlib.sha256(value).digest())
    return bytes(value)


def generate_from_seed(seed: bytes, index: int) -> bytes:
    """The per-commitment secret at ``index`` generated from a 32-byte ``seed``."""
    _check_index(index)
    return derive_secret(seed, INDEX_BITS, index)


def _trailing_zeros(index: int) -> int:
    for bit in range(INDEX_BITS):
        if (index >> bit) & 1:
            return bit
    return INDEX_BITS


@dataclass(frozen=True)
class _Entry:
    index: int
    secret: bytes


class SecretStore:
    """Compact store of the secrets a peer revealed, received newest-last.

    Secrets must be inserted in order: index ``2**48 - 1`` first, then each
    next one is one less.
    """

    def __init__(self) -> None:
        self._known: list[_Entry | None] = [None] * _BUCKETS
        self._next_index = START_INDEX

    @property
    def next_index(self) -> int:
        """The index the next inserted secret must have."""
        return self._next_index

    @property
    def count(self) -> int:
        """How many secrets have been inserted."""
        return START_INDEX - self._next_index

    def insert(self, secret: bytes, index: int) -> None:
        """Add the secret for ``index``; raise ShachainError if it is out of order or
        does not derive the secrets already stored."""
        _check_index(index)
        if len(secret) != 32:
            raise ShachainError(f"per-commitment secret must be 32 bytes, got {len(secret)}")
        if index != self._next_index:
            raise ShachainError(
                f"per-commitment secret for index {index} out of order: expected {self._next_index}"
            )
        bucket = _trailing_zeros(index)
        for lower in range(bucket):
            entry = self._known[lower]
            if entry is None:
                continue
            if derive_secret(secret, bucket, entry.index) != entry.secret:
                raise ShachainError(
                    f"per-commitment secret for index {index} does not derive the secret "
                    f"for index {entry.index}: not from the same seed"
                )
        self._known[bucket] = _Entry(index, bytes(secret))
        self._next_index = index - 1

    def insert_for_commitment(self, secret: bytes, commitment_number: int) -> None:
        """Add the secret that revoked commitment number ``commitment_number``."""
        self.insert(secret, index_of_commitment(commitment_number))

    def get(self, index: int) -> bytes:
        """The secret for an index already received (derived from a stored one)."""
        _check_index(index)
        for bucket, entry in enumerate(self._known):
            if entry is None:
                continue
            mask = ~((1 << bucket) - 1)
            if index & mask == entry.index:
                return derive_secret(entry.secret, bucket, index)
        raise ShachainError(f"per-commitment secret for index {index} has not been received")

    def get_for_commitment(self, commitment_number: int) -> bytes:
        """The secret that revoked commitment number ``commitment_number``."""
        return self.get(index_of_commitment(commitment_number))

    def to_bytes(self) -> bytes:
        """Serialize for storage: next index, then (bucket, index, secret) per entry."""
        out = [struct.pack(">Q", self._next_index)]
        for bucket, entry in enumerate(self._known):
            if entry is not None:
                out.append(struct.pack(">BQ", bucket, entry.index) + entry.secret)
        return b"".join(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> SecretStore:
        """Inverse of :meth:`to_bytes`."""
        if len(data) < 8 or (len(data) - 8) % 41:
            raise ShachainError(f"serialized secret store has bad length {len(data)}")
        store = cls()
        (store._next_index,) = struct.unpack(">Q", data[:8])
        for pos in range(8, len(data), 41):
            bucket, index = struct.unpack(">BQ", data[pos : pos + 9])
            if bucket >= _BUCKETS:
                raise ShachainError(f"serialized secret store has bad bucket {bucket}")
            store._known[bucket] = _Entry(index, data[pos + 9 : pos + 41])
        return store
