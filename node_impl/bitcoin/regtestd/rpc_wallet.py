"""Wallet RPCs (one wallet per /wallet/<name> URL, or the only loaded one): wallets, addresses,
balances, coins and history. The RPCs that spend are in rpc_wallet_send.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .address import AddressError, address_to_script, decode_segwit
from .amounts import btc_to_sat, sat_to_btc
from .node import WalletLoadError
from .rpc_args import as_bool, as_dict, as_hash, as_int, as_list, as_str
from .rpc_errors import (
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER,
    RPC_WALLET_ERROR,
    RPC_WALLET_NOT_FOUND,
    RPC_WALLET_NOT_SPECIFIED,
    RpcError,
)
from .rpc_registry import RequestContext, rpc
from .script import script_type
from .wallet import Wallet
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


def parse_address_type(value: Any, default: str = "bech32") -> str:
    if value is None:
        return default
    text = as_str(value, "address_type")
    if text not in ADDRESS_TYPES:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, f"Unknown address type '{text}'")
    return ADDRESS_TYPES[text]


def parse_address(text: Any) -> bytes:
    address = as_str(text, "address")
    try:
        return address_to_script(address)
    except AddressError:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, f"Invalid Bitcoin address: {address}") from None


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
    return wallet.new_address(parse_address_type(address_type, ctx.node.config.addresstype), False, label_text)


@rpc("Wallet")
def getrawchangeaddress(ctx: RequestContext, address_type: Any = None) -> str:
    config = ctx.node.config
    return get_wallet(ctx).new_address(parse_address_type(address_type, config.changetype or config.addresstype), True)


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
    spk = parse_address(address)
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
