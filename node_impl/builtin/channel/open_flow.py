"""The manager's side of opening a channel (BOLT 2 "Channel Establishment" v1), both sides, and its lock-in.

Layer: channel. Imports channel, services, chain (wallet errors), keys, core.

The acceptor answers open_channel with accept_channel and funding_created with
funding_signed; the opener (fund_channel) sends open_channel, funds the tx from our wallet
once accept_channel came, and broadcasts it once funding_signed is checked and the channel is
persisted. Lock-in: channel_ready once the funding is min_depth deep.
`OpeningMixin` is part of ChannelManager (manager.py): its methods run on the manager.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from bitcoin.core import b2lx, b2x

from ..chain.wallet import WalletError
from ..chain.watcher import ChainRpcError, ChainUnavailable
from ..core.jsonrpc import RpcError
from ..core.log import get_logger
from ..keys import derivation as keys
from ..net.peer import Peer
from ..wire import messages
from ..wire.features import Feature
from . import fees
from .common import COMMITMENT_FEE_TARGET_BLOCKS, LIGHTNINGD, ManagerParts
from .common import channel_id_text as _cid
from .machine import (
    CHANNEL_TYPE_ANCHORS,
    CHANNEL_TYPE_STATIC_REMOTEKEY,
    NORMAL,
    Channel,
    ChannelError,
    SideConfig,
    channel_id_from_funding,
    describe_channel_type,
)
from .txs import funding_output_script
from .updates import LOCAL, REMOTE

log = get_logger("channeld")
R = TypeVar("R", bound=messages.Message)

# Core Lightning's error code of a failed fundchannel
FUNDING_ERROR = 300
OPEN_TIMEOUT_S = 30.0
DEFAULT_COMMITMENT_FEERATE = 2000  # inside Core Lightning's accepted range without fee estimates (253..2530)


class OpeningMixin(ManagerParts):
    """Channel establishment and lock-in; part of ChannelManager."""

    # more of ChannelManager's state and methods these methods use (see ManagerParts)
    _opening: dict[tuple[bytes, bytes], Channel]
    _waiters: dict[tuple[bytes, bytes, str], asyncio.Future[messages.Message]]
    _send: Callable[..., Any]

    # ------------------------------------------------------------------ acceptor
    def _local_config(self, funding_sat: int) -> SideConfig:
        cfg = self.services.config
        reserve = max(funding_sat // 100, cfg.dust_limit_sat)
        return SideConfig(
            dust_limit_sat=cfg.dust_limit_sat,
            max_htlc_value_in_flight_msat=funding_sat * 1000,
            channel_reserve_sat=reserve,
            htlc_minimum_msat=cfg.htlc_minimum_msat,
            to_self_delay=cfg.to_self_delay,
            max_accepted_htlcs=cfg.max_accepted_htlcs,
        )

    def _new_channel(self, peer_id: bytes, opener: str, funding_sat: int) -> Channel:
        index = self.store.allocate_index()
        return Channel(index=index, peer_id=peer_id, keys=keys.channel_keys(self.services.identity.seed, index),
                       opener=opener, local_config=self._local_config(funding_sat),
                       chain_hash=bytes.fromhex(self.services.identity.genesis_hash)[::-1])

    async def _on_open_channel(self, peer: Peer, m: messages.OpenChannel) -> None:
        chan = self._new_channel(peer.node_id, REMOTE, m.funding_satoshis)
        try:
            accept = chan.handle_open_channel(m, min_depth=self.services.config.min_depth,
                                              accept_anchors=self.services.config.anchors)
        except ChannelError as exc:
            log.info("refusing open_channel from %s: %s", peer.id_hex, exc)
            await peer.send_error(m.temporary_channel_id, str(exc))
            return
        self._opening[(peer.node_id, chan.temporary_channel_id)] = chan
        await self._send(peer, [accept])

    async def _on_funding_created(self, peer: Peer, m: messages.FundingCreated) -> None:
        chan = self._opening.pop((peer.node_id, m.temporary_channel_id), None)
        if chan is None:
            await peer.send_error(m.temporary_channel_id, "funding_created for an unknown channel")
            return
        try:
            signed = chan.handle_funding_created(m)
        except ChannelError as exc:
            await peer.send_error(m.temporary_channel_id, str(exc))
            return
        self.channels[chan.index] = chan
        self._reestablished.add(chan.index)
        log.info("channel %s opened by %s: %d sat, push %d msat", _cid(chan), peer.id_hex,
                 chan.funding_sat, chan.push_msat)
        async with self._lock(chan):
            await self._commit(chan, [signed], peer)
        await self._check_funding_now(chan)

    # ------------------------------------------------------------------ opener
    def _channel_type_for(self, peer: Peer, asked: int | None) -> int:
        """The channel type to open with ``peer``: ``asked`` if given (and possible), else
        anchors when both sides offer option_anchors, else static_remotekey."""
        anchors_possible = self.services.config.anchors and peer.features.supports(Feature.OPTION_ANCHORS)
        if asked is None:
            return CHANNEL_TYPE_ANCHORS if anchors_possible else CHANNEL_TYPE_STATIC_REMOTEKEY
        if asked == CHANNEL_TYPE_ANCHORS and not anchors_possible:
            why = "this node runs with --no-anchors" if not self.services.config.anchors \
                else "the peer does not offer option_anchors"
            raise RpcError(FUNDING_ERROR, f"cannot open an anchor channel: {why}")
        return asked

    async def fund_channel(self, peer_id: bytes, funding_sat: int, *, push_msat: int = 0,
                           funding_feerate_perkw: int, announce: bool = True, minconf: int = 1,
                           upfront_shutdown_script: bytes = b"", channel_type: int | None = None) -> dict[str, Any]:
        """Open a channel to a connected peer, funded from our wallet (amounts checked by the
        caller against MIN/MAX_FUNDING_SAT), of ``channel_type`` (None: the best both sides
        offer). Returns Core Lightning's fundchannel result."""
        push = push_msat
        upfront_script = upfront_shutdown_script
        funding_feerate = funding_feerate_perkw
        peer = self.services.peers.get(peer_id)
        if peer is None:
            raise RpcError(LIGHTNINGD, f"Peer not connected: {peer_id.hex()}")
        chosen_type = self._channel_type_for(peer, channel_type)
        estimate = await self.services.chain.fee_estimate_perkw(COMMITMENT_FEE_TARGET_BLOCKS)
        commitment_feerate = fees.commitment_feerate_target(
            DEFAULT_COMMITMENT_FEERATE if estimate is None else estimate,
            anchors=chosen_type == CHANNEL_TYPE_ANCHORS)
        if self.services.wallet.balance_sat(minconf=max(minconf, 0)) < funding_sat:
            raise RpcError(FUNDING_ERROR, f"Could not afford {funding_sat}sat using all "
                                          f"{self.services.wallet.balance_sat(minconf=max(minconf, 0))}sat "
                                          f"confirmed wallet funds")
        chan = self._new_channel(peer_id, LOCAL, funding_sat)
        open_msg = chan.make_open_channel(funding_sat=funding_sat, push_msat=push,
                                          feerate_per_kw=commitment_feerate, announce=bool(announce),
                                          upfront_shutdown_script=upfront_script, channel_type=chosen_type)
        accept = await self._request(peer, open_msg, chan.temporary_channel_id, messages.AcceptChannel)
        try:
            chan.handle_accept_channel(accept)
        except ChannelError as exc:
            await peer.send_error(chan.temporary_channel_id, str(exc))
            raise RpcError(FUNDING_ERROR, f"peer's accept_channel is unacceptable: {exc}") from None
        script = funding_output_script(chan.keys.basepoints.funding_pubkey,
                                       chan.remote_basepoints.funding_pubkey)  # type: ignore[union-attr]
        try:
            tx = self.services.wallet.fund_tx([(script, funding_sat)], funding_feerate, minconf=minconf)
        except WalletError as exc:
            await peer.send_error(chan.temporary_channel_id, "funding failed")
            raise RpcError(FUNDING_ERROR, f"cannot fund the channel: {exc}") from None
        outnum = next(i for i, out in enumerate(tx.vout) if bytes(out.scriptPubKey) == script)
        tx_hex = b2x(tx.serialize())
        try:
            created = chan.make_funding_created(tx.GetTxid(), outnum, tx_hex)
            channel_id = channel_id_from_funding(tx.GetTxid(), outnum)
            signed = await self._request(peer, created, channel_id, messages.FundingSigned)
            chan.handle_funding_signed(signed)
        except ChannelError as exc:
            self.services.wallet.release(tx)
            await peer.send_error(chan.temporary_channel_id, str(exc))
            raise RpcError(FUNDING_ERROR, f"funding_signed is invalid: {exc}") from None
        except RpcError:
            self.services.wallet.release(tx)
            raise
        chan.drain_events()
        self.channels[chan.index] = chan
        self._reestablished.add(chan.index)
        self.save(chan)  # persisted before the funding tx leaves
        txid = await self.broadcast(tx_hex, f"funding of channel {_cid(chan)}")
        if txid is None:
            raise RpcError(FUNDING_ERROR, "funding transaction was rejected by the chain backend")
        self.services.wallet.note_broadcast(tx)
        log.info("channel %s to %s funded: %d sat, push %d msat", _cid(chan), peer.id_hex, funding_sat, push)
        return {"tx": tx_hex, "txid": b2lx(tx.GetTxid()), "outnum": outnum, "channel_id": _cid(chan),
                "channel_type": describe_channel_type(chan.channel_type)}

    async def _request(self, peer: Peer, m: messages.Message, key: bytes, reply: type[R]) -> R:
        fut: asyncio.Future[messages.Message] = asyncio.get_running_loop().create_future()
        self._waiters[(peer.node_id, key, reply.NAME)] = fut
        try:
            await self._send(peer, [m])
            answer = await asyncio.wait_for(fut, OPEN_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise RpcError(FUNDING_ERROR, f"peer did not answer {m.NAME} with {reply.NAME} "
                                          f"within {OPEN_TIMEOUT_S:g}s") from None
        except ConnectionError as exc:
            raise RpcError(FUNDING_ERROR, f"{exc} during channel open") from None
        finally:
            self._waiters.pop((peer.node_id, key, reply.NAME), None)
        assert isinstance(answer, reply)  # handle_message resolves a waiter with its own type only
        return answer

    # ------------------------------------------------------------------ lock-in
    async def _check_lockin(self, chan: Channel, height: int) -> None:
        depth = height - (chan.funding_height or height) + 1
        async with self._lock(chan):
            out = chan.funding_confirmed(chan.funding_height or height, chan.funding_tx_index or 0, depth)
            if out or chan.state == NORMAL:
                peer = self.services.peers.get(chan.peer_id)
                if chan.index not in self._reestablished:
                    out = []  # channel_ready goes out with the reestablish
                await self._commit(chan, out, peer, persist=True)

    async def _check_funding_now(self, chan: Channel) -> None:
        """Funding may already be confirmed (acceptor learns the txid late): look it up."""
        try:
            info = await self.services.chain.call("gettxout", b2lx(chan.funding_txid or b""), chan.funding_outnum)
        except (ChainRpcError, ChainUnavailable) as exc:  # the next block's processing finds it
            log.info("channel %s: cannot look up the funding output now: %s", _cid(chan), exc)
            return
        if not info or not info.get("confirmations"):
            return
        height = self.services.blockheight - int(info["confirmations"]) + 1
        try:
            block_hash = await self.services.chain.call("getblockhash", height)
            block = await self.services.chain.call("getblock", block_hash, 1)
        except (ChainRpcError, ChainUnavailable) as exc:  # the next block's processing finds it
            log.info("channel %s: cannot read the funding block now: %s", _cid(chan), exc)
            return
        txids = block.get("tx", [])
        funding_hex = b2lx(chan.funding_txid or b"")
        if funding_hex in txids:
            chan.funding_height = height
            chan.funding_tx_index = txids.index(funding_hex)
            await self._check_lockin(chan, self.services.blockheight)
