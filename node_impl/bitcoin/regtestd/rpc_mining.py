"""Mining and fee RPCs: generate*, submitblock, getmininginfo, estimatesmartfee and friends."""

from __future__ import annotations

from typing import Any

from .address import AddressError, address_to_script
from .amounts import btc_to_sat, sat_to_btc
from .descriptor import DescriptorError, split_checksum
from .miner import assemble_block
from .node import BlockRejected
from .primitives import Block, DecodeError, Tx
from .rpc_args import as_bool, as_hash, as_hex, as_int, as_list, as_str
from .rpc_errors import (
    RPC_DESERIALIZATION_ERROR,
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER,
    RPC_VERIFY_ERROR,
    RpcError,
)
from .rpc_json import difficulty
from .rpc_registry import RequestContext, rpc


def payout_script(address: Any) -> bytes:
    try:
        return address_to_script(as_str(address, "address"))
    except AddressError:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Error: Invalid address") from None



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


def output_script(output: Any) -> bytes:
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
    spk = output_script(output)
    txs = _txs_from_args(ctx, as_list(transactions, "transactions"))
    node = ctx.node
    if not as_bool(submit, "submit"):
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
    spk = output_script(address)
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
        "warnings": [],
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


@rpc("Util")
def estimaterawfee(ctx: RequestContext, conf_target: Any, threshold: Any = None) -> dict:
    rate = ctx.node.fee_estimate_sat_per_kvb
    if rate is None:
        return {"short": {"fail": {}, "errors": ["Insufficient data or no feerate found"]}}
    return {"short": {"feerate": sat_to_btc(rate), "decay": 0.962, "scale": 1}}

