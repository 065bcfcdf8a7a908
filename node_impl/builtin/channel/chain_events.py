"""What blocks mean for our channels: funding confirmations, spends of the funding output
(handed to onchain.py), HTLC expiries, rebroadcasts, reorganisations.

Layer: channel. Imports channel, services, core.

`ChainEventsMixin` is part of ChannelManager (manager.py): its methods run on the manager.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bitcoin.core import CBlock

from ..core.log import get_logger
from .common import COMMITMENT_FEE_TARGET_BLOCKS, ManagerParts
from .common import channel_id_text as _cid
from .machine import (
    AWAITING_LOCKIN,
    AWAITING_UNILATERAL,
    CLOSING_COMPLETE,
    CLOSING_SIGEXCHANGE,
    NORMAL,
    SHUTTING_DOWN,
    Channel,
)
from .onchain import Onchain
from .ops import HtlcHandler
from .updates import LOCAL, REMOTE

log = get_logger("channeld")

FULFILL_SAFETY_BLOCKS = 3


class ChainEventsMixin(ManagerParts):
    """Block and reorg handling of the channels; part of ChannelManager."""

    # more of ChannelManager's state and methods these methods use (see ManagerParts)
    onchain: Onchain
    htlcs: HtlcHandler
    _publish_normal: Callable[[Channel], Any]
    _fail_channel: Callable[..., Any]
    _check_lockin: Callable[..., Any]

    async def on_block(self, height: int, block_hash: str, block: CBlock) -> None:
        by_txid = {c.funding_txid: c for c in self.channels.values() if c.funding_txid is not None}
        by_outpoint = {(c.funding_txid, c.funding_outnum): c for c in by_txid.values()}
        for tx_index, tx in enumerate(block.vtx):
            chan = by_txid.get(tx.GetTxid())
            if chan is not None and chan.funding_height is None:
                chan.funding_height = height
                chan.funding_tx_index = tx_index
                self.save(chan)
                log.info("funding of channel %s confirmed at %d", _cid(chan), height)
                if chan.state == NORMAL:  # confirmed again after a reorg: tell gossip its scid
                    await self._publish_normal(chan)
            for txin in tx.vin:
                spent = by_outpoint.get((txin.prevout.hash, txin.prevout.n))
                if spent is not None:
                    async with self._lock(spent):
                        await self.onchain.funding_spent(spent, tx, height)
        for chan in list(self.channels.values()):
            await self._rebroadcast(chan)
            if chan.state == AWAITING_LOCKIN and chan.funding_height is not None:
                await self._check_lockin(chan, height)
            elif chan.state in (NORMAL, SHUTTING_DOWN, CLOSING_SIGEXCHANGE):
                await self._check_htlc_expiry(chan, height)
            else:
                self._fail_stranded_payments(chan)
        await self.onchain.on_block(height, block)
        await self.htlcs.on_block(height)  # forwards that can no longer resolve fail back
        await self._follow_fee_estimate()

    async def _follow_fee_estimate(self) -> None:
        """As the opener, send update_fee on the channels whose commitment fee rate the chain's
        estimate moved away from (Channel.propose_feerate decides how far and what it affords)."""
        openers = [c for c in self.channels.values() if c.is_opener() and c.state == NORMAL]
        if not openers:
            return
        estimate = await self.services.chain.fee_estimate_perkw(COMMITMENT_FEE_TARGET_BLOCKS)
        if estimate is None:
            return
        for chan in openers:
            peer = self.services.peers.get(chan.peer_id)
            if peer is None or chan.index not in self._reestablished:
                continue  # the next block after the reestablish looks again
            async with self._lock(chan):
                rate = chan.propose_feerate(estimate)
                if rate is not None:
                    log.info("channel %s: update_fee to %d sat/kw (chain estimate %d sat/kw)",
                             _cid(chan), rate, estimate)
                    await self._commit(chan, [], peer)

    def _fail_stranded_payments(self, chan: Channel) -> None:
        """Payments whose HTLC went nowhere on a closed channel fail: the HTLC was never signed, or
        the commitment confirmed on chain has no output for it (trimmed or not included)."""
        if chan.log is None:
            return
        plan = chan.onchain or {}
        on_chain = {tuple(e["htlc"]) for e in plan.get("outputs", []) if "htlc" in e}
        confirmed = plan.get("type") in ("local", "remote", "mutual", "revoked")
        for htlc in chan.log.htlcs.values():
            if htlc.offerer != LOCAL or htlc.removal is not None:
                continue
            if htlc.added_at[REMOTE] is None:
                self.htlcs.outgoing_stranded(chan, htlc, f"channel closed ({chan.state}) before the HTLC was signed")
            elif confirmed and (LOCAL, htlc.htlc_id) not in on_chain:
                self.htlcs.outgoing_stranded(chan, htlc, "the commitment confirmed on chain holds no output for the HTLC")

    async def _rebroadcast(self, chan: Channel) -> None:
        """Our unconfirmed funding, closing or commitment tx goes out again each block (it may
        have been lost with a crash between persisting and broadcasting, or evicted)."""
        if chan.state == AWAITING_LOCKIN and chan.is_opener() and chan.funding_height is None \
                and chan.funding_tx_hex:
            await self.broadcast(chan.funding_tx_hex, f"funding of channel {_cid(chan)} (again)")
        elif chan.spend_txid is None and chan.state == CLOSING_COMPLETE and chan.closing_tx_hex:
            await self.broadcast(chan.closing_tx_hex, f"closing tx of channel {_cid(chan)} (again)")
        elif chan.spend_txid is None and chan.state == AWAITING_UNILATERAL and chan.local_commitment_tx_hex:
            await self.broadcast(chan.local_commitment_tx_hex, f"our commitment of channel {_cid(chan)} (again)")
            if chan.anchor_spend_hex:
                await self.broadcast(chan.anchor_spend_hex, f"anchor CPFP for channel {_cid(chan)} (again)")
            else:
                await self.onchain.bump_our_commitment(chan)  # the wallet may have coins now

    async def _check_htlc_expiry(self, chan: Channel, height: int) -> None:
        """BOLT 2: an HTLC we offered that timed out, or one we fulfilled that nears its expiry
        without being removed, means the peer is unresponsive: fail the channel."""
        if chan.log is None:
            return
        for htlc in chan.log.htlcs.values():
            offered_expired = htlc.offerer == LOCAL and htlc.removal is None and height >= htlc.cltv_expiry
            fulfilled_stuck = htlc.offerer == REMOTE and htlc.removal == "fulfill" \
                and height >= htlc.cltv_expiry - FULFILL_SAFETY_BLOCKS
            if offered_expired or fulfilled_stuck:
                what = "offered" if offered_expired else "fulfilled"
                async with self._lock(chan):
                    await self._fail_channel(
                        chan, f"HTLC {htlc.htlc_id} we {what} reached its expiry {htlc.cltv_expiry} "
                              f"at height {height} unresolved", self.services.peers.get(chan.peer_id))
                return

    async def on_reorg(self, fork_height: int) -> None:
        """Blocks above ``fork_height`` were disconnected: forget what they told us."""
        for chan in self.channels.values():
            if chan.funding_height is not None and chan.funding_height > fork_height \
                    and chan.spend_height is None:
                chan.funding_height = None  # found again (maybe elsewhere: a new scid) in a block
                chan.funding_tx_index = None
                self.save(chan)
            if chan.spend_height is not None and chan.spend_height > fork_height:
                # the funding spend is unconfirmed again: back to waiting for it (we rebroadcast ours)
                log.info("channel %s: funding spend %s reorganised out", _cid(chan), chan.spend_txid)
                chan.spend_txid = None
                chan.spend_height = None
                chan.onchain = {}
                if chan.closing_tx_hex:
                    chan.state = CLOSING_COMPLETE
                elif chan.close_type is not None or chan.error_message:
                    chan.state = AWAITING_UNILATERAL
                self.save(chan)
            elif chan.onchain.get("outputs"):
                for entry in chan.onchain["outputs"]:
                    if entry.get("resolved_height") is not None and entry["resolved_height"] > fork_height:
                        entry["resolved"] = False
                        entry.pop("resolved_height", None)
                        entry.pop("resolved_by", None)
                chan.onchain["outputs"] = [e for e in chan.onchain["outputs"]
                                           if e["confirm_height"] <= fork_height]
                chan.onchain["resolved"] = all(e["resolved"] for e in chan.onchain["outputs"])
                self.save(chan)
