"""BOLT 5 basics: what happens once a channel's funding output is spent.

- the mutual closing tx: nothing to do, the outputs pay our wallet;
- our commitment: sweep our to_local output to the wallet once to_self_delay blocks passed;
- the peer's commitment: sweep our to_remote output (P2WPKH of our payment_basepoint,
  static_remotekey) to the wallet at once.
HTLC outputs on a commitment and penalties for revoked commitments are not handled yet.
Plans live in ``channel.onchain`` (persisted with the channel).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bitcoin.core import CBlock, CTransaction, b2lx, b2x, lx

from . import transactions as txs
from .channel import FUNDING_SPEND_SEEN, ONCHAIN, Channel
from .channel_updates import LOCAL
from .keys import derive_privkey
from .log import get_logger
from .scripts import p2wpkh

if TYPE_CHECKING:
    from .channel_manager import ChannelManager

log = get_logger("onchain")

SWEEP_FALLBACK_FEERATE = 1000


class Onchain:
    """Follows spent channels and sweeps our outputs."""

    def __init__(self, manager: ChannelManager) -> None:
        self.manager = manager
        self.node = manager.node

    async def funding_spent(self, chan: Channel, tx: CTransaction, height: int) -> None:
        """The funding output of ``chan`` was spent by ``tx`` in block ``height``."""
        txid = b2lx(tx.GetTxid())
        if chan.spend_txid == txid:
            return
        chan.spend_txid = txid
        chan.spend_height = height
        plan: dict[str, Any] = {"spend_txid": txid, "spend_height": height, "outputs": []}
        if txid == chan.closing_txid:
            plan["type"] = "mutual"
            log.info("channel %s: mutual close %s confirmed at %d", _cid(chan), txid, height)
        elif chan.log is not None and txid == self._local_commitment_txid(chan):
            plan["type"] = "local"
            plan["outputs"] = self._local_outputs(chan, tx, height)
            log.info("channel %s: our commitment %s confirmed at %d", _cid(chan), txid, height)
        else:
            plan["type"] = "remote"
            plan["outputs"] = self._remote_outputs(chan, tx, height)
            log.info("channel %s: the peer's commitment %s confirmed at %d", _cid(chan), txid, height)
        chan.onchain = plan
        chan.state = ONCHAIN if plan["type"] != "remote" or plan["outputs"] else FUNDING_SPEND_SEEN
        if plan["type"] == "remote":
            chan.state = ONCHAIN
            if chan.close_type is None:
                chan.close_type = "remote"
        self.manager.save(chan)
        self.manager._wake_close(chan)
        await self._sweep_ready(chan, height)

    def _local_commitment_txid(self, chan: Channel) -> str | None:
        if chan.log is None:
            return None
        return chan._commitment(LOCAL, chan.log.ctn[LOCAL]).txid_hex

    def _local_outputs(self, chan: Channel, tx: CTransaction, height: int) -> list[dict[str, Any]]:
        if chan.log is None or chan.remote_config is None:
            return []
        commitment = chan._commitment(LOCAL, chan.log.ctn[LOCAL])
        out = commitment.built.output_of(txs.OutputKind.TO_LOCAL)
        if out is None or out.witness_script is None:
            return []
        return [{
            "kind": "to_local", "txid": b2lx(tx.GetTxid()), "vout": out.index, "amount_sat": out.amount_sat,
            "witness_script": bytes(out.witness_script).hex(), "ctn": chan.log.ctn[LOCAL],
            "csv": chan.remote_config.to_self_delay, "confirm_height": height,
            "sweep_txid": None, "resolved": False,
        }]

    def _remote_outputs(self, chan: Channel, tx: CTransaction, height: int) -> list[dict[str, Any]]:
        script = bytes(p2wpkh(chan.keys.basepoints.payment_basepoint))
        outputs = []
        for vout, txout in enumerate(tx.vout):
            if bytes(txout.scriptPubKey) == script:
                outputs.append({
                    "kind": "to_remote", "txid": b2lx(tx.GetTxid()), "vout": vout, "amount_sat": txout.nValue,
                    "csv": 0, "confirm_height": height, "sweep_txid": None, "resolved": False,
                })
        return outputs

    async def on_block(self, height: int, block: CBlock) -> None:
        """Notice confirmed sweeps and broadcast sweeps that became spendable."""
        for chan in list(self.manager.channels.values()):
            outputs = chan.onchain.get("outputs") if chan.onchain else None
            if not outputs:
                continue
            changed = False
            for tx in block.vtx:
                for txin in tx.vin:
                    for entry in outputs:
                        if not entry["resolved"] and lx(entry["txid"]) == txin.prevout.hash \
                                and entry["vout"] == txin.prevout.n:
                            entry["resolved"] = True
                            entry["resolved_by"] = b2lx(tx.GetTxid())
                            entry["resolved_height"] = height
                            changed = True
                            log.info("channel %s: %s output %s:%d swept by %s", _cid(chan), entry["kind"],
                                     entry["txid"], entry["vout"], entry["resolved_by"])
            if changed:
                chan.onchain["resolved"] = all(e["resolved"] for e in outputs)
                self.manager.save(chan)
            await self._sweep_ready(chan, height)

    async def _sweep_ready(self, chan: Channel, height: int) -> None:
        for entry in chan.onchain.get("outputs", []):
            if entry["resolved"]:
                continue
            # a CSV-locked output can go into the block after confirm_height + csv - 1
            if height + 1 - entry["confirm_height"] < entry["csv"]:
                continue
            tx_hex = await self._build_sweep(chan, entry)
            if tx_hex is None:
                continue
            txid = await self.manager.broadcast(tx_hex, f"sweep of {entry['kind']} of channel {_cid(chan)}")
            if txid is not None and entry["sweep_txid"] != txid:
                entry["sweep_txid"] = txid
                self.manager.save(chan)

    async def _build_sweep(self, chan: Channel, entry: dict[str, Any]) -> str | None:
        outpoint = txs.Outpoint.from_hex(entry["txid"], entry["vout"])
        if entry["kind"] == "to_local":
            point = chan.keys.per_commitment_point(entry["ctn"])
            privkey = derive_privkey(chan.keys.delayed_payment_basepoint_secret, point)
            spend = txs.to_local_spend(outpoint, entry["amount_sat"], bytes.fromhex(entry["witness_script"]),
                                       privkey, entry["csv"])
        else:
            spend = txs.p2wpkh_spend(outpoint, entry["amount_sat"], chan.keys.payment_basepoint_secret)
        if "dest_script" not in entry:
            entry["dest_script"] = self.node.wallet.new_address()[1].hex()
            self.manager.save(chan)
        feerate = await self.node.chain.estimate_feerate_perkw(6, SWEEP_FALLBACK_FEERATE)
        try:
            tx = txs.build_sweep_tx([spend], bytes.fromhex(entry["dest_script"]), feerate)
        except txs.TxError as exc:
            log.warning("channel %s: cannot sweep %s: %s", _cid(chan), entry["kind"], exc)
            return None
        return b2x(tx.serialize())


def _cid(chan: Channel) -> str:
    return (chan.channel_id or chan.temporary_channel_id).hex()
