"""Wallet RPCs (one wallet per /wallet/<name> URL, or the only loaded one)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from .address import AddressError, address_to_script, b58decode_check, decode_segwit
from .amounts import btc_to_sat, sat_to_btc
from .keys import SECP256K1_ORDER, WalletKey
from .node import WalletLoadError
from .policy import TxRejected
from .primitives import Tx, TxOut
from .rpc_args import as_bool, as_dict, as_hash, as_hex, as_int, as_list, as_str, decode_tx
from .rpc_errors import (
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER,
    RPC_TYPE_ERROR,
    RPC_WALLET_ERROR,
    RPC_WALLET_INSUFFICIENT_FUNDS,
    RPC_WALLET_NOT_FOUND,
    RPC_WALLET_NOT_SPECIFIED,
    RpcError,
)
from .rpc_registry import RequestContext, rpc
from .script import dust_threshold_sat, script_type
from .sighash import SIGHASH_NAMES
from .signer import sign_inputs
from .wallet import FeeTooHighForOutputs, InsufficientFunds, Wallet
from .wallet_history import common_fields, detail_entries, get_wallet_tx, list_entries

ADDRESS_TYPES = {"bech32": "bech32", "bech32m": "bech32m"}


def get_wallet(ctx: RequestContext) -> Wallet:
    wallets = ctx.node.wallets
    if ctx.wallet_name is not None:
        wallet = wallets.get(ctx.wallet_name)
        if wallet is None:
            raise RpcError(RPC_WALLET_NOT_FOUND, "Requested wallet does not exist or is not loaded")
        return wallet
    if len(wallets) == 1:
        return next(iter(wallets.values()))
    if not wallets:
        raise RpcError(
            RPC_WALLET_NOT_FOUND,
            "No wallet is loaded. Load a wallet using loadwallet or create a new one with createwallet. "
            "(Note: A default wallet is no longer automatically created)",
        )
    raise RpcError(
        RPC_WALLET_NOT_SPECIFIED,
        "Wallet file not specified (must request wallet RPC through /wallet/<filename> uri-path).",
    )


def _address_type(value: Any, default: str = "bech32") -> str:
    if value is None:
        return default
    text = as_str(value, "address_type")
    if text not in ADDRESS_TYPES:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, f"Unknown address type '{text}'")
    return ADDRESS_TYPES[text]


def _lastprocessed(ctx: RequestContext) -> dict:
    return {"hash": ctx.node.tip_hash()[::-1].hex(), "height": ctx.node.tip_height()}


# -- wallet management -------------------------------------------------------------------
@rpc("Wallet")
def createwallet(ctx: RequestContext, wallet_name: Any, disable_private_keys: Any = False, blank: Any = False,
                 passphrase: Any = None, avoid_reuse: Any = False, descriptors: Any = True,
                 load_on_startup: Any = None, external_signer: Any = False) -> dict:
    name = as_str(wallet_name, "wallet_name")
    if as_bool(disable_private_keys, "disable_private_keys"):
        raise RpcError(RPC_WALLET_ERROR, "regtestd wallets always hold private keys")
    if passphrase:
        raise RpcError(RPC_WALLET_ERROR, "regtestd wallets do not support encryption")
    try:
        ctx.node.load_wallet(name, must_create=True)
    except WalletLoadError as exc:
        raise RpcError(exc.code, exc.message) from None
    if load_on_startup is not None:
        ctx.node.set_load_on_startup(name, as_bool(load_on_startup, "load_on_startup"))
    return {"name": name}


@rpc("Wallet")
def loadwallet(ctx: RequestContext, filename: Any, load_on_startup: Any = None) -> dict:
    name = as_str(filename, "filename")
    if name in ctx.node.wallets:
        raise RpcError(-35, f"Wallet \"{name}\" is already loaded.")
    try:
        ctx.node.load_wallet(name)
    except WalletLoadError as exc:
        raise RpcError(exc.code, exc.message) from None
    if load_on_startup is not None:
        ctx.node.set_load_on_startup(name, as_bool(load_on_startup, "load_on_startup"))
    return {"name": name}


@rpc("Wallet")
def unloadwallet(ctx: RequestContext, wallet_name: Any = None, load_on_startup: Any = None) -> dict:
    if wallet_name is not None:
        name = as_str(wallet_name, "wallet_name")
        if ctx.wallet_name is not None and ctx.wallet_name != name:
            raise RpcError(RPC_INVALID_PARAMETER, "RPC endpoint wallet and wallet_name parameter specify different wallets")
    else:
        name = get_wallet(ctx).name
    if name not in ctx.node.wallets:
        raise RpcError(RPC_WALLET_NOT_FOUND, "Requested wallet does not exist or is not loaded")
    ctx.node.unload_wallet(name)
    if load_on_startup is not None:
        ctx.node.set_load_on_startup(name, as_bool(load_on_startup, "load_on_startup"))
    return {}


@rpc("Wallet")
def listwallets(ctx: RequestContext) -> list:
    return list(ctx.node.wallets)


@rpc("Wallet")
def listwalletdir(ctx: RequestContext) -> dict:
    base = ctx.node.config.net_dir / "wallets"
    names = []
    if (base / "wallet.sqlite").exists():
        names.append("")
    if base.exists():
        names.extend(p.parent.name for p in sorted(base.glob("*/wallet.sqlite")))
    return {"wallets": [{"name": n} for n in names]}


@rpc("Wallet")
def getwalletinfo(ctx: RequestContext) -> dict:
    wallet = get_wallet(ctx)
    balances = wallet.balances(ctx.node)
    from .wallet_history import wallet_txids

    return {
        "walletname": wallet.name,
        "walletversion": 169900,
        "format": "sqlite",
        "balance": sat_to_btc(balances["trusted"]),
        "unconfirmed_balance": sat_to_btc(balances["untrusted_pending"]),
        "immature_balance": sat_to_btc(balances["immature"]),
        "txcount": len(wallet_txids(ctx.node, wallet)),
        "keypoolsize": 1000,
        "keypoolsize_hd_internal": 1000,
        "paytxfee": sat_to_btc(wallet.pay_tx_fee_sat_per_kvb or 0),
        "private_keys_enabled": True,
        "avoid_reuse": False,
        "scanning": False,
        "descriptors": True,
        "external_signer": False,
        "blank": False,
        "lastprocessedblock": _lastprocessed(ctx),
    }


# -- addresses ---------------------------------------------------------------------------------
@rpc("Wallet")
def getnewaddress(ctx: RequestContext, label: Any = "", address_type: Any = None) -> str:
    wallet = get_wallet(ctx)
    label_text = as_str(label, "label")
    if label_text == "*":
        raise RpcError(-11, "Invalid label name")
    return wallet.new_address(_address_type(address_type, ctx.node.config.addresstype), False, label_text)


@rpc("Wallet")
def getrawchangeaddress(ctx: RequestContext, address_type: Any = None) -> str:
    config = ctx.node.config
    return get_wallet(ctx).new_address(_address_type(address_type, config.changetype or config.addresstype), True)


@rpc("Wallet")
def getaddressinfo(ctx: RequestContext, address: Any) -> dict:
    wallet = get_wallet(ctx)
    text = as_str(address, "address")
    try:
        spk = address_to_script(text)
    except AddressError:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Invalid address") from None
    key = wallet.key_for(spk)
    out: dict[str, Any] = {"address": text, "scriptPubKey": spk.hex(), "ismine": key is not None,
                           "solvable": key is not None}
    if key is not None:
        out["desc"] = wallet.descriptor_for(spk)
    out["iswatchonly"] = False
    out["isscript"] = script_type(spk) in ("scripthash", "witness_v0_scripthash")
    out["iswitness"] = text.lower().startswith("bcrt1")
    if out["iswitness"]:
        witver, program = decode_segwit(text)
        out["witness_version"] = witver
        out["witness_program"] = program.hex()
    if key is not None:
        if key.kind == "bech32":
            out["pubkey"] = key.pubkey.hex()
            out["iscompressed"] = True
        out["ischange"] = key.internal
        out["labels"] = [] if key.internal else [wallet.store.labels.get(spk, "")]
    else:
        out["ischange"] = False
        out["labels"] = []
    return out


# -- balances and coins -------------------------------------------------------------------------
@rpc("Wallet")
def getbalance(ctx: RequestContext, dummy: Any = None, minconf: Any = 0, include_watchonly: Any = None,
               avoid_reuse: Any = None) -> Decimal:
    wallet = get_wallet(ctx)
    if dummy is not None and dummy != "*":
        raise RpcError(-32, "dummy first argument must be excluded or set to \"*\".")
    depth = as_int(minconf, "minconf")
    if depth <= 0:
        return sat_to_btc(wallet.balances(ctx.node)["trusted"])
    coins = wallet.spendable_coins(ctx.node, depth)
    return sat_to_btc(sum(c.value_sat for c in coins))


@rpc("Wallet")
def getreceivedbyaddress(ctx: RequestContext, address: Any, minconf: Any = 1, include_immature_coinbase: Any = False) -> Decimal:
    wallet = get_wallet(ctx)
    spk = _parse_address(address)
    if not wallet.is_mine(spk):
        raise RpcError(RPC_WALLET_ERROR, "Address not found in wallet")
    depth = as_int(minconf, "minconf")
    with_immature = as_bool(include_immature_coinbase, "include_immature_coinbase")
    node = ctx.node
    tip = node.tip_height()
    total = 0
    for row in node.index.outputs_for_scripts([spk], include_spent=True):
        confirmations = tip - row.height + 1
        if row.coinbase and confirmations < 101 and not with_immature:
            continue
        if confirmations >= depth:
            total += row.value_sat
    if depth <= 0:
        for entry in node.mempool.entries.values():
            total += sum(o.value_sat for o in entry.tx.vout if o.script_pubkey == spk)
    return sat_to_btc(total)


@rpc("Wallet")
def getunconfirmedbalance(ctx: RequestContext) -> Decimal:
    return sat_to_btc(get_wallet(ctx).balances(ctx.node)["untrusted_pending"])


@rpc("Wallet")
def getbalances(ctx: RequestContext) -> dict:
    balances = get_wallet(ctx).balances(ctx.node)
    return {
        "mine": {
            "trusted": sat_to_btc(balances["trusted"]),
            "untrusted_pending": sat_to_btc(balances["untrusted_pending"]),
            "immature": sat_to_btc(balances["immature"]),
        },
        "lastprocessedblock": _lastprocessed(ctx),
    }


@rpc("Wallet")
def listunspent(ctx: RequestContext, minconf: Any = 1, maxconf: Any = 9999999, addresses: Any = None,
                include_unsafe: Any = True, query_options: Any = None) -> list:
    wallet = get_wallet(ctx)
    lo = as_int(minconf, "minconf")
    hi = as_int(maxconf, "maxconf")
    unsafe_ok = as_bool(include_unsafe, "include_unsafe")
    wanted: set[bytes] | None = None
    if addresses is not None:
        wanted = set()
        for given in as_list(addresses, "addresses"):
            try:
                wanted.add(address_to_script(as_str(given, "addresses")))
            except AddressError:
                raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, f"Invalid Bitcoin address: {given}") from None
    options = as_dict(query_options, "query_options") if query_options is not None else {}
    min_amount = btc_to_sat(options.get("minimumAmount", 0))
    max_amount = btc_to_sat(options["maximumAmount"]) if "maximumAmount" in options else None
    from .address import script_to_address

    result = []
    for coin in wallet.coins(ctx.node):
        if coin.coinbase and coin.confirmations < 101:
            continue
        if coin.outpoint in wallet.locked:
            continue
        if not lo <= coin.confirmations <= hi:
            continue
        if not coin.trusted and not unsafe_ok:
            continue
        if wanted is not None and coin.script_pubkey not in wanted:
            continue
        if coin.value_sat < min_amount or (max_amount is not None and coin.value_sat > max_amount):
            continue
        item: dict[str, Any] = {"txid": coin.txid[::-1].hex(), "vout": coin.vout}
        address = script_to_address(coin.script_pubkey)
        if address:
            item["address"] = address
        key = wallet.key_for(coin.script_pubkey)
        if key is not None and not key.internal:
            item["label"] = wallet.store.labels.get(coin.script_pubkey, "")
        item.update({
            "scriptPubKey": coin.script_pubkey.hex(),
            "amount": sat_to_btc(coin.value_sat),
            "confirmations": coin.confirmations,
            "spendable": True,
            "solvable": True,
            "desc": wallet.descriptor_for(coin.script_pubkey),
            "parent_descs": [],
            "safe": coin.trusted,
        })
        result.append(item)
    return result


@rpc("Wallet")
def lockunspent(ctx: RequestContext, unlock: Any, transactions: Any = None, persistent: Any = False) -> bool:
    wallet = get_wallet(ctx)
    do_unlock = as_bool(unlock, "unlock")
    if transactions is None:
        if do_unlock:
            wallet.locked.clear()
        return True
    outpoints = []
    for item in as_list(transactions, "transactions"):
        obj = as_dict(item, "transactions")
        outpoints.append((as_hash(obj.get("txid"), "txid"), as_int(obj.get("vout"), "vout")))
    for outpoint in outpoints:
        if do_unlock:
            wallet.locked.discard(outpoint)
        else:
            wallet.locked.add(outpoint)
    return True


@rpc("Wallet")
def listlockunspent(ctx: RequestContext) -> list:
    return [{"txid": t[::-1].hex(), "vout": v} for t, v in sorted(get_wallet(ctx).locked)]


# -- history -------------------------------------------------------------------------------------
@rpc("Wallet")
def gettransaction(ctx: RequestContext, txid: Any, include_watchonly: Any = None, verbose: Any = False) -> dict:
    wallet = get_wallet(ctx)
    tx_hash = as_hash(txid, "txid")
    wtx = get_wallet_tx(ctx.node, wallet, tx_hash)
    if wtx is None:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Invalid or non-wallet transaction id")
    net = wtx.credit_sat - wtx.debit_sat
    fee = wtx.fee_sat if wtx.fee_sat is not None else 0
    out: dict[str, Any] = {"amount": sat_to_btc(net - fee)}
    if wtx.from_me:
        out["fee"] = sat_to_btc(fee)
    out.update(common_fields(wtx))
    out["details"] = detail_entries(wallet, wtx)
    out["hex"] = wtx.tx.serialize().hex()
    if as_bool(verbose, "verbose"):
        from .rpc_json import tx_to_json

        out["decoded"] = tx_to_json(wtx.tx, include_hex=False)
    return out


@rpc("Wallet")
def listtransactions(ctx: RequestContext, label: Any = None, count: Any = 10, skip: Any = 0,
                     include_watchonly: Any = None) -> list:
    wallet = get_wallet(ctx)
    n = as_int(count, "count")
    first = as_int(skip, "skip")
    if n < 0:
        raise RpcError(RPC_INVALID_PARAMETER, "Negative count")
    if first < 0:
        raise RpcError(RPC_INVALID_PARAMETER, "Negative from")
    rows = list_entries(ctx.node, wallet)
    if label is not None and label != "*":
        wanted = as_str(label, "label")
        rows = [r for r in rows if r.get("label") == wanted]
    end = len(rows) - first
    start = max(0, end - n)
    return rows[start:max(end, 0)]


@rpc("Wallet")
def listsinceblock(ctx: RequestContext, blockhash: Any = None, target_confirmations: Any = 1,
                   include_watchonly: Any = None, include_removed: Any = True) -> dict:
    wallet = get_wallet(ctx)
    rows = list_entries(ctx.node, wallet)
    if blockhash is not None:
        since = ctx.node.index.height_of(as_hash(blockhash, "blockhash"))
        if since is None:
            raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
        rows = [r for r in rows if r.get("blockheight") is None or r["blockheight"] > since]
    return {"transactions": rows, "removed": [], "lastblock": ctx.node.tip_hash()[::-1].hex()}


# -- sending ----------------------------------------------------------------------------------------
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


def _parse_address(text: Any) -> bytes:
    address = as_str(text, "address")
    try:
        return address_to_script(address)
    except AddressError:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, f"Invalid Bitcoin address: {address}") from None


@rpc("Wallet")
def sendtoaddress(ctx: RequestContext, address: Any, amount: Any, comment: Any = None, comment_to: Any = None,
                  subtractfeefromamount: Any = False, replaceable: Any = True, conf_target: Any = None,
                  estimate_mode: Any = None, avoid_reuse: Any = None, fee_rate: Any = None,
                  verbose: Any = False) -> Any:
    wallet = get_wallet(ctx)
    spk = _parse_address(address)
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
        spk = _parse_address(address)
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
    change_spk = _parse_address(opts["changeAddress"]) if "changeAddress" in opts else None
    change_pos = as_int(opts["changePosition"], "changePosition") if "changePosition" in opts else None
    if change_pos is not None and not -1 <= change_pos <= len(tx.vout):
        raise RpcError(RPC_INVALID_PARAMETER, "changePosition out of bounds")
    config = ctx.node.config
    change_kind = _address_type(opts.get("change_type"), config.changetype or config.addresstype)
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
    return None


