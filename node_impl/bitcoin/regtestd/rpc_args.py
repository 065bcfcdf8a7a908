"""Argument checks with bitcoind's error codes and messages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .primitives import DecodeError, Tx
from .rpc_errors import RPC_DESERIALIZATION_ERROR, RPC_INVALID_PARAMETER, RPC_TYPE_ERROR, RpcError


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_error(value: Any, expected: str, name: str) -> RpcError:
    return RpcError(
        RPC_TYPE_ERROR,
        f"JSON value of type {json_type(value)} for field {name} is not of expected type {expected}",
    )


def as_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, float)):
        raise _type_error(value, "number", name)
    if isinstance(value, (Decimal, float)) and value != int(value):
        raise _type_error(value, "number", name)
    return int(value)


def as_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise _type_error(value, "bool", name)
    return value


def as_str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise _type_error(value, "string", name)
    return value


def as_list(value: Any, name: str) -> list:
    if not isinstance(value, list):
        raise _type_error(value, "array", name)
    return value


def as_dict(value: Any, name: str) -> dict:
    if not isinstance(value, dict):
        raise _type_error(value, "object", name)
    return value


def as_hash(value: Any, name: str) -> bytes:
    """A 64-hex-digit hash in display order, returned in internal order (bitcoind's ParseHashV)."""
    text = as_str(value, name)
    if len(text) != 64:
        raise RpcError(RPC_INVALID_PARAMETER, f"{name} must be of length 64 (not {len(text)}, for '{text}')")
    try:
        return bytes.fromhex(text)[::-1]
    except ValueError:
        raise RpcError(RPC_INVALID_PARAMETER, f"{name} must be hexadecimal string (not '{text}')") from None


def as_hex(value: Any, name: str) -> bytes:
    text = as_str(value, name)
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise RpcError(RPC_INVALID_PARAMETER, f"{name} must be hexadecimal string (not '{text}')") from None


def decode_tx(value: Any, name: str = "hexstring") -> Tx:
    text = as_str(value, name)
    try:
        return Tx.from_hex(text)
    except DecodeError:
        raise RpcError(RPC_DESERIALIZATION_ERROR, "TX decode failed. Make sure the tx has at least one input.") from None
