"""Blockchain, mining, network, control and util RPCs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .address import AddressError, address_to_script, decode_segwit
from .amounts import btc_to_sat, sat_to_btc
from .descriptor import DescriptorError, add_checksum, split_checksum
from .node import BlockRejected
from .primitives import Block, BlockHeader, DecodeError, Tx
from .rpc_args import as_bool, as_hash, as_hex, as_int, as_list, as_str
from .rpc_errors import (
    RPC_DESERIALIZATION_ERROR,
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER,
    RPC_MISC_ERROR,
    RPC_VERIFY_ERROR,
    RpcError,
)
from .rpc_json import block_to_json, chainwork_hex, difficulty, header_fields
from .rpc_registry import METHODS, RequestContext, rpc, usage

CLIENT_VERSION = 270000
SUBVERSION = "/Satoshi:27.0.0/"
MAX_TIP_AGE_SECONDS = 24 * 3600

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


def payout_script(address: Any) -> bytes:
    try:
        return address_to_script(as_str(address, "address"))
    except AddressError:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Error: Invalid address") from None


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
        "difficulty": difficulty(header.bits),
        "time": header.time,
        "mediantime": node.mtp_at(height),
        "verificationprogress": 1,
        "initialblockdownload": is_initial_block_download(ctx),
        "chainwork": chainwork_hex(height),
        "size_on_disk": _size_on_disk(ctx),
        "pruned": False,
        "warnings": "",
    }


def _size_on_disk(ctx: RequestContext) -> int:
    blocks_dir = ctx.node.config.net_dir / "blocks"
    try:
        return sum(p.stat().st_size for p in blocks_dir.glob("blk*.dat"))
    except OSError:
        return 0


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


# -- mining ------------------------------------------------------------------------------
@rpc("Generating")
def generatetoaddress(ctx: RequestContext, nblocks: Any, address: Any, maxtries: Any = 1000000) -> list:
    count = as_int(nblocks, "nblocks")
    spk = payout_script(address)
    try:
        return [h[::-1].hex() for h in ctx.node.mine_blocks(count, spk)]
    except BlockRejected as exc:
        raise RpcError(RPC_VERIFY_ERROR, f"TestBlockValidity failed: {exc.reason}") from None


def _txs_from_args(ctx: RequestContext, transactions: list) -> list[Tx]:
    txs = []
    for item in transactions:
        text = as_str(item, "transactions")
        if len(text) == 64:
            try:
                txid = bytes.fromhex(text)[::-1]
            except ValueError:
                txid = b""
            entry = ctx.node.mempool.get(txid)
            if entry is not None:
                txs.append(entry.tx)
                continue
            try:
                txs.append(Tx.from_hex(text))
            except DecodeError:
                raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, f"Transaction {text} not in mempool.") from None
            continue
        try:
            txs.append(Tx.from_hex(text))
        except DecodeError:
            raise RpcError(RPC_DESERIALIZATION_ERROR, f"Transaction decode failed for {text}. Make sure the tx has at least one input.") from None
    return txs


def _output_script(output: Any) -> bytes:
    text = as_str(output, "output")
    try:
        return address_to_script(text)
    except AddressError:
        pass
    body = text
    try:
        body, _ = split_checksum(text)
    except DescriptorError as exc:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, str(exc)) from None
    if body.startswith("addr(") and body.endswith(")"):
        try:
            return address_to_script(body[5:-1])
        except AddressError:
            pass
    if body.startswith("raw(") and body.endswith(")"):
        try:
            return bytes.fromhex(body[4:-1])
        except ValueError:
            pass
    raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, f"Error: Invalid address or descriptor: {text}")


@rpc("Generating")
def generateblock(ctx: RequestContext, output: Any, transactions: Any, submit: Any = True) -> dict:
    spk = _output_script(output)
    txs = _txs_from_args(ctx, as_list(transactions, "transactions"))
    node = ctx.node
    if not as_bool(submit, "submit"):
        from .miner import assemble_block

        block = assemble_block(node.tip_hash(), node.tip_height() + 1, node.next_block_time(), spk, txs,
                               node.fees_of(txs, allow_unknown=True))
        return {"hash": block.hash[::-1].hex(), "hex": block.serialize().hex()}
    try:
        block_hash = node.mine_block(spk, txs)
    except BlockRejected as exc:
        raise RpcError(RPC_VERIFY_ERROR, f"TestBlockValidity failed: {exc.reason}") from None
    except KeyError:
        raise RpcError(RPC_VERIFY_ERROR, "TestBlockValidity failed: bad-txns-inputs-missingorspent") from None
    return {"hash": block_hash[::-1].hex()}


@rpc("Generating")
def generateblockfrom(ctx: RequestContext, parenthash: Any, address: Any, transactions: Any = None) -> dict:
    """Test-only: mine one block on top of any known block (builds competing branches for reorgs)."""
    parent = as_hash(parenthash, "parenthash")
    if ctx.node.block_height(parent) is None:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
    spk = _output_script(address)
    txs = _txs_from_args(ctx, as_list(transactions, "transactions")) if transactions is not None else []
    outcome = ctx.node.mine_block_on(parent, spk, txs)
    if outcome.result not in (None, "inconclusive", "duplicate"):
        raise RpcError(RPC_VERIFY_ERROR, f"Block rejected: {outcome.result}")
    return {"hash": outcome.block_hash[::-1].hex()}


@rpc("Mining")
def submitblock(ctx: RequestContext, hexdata: Any, dummy: Any = None) -> Any:
    raw = as_hex(hexdata, "hexdata") if isinstance(hexdata, str) else b""
    try:
        block = Block.from_bytes(raw)
    except DecodeError:
        raise RpcError(RPC_DESERIALIZATION_ERROR, "Block decode failed") from None
    if not block.txs or not block.txs[0].is_coinbase():
        raise RpcError(RPC_DESERIALIZATION_ERROR, "Block does not start with a coinbase")
    return ctx.node.submit_block(raw).result


@rpc("Mining")
def getmininginfo(ctx: RequestContext) -> dict:
    return {
        "blocks": ctx.node.tip_height(),
        "difficulty": difficulty(0x207FFFFF),
        "networkhashps": 0,
        "pooledtx": len(ctx.node.mempool),
        "chain": "regtest",
        "warnings": "",
    }


@rpc("Util")
def estimatesmartfee(ctx: RequestContext, conf_target: Any, estimate_mode: Any = "conservative") -> dict:
    target = as_int(conf_target, "conf_target")
    if not 1 <= target <= 1008:
        raise RpcError(RPC_INVALID_PARAMETER, "Invalid conf_target, must be between 1 and 1008")
    mode = as_str(estimate_mode, "estimate_mode").lower()
    if mode not in ("unset", "economical", "conservative"):
        raise RpcError(RPC_INVALID_PARAMETER, "Invalid estimate_mode parameter, must be one of: \"unset\", \"economical\", \"conservative\"")
    rate = ctx.node.fee_estimate_sat_per_kvb
    if rate is None:
        return {"errors": ["Insufficient data or no feerate found"], "blocks": 0}
    rate = max(rate, ctx.node.config.minrelaytxfee_sat_per_kvb)
    return {"feerate": sat_to_btc(rate), "blocks": max(target, 2)}  # bitcoind never answers for 1 block


@rpc("Util")
def setfeeestimate(ctx: RequestContext, feerate: Any) -> None:
    """Test-only: the fee rate (BTC/kvB) estimatesmartfee returns for every target from now on."""
    rate = btc_to_sat(feerate)
    ctx.node.fee_estimate_sat_per_kvb = rate
    ctx.node.index.set_meta("fee_estimate_sat_per_kvb", str(rate))
    ctx.node.index.commit()
    return None


# -- network -----------------------------------------------------------------------------
@rpc("Network")
def getnetworkinfo(ctx: RequestContext) -> dict:
    return {
        "version": CLIENT_VERSION,
        "subversion": SUBVERSION,
        "protocolversion": 70016,
        "localservices": "0000000000000409",
        "localservicesnames": ["NETWORK", "WITNESS", "NETWORK_LIMITED"],
        "localrelay": True,
        "timeoffset": 0,
        "networkactive": True,
        "connections": 0,
        "connections_in": 0,
        "connections_out": 0,
        "networks": [],
        "relayfee": sat_to_btc(ctx.node.config.minrelaytxfee_sat_per_kvb),
        "incrementalfee": sat_to_btc(1000),
        "localaddresses": [],
        "warnings": "",
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
        scripts[_output_script(desc)] = as_str(desc, "scanobjects")
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


@rpc("Util")
def estimaterawfee(ctx: RequestContext, conf_target: Any, threshold: Any = None) -> dict:
    rate = ctx.node.fee_estimate_sat_per_kvb
    if rate is None:
        return {"short": {"fail": {}, "errors": ["Insufficient data or no feerate found"]}}
    return {"short": {"feerate": sat_to_btc(rate), "decay": 0.962, "scale": 1}}

