"""Network, control and util RPCs: getnetworkinfo, uptime, stop, help, validateaddress, ..."""

from __future__ import annotations

import time
from typing import Any

from .address import AddressError, address_to_script, decode_segwit
from .amounts import sat_to_btc
from .descriptor import DescriptorError, add_checksum, split_checksum
from .dialect import (
    CLIENT_VERSION,
    LOCAL_SERVICES,
    LOCAL_SERVICES_NAMES,
    PROTOCOL_VERSION,
    SUBVERSION,
)
from .rpc_args import as_int, as_str
from .rpc_errors import RPC_INVALID_ADDRESS_OR_KEY, RPC_INVALID_PARAMETER, RpcError
from .rpc_registry import METHODS, RequestContext, rpc, usage


# -- network -----------------------------------------------------------------------------
@rpc("Network")
def getnetworkinfo(ctx: RequestContext) -> dict:
    return {
        "version": CLIENT_VERSION,
        "subversion": SUBVERSION,
        "protocolversion": PROTOCOL_VERSION,
        "localservices": LOCAL_SERVICES,
        "localservicesnames": list(LOCAL_SERVICES_NAMES),
        "localrelay": True,
        "timeoffset": 0,
        "networkactive": True,
        "connections": 0,
        "connections_in": 0,
        "connections_out": 0,
        "networks": [],
        "relayfee": sat_to_btc(ctx.node.config.minrelaytxfee_sat_per_kvb),
        "incrementalfee": sat_to_btc(ctx.node.mempool.min_relay_fee_sat_per_kvb),  # what RBF demands
        "localaddresses": [],
        "warnings": [],
    }


@rpc("Network")
def getpeerinfo(ctx: RequestContext) -> list:
    return []


@rpc("Network")
def getconnectioncount(ctx: RequestContext) -> int:
    return 0


@rpc("Network")
def getnettotals(ctx: RequestContext) -> dict:
    return {"totalbytesrecv": 0, "totalbytessent": 0, "timemillis": int(time.time() * 1000)}


@rpc("Zmq")
def getzmqnotifications(ctx: RequestContext) -> list:
    return []


# -- control -------------------------------------------------------------------------------
@rpc("Control", lock=False)
def uptime(ctx: RequestContext) -> int:
    return int(time.time() - ctx.node.started_at)


@rpc("Control", lock=False)
def stop(ctx: RequestContext, wait: Any = None) -> str:
    ctx.node.shutdown_requested.set()
    with ctx.node.lock:
        ctx.node.tip_changed.notify_all()
    if ctx.server is not None:
        ctx.server.request_stop()
    return "Bitcoin Core stopping"


@rpc("Control", lock=False)
def echo(ctx: RequestContext, arg0: Any = None, arg1: Any = None, arg2: Any = None, arg3: Any = None,
         arg4: Any = None, arg5: Any = None, arg6: Any = None, arg7: Any = None, arg8: Any = None,
         arg9: Any = None) -> list:
    args = [arg0, arg1, arg2, arg3, arg4, arg5, arg6, arg7, arg8, arg9]
    while args and args[-1] is None:
        args.pop()
    return args


@rpc("Control")
def setmocktime(ctx: RequestContext, timestamp: Any) -> None:
    """Set the clock used for new block times (0: system clock). The kernel still refuses
    blocks more than 2 hours ahead of the real clock."""
    value = as_int(timestamp, "timestamp")
    if value < 0:
        raise RpcError(RPC_INVALID_PARAMETER, f"Mocktime cannot be negative: {value}.")
    ctx.node.mock_time = value or None
    return None


@rpc("Control", lock=False)
def help(ctx: RequestContext, command: Any = None) -> str:  # noqa: A001 - the RPC is named help
    if command is not None:
        name = as_str(command, "command")
        method = METHODS.get(name)
        if method is None:
            return f"help: unknown command: {name}"
        doc = (method.func.__doc__ or "").strip()
        return usage(method) + ("\n\n" + doc if doc else "")
    by_category: dict[str, list[str]] = {}
    for method in METHODS.values():
        by_category.setdefault(method.category, []).append(usage(method))
    parts = []
    for category in sorted(by_category):
        parts.append(f"== {category} ==")
        parts.extend(sorted(by_category[category]))
        parts.append("")
    return "\n".join(parts).strip()


@rpc("Control")
def getmemoryinfo(ctx: RequestContext, mode: Any = "stats") -> dict:
    return {"locked": {"used": 0, "free": 0, "total": 0, "locked": 0, "chunks_used": 0, "chunks_free": 0}}



# -- util ----------------------------------------------------------------------------------
@rpc("Util")
def validateaddress(ctx: RequestContext, address: Any) -> dict:
    text = as_str(address, "address")
    try:
        spk = address_to_script(text)
    except AddressError as exc:
        return {"isvalid": False, "error_locations": [], "error": f"Invalid address: {exc}"}
    out: dict[str, Any] = {"isvalid": True, "address": text, "scriptPubKey": spk.hex(),
                           "isscript": spk[:1] == b"\xa9" and len(spk) == 23}
    if text.lower().startswith("bcrt1"):
        witver, program = decode_segwit(text)
        out["iswitness"] = True
        out["witness_version"] = witver
        out["witness_program"] = program.hex()
        out["isscript"] = witver == 0 and len(program) == 32
    else:
        out["iswitness"] = False
    return out


@rpc("Util")
def getdescriptorinfo(ctx: RequestContext, descriptor: Any) -> dict:
    text = as_str(descriptor, "descriptor")
    try:
        body, _ = split_checksum(text)
        normalized = add_checksum(body)
    except DescriptorError as exc:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, str(exc)) from None
    if "(" not in body or not body.endswith(")"):
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, f"'{body}' is not a valid descriptor function")
    return {
        "descriptor": normalized,
        "checksum": normalized.rsplit("#", 1)[1],
        "isrange": "*" in body,
        "issolvable": not body.startswith(("addr(", "raw(")),
        "hasprivatekeys": False,
    }
