"""BTC amounts: parsing RPC arguments into sat and printing sat as bitcoind does (8 decimals)."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from .rpc_errors import RPC_TYPE_ERROR, RpcError

COIN = 100_000_000
MAX_MONEY_SAT = 21_000_000 * COIN
_EIGHT = Decimal("0.00000001")


def sat_to_btc(sat: int) -> Decimal:
    """Amount for a JSON result: a Decimal with exactly 8 decimals."""
    return (Decimal(sat) / COIN).quantize(_EIGHT)


def btc_to_sat(value: object, *, allow_negative: bool = False) -> int:
    """Parse an amount given as a JSON number or string (bitcoind's AmountFromValue)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise RpcError(RPC_TYPE_ERROR, "Amount is not a number or string")
    try:
        dec = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation as exc:
        raise RpcError(RPC_TYPE_ERROR, "Invalid amount") from exc
    if not dec.is_finite():
        raise RpcError(RPC_TYPE_ERROR, "Invalid amount")
    sat_dec = dec * COIN
    if sat_dec != sat_dec.to_integral_value():
        raise RpcError(RPC_TYPE_ERROR, "Invalid amount")
    sat = int(sat_dec)
    if (sat < 0 and not allow_negative) or abs(sat) > MAX_MONEY_SAT:
        raise RpcError(RPC_TYPE_ERROR, "Amount out of range")
    return sat


def feerate_btc_kvb_to_sat_vb(value: object) -> Decimal:
    """A BTC/kvB fee rate argument as sat/vB."""
    return Decimal(btc_to_sat(value)) / 1000


def dumps(obj: object) -> str:
    """JSON text where Decimal values are written verbatim (so 0.00001000 keeps its 8 decimals)."""
    parts: list[str] = []
    _encode(obj, parts)
    return "".join(parts)


_encode_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def _encode(obj: object, out: list[str]) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, str):
        out.append(_encode_str(obj))
    elif isinstance(obj, int):
        out.append(int.__repr__(obj))
    elif isinstance(obj, Decimal):
        out.append(format(obj, "f"))
    elif isinstance(obj, float):
        out.append(json.dumps(obj))
    elif isinstance(obj, dict):
        out.append("{")
        first = True
        for key, value in obj.items():
            if not first:
                out.append(",")
            first = False
            out.append(_encode_str(str(key)))
            out.append(":")
            _encode(value, out)
        out.append("}")
    elif isinstance(obj, (list, tuple)):
        out.append("[")
        for i, value in enumerate(obj):
            if i:
                out.append(",")
            _encode(value, out)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(obj).__name__} as JSON")
