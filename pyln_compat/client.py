"""pyln-client's classes where it is installed, lnharness's equivalents where not.

`RpcError`, `Millisatoshi` and `LightningRpc` (None without pyln-client) are what the rest
of `lnharness.pyln` uses and hands out, so an `except RpcError` or an `isinstance(x,
Millisatoshi)` in a test written against pyln-client keeps working either way. lnharness
never depends on pyln-client (nor on pyln-proto, which it pulls in).
"""
from __future__ import annotations

from typing import Any

try:
    from pyln.client import LightningRpc as _PylnLightningRpc
    from pyln.client import Millisatoshi as _PylnMillisatoshi
    from pyln.client import RpcError as _PylnRpcError
except ImportError:  # pyln-client is optional
    from lnharness.pyln.amounts import Millisatoshi
    from lnharness.pyln.errors import RpcError
    LightningRpc: Any = None
    HAVE_PYLN_CLIENT = False
else:
    Millisatoshi = _PylnMillisatoshi  # type: ignore[misc,assignment]
    RpcError = _PylnRpcError  # type: ignore[misc,assignment]
    LightningRpc = _PylnLightningRpc
    HAVE_PYLN_CLIENT = True

__all__ = ["HAVE_PYLN_CLIENT", "LightningRpc", "Millisatoshi", "RpcError"]
