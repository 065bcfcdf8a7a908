"""`RpcError`: a node's JSON-RPC error with pyln-client's attributes, for when pyln-client is
not installed (`lnharness.pyln.client` hands out pyln-client's own class when it is)."""
from __future__ import annotations

from typing import Any


class RpcError(ValueError):
    """A call answered with an error: `method`, the `payload` sent, and `error`, the node's
    error object (a dict with `code` and `message`, sometimes `data`)."""

    def __init__(self, method: str, payload: Any, error: Any):
        super().__init__(f"RPC call failed: method: {method}, payload: {payload}, error: {error}")
        self.method = method
        self.payload = payload
        self.error = error
