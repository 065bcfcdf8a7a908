"""Positional parameters of Core Lightning's RPC methods, in pyln-client's order.

pyln-client's `LightningRpc` has a Python method for many commands; a test calls them with
positional arguments (`rpc.invoice(1000, 'lbl', 'desc')`) and with its Python keyword names
(`rpc.listpeerchannels(peer_id=...)`). `PARAMS` lists, per command, the positional order
and, where the Python name differs from the JSON one, `python_name:json_name`.
"""
from __future__ import annotations

from typing import Any

PARAMS: dict[str, tuple[str, ...]] = {
    "close": ("peer_id:id", "unilateraltimeout", "destination", "fee_negotiation_step",
              "force_lease_closed", "feerange"),
    "connect": ("peer_id:id", "host", "port"),
    "decode": ("string",),
    "decodepay": ("bolt11", "description"),
    "delinvoice": ("label", "status", "desconly"),
    "disconnect": ("peer_id:id", "force"),
    "fundchannel": ("node_id:id", "amount", "feerate", "announce", "minconf", "utxos",
                    "push_msat", "close_to", "request_amt", "compact_lease", "mindepth",
                    "reserve", "channel_type"),
    "getinfo": (),
    "getroute": ("node_id:id", "amount_msat", "riskfactor", "cltv", "fromid", "fuzzpercent",
                 "exclude", "maxhops"),
    "help": ("command",),
    "invoice": ("amount_msat", "label", "description", "expiry", "fallbacks", "preimage",
                "exposeprivatechannels", "cltv", "deschashonly"),
    "keysend": ("destination", "amount_msat", "label", "maxfeepercent", "retry_for",
                "maxdelay", "exemptfee", "extratlvs"),
    "listchannels": ("short_channel_id", "source", "destination"),
    "listforwards": ("status", "in_channel", "out_channel", "index", "start", "limit"),
    "listfunds": ("spent",),
    "listinvoices": ("label", "payment_hash", "invstring", "offer_id", "index", "start", "limit"),
    "listnodes": ("node_id:id",),
    "listpays": ("bolt11", "payment_hash", "status", "index", "start", "limit"),
    "listpeerchannels": ("peer_id:id", "short_channel_id", "channel_id"),
    "listpeers": ("peerid:id", "level"),
    "listsendpays": ("bolt11", "payment_hash", "status", "index", "start", "limit"),
    "listtransactions": (),
    "newaddr": ("addresstype",),
    "pay": ("bolt11", "amount_msat", "label", "riskfactor", "maxfeepercent", "retry_for",
            "maxdelay", "exemptfee", "localinvreqid", "exclude", "maxfee", "description",
            "partial_msat"),
    "sendonion": ("onion", "first_hop", "payment_hash", "label", "shared_secrets", "partid",
                  "bolt11", "amount_msat", "destination"),
    "sendpay": ("route", "payment_hash", "label", "amount_msat", "bolt11", "payment_secret",
                "partid", "groupid", "payment_metadata"),
    "setchannel": ("id", "feebase", "feeppm", "htlcmin", "htlcmax", "enforcedelay",
                   "ignorefeelimits"),
    "stop": (),
    "waitanyinvoice": ("lastpay_index", "timeout"),
    "waitblockheight": ("blockheight", "timeout"),
    "waitinvoice": ("label",),
    "waitsendpay": ("payment_hash", "timeout", "partid", "groupid"),
    "withdraw": ("destination", "satoshi", "feerate", "minconf", "utxos"),
    "xpay": ("invstring", "amount_msat", "maxfee", "retry_for", "partial_msat", "maxdelay",
             "payer_note", "label", "localinvreqid"),
}

#: Core Lightning commands whose names hold an underscore (others map `_` to `-`)
UNDERSCORE_COMMANDS = frozenset({
    "fundchannel_start", "fundchannel_complete", "fundchannel_cancel", "openchannel_init",
    "openchannel_signed", "openchannel_update", "openchannel_bump", "openchannel_abort",
    "splice_init", "splice_update", "splice_signed", "stfu_channels", "abort_channels",
})


def command_name(attribute: str) -> str:
    """The command an attribute of the RPC object calls: `dev_fail` -> `dev-fail`, as
    pyln-client does, except commands whose own name has an underscore."""
    if attribute in PARAMS or attribute in UNDERSCORE_COMMANDS:
        return attribute
    return attribute.replace("_", "-")


def named_params(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | list[Any]:
    """The JSON params of a call: positional arguments named after the command's order,
    pyln-client's Python keyword names renamed to the JSON ones, None values dropped.

    A command not in `PARAMS` gets a JSON array (positional) or object (keywords); mixing
    both is a TypeError for those, as in pyln-client.
    """
    spec = PARAMS.get(method)
    if spec is None:
        if args and kwargs:
            raise TypeError(f"{method}: cannot mix positional and keyword arguments for a command "
                            "lnharness.pyln does not know the parameters of")
        return list(args) if args else {k: v for k, v in kwargs.items() if v is not None}
    names = [entry.split(":") for entry in spec]
    if len(args) > len(names):
        raise TypeError(f"{method}: takes at most {len(names)} positional arguments "
                        f"({', '.join(n[0] for n in names)}), got {len(args)}")
    renames = {n[0]: n[-1] for n in names}
    params: dict[str, Any] = {}
    for (python_name, *json_name), value in zip(names, args, strict=False):
        params[json_name[0] if json_name else python_name] = value
    for key, value in kwargs.items():
        target = renames.get(key, key)
        if target in params:
            raise TypeError(f"{method}: parameter {key!r} given by position and by name")
        params[target] = value
    return {k: v for k, v in params.items() if v is not None}
