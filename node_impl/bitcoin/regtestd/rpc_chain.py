"""Blockchain RPCs: chain state, blocks and headers, deployments, UTXO set, tip waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .amounts import sat_to_btc
from .dialect import (
    BIP9_ALWAYS_ACTIVE,
    BIP9_NO_TIMEOUT,
    BURIED_DEPLOYMENT_HEIGHTS,
    MAX_TIP_AGE_SECONDS,
)
from .primitives import Block, BlockHeader
from .rpc_args import as_bool, as_hash, as_int, as_list, as_str
from .rpc_errors import RPC_INVALID_ADDRESS_OR_KEY, RPC_INVALID_PARAMETER, RPC_MISC_ERROR, RpcError
from .rpc_json import block_to_json, chainwork_hex, difficulty, header_fields, target_hex
from .rpc_mining import output_script
from .rpc_registry import RequestContext, rpc

_ibd_latched = threading.Event()


def is_initial_block_download(ctx: RequestContext) -> bool:
    if _ibd_latched.is_set():
        return False
    node = ctx.node
    tip_time = node.times[-1]
    if node.tip_height() > 0 and tip_time >= time.time() - MAX_TIP_AGE_SECONDS:
        _ibd_latched.set()
        return False
    return True


def _block_hash_arg(ctx: RequestContext, value: Any, name: str = "blockhash") -> bytes:
    block_hash = as_hash(value, name)
    if ctx.node.block_height(block_hash) is None:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
    return block_hash


# -- blockchain ------------------------------------------------------------------------
@rpc("Blockchain")
def getblockchaininfo(ctx: RequestContext) -> dict:
    node = ctx.node
    height = node.tip_height()
    header = BlockHeader.from_bytes(node.header_bytes(node.tip_hash()))
    return {
        "chain": "regtest",
        "blocks": height,
        "headers": height,
        "bestblockhash": node.tip_hash()[::-1].hex(),
        "bits": format(header.bits, "08x"),
        "target": target_hex(header.bits),
        "difficulty": difficulty(header.bits),
        "time": header.time,
        "mediantime": node.mtp_at(height),
        "verificationprogress": 1,
        "initialblockdownload": is_initial_block_download(ctx),
        "chainwork": chainwork_hex(height),
        "size_on_disk": _size_on_disk(ctx),
        "pruned": False,
        "warnings": [],
    }


def _size_on_disk(ctx: RequestContext) -> int:
    blocks_dir = ctx.node.config.net_dir / "blocks"
    try:
        return sum(p.stat().st_size for p in blocks_dir.glob("blk*.dat"))
    except OSError:
        return 0


@rpc("Blockchain")
def getdeploymentinfo(ctx: RequestContext, blockhash: Any = None) -> dict:
    """Soft-fork deployments as of `blockhash` (default: the tip), v30's regtest set:
    the buried ones and taproot, always active (the test-only testdummy is left out)."""
    node = ctx.node
    block_hash = _block_hash_arg(ctx, blockhash) if blockhash is not None else node.tip_hash()
    height = node.block_height(block_hash) or 0
    deployments: dict[str, dict] = {
        name: {"type": "buried", "active": height + 1 >= at, "height": at}
        for name, at in BURIED_DEPLOYMENT_HEIGHTS.items()
    }
    deployments["taproot"] = {
        "type": "bip9",
        "height": 0,
        "active": True,
        "bip9": {"start_time": BIP9_ALWAYS_ACTIVE, "timeout": BIP9_NO_TIMEOUT, "min_activation_height": 0,
                 "status": "active", "since": 0, "status_next": "active"},
    }
    return {"hash": block_hash[::-1].hex(), "height": height, "deployments": deployments}


@rpc("Blockchain")
def getblockcount(ctx: RequestContext) -> int:
    return ctx.node.tip_height()


@rpc("Blockchain")
def getbestblockhash(ctx: RequestContext) -> str:
    return ctx.node.tip_hash()[::-1].hex()


@rpc("Blockchain")
def getblockhash(ctx: RequestContext, height: Any) -> str:
    h = as_int(height, "height")
    if h < 0 or h > ctx.node.tip_height():
        raise RpcError(RPC_INVALID_PARAMETER, "Block height out of range")
    return ctx.node.index.active[h][::-1].hex()


@rpc("Blockchain")
def getblockheader(ctx: RequestContext, blockhash: Any, verbose: Any = True) -> Any:
    block_hash = as_hash(blockhash, "hash")
    if ctx.node.block_height(block_hash) is None:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
    raw_header = ctx.node.header_bytes(block_hash)
    if not as_bool(verbose, "verbose"):
        return raw_header.hex()
    raw = ctx.node.block_bytes(block_hash)
    ntx = len(Block.from_bytes(raw).txs) if raw else 0
    return header_fields(ctx.node, block_hash, BlockHeader.from_bytes(raw_header), ntx)


@rpc("Blockchain")
def getblock(ctx: RequestContext, blockhash: Any, verbosity: Any = 1) -> Any:
    block_hash = _block_hash_arg(ctx, blockhash)
    if isinstance(verbosity, bool):
        level = int(verbosity)
    else:
        level = as_int(verbosity, "verbosity")
    raw = ctx.node.block_bytes(block_hash)
    if raw is None:
        raise RpcError(RPC_MISC_ERROR, "Block not available (pruned data)")
    if level <= 0:
        return raw.hex()
    return block_to_json(ctx.node, Block.from_bytes(raw), raw, min(level, 3))


@rpc("Blockchain")
def getchaintips(ctx: RequestContext) -> list:
    node = ctx.node
    tips = []
    tip_height = node.tip_height()
    tips.append({"height": tip_height, "hash": node.tip_hash()[::-1].hex(), "branchlen": 0, "status": "active"})
    known = node.index.logged_parents()
    parents = set(known.values())
    for block_hash in known:
        if block_hash in parents or node.index.height_of(block_hash) is not None:
            continue
        height = node.block_height(block_hash)
        if height is None:
            continue
        branchlen = 0
        current = block_hash
        while current in known and node.index.height_of(current) is None:
            branchlen += 1
            current = known[current]
        tips.append({"height": height, "hash": block_hash[::-1].hex(), "branchlen": branchlen,
                     "status": "valid-fork"})
    return tips


@rpc("Blockchain")
def getdifficulty(ctx: RequestContext) -> float:
    return difficulty(BlockHeader.from_bytes(ctx.node.header_bytes(ctx.node.tip_hash())).bits)


@rpc("Util")
def getindexinfo(ctx: RequestContext, index_name: Any = None) -> dict:
    """The transaction index is always on and synced."""
    info = {"txindex": {"synced": True, "best_block_height": ctx.node.tip_height()}}
    if index_name is not None:
        name = as_str(index_name, "index_name")
        return {name: info[name]} if name in info else {}
    return info


@rpc("Blockchain")
def gettxoutsetinfo(ctx: RequestContext, hash_type: Any = "hash_serialized_3") -> dict:
    count, total = ctx.node.index.utxo_stats()
    return {
        "height": ctx.node.tip_height(),
        "bestblock": ctx.node.tip_hash()[::-1].hex(),
        "txouts": count,
        "total_amount": sat_to_btc(total),
    }


def _wait_for_tip(node: Any, reached: Callable[[], bool], timeout_ms: int) -> dict:
    """With node.lock held: wait until `reached()`, shutdown or `timeout_ms` (0: no limit);
    returns the tip then, as the wait* RPCs answer."""
    node.tip_changed.wait_for(lambda: reached() or node.shutdown_requested.is_set(),
                              timeout=timeout_ms / 1000 if timeout_ms else None)
    return {"hash": node.tip_hash()[::-1].hex(), "height": node.tip_height()}


@rpc("Blockchain", lock=False)
def waitfornewblock(ctx: RequestContext, timeout: Any = 0, current_tip: Any = None) -> dict:
    """Long poll: returns as soon as the tip differs from current_tip (default: the tip at call time)."""
    node = ctx.node
    timeout_ms = as_int(timeout, "timeout")
    if timeout_ms < 0:
        raise RpcError(RPC_INVALID_PARAMETER, "Negative timeout")
    with node.lock:
        start_tip = as_hash(current_tip, "current_tip") if current_tip is not None else node.tip_hash()
        return _wait_for_tip(node, lambda: node.tip_hash() != start_tip, timeout_ms)


@rpc("Blockchain", lock=False)
def waitforblock(ctx: RequestContext, blockhash: Any, timeout: Any = 0) -> dict:
    node = ctx.node
    wanted = as_hash(blockhash, "blockhash")
    timeout_ms = as_int(timeout, "timeout")
    with node.lock:
        return _wait_for_tip(node, lambda: node.tip_hash() == wanted, timeout_ms)


@rpc("Blockchain", lock=False)
def waitforblockheight(ctx: RequestContext, height: Any, timeout: Any = 0) -> dict:
    node = ctx.node
    target = as_int(height, "height")
    timeout_ms = as_int(timeout, "timeout")
    with node.lock:
        return _wait_for_tip(node, lambda: node.tip_height() >= target, timeout_ms)



@rpc("Blockchain")
def scantxoutset(ctx: RequestContext, action: Any, scanobjects: Any = None) -> Any:
    """Unspent outputs of addr(...) / raw(...) descriptors or plain addresses (no ranges)."""
    verb = as_str(action, "action")
    if verb in ("abort", "status"):
        return False if verb == "abort" else None
    if verb != "start":
        raise RpcError(RPC_INVALID_PARAMETER, f"Invalid action '{verb}'")
    scripts = {}
    for item in as_list(scanobjects, "scanobjects"):
        desc = item.get("desc") if isinstance(item, dict) else item
        scripts[output_script(desc)] = as_str(desc, "scanobjects")
    node = ctx.node
    unspents = []
    total = 0
    for row in node.index.outputs_for_scripts(list(scripts)):
        total += row.value_sat
        unspents.append({
            "txid": row.txid[::-1].hex(),
            "vout": row.vout,
            "scriptPubKey": row.script_pubkey.hex(),
            "desc": scripts[row.script_pubkey],
            "amount": sat_to_btc(row.value_sat),
            "coinbase": row.coinbase,
            "height": row.height,
        })
    return {
        "success": True,
        "txouts": node.index.utxo_stats()[0],
        "height": node.tip_height(),
        "bestblock": node.tip_hash()[::-1].hex(),
        "unspents": unspents,
        "total_amount": sat_to_btc(total),
    }
