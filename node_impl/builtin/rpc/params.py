"""The one set of RPC parameter parsers: amounts, node ids, integers, strings, feerates, scids.

Layer: rpc (top). Imports core.jsonrpc (for the -32602 error) and wire (scid format) only.
Every RPC handler parses its parameters here, so an amount or a node id means the same in
every method. Each parser raises `param_error(name, ...)` (-32602) naming the parameter.

Amounts (Core Lightning's forms): an integer, a decimal string, or a string ending in
"msat" or "sat". An amount never loses precision silently: a sat parameter given in msat
must be a whole number of satoshi.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from coincurve import PublicKey

from ..core.jsonrpc import RpcError, param_error

MAX_MSAT = 21_000_000 * 100_000_000 * 1000  # every bitcoin there will ever be
MAX_SAT = MAX_MSAT // 1000
MIN_FEERATE_PERKW = 253
FEERATE_TARGETS = {"urgent": 2, "normal": 6, "slow": 12}  # confirmation target in blocks


def _digits(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def msat(value: Any, name: str, *, minimum: int = 0) -> int:
    """An amount in msat: int, "N", "Nmsat" or "Nsat"; at least `minimum`, at most 21M BTC."""
    amount: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        amount = value
    elif isinstance(value, str):
        if value.endswith("msat"):
            amount = _digits(value[:-4])
        elif value.endswith("sat"):
            whole = _digits(value[:-3])
            amount = None if whole is None else whole * 1000
        else:
            amount = _digits(value)
    if amount is None:
        raise param_error(name, f"expected an amount in msat, got {value!r}")
    return _bounded(amount, name, minimum, MAX_MSAT)


def msat_or_any(value: Any, name: str, *, minimum: int = 0) -> int | None:
    """`msat`, or None for "any" (an invoice without an amount)."""
    if value == "any":
        return None
    try:
        return msat(value, name, minimum=minimum)
    except RpcError:
        raise param_error(name, f"expected an amount in msat or 'any', got {value!r}") from None


def sat(value: Any, name: str, *, minimum: int = 0) -> int:
    """An on-chain amount in sat: int, "N", "Nsat", or "Nmsat" when a whole number of sat."""
    amount: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        amount = value
    elif isinstance(value, str):
        if value.endswith("msat"):
            millis = _digits(value[:-4])
            if millis is not None and millis % 1000:
                raise param_error(name, f"{value} is not a whole number of satoshi")
            amount = None if millis is None else millis // 1000
        elif value.endswith("sat"):
            amount = _digits(value[:-3])
        else:
            amount = _digits(value)
    if amount is None:
        raise param_error(name, f"expected an amount in satoshi, got {value!r}")
    return _bounded(amount, name, minimum, MAX_SAT)


def _bounded(amount: int, name: str, minimum: int, maximum: int) -> int:
    if amount < minimum:
        raise param_error(name, f"must be at least {minimum}, got {amount}")
    if amount > maximum:
        raise param_error(name, f"{amount} is more than 21 million bitcoin")
    return amount


def integer(value: Any, name: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    """A whole number (int or decimal string) within [minimum, maximum]."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise param_error(name, f"expected an integer, got {value!r}")
    if value < minimum:
        raise param_error(name, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise param_error(name, f"must be at most {maximum}, got {value}")
    return value


def number(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """A positive (or, with allow_zero, non-negative) int or float."""
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
            or (value == 0 and not allow_zero)):
        kind = "non-negative" if allow_zero else "positive"
        raise param_error(name, f"expected a {kind} number, got {value!r}")
    return float(value)


def string(value: Any, name: str) -> str:
    """A string; numbers are accepted as their text (Core Lightning accepts numeric labels)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise param_error(name, f"expected a string, got {type(value).__name__}")
    return value


def boolean(value: Any, name: str) -> bool:
    """true or false (JSON booleans only)."""
    if not isinstance(value, bool):
        raise param_error(name, f"expected true or false, got {value!r}")
    return value


def node_id(value: Any, name: str = "id") -> bytes:
    """A 33-byte compressed public key given as hex."""
    if not isinstance(value, str):
        raise param_error(name, f"expected a hex node id, got {type(value).__name__}")
    try:
        raw = bytes.fromhex(value)
        PublicKey(raw)
    except ValueError:
        raise param_error(name, f"not a valid node id: {value!r}") from None
    if len(raw) != 33:
        raise param_error(name, f"node id must be 33 bytes, got {len(raw)}")
    return raw


def hex_bytes(value: Any, name: str, size: int | None = None) -> bytes:
    """Hex text of `size` bytes (any size when None)."""
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        raw = None
    if raw is None or (size is not None and len(raw) != size):
        want = f"{size} bytes of hex" if size is not None else "hex"
        raise param_error(name, f"expected {want}, got {value!r}")
    return raw


def short_channel_id(value: Any, name: str = "short_channel_id") -> int:
    """"BLOCKxTXxOUT" (or an int): the scid as its 64-bit number."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 64:
        return value
    if isinstance(value, str):
        parts = value.split("x")
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            block, tx, out = (int(p) for p in parts)
            if block < 1 << 24 and tx < 1 << 24 and out < 1 << 16:
                return block << 40 | tx << 16 | out
    raise param_error(name, f"expected a short channel id BLOCKxTXxOUT, got {value!r}")


Estimator = Callable[[int, int], Awaitable[int]]
"""`estimate(target_blocks, fallback_perkw)` -> sat per kw, from the chain."""


async def feerate_perkw(value: Any, estimate: Estimator, *, fallback_perkw: int,
                        name: str = "feerate") -> int:
    """slow|normal|urgent (estimated), "Nperkw", "Nperkb" or an int (sat per kvB) -> sat per kw."""
    if value is None or value in FEERATE_TARGETS:
        return await estimate(FEERATE_TARGETS[value or "normal"], fallback_perkw)
    perkw: int | None = None
    if isinstance(value, str) and value.endswith("perkw"):
        perkw = _digits(value[:-5])
    elif isinstance(value, str) and value.endswith("perkb"):
        perkb = _digits(value[:-5])
        perkw = None if perkb is None else perkb // 4
    elif isinstance(value, int) and not isinstance(value, bool):
        perkw = value // 4
    if perkw is None:
        raise param_error(
            name, f"expected slow|normal|urgent, NNNperkw, NNNperkb or an integer, got {value!r}")
    if perkw < MIN_FEERATE_PERKW:
        raise param_error(name, f"{perkw} sat/kw is below the {MIN_FEERATE_PERKW} sat/kw minimum")
    return perkw
