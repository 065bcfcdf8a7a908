"""Invoice labels for lnd, which has none: label -> payment hash, kept in the node's directory.

The file survives a restart of the node; writes are atomic (write, then rename).
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path


class LabelStore:
    """A small persistent map of invoice labels to payment hashes (hex)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def _load(self) -> dict[str, str]:
        try:
            return dict(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return {}

    def add(self, label: str, payment_hash: str) -> None:
        """Remember `label`; a label already used is a ValueError (labels are unique)."""
        with self._lock:
            labels = self._load()
            if label in labels:
                raise ValueError(f"duplicate invoice label {label!r}")
            labels[label] = payment_hash
            partial = self.path.with_name(self.path.name + ".partial")
            partial.write_text(json.dumps(labels, indent=1))
            os.replace(partial, self.path)

    def hash_of(self, label: str) -> str | None:
        """The payment hash of `label`, or None."""
        with self._lock:
            return self._load().get(label)

    def label_of(self, payment_hash: str) -> str | None:
        """The label of an invoice by its payment hash, or None."""
        with self._lock:
            return next((k for k, v in self._load().items() if v == payment_hash), None)
