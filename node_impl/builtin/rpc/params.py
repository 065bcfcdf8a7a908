"""The one set of RPC parameter parsers: amounts, node ids, integers, strings, feerates, scids.

Layer: rpc (top). Imports core.jsonrpc (for the -32602 error) and wire (scid format) only.
Every RPC handler parses its parameters here, so an amount or a node id means the same in
every method. Each parser raises `param_error(name, ...)` (-32602) naming the parameter.

Amounts (Core Lightning's forms): an integer, a decimal string, or a string ending in
"msat" or "sat". An amount never loses precision silently: a sat parameter given in msat
must be a whole number of satoshi.

Every parameter is bounded, so no value reaches the internals (sqlite's 64-bit INTEGER, a
port number, a wire field) out of range and no call keeps the event loop busy for long:
amounts at most 21 million bitcoin, integers at most 2**32 - 1 unless a parser says
otherwise, numbers finite, strings at most MAX_STRING_BYTES (UTF-8), a BOLT 11 invoice at
most MAX_BOLT11_CHARS, a description at most MAX_DESCRIPTION_BYTES (a BOLT 11 `d` field) or,
hashed into `description_hash`, MAX_HASHED_DESCRIPTION_BYTES.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from coincurve import PublicKey

from ..core.jsonrpc import INVALID_PARAMS, RpcError, param_error
from ..wire.codec import ShortChannelId

MAX_MSAT = 21_000_000 * 100_000_000 * 1000  # every bitcoin there will ever be
MAX_SAT = MAX_MSAT // 1000
MIN_FEERATE_PERKW = 253
MAX_INTEGER = (1 << 32) - 1
"""Default upper bound of `integer` and `number`: every count, delay and expiry of the
protocol fits 32 bits."""
MAX_STRING_BYTES = 4096
"""Labels, addresses, hosts, statuses: any string parameter without a bound of its own."""
MAX_BOLT11_CHARS = 7089
"""LND's bound on an invoice string (zpay32: the most a QR code holds)."""
MAX_DESCRIPTION_BYTES = 639
"""The longest description a BOLT 11 `d` field holds: 1023 5-bit words (Core Lightning's
BOLT11_FIELD_BYTE_LIMIT - 1)."""
MAX_HASHED_DESCRIPTION_BYTES = 64 * 1024
"""A description kept by the node and put in the invoice as its SHA256 (`deschashonly`)."""
MAX_HEX_BYTES = 4096
"""`hex_bytes` of no fixed size."""
URI_PREFIX = "lightning:"
MAX_ROUTE_HOPS = 20
"""The most hops a BOLT 4 onion of 1300 bytes carries (65 bytes each at the least)."""
MAX_ROUTE_DELAY = 2016 * 2
"""A route's CLTV delay in blocks: twice Core Lightning's default maxdelay (two weeks)."""
FEERATE_TARGETS = {"urgent": 2, "normal": 6, "slow": 12}  # confirmation target in blocks


def _digits(text: str) -> int | None:
    """ASCII decimal digits as an int; None otherwise or when longer than any bound here
    (int() of a huge digit string is slow, and refused beyond 4300 digits)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 40:
        return None
    return int(text)


def _show(value: Any) -> str:
    """`value` for an error message, cut short (the caller sent it: it may be megabytes)."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _parse_msat(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.endswith("msat"):
            return _digits(value[:-4])
        if value.endswith("sat"):
            whole = _digits(value[:-3])
            return None if whole is None else whole * 1000
        if value.endswith("btc"):
            return _btc_to_msat(value[:-3])
        return _digits(value)
    return None


#: decimals of a "X.Ybtc" amount down to the millisatoshi
BTC_DECIMALS = 11


def _btc_to_msat(text: str) -> int | None:
    """Millisatoshi of "X" or "X.Y" bitcoin (at most 11 decimals, as Core Lightning reads it)."""
    whole, dot, fraction = text.partition(".")
    if _digits(whole) is None or (dot and (not (fraction.isascii() and fraction.isdigit())
                                           or len(fraction) > BTC_DECIMALS)):
        return None
    return int(whole) * 10**BTC_DECIMALS + int(fraction.ljust(BTC_DECIMALS, "0") or 0)


def msat(value: Any, name: str, *, minimum: int = 0) -> int:
    """An amount in msat: int, "N", "Nmsat", "Nsat" or "X.Ybtc"; at least `minimum`, at most
    21M BTC."""
    amount = _parse_msat(value)
    if amount is None:
        raise param_error(name, f"expected an amount in msat, got {_show(value)}")
    return _bounded(amount, name, minimum, MAX_MSAT)


def msat_or_any(value: Any, name: str, *, minimum: int = 0) -> int | None:
    """`msat`, or None for "any" (an invoice without an amount)."""
    if value == "any":
        return None
    amount = _parse_msat(value)
    if amount is None:
        raise param_error(name, f"expected an amount in msat or 'any', got {_show(value)}")
    return _bounded(amount, name, minimum, MAX_MSAT)


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
        raise param_error(name, f"expected an amount in satoshi, got {_show(value)}")
    return _bounded(amount, name, minimum, MAX_SAT)


def _bounded(amount: int, name: str, minimum: int, maximum: int) -> int:
    if amount < minimum:
        raise param_error(name, f"must be at least {minimum}, got {amount}")
    if amount > maximum:
        raise param_error(name, f"{amount} is more than 21 million bitcoin")
    return amount


def integer(value: Any, name: str, *, minimum: int = 0, maximum: int = MAX_INTEGER) -> int:
    """A whole number (int or decimal string) within [minimum, maximum]."""
    if isinstance(value, str):
        parsed = _digits(value)
        value = value if parsed is None else parsed
    if isinstance(value, bool) or not isinstance(value, int):
        raise param_error(name, f"expected an integer, got {_show(value)}")
    if value < minimum:
        raise param_error(name, f"must be at least {minimum}, got {value}")
    if value > maximum:
        raise param_error(name, f"must be at most {maximum}, got {value}")
    return value


def paging(index: Any, start: Any, limit: Any, *, maximum: int) -> tuple[int, int | None]:
    """Core Lightning's list paging: (first created_index, most entries or None); `start`
    and `limit` only with `index`=created (the one order kept here)."""
    first = integer(start, "start", maximum=maximum) if start is not None else 0
    most = integer(limit, "limit") if limit is not None else None
    if index is not None:
        choice(index, "index", ("created",))
    elif first or most is not None:
        raise RpcError(INVALID_PARAMS, f"Can only specify {{{'start' if first else 'limit'}}} with {{index}}")
    return first, most


def number(value: Any, name: str, *, allow_zero: bool = False,
           maximum: float = MAX_INTEGER) -> float:
    """A positive (or, with allow_zero, non-negative) finite int or float, at most `maximum`."""
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0
            or (value == 0 and not allow_zero)):
        kind = "non-negative" if allow_zero else "positive"
        raise param_error(name, f"expected a {kind} number, got {_show(value)}")
    if value > maximum:
        raise param_error(name, f"must be at most {maximum:g}, got {_show(value)}")
    return float(value)


def string(value: Any, name: str, *, max_bytes: int = MAX_STRING_BYTES) -> str:
    """A string of at most `max_bytes` (UTF-8); numbers are accepted as their text (Core
    Lightning accepts numeric labels)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise param_error(name, f"expected a string, got {type(value).__name__}")
    if len(value) > max_bytes:  # too long whatever its encoding: do not encode megabytes
        raise param_error(name, f"is {len(value)} characters, more than the {max_bytes} bytes "
                                "allowed")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:  # JSON can carry a lone surrogate ("\ud800")
        raise param_error(name, "is not valid Unicode (a lone surrogate)") from None
    if size > max_bytes:
        raise param_error(name, f"is {size} bytes, more than the {max_bytes} allowed")
    return value


def bolt11(value: Any, name: str = "bolt11") -> str:
    """A BOLT 11 invoice string (not decoded here), at most MAX_BOLT11_CHARS; a "lightning:"
    URI prefix (BOLT 11's recommendation, any case) is taken off and an all-uppercase invoice
    lowered (bech32's other case), as Core Lightning does."""
    if not isinstance(value, str):
        raise param_error(name, f"expected a bolt11 string, got {type(value).__name__}")
    if value[:len(URI_PREFIX)].lower() == URI_PREFIX:
        value = value[len(URI_PREFIX):]
    if len(value) > MAX_BOLT11_CHARS:
        raise param_error(name, f"is {len(value)} characters, longer than any invoice "
                                f"({MAX_BOLT11_CHARS} at most)")
    return value.lower() if value.isupper() else value  # bech32's other case; mixed stays invalid


def choice(value: Any, name: str, allowed: Sequence[str]) -> str:
    """One of the strings `allowed`."""
    if not isinstance(value, str) or value not in allowed:
        raise param_error(name, f"expected one of {', '.join(allowed)}, got {_show(value)}")
    return value


@dataclass(frozen=True)
class RouteHopParam:
    """One hop of a route given by the caller (Core Lightning's route hop object)."""

    node_id: bytes
    short_channel_id: int
    amount_msat: int
    delay: int


def route_hops(value: Any, name: str = "route") -> list[RouteHopParam]:
    """A route: a list of at most MAX_ROUTE_HOPS {id, channel, amount_msat, delay} objects
    (`direction` and `style` are accepted and ignored: the channel and the onion say them)."""
    if not isinstance(value, list):
        raise param_error(name, "expected a list of {id, channel, amount_msat, delay}")
    if len(value) > MAX_ROUTE_HOPS:
        raise param_error(name, f"has {len(value)} hops, more than the {MAX_ROUTE_HOPS} an onion holds")
    hops = []
    for i, hop in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(hop, dict):
            raise param_error(where, "expected {id, channel, amount_msat, delay}")
        unknown = set(hop) - {"id", "channel", "amount_msat", "delay", "direction", "style"}
        if unknown:
            raise param_error(where, f"unknown field {sorted(unknown)[0]!r}")
        for field in ("id", "channel", "amount_msat", "delay"):
            if field not in hop:
                raise param_error(where, f"missing {field!r}")
        hops.append(RouteHopParam(
            node_id=node_id(hop["id"], f"{where}.id"),
            short_channel_id=short_channel_id(hop["channel"], f"{where}.channel"),
            amount_msat=msat(hop["amount_msat"], f"{where}.amount_msat"),
            delay=integer(hop["delay"], f"{where}.delay", minimum=1, maximum=MAX_ROUTE_DELAY)))
    return hops


def description(value: Any, name: str = "description", *, hash_only: bool = False) -> str:
    """An invoice description: at most MAX_DESCRIPTION_BYTES to fit a BOLT 11 `d` field, or
    MAX_HASHED_DESCRIPTION_BYTES when only its hash goes in the invoice (`hash_only`)."""
    if hash_only:
        return string(value, name, max_bytes=MAX_HASHED_DESCRIPTION_BYTES)
    text = string(value, name, max_bytes=MAX_HASHED_DESCRIPTION_BYTES)
    size = len(text.encode("utf-8"))
    if size > MAX_DESCRIPTION_BYTES:
        raise param_error(name, f"is {size} bytes, more than the {MAX_DESCRIPTION_BYTES} a "
                                "BOLT 11 'd' field holds: use deschashonly=true (the invoice "
                                "then carries its SHA256 as description_hash)")
    return text


def boolean(value: Any, name: str) -> bool:
    """true or false (JSON booleans only)."""
    if not isinstance(value, bool):
        raise param_error(name, f"expected true or false, got {_show(value)}")
    return value


def node_id(value: Any, name: str = "id") -> bytes:
    """A 33-byte compressed public key given as hex."""
    if not isinstance(value, str):
        raise param_error(name, f"expected a hex node id, got {type(value).__name__}")
    if len(value) != 66:
        raise param_error(name, f"node id must be 66 hex characters, got {len(value)}")
    try:
        raw = bytes.fromhex(value)
        PublicKey(raw)
    except ValueError:
        raise param_error(name, f"not a valid node id: {_show(value)}") from None
    if len(raw) != 33:
        raise param_error(name, f"node id must be 33 bytes, got {len(raw)}")
    return raw


def hex_bytes(value: Any, name: str, size: int | None = None) -> bytes:
    """Hex text of `size` bytes (at most MAX_HEX_BYTES when None)."""
    limit = size if size is not None else MAX_HEX_BYTES
    if isinstance(value, str) and len(value) > 2 * limit:
        raise param_error(name, f"is {len(value)} hex characters, more than {2 * limit}")
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        raw = None
    if raw is None or (size is not None and len(raw) != size):
        want = f"{size} bytes of hex" if size is not None else "hex"
        raise param_error(name, f"expected {want}, got {_show(value)}")
    return raw


MAX_EXTRA_TLV_BYTES = 1024
"""Every extra record of a keysend together (the onion's final payload holds little more)."""


def tlv_records(value: Any, name: str, *, reserved: Sequence[int] = ()) -> tuple[tuple[int, bytes], ...]:
    """Extra TLV records for an onion payload, as Core Lightning takes them: an object of
    {"type": "hex value"} (type a decimal string or integer), sorted by type. Types below
    65536 (BOLT 4's own) and `reserved` ones are refused."""
    if not isinstance(value, dict):
        raise param_error(name, f"expected an object of type: hex value, got {_show(value)}")
    records = []
    for key, raw in value.items():
        tlv_type = key if isinstance(key, int) and not isinstance(key, bool) else _digits(str(key))
        if tlv_type is None or not 65536 <= tlv_type < 1 << 64 or tlv_type in reserved:
            raise param_error(name, f"type {_show(key)} is not a custom record type (65536 .. 2^64-1, "
                                    f"not {', '.join(map(str, reserved)) or 'reserved'})")
        records.append((tlv_type, hex_bytes(raw, f"{name}.{tlv_type}")))
    if sum(len(v) for _, v in records) > MAX_EXTRA_TLV_BYTES:
        raise param_error(name, f"more than {MAX_EXTRA_TLV_BYTES} bytes of records")
    return tuple(sorted(records))


def short_channel_id(value: Any, name: str = "short_channel_id") -> int:
    """"BLOCKxTXxOUT" (or an int): the scid as its 64-bit number."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 64:
        return value
    if isinstance(value, str):
        fields = value.split("x", 3)
        parts = [d for d in map(_digits, fields) if d is not None]
        if len(parts) == len(fields) == 3:
            try:  # the wire layer's scid knows its field sizes and layout
                return ShortChannelId(*parts).to_int()
            except ValueError:
                pass
    raise param_error(name, f"expected a short channel id BLOCKxTXxOUT, got {_show(value)}")


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
            name, f"expected slow|normal|urgent, NNNperkw, NNNperkb or an integer, got {_show(value)}")
    if perkw < MIN_FEERATE_PERKW:
        raise param_error(name, f"{perkw} sat/kw is below the {MIN_FEERATE_PERKW} sat/kw minimum")
    return perkw
