"""RPC methods of the channel subsystem (Core Lightning's names and result shapes).

Layer: rpc (top). Imports channel (manager, machine), chain (addresses), gossip (scid text),
services, core, and rpc/params for every parameter.

fundchannel, close, listpeerchannels, and the dev methods of tests: dev-channel-state,
dev-hold-htlcs, dev-sign-last-tx, dev-corrupt-next-commitment-sig. Each handler parses its
parameters here and calls the ChannelManager's typed method; node.py registers them.
"""

from __future__ import annotations

from typing import Any

from bitcoin.core import b2lx

from ..chain.wallet import WalletError, address_to_script
from ..channel.common import LIGHTNINGD
from ..channel.machine import (
    CHANNEL_TYPES,
    MAX_FUNDING_SAT,
    MIN_FUNDING_SAT,
    Channel,
    ChannelError,
    describe_channel_type,
)
from ..channel.manager import ChannelManager
from ..channel.txs import is_valid_shutdown_script
from ..channel.updates import LOCAL, REMOTE, Htlc
from ..core.jsonrpc import INVALID_PARAMS, RpcError, RpcRegistry, param_error
from ..gossip.graph import format_scid
from ..services import Services
from . import params

FUNDING_FALLBACK_PERKW = 1000
"""Funding feerate when the chain has no estimate (as withdraw)."""


def register(registry: RpcRegistry, *, channels: ChannelManager, services: Services) -> None:
    """Offer the channel methods on `registry`."""
    network = services.identity.network

    def address_script(value: Any, name: str) -> bytes:
        try:
            return address_to_script(params.string(value, name), network)
        except WalletError as exc:
            raise param_error(name, str(exc)) from None

    def find(ident: Any) -> Channel:
        if not isinstance(ident, str):
            raise param_error("id", "expected a peer id, channel id or short channel id")
        return channels.find(params.string(ident, "id"))

    async def fundchannel(id: Any, amount: Any, feerate: Any = None, announce: Any = True,  # noqa: A002
                          minconf: Any = 1, push_msat: Any = None, close_to: Any = None,
                          channel_type: Any = None) -> dict[str, Any]:
        """Open a channel to a connected peer, funded from our wallet; `channel_type` [12] for
        static_remotekey, [12, 22] for anchors (default: anchors if the peer offers them)."""
        peer_id = params.node_id(id)
        funding_sat = params.sat(amount, "amount")
        if funding_sat > MAX_FUNDING_SAT:
            raise param_error("amount", f"{funding_sat} sat is above the maximum {MAX_FUNDING_SAT} sat")
        if funding_sat < MIN_FUNDING_SAT:
            raise param_error("amount", f"{funding_sat} sat is below the minimum {MIN_FUNDING_SAT} sat")
        push = 0 if push_msat is None else params.msat(push_msat, "push_msat")
        if push > funding_sat * 1000:
            raise param_error("push_msat", f"{push} msat is more than the channel amount")
        confirmations = params.integer(minconf, "minconf")
        announced = params.boolean(announce, "announce")
        upfront_script = b""
        if close_to is not None:
            upfront_script = address_script(close_to, "close_to")
            if not is_valid_shutdown_script(upfront_script):
                raise param_error("close_to", f"{close_to} is not a segwit address")
        funding_feerate = await params.feerate_perkw(feerate, services.chain.estimate_feerate_perkw,
                                                     fallback_perkw=FUNDING_FALLBACK_PERKW)
        wanted_type = _channel_type(channel_type) if channel_type is not None else None
        return await channels.fund_channel(peer_id, funding_sat, push_msat=push,
                                           funding_feerate_perkw=funding_feerate, announce=announced,
                                           minconf=confirmations, upfront_shutdown_script=upfront_script,
                                           channel_type=wanted_type)

    async def close(id: Any, unilateraltimeout: Any = None, destination: Any = None,  # noqa: A002
                    force: Any = False) -> dict[str, Any]:
        """Close a channel: mutual, or unilateral after `unilateraltimeout` seconds (or `force`)."""
        forced = params.boolean(force, "force")
        chan = find(id)
        script = address_script(destination, "destination") if destination is not None else None
        timeout_s = None
        if unilateraltimeout is not None:  # seconds, 0 = wait forever
            timeout_s = params.number(unilateraltimeout, "unilateraltimeout", allow_zero=True)
        return await channels.close(chan, unilateral_timeout_s=timeout_s, destination_script=script, force=forced)

    async def listpeerchannels(id: Any = None, short_channel_id: Any = None,  # noqa: A002
                               channel_id: Any = None) -> dict[str, Any]:
        """Channels with every peer, or only those with the peer `id`, or only the channel
        `short_channel_id` or `channel_id` (one filter at most); Core Lightning's fields."""
        if sum(f is not None for f in (id, short_channel_id, channel_id)) > 1:
            raise RpcError(INVALID_PARAMS, "Must not specify more than one of short_channel_id, "
                                           "channel_id or id")
        peer_id = params.node_id(id) if id is not None else None
        scid = params.short_channel_id(short_channel_id) if short_channel_id is not None else None
        cid = params.hex_bytes(channel_id, "channel_id", 32) if channel_id is not None else None
        return {"channels": [
            describe(channels, chan) for chan in channels.all_channels()
            if (peer_id is None or chan.peer_id == peer_id)
            and (scid is None or scid in (chan.short_channel_id, chan.local_alias))
            and (cid is None or (chan.channel_id or chan.temporary_channel_id) == cid)]}

    async def dev_channel_state(id: Any) -> dict[str, Any]:  # noqa: A002
        """Internal state of a channel (for tests): update log and commitment numbers."""
        chan = find(id)
        return {"state": chan.state, "data": chan.to_json()}

    async def dev_hold_htlcs(hold: Any) -> dict[str, Any]:
        """Leave incoming HTLCs undecided while `hold` is true (tests of stuck HTLCs)."""
        held = params.boolean(hold, "hold")
        await channels.set_hold_htlcs(held)
        return {"hold": held}

    async def dev_sign_last_tx(id: Any) -> dict[str, Any]:  # noqa: A002
        """Our current commitment, fully signed, without broadcasting it (tests of old states)."""
        chan = find(id)
        try:
            return {"tx": chan.signed_local_commitment_hex()}
        except ChannelError as exc:
            raise RpcError(LIGHTNINGD, str(exc)) from None

    async def dev_corrupt_next_commitment_sig(id: Any) -> dict[str, Any]:  # noqa: A002
        """Send the next commitment_signed of this channel with a wrong signature (tests of a
        misbehaving peer)."""
        chan = find(id)
        channels.corrupt_next_commitment_sig(chan)
        return {"channel_id": (chan.channel_id or chan.temporary_channel_id).hex()}

    for name, handler in (
        ("fundchannel", fundchannel),
        ("listpeerchannels", listpeerchannels),
        ("close", close),
        ("dev-channel-state", dev_channel_state),
        ("dev-hold-htlcs", dev_hold_htlcs),
        ("dev-sign-last-tx", dev_sign_last_tx),
        ("dev-corrupt-next-commitment-sig", dev_corrupt_next_commitment_sig),
    ):
        registry.register(name, handler)


def _channel_type(value: Any) -> int:
    """fundchannel's `channel_type`: the feature bits of a channel type we make."""
    if not isinstance(value, list) or not all(
            isinstance(bit, int) and not isinstance(bit, bool) and 0 <= bit < 256 for bit in value):
        raise param_error("channel_type", "expected a list of feature bit numbers, e.g. [12, 22]")
    bits = sum(1 << bit for bit in set(value))
    if bits not in CHANNEL_TYPES:
        raise param_error("channel_type", f"{sorted(set(value))} is not a channel type the node makes: "
                                          "[12] (static_remotekey) or [12, 22] (anchors)")
    return bits


def describe(channels: ChannelManager, chan: Channel) -> dict[str, Any]:
    """One listpeerchannels entry (Core Lightning's fields)."""
    entry: dict[str, Any] = {
        "peer_id": chan.peer_id.hex(),
        "peer_connected": channels.is_connected(chan),
        "state": channels.shown_state(chan),
        "opener": "local" if chan.opener == LOCAL else "remote",
        "private": not bool(chan.channel_flags & 1),
        "channel_id": (chan.channel_id or chan.temporary_channel_id).hex(),
        "total_msat": chan.funding_sat * 1000,
        "push_msat": chan.push_msat,
        "channel_type": describe_channel_type(chan.channel_type),
        "htlcs": [],
    }
    if chan.funding_txid is not None:
        entry["funding_txid"] = b2lx(chan.funding_txid)
        entry["funding_outnum"] = chan.funding_outnum
    if chan.short_channel_id is not None:
        entry["short_channel_id"] = format_scid(chan.short_channel_id)
    aliases = {side: format_scid(alias) for side, alias in (("local", chan.local_alias),
                                                            ("remote", chan.remote_alias)) if alias is not None}
    if aliases:
        entry["alias"] = aliases
    if chan.log is not None:
        view = chan.log.view(LOCAL)
        entry["to_us_msat"] = view.local_msat
        entry["spendable_msat"] = chan.spendable_msat()
        entry["receivable_msat"] = chan.receivable_msat()
        entry["feerate"] = {"perkw": view.feerate_per_kw}
        entry["htlcs"] = [
            {"direction": "out" if h.offerer == LOCAL else "in", "id": h.htlc_id,
             "amount_msat": h.amount_msat, "expiry": h.cltv_expiry, "payment_hash": h.payment_hash.hex(),
             "state": _htlc_state(h)}
            for h in chan.log.htlcs.values()
        ]
    else:
        entry["to_us_msat"] = 0
        entry["spendable_msat"] = 0
        entry["receivable_msat"] = 0
    if chan.remote_config is not None:
        entry["our_to_self_delay"] = chan.local_config.to_self_delay
        entry["their_to_self_delay"] = chan.remote_config.to_self_delay
        entry["dust_limit_msat"] = chan.local_config.dust_limit_sat * 1000
        entry["our_reserve_msat"] = chan.remote_config.channel_reserve_sat * 1000
        entry["their_reserve_msat"] = chan.local_config.channel_reserve_sat * 1000
    if chan.close_type is not None:
        entry["closer"] = "local"
    if chan.closing_txid:
        entry["closing_txid"] = chan.closing_txid
    if chan.error_message:
        entry["status"] = [chan.error_message]
    entry["onchain"] = dict(chan.onchain)
    return entry


def _htlc_state(h: Htlc) -> str:
    if h.removal is None:
        return "committed" if h.added_at[LOCAL] is not None and h.added_at[REMOTE] is not None else "adding"
    return "removing"
