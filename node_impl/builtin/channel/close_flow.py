"""The manager's side of closing a channel: mutual close (BOLT 2 shutdown / closing_signed, driven by the peer's
messages through the manager), unilateral close (our commitment broadcast: `close` with a
timeout or force, an error from the peer, a channel we fail).

Layer: channel. Imports channel, services, net, wire, core.

`ClosingMixin` is part of ChannelManager (manager.py): its methods run on the manager.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..core.jsonrpc import RpcError
from ..core.log import get_logger
from ..net.peer import Peer
from ..wire import messages
from .common import ALL_CHANNELS, LIGHTNINGD, ManagerParts
from .common import channel_id_text as _cid
from .common import scid_text as _scid_str
from .common import txid_of_hex as _txid_of_hex
from .machine import (
    AWAITING_LOCKIN,
    AWAITING_UNILATERAL,
    CLOSED,
    CLOSING_COMPLETE,
    CLOSING_SIGEXCHANGE,
    FUNDING_SPEND_SEEN,
    NORMAL,
    ONCHAIN,
    SHUTTING_DOWN,
    Channel,
    LocalRequestError,
)
from .onchain import Onchain

log = get_logger("channeld")

DEFAULT_CLOSE_TIMEOUT_S = 172800


def close_result(kind: str, tx_hex: str, txid: str) -> dict[str, Any]:
    """`close`'s answer: Core Lightning's `type`, `txs` and `txids` (since v24.11), plus the
    single `tx` and `txid` older releases returned."""
    return {"type": kind, "txs": [tx_hex], "txids": [txid], "tx": tx_hex, "txid": txid}


class ClosingMixin(ManagerParts):
    """Mutual and unilateral closes; part of ChannelManager."""

    # more of ChannelManager's state and methods these methods use (see ManagerParts)
    _opening: dict[tuple[bytes, bytes], Channel]
    _waiters: dict[tuple[bytes, bytes, str], asyncio.Future[messages.Message]]
    _close_waiters: dict[int, list[asyncio.Future[None]]]
    _publish_stopped_forwarding: Callable[[Channel], Any]
    onchain: Onchain

    def find(self, ident: str) -> Channel:
        """The channel a peer id, channel id or short channel id (text) names; one that is not
        closed if there are several. RpcError(-1) if none or several match."""
        matches = []
        for chan in self.channels.values():
            if ident in (chan.peer_id.hex(), _cid(chan), _scid_str(chan.short_channel_id)):
                matches.append(chan)
        live = [c for c in matches if c.state not in (CLOSED, ONCHAIN, FUNDING_SPEND_SEEN)]
        if live:
            matches = live
        if not matches:
            raise RpcError(LIGHTNINGD, f"Unknown channel or peer {ident}")
        if len(matches) > 1:
            raise RpcError(LIGHTNINGD, f"Peer {ident} has {len(matches)} channels: give a channel id")
        return matches[0]

    async def close(self, chan: Channel, *, unilateral_timeout_s: float | None = None,
                    destination_script: bytes | None = None, force: bool = False) -> dict[str, Any]:
        """Close a channel: mutual, or unilateral after `unilateral_timeout_s` seconds (0: wait
        forever; None: the default) or at once with `force`. Returns `close_result`'s dict."""
        script = destination_script
        if chan.state in (CLOSING_COMPLETE,) and chan.closing_tx_hex:
            return close_result("mutual", chan.closing_tx_hex, chan.closing_txid)
        if chan.state in (AWAITING_UNILATERAL, FUNDING_SPEND_SEEN, ONCHAIN, CLOSED):
            raise RpcError(LIGHTNINGD, f"Channel is in state {chan.state}")
        if force:
            return await self._close_unilateral(chan)
        timeout = DEFAULT_CLOSE_TIMEOUT_S if unilateral_timeout_s is None else float(unilateral_timeout_s)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._close_waiters.setdefault(chan.index, []).append(waiter)
        peer = self.services.peers.get(chan.peer_id)
        async with self._lock(chan):
            try:
                out = chan.start_shutdown(script or self._close_script(chan))
            except LocalRequestError as exc:
                raise RpcError(LIGHTNINGD, str(exc)) from None
            if peer is None or chan.index not in self._reestablished:
                out = []  # shutdown is retransmitted after reestablish
            await self._commit(chan, out, peer, persist=True)
        try:
            if timeout > 0:
                await asyncio.wait_for(asyncio.shield(waiter), timeout)
            else:
                await waiter
        except asyncio.TimeoutError:
            return await self._close_unilateral(chan)
        if chan.state == CLOSING_COMPLETE and chan.closing_tx_hex:
            return close_result("mutual", chan.closing_tx_hex, chan.closing_txid)
        if chan.local_commitment_tx_hex:
            return close_result("unilateral", chan.local_commitment_tx_hex,
                                _txid_of_hex(chan.local_commitment_tx_hex))
        raise RpcError(LIGHTNINGD, f"channel {_cid(chan)} ended in state {chan.state}: {chan.error_message}")

    async def _close_unilateral(self, chan: Channel) -> dict[str, Any]:
        async with self._lock(chan):
            if chan.state in (CLOSING_COMPLETE,) and chan.closing_tx_hex:
                return close_result("mutual", chan.closing_tx_hex, chan.closing_txid)
            tx_hex = await self._force_close(chan, "close: unilateral")
            peer = self.services.peers.get(chan.peer_id)
            if peer is not None:  # after our broadcast, so our commitment is the one in the mempool
                await peer.send_error(chan.channel_id or ALL_CHANNELS, "Forcibly closed by `close` command")
        if tx_hex is None:
            raise RpcError(LIGHTNINGD, f"channel {_cid(chan)} has no commitment to broadcast")
        return close_result("unilateral", tx_hex, _txid_of_hex(tx_hex))

    def wake_close(self, chan: Channel) -> None:
        for fut in self._close_waiters.pop(chan.index, []):
            if not fut.done():
                fut.set_result(None)

    def _close_script(self, chan: Channel) -> bytes:
        if chan.local_shutdown_script is not None:
            return chan.local_shutdown_script
        return self.services.wallet.new_address()[1]

    # ------------------------------------------------------------------ failing a channel
    async def _on_peer_error(self, peer: Peer, payload: bytes) -> None:
        channel_id = payload[:32]
        text = payload[34:34 + int.from_bytes(payload[32:34], "big")].decode("utf-8", "replace")
        for key, fut in list(self._waiters.items()):
            if key[0] == peer.node_id and not fut.done():  # an open in progress with this peer
                fut.set_exception(ConnectionError(f"peer {peer.id_hex} sent an error: {text}"))
        for key in [k for k in self._opening if k[0] == peer.node_id and channel_id in (ALL_CHANNELS, k[1])]:
            del self._opening[key]
        for chan in list(self.channels.values()):
            if chan.peer_id != peer.node_id:
                continue
            if channel_id not in (ALL_CHANNELS, chan.channel_id):
                continue
            if chan.state in (NORMAL, AWAITING_LOCKIN, SHUTTING_DOWN, CLOSING_SIGEXCHANGE):
                async with self._lock(chan):
                    await self._force_close(chan, f"peer sent an error: {text}")

    async def _fail_channel(self, chan: Channel, reason: str, peer: Peer | None) -> None:
        """Send an error and fail the channel (broadcast our latest commitment)."""
        log.warning("failing channel %s: %s", _cid(chan), reason)
        if peer is not None:
            await peer.send_error(chan.channel_id or chan.temporary_channel_id, reason)
        await self._force_close(chan, reason)

    async def _force_close(self, chan: Channel, reason: str) -> str | None:
        tx_hex = chan.force_close(reason)
        self.save(chan)
        self.wake_close(chan)
        await self._publish_stopped_forwarding(chan)
        if tx_hex is None:
            return None
        await self.broadcast(tx_hex, f"our commitment of channel {_cid(chan)}")
        await self.onchain.bump_our_commitment(chan)
        return tx_hex
