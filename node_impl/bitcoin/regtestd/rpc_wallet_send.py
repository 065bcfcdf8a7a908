"""Wallet RPCs that spend: send, bump, fund and sign transactions, set the fee.

Part of the RPC layer, beside rpc_wallet.py (the wallet's management, addresses, balances and
history), whose wallet lookup it uses.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from .address import AddressError, b58decode_check
from .amounts import btc_to_sat, sat_to_btc
from .keys import SECP256K1_ORDER, WalletKey
from .policy import TxRejected
from .primitives import Tx, TxOut
from .rpc_args import as_bool, as_dict, as_hash, as_hex, as_int, as_list, as_str, decode_tx
from .rpc_errors import (
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER,
    RPC_TYPE_ERROR,
    RPC_WALLET_ERROR,
    RPC_WALLET_INSUFFICIENT_FUNDS,
    RpcError,
)
from .rpc_registry import RequestContext, rpc
from .rpc_wallet import get_wallet, parse_address, parse_address_type
from .script import dust_threshold_sat, script_type
from .sighash import SIGHASH_NAMES
from .signer import sign_inputs
from .wallet import FeeTooHighForOutputs, InsufficientFunds, Wallet


def wallet_feerate_sat_per_kvb(ctx: RequestContext, fee_rate_sat_vb: Any = None, kvb_rate_btc: Any = None) -> int:
    """Explicit rate, else settxfee's, else the fee estimate, else -fallbackfee; >= -minrelaytxfee."""
    node = ctx.node
    relay = node.config.minrelaytxfee_sat_per_kvb
    if fee_rate_sat_vb is not None:
        try:
            rate = int((Decimal(str(fee_rate_sat_vb)) * 1000).to_integral_value())
        except ArithmeticError:
            raise RpcError(RPC_TYPE_ERROR, "Invalid amount") from None
        if rate < relay:
            raise RpcError(RPC_WALLET_ERROR, f"Fee rate ({Decimal(rate) / 1000:.3f} sat/vB) is lower than the minimum fee rate setting ({Decimal(relay) / 1000:.3f} sat/vB)")
        return rate
    if kvb_rate_btc is not None:
        rate = btc_to_sat(kvb_rate_btc)
        return max(rate, relay)
    pay_tx_fee = get_wallet(ctx).pay_tx_fee_sat_per_kvb
    if pay_tx_fee is not None:
        return pay_tx_fee
    if node.fee_estimate_sat_per_kvb is not None:
        return max(node.fee_estimate_sat_per_kvb, relay)
    if node.config.fallbackfee_sat_per_kvb:
        return max(node.config.fallbackfee_sat_per_kvb, relay)
    raise RpcError(
        RPC_WALLET_INSUFFICIENT_FUNDS,
        "Fee estimation failed. Fallbackfee is disabled. Wait a few blocks or enable -fallbackfee.",
    )


def _spent_outputs(ctx: RequestContext, tx: Tx) -> list[TxOut | None]:
    return [ctx.node.lookup_output(i.prev_txid, i.prev_vout) for i in tx.vin]


def _change_kind(ctx: RequestContext, outputs: list[TxOut]) -> str:
    """-changetype, else the type of a payment output (like bitcoind), else -addresstype."""
    config = ctx.node.config
    if config.changetype:
        return config.changetype
    kinds = {script_type(o.script_pubkey) for o in outputs}
    if "witness_v1_taproot" in kinds:
        return "bech32m"
    if "witness_v0_keyhash" in kinds:
        return "bech32"
    return config.addresstype


def _add_to_mempool(node: Any, wallet: Wallet, tx: Tx) -> int:
    """Put a transaction the wallet signed into the mempool (RPC_WALLET_ERROR naming the
    rejection), note it in the wallet's history and wake waiters; returns its fee in sat."""
    try:
        fee, spent, conflicts, _, _ = node.mempool.check(tx)
    except TxRejected as exc:
        raise RpcError(RPC_WALLET_ERROR, f"Transaction rejected by mempool: {exc}") from None
    wallet.store.remember_tx(tx.txid, tx.serialize())  # durable before the txid is handed out
    node.mempool.add(tx, fee, spent, conflicts)
    wallet.store.note_tx_seen(tx.txid, node.mempool.entries[tx.txid].time, node.tip_height())
    node.tip_changed.notify_all()
    return fee


def _send(ctx: RequestContext, wallet: Wallet, outputs: list[TxOut], subtract: list[int], rate: int,
          replaceable: bool = True) -> Tx:
    node = ctx.node
    base = Tx(version=2, vin=[], vout=outputs, locktime=node.tip_height())
    try:
        funded = wallet.fund(node, base, rate, subtract_fee_from=subtract, change_kind=_change_kind(ctx, outputs))
    except InsufficientFunds:
        raise RpcError(RPC_WALLET_INSUFFICIENT_FUNDS, "Insufficient funds") from None
    except FeeTooHighForOutputs as exc:
        raise RpcError(RPC_WALLET_INSUFFICIENT_FUNDS, str(exc)) from None
    tx = funded.tx
    if not replaceable:
        for txin in tx.vin:
            txin.sequence = 0xFFFFFFFE
    errors = wallet.sign(tx, _spent_outputs(ctx, tx))
    if errors:
        raise RpcError(RPC_WALLET_ERROR, f"Signing transaction failed: {errors[0]['error']}")
    _add_to_mempool(node, wallet, tx)
    return tx


@rpc("Wallet")
def sendtoaddress(ctx: RequestContext, address: Any, amount: Any, comment: Any = None, comment_to: Any = None,
                  subtractfeefromamount: Any = False, replaceable: Any = True, conf_target: Any = None,
                  estimate_mode: Any = None, avoid_reuse: Any = None, fee_rate: Any = None,
                  verbose: Any = False) -> Any:
    wallet = get_wallet(ctx)
    spk = parse_address(address)
    value = btc_to_sat(amount)
    if value <= 0:
        raise RpcError(RPC_TYPE_ERROR, "Invalid amount for send")
    rate = wallet_feerate_sat_per_kvb(ctx, fee_rate)
    subtract = [0] if as_bool(subtractfeefromamount, "subtractfeefromamount") else []
    tx = _send(ctx, wallet, [TxOut(value, spk)], subtract, rate, as_bool(replaceable, "replaceable"))
    if as_bool(verbose, "verbose"):
        return {"txid": tx.txid_hex, "fee_reason": "Fallback fee"}
    return tx.txid_hex


@rpc("Wallet")
def sendmany(ctx: RequestContext, dummy: Any, amounts: Any, minconf: Any = None, comment: Any = None,
             subtractfeefrom: Any = None, replaceable: Any = True, conf_target: Any = None,
             estimate_mode: Any = None, fee_rate: Any = None, verbose: Any = False) -> Any:
    wallet = get_wallet(ctx)
    if dummy not in ("", None):
        raise RpcError(-32, "Dummy value must be set to \"\"")
    targets = as_dict(amounts, "amounts")
    if not targets:
        raise RpcError(RPC_INVALID_PARAMETER, "Invalid parameter, amounts object is empty")
    outputs = []
    addresses = []
    for address, value in targets.items():
        spk = parse_address(address)
        sat = btc_to_sat(value)
        if sat <= 0:
            raise RpcError(RPC_TYPE_ERROR, "Invalid amount for send")
        outputs.append(TxOut(sat, spk))
        addresses.append(address)
    subtract = []
    for address in as_list(subtractfeefrom, "subtractfeefrom") if subtractfeefrom is not None else []:
        if address not in addresses:
            raise RpcError(RPC_INVALID_PARAMETER, f"Invalid parameter, subtractfeefrom address not among outputs: {address}")
        subtract.append(addresses.index(address))
    rate = wallet_feerate_sat_per_kvb(ctx, fee_rate)
    tx = _send(ctx, wallet, outputs, subtract, rate, as_bool(replaceable, "replaceable"))
    if as_bool(verbose, "verbose"):
        return {"txid": tx.txid_hex, "fee_reason": "Fallback fee"}
    return tx.txid_hex


@rpc("Wallet")
def bumpfee(ctx: RequestContext, txid: Any, options: Any = None) -> dict:
    """Replace a wallet transaction from the mempool by one paying more, taken from its change."""
    wallet = get_wallet(ctx)
    node = ctx.node
    tx_hash = as_hash(txid, "txid")
    opts = as_dict(options, "options") if options is not None else {}
    entry = node.mempool.get(tx_hash)
    if entry is None:
        if node.index.get_tx(tx_hash) is not None:
            raise RpcError(RPC_WALLET_ERROR, "Transaction has been mined, or is conflicted with a mined transaction")
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Invalid or non-wallet transaction id")
    if not all(wallet.is_mine(o.script_pubkey) for o in entry.spent_outputs):
        raise RpcError(RPC_WALLET_ERROR, "Transaction contains inputs that don't belong to this wallet")
    if node.mempool.descendants(tx_hash):
        raise RpcError(RPC_WALLET_ERROR, "Transaction has descendants in the wallet")
    change = [n for n, o in enumerate(entry.tx.vout)
              if (key := wallet.key_for(o.script_pubkey)) is not None and key.internal]
    if not change:
        raise RpcError(RPC_WALLET_ERROR, "Unable to create transaction. Transaction does not have a change output")
    old_rate = entry.fee_sat * 1000 // entry.vsize
    incremental = 1000
    wanted = wallet_feerate_sat_per_kvb(ctx, opts.get("fee_rate"))
    if opts.get("fee_rate") is not None and wanted < old_rate + incremental:
        raise RpcError(RPC_INVALID_PARAMETER,
                       f"Insufficient total fee {Decimal(wanted) / 1000:.3f} sat/vB, must be at least "
                       f"{Decimal(old_rate + incremental) / 1000:.3f} sat/vB")
    rate = max(wanted, old_rate + incremental)
    replacement = entry.tx.copy()
    for txin in replacement.vin:
        txin.witness = []
        txin.script_sig = b""
    spent = list(entry.spent_outputs)
    wallet.sign(replacement, list(spent))  # size with real signatures
    new_fee = max(math.ceil(rate * replacement.vsize / 1000), entry.fee_sat + math.ceil(incremental * replacement.vsize / 1000))
    change_out = replacement.vout[change[0]]
    change_out.value_sat -= new_fee - entry.fee_sat
    if change_out.value_sat < dust_threshold_sat(change_out.script_pubkey):
        raise RpcError(RPC_WALLET_INSUFFICIENT_FUNDS, "Unable to create transaction. Insufficient funds")
    for txin in replacement.vin:
        txin.witness = []
    replacement.invalidate()
    errors = wallet.sign(replacement, list(spent))
    if errors:
        raise RpcError(RPC_WALLET_ERROR, f"Can't sign transaction: {errors[0]['error']}")
    fee = _add_to_mempool(node, wallet, replacement)
    return {"txid": replacement.txid_hex, "origfee": sat_to_btc(entry.fee_sat), "fee": sat_to_btc(fee), "errors": []}


@rpc("Wallet")
def settxfee(ctx: RequestContext, amount: Any) -> bool:
    """This wallet's fee rate (BTC/kvB) for sends without an explicit rate; 0 to unset."""
    wallet = get_wallet(ctx)
    rate = btc_to_sat(amount)
    if rate and rate < ctx.node.config.minrelaytxfee_sat_per_kvb:
        raise RpcError(RPC_WALLET_ERROR, "txfee cannot be less than min relay tx fee")
    wallet.pay_tx_fee_sat_per_kvb = rate or None
    return True


@rpc("Rawtransactions")
def fundrawtransaction(ctx: RequestContext, hexstring: Any, options: Any = None, iswitness: Any = None) -> dict:
    wallet = get_wallet(ctx)
    tx = decode_tx(hexstring)
    opts = as_dict(options, "options") if options is not None else {}
    if isinstance(options, bool):
        opts = {}
    known = {"add_inputs", "changeAddress", "changePosition", "change_type", "includeWatching",
             "lockUnspents", "fee_rate", "feeRate", "subtractFeeFromOutputs", "replaceable",
             "conf_target", "estimate_mode", "minconf", "maxconf", "include_unsafe", "input_weights"}
    for key in opts:
        if key not in known:
            raise RpcError(RPC_INVALID_PARAMETER, f"Unexpected key {key}")
    change_spk = parse_address(opts["changeAddress"]) if "changeAddress" in opts else None
    change_pos = as_int(opts["changePosition"], "changePosition") if "changePosition" in opts else None
    if change_pos is not None and not -1 <= change_pos <= len(tx.vout):
        raise RpcError(RPC_INVALID_PARAMETER, "changePosition out of bounds")
    config = ctx.node.config
    change_kind = parse_address_type(opts.get("change_type"), config.changetype or config.addresstype)
    subtract = [as_int(i, "subtractFeeFromOutputs") for i in as_list(opts.get("subtractFeeFromOutputs", []), "subtractFeeFromOutputs")]
    for index in subtract:
        if not 0 <= index < len(tx.vout):
            raise RpcError(RPC_INVALID_PARAMETER, f"Invalid parameter, value {index} is out of bounds")
    rate = wallet_feerate_sat_per_kvb(ctx, opts.get("fee_rate"), opts.get("feeRate"))
    if not tx.vout:
        raise RpcError(RPC_INVALID_PARAMETER, "TX must have at least one output")
    try:
        funded = wallet.fund(
            ctx.node, tx, rate, subtract_fee_from=subtract, change_kind=change_kind,
            change_address_spk=change_spk, change_position=change_pos,
            add_inputs=as_bool(opts.get("add_inputs", True), "add_inputs"),
            min_conf=as_int(opts.get("minconf", 0), "minconf"),
        )
    except InsufficientFunds as exc:
        raise RpcError(RPC_WALLET_ERROR, str(exc)) from None
    except FeeTooHighForOutputs as exc:
        raise RpcError(RPC_WALLET_ERROR, str(exc)) from None
    result = funded.tx
    if "replaceable" in opts and not as_bool(opts["replaceable"], "replaceable"):
        for txin in result.vin[len(tx.vin):]:
            txin.sequence = 0xFFFFFFFE
        result.invalidate()
    if as_bool(opts.get("lockUnspents", False), "lockUnspents"):
        for txin in result.vin:
            wallet.locked.add(txin.outpoint)
    return {"hex": result.serialize().hex(), "fee": sat_to_btc(funded.fee_sat), "changepos": funded.change_position}


def _sighash_arg(value: Any) -> int | None:
    name = as_str(value, "sighashtype")
    if name not in SIGHASH_NAMES:
        raise RpcError(RPC_INVALID_PARAMETER, f"'{name}' is not a valid sighash parameter.")
    return None if SIGHASH_NAMES[name] == 0 else SIGHASH_NAMES[name]


def _prevtxs_arg(prevtxs: Any) -> dict[tuple[bytes, int], TxOut]:
    given: dict[tuple[bytes, int], TxOut] = {}
    for item in as_list(prevtxs, "prevtxs") if prevtxs is not None else []:
        obj = as_dict(item, "prevtxs")
        outpoint = (as_hash(obj.get("txid"), "txid"), as_int(obj.get("vout"), "vout"))
        spk = as_hex(obj.get("scriptPubKey"), "scriptPubKey")
        if "amount" not in obj:
            raise RpcError(RPC_INVALID_PARAMETER, "Missing amount")
        given[outpoint] = TxOut(btc_to_sat(obj["amount"]), spk)
    return given


def _sign_result(tx: Tx, errors: list[dict]) -> dict:
    result: dict[str, Any] = {"hex": tx.serialize().hex(), "complete": not errors}
    if errors:
        result["errors"] = errors
    return result


@rpc("Rawtransactions")
def signrawtransactionwithwallet(ctx: RequestContext, hexstring: Any, prevtxs: Any = None,
                                 sighashtype: Any = "DEFAULT") -> dict:
    wallet = get_wallet(ctx)
    tx = decode_tx(hexstring)
    hash_type = _sighash_arg(sighashtype)
    given = _prevtxs_arg(prevtxs)
    spent: list[TxOut | None] = []
    for txin in tx.vin:
        out = given.get(txin.outpoint) or ctx.node.lookup_output(txin.prev_txid, txin.prev_vout)
        if out is None:
            # like bitcoind's FindCoins: the wallet's own outputs are found even when spent
            known = ctx.node.find_output_any(txin.prev_txid, txin.prev_vout)
            out = known if known is not None and wallet.is_mine(known.script_pubkey) else None
        spent.append(out)
    return _sign_result(tx, wallet.sign(tx, spent, hash_type))


@rpc("Rawtransactions")
def signrawtransactionwithkey(ctx: RequestContext, hexstring: Any, privkeys: Any, prevtxs: Any = None,
                              sighashtype: Any = "DEFAULT") -> dict:
    """Sign P2WPKH and P2TR (key path, BIP86 tweak) inputs with WIF keys."""
    tx = decode_tx(hexstring)
    hash_type = _sighash_arg(sighashtype)
    keys: dict[bytes, WalletKey] = {}
    for wif in as_list(privkeys, "privkeys"):
        secret = _decode_wif(as_str(wif, "privkeys"))
        for kind in ("bech32", "bech32m"):
            key = WalletKey(kind, False, 0, secret)
            keys[key.script_pubkey] = key
    given = _prevtxs_arg(prevtxs)
    spent = [given.get(i.outpoint) or ctx.node.lookup_output(i.prev_txid, i.prev_vout) for i in tx.vin]
    return _sign_result(tx, sign_inputs(tx, spent, keys, hash_type))


def _decode_wif(text: str) -> bytes:
    try:
        payload = b58decode_check(text)
    except AddressError:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Invalid private key") from None
    if payload[:1] != b"\xef" or len(payload) not in (33, 34) or (len(payload) == 34 and payload[33] != 1):
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Invalid private key")
    secret = payload[1:33]
    if not 0 < int.from_bytes(secret, "big") < SECP256K1_ORDER:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Invalid private key")
    return secret


@rpc("Wallet")
def abandontransaction(ctx: RequestContext, txid: Any) -> None:
    get_wallet(ctx)
    tx_hash = as_hash(txid, "txid")
    if tx_hash in ctx.node.mempool:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Transaction not eligible for abandonment")
    get_wallet(ctx).store.forget_tx(tx_hash)  # abandoned: not resubmitted at the next start
    return None


