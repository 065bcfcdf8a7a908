"""BOLT 5 basics: what happens once a channel's funding output is spent.

- the mutual closing tx: nothing to do, the outputs pay our wallet;
- our commitment: sweep to_local after to_self_delay; HTLCs we offered go through the
  pre-signed HTLC-timeout tx after their expiry, HTLCs offered to us whose preimage we know
  through the HTLC-success tx; both second-stage outputs are swept after to_self_delay;
- the peer's commitment (latest or previous unrevoked): sweep our to_remote output (P2WPKH of
  our payment_basepoint, static_remotekey) at once; claim HTLCs offered to us with the
  preimage, take back HTLCs we offered after their expiry.
Anchor channels: our commitment is brought up to the chain's fee estimate by a child spending
our anchor (CPFP, paid by the wallet); our zero-fee HTLC transactions get a wallet coin and
change (anchor_spends.py); to_remote (P2WSH) and HTLC outputs are spent one block after the
commitment confirms.
A preimage seen in any spend of an HTLC we offered completes the payment; a timeout fails it.
A revoked commitment of the peer: its to_local output is taken at once with the revocation
key (its HTLC outputs are not claimed yet).
Plans live in ``channel.onchain`` (persisted with the channel).

Layer: channel. Imports channel, chain (wallet errors), tx, keys, core. What an HTLC outcome means for payments,
forwards and invoices is the manager's ops.HtlcHandler's business.
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

from bitcoin.core import CBlock, CTransaction, b2lx, b2x, lx, x

from ..chain.wallet import WalletError
from ..core.log import get_logger
from ..keys.derivation import (
    derive_privkey,
    derive_pubkey,
    derive_revocation_privkey,
    per_commitment_point,
    pubkey_of,
)
from ..keys.shachain import ShachainError
from ..services import Services
from ..tx import htlc_txs, signing, sweeps
from ..tx import transactions as txs
from ..tx.scripts import p2wpkh, p2wsh, to_local_script, to_remote_anchors_script
from . import anchor_spends
from . import txs as channel_tx
from .common import COMMITMENT_FEE_TARGET_BLOCKS
from .machine import FUNDING_SPEND_SEEN, ONCHAIN, Channel, ChannelError
from .ops import HtlcHandler
from .updates import LOCAL, REMOTE, Htlc

log = get_logger("onchain")

SWEEP_FALLBACK_FEERATE = 1000


class OnchainHost(Protocol):
    """What on-chain resolution needs of the channel manager (which implements it)."""

    services: Services
    channels: dict[int, Channel]
    htlcs: HtlcHandler

    def save(self, chan: Channel) -> None: ...

    async def broadcast(self, tx_hex: str, what: str) -> str | None: ...

    def wake_close(self, chan: Channel) -> None: ...


class Onchain:
    """Follows spent channels and sweeps our outputs."""

    def __init__(self, manager: OnchainHost) -> None:
        self.manager = manager
        self.services = manager.services

    # ------------------------------------------------------------------ classification
    async def funding_spent(self, chan: Channel, tx: CTransaction, height: int) -> None:
        """The funding output of ``chan`` was spent by ``tx`` in block ``height``."""
        txid = b2lx(tx.GetTxid())
        if chan.spend_txid == txid:
            return
        chan.spend_txid = txid
        chan.spend_height = height
        plan: dict[str, Any] = {"spend_txid": txid, "spend_height": height, "outputs": []}
        local = self._match_commitment(chan, LOCAL, txid)
        remote = None if local is not None else self._match_commitment(chan, REMOTE, txid)
        if txid == chan.closing_txid:
            plan["type"] = "mutual"
            log.info("channel %s: mutual close %s confirmed at %d", _cid(chan), txid, height)
        elif local is not None:
            plan["type"] = "local"
            plan["outputs"] = self._local_outputs(chan, local, txid, height)
            log.info("channel %s: our commitment %s confirmed at %d", _cid(chan), txid, height)
        elif remote is not None:
            plan["type"] = "remote"
            plan["outputs"] = self._remote_outputs(chan, remote, tx, height)
            log.info("channel %s: the peer's commitment %s confirmed at %d", _cid(chan), txid, height)
        elif (revoked := self._revoked_outputs(chan, tx, height)) is not None:
            plan["type"] = "revoked"
            plan["outputs"] = revoked
            log.warning("channel %s: the peer broadcast revoked commitment %s: taking its to_local output "
                        "with the revocation key", _cid(chan), txid)
        else:
            plan["type"] = "unknown"
            plan["outputs"] = self._to_remote_outputs(chan, tx, height)
            log.warning("channel %s: funding spent by %s, not a commitment we know: "
                        "sweeping only our to_remote output", _cid(chan), txid)
        if plan["type"] != "local" and chan.anchor_spend_hex:
            # our CPFP child spent our commitment's anchor: that commitment lost, its coins are free
            self.services.wallet.release(CTransaction.deserialize(x(chan.anchor_spend_hex)))
        chan.onchain = plan
        chan.state = ONCHAIN if plan["type"] in ("mutual", "local", "remote", "revoked") else FUNDING_SPEND_SEEN
        if chan.close_type is None:
            chan.close_type = "remote" if plan["type"] != "mutual" else "mutual"
        self.manager.save(chan)
        self.manager.wake_close(chan)
        await self._sweep_ready(chan, height)

    def _match_commitment(self, chan: Channel, side: str, txid: str) -> channel_tx.Commitment | None:
        log_ = chan.log
        if log_ is None:
            return None
        candidates = [log_.ctn[side]]
        if side == REMOTE and log_.oldest_unrevoked(REMOTE) != log_.ctn[REMOTE]:
            candidates.append(log_.oldest_unrevoked(REMOTE))
        for ctn in candidates:
            try:
                commitment = chan._commitment(side, ctn)
            except (ChannelError, ShachainError, ValueError):  # a point we do not have: not this one
                continue
            if commitment.txid_hex == txid:
                return commitment
        return None

    def _htlc_of(self, chan: Channel, key: Any) -> Htlc | None:
        return chan.log.htlcs.get(tuple(key)) if chan.log is not None else None

    def _preimage_for(self, htlc: Htlc) -> bytes | None:
        """The preimage of an HTLC offered to us, if we know it (fulfilled, or our invoice)."""
        if htlc.removal == "fulfill":
            return htlc.removal_data.get("preimage")
        return self.manager.htlcs.preimage_for(htlc.payment_hash)  # our invoice's, or learnt downstream

    def _local_outputs(self, chan: Channel, commitment: channel_tx.Commitment, txid: str,
                       height: int) -> list[dict[str, Any]]:
        if chan.log is None or chan.remote_config is None:
            return []
        ctn = chan.log.ctn[LOCAL]
        delay = chan.remote_config.to_self_delay
        outputs: list[dict[str, Any]] = []
        out = commitment.built.output_of(txs.OutputKind.TO_LOCAL)
        if out is not None and out.witness_script is not None:
            outputs.append(_entry("to_local", txid, out.index, out.amount_sat, height, csv=delay, ctn=ctn,
                                  witness_script=bytes(out.witness_script).hex()))
        for position, (out, key) in enumerate(zip(commitment.built.htlc_outputs, commitment.htlc_keys,
                                                  strict=True)):
            htlc = self._htlc_of(chan, key)
            if htlc is None or out.htlc is None:
                continue
            common = {"ctn": ctn, "htlc": list(key), "payment_hash": htlc.payment_hash.hex(),
                      "htlc_position": position, "delay": delay}
            wait = _csv_of(chan)
            if htlc.offerer == LOCAL:
                outputs.append(_entry("local_htlc_timeout", txid, out.index, out.amount_sat, height,
                                      csv=wait, cltv=htlc.cltv_expiry, **common))
            else:
                outputs.append(_entry("local_htlc_success", txid, out.index, out.amount_sat, height, csv=wait,
                                      **common))
        return outputs

    def _to_remote_outputs(self, chan: Channel, tx: CTransaction, height: int) -> list[dict[str, Any]]:
        """Our to_remote output on a commitment of the peer: P2WPKH of our payment basepoint
        (static_remotekey), or with anchors P2WSH of it behind a CSV of 1."""
        if chan.anchors:
            script = bytes(p2wsh(to_remote_anchors_script(chan.local_basepoints.payment_basepoint)))
        else:
            script = bytes(p2wpkh(chan.local_basepoints.payment_basepoint))
        return [_entry("to_remote", b2lx(tx.GetTxid()), vout, txout.nValue, height, csv=_csv_of(chan))
                for vout, txout in enumerate(tx.vout) if bytes(txout.scriptPubKey) == script]

    def _remote_outputs(self, chan: Channel, commitment: channel_tx.Commitment, tx: CTransaction,
                        height: int) -> list[dict[str, Any]]:
        outputs = self._to_remote_outputs(chan, tx, height)
        txid = b2lx(tx.GetTxid())
        ctn = commitment.built.commitment_number
        for out, key in zip(commitment.built.htlc_outputs, commitment.htlc_keys, strict=True):
            htlc = self._htlc_of(chan, key)
            if htlc is None or out.witness_script is None:
                continue
            common = {"ctn": ctn, "htlc": list(key), "payment_hash": htlc.payment_hash.hex(),
                      "witness_script": bytes(out.witness_script).hex(),
                      "point": chan.remote_points[ctn].hex()}
            if htlc.offerer == LOCAL:
                outputs.append(_entry("remote_htlc_timeout", txid, out.index, out.amount_sat, height,
                                      csv=_csv_of(chan), cltv=htlc.cltv_expiry, **common))
            else:
                outputs.append(_entry("remote_htlc_preimage", txid, out.index, out.amount_sat, height,
                                      csv=_csv_of(chan), **common))
        return outputs

    def _revoked_outputs(self, chan: Channel, tx: CTransaction, height: int) -> list[dict[str, Any]] | None:
        """Outputs we can take from a revoked commitment of the peer (None if ``tx`` is not one).

        HTLC outputs of a revoked commitment are not claimed yet (their payment hashes are
        forgotten once the HTLCs resolved)."""
        if chan.remote_basepoints is None:
            return None
        opener_bp = chan.local_basepoints if chan.is_opener() else chan.remote_basepoints
        acceptor_bp = chan.remote_basepoints if chan.is_opener() else chan.local_basepoints
        ctn = txs.commitment_number_of(tx, txs.obscuring_factor(opener_bp.payment_basepoint,
                                                                 acceptor_bp.payment_basepoint))
        if ctn is None:
            return None
        try:
            secret = chan.remote_secrets.get_for_commitment(ctn)
        except (ShachainError, ValueError):
            return None
        point = per_commitment_point(secret)
        revocation_pubkey = pubkey_of(derive_revocation_privkey(chan.keys.revocation_basepoint_secret, secret))
        delayed = derive_pubkey(chan.remote_basepoints.delayed_payment_basepoint, point)
        script = bytes(to_local_script(revocation_pubkey, chan.local_config.to_self_delay, delayed))
        spk = bytes(p2wsh(script))
        txid = b2lx(tx.GetTxid())
        outputs = self._to_remote_outputs(chan, tx, height)
        for vout, txout in enumerate(tx.vout):
            if bytes(txout.scriptPubKey) == spk:
                outputs.append(_entry("revoked_to_local", txid, vout, txout.nValue, height, ctn=ctn,
                                      witness_script=script.hex()))
        return outputs

    # ------------------------------------------------------------------ blocks
    async def on_block(self, height: int, block: CBlock) -> None:
        """Notice spends of tracked outputs and broadcast what became spendable."""
        for chan in list(self.manager.channels.values()):
            outputs = chan.onchain.get("outputs") if chan.onchain else None
            if not outputs:
                continue
            changed = False
            for tx in block.vtx:
                for input_index, txin in enumerate(tx.vin):
                    for entry in list(outputs):
                        if entry["resolved"] or lx(entry["txid"]) != txin.prevout.hash \
                                or entry["vout"] != txin.prevout.n:
                            continue
                        await self._resolved(chan, entry, tx, input_index, height)
                        changed = True
            if changed:
                chan.onchain["resolved"] = all(e["resolved"] for e in outputs)
                self.manager.save(chan)
            await self._sweep_ready(chan, height)

    async def _resolved(self, chan: Channel, entry: dict[str, Any], tx: CTransaction, input_index: int,
                        height: int) -> None:
        """An output we track was spent in the block at ``height``. An invoice paid by our claim
        is marked paid here, within the block's processing: once the node's blockheight covers
        the block, the invoice shows paid."""
        spender = b2lx(tx.GetTxid())
        entry["resolved"] = True
        entry["resolved_by"] = spender
        entry["resolved_height"] = height
        log.info("channel %s: %s output %s:%d spent by %s", _cid(chan), entry["kind"], entry["txid"],
                 entry["vout"], spender)
        if "payment_hash" not in entry:
            return
        payment_hash = bytes.fromhex(entry["payment_hash"])
        htlc = self._htlc_of(chan, entry["htlc"])
        ours = entry["kind"] in ("local_htlc_timeout", "remote_htlc_timeout")
        if ours and htlc is not None:
            preimage = _preimage_in_witness(tx, input_index, payment_hash)
            if preimage is not None:
                log.info("channel %s: the peer claimed HTLC %s on chain: payment complete",
                         _cid(chan), entry["htlc"])
                self.manager.htlcs.outgoing_fulfilled(chan, htlc, preimage)
            elif spender == entry.get("sweep_txid"):
                htlc.removal = "timeout"
                self.manager.htlcs.outgoing_failed(chan, htlc)
        if entry["kind"] == "remote_htlc_preimage" and spender == entry.get("sweep_txid"):
            await self.manager.htlcs.claimed_on_chain(payment_hash, htlc.amount_msat if htlc else 0)
        if entry["kind"] in ("local_htlc_timeout", "local_htlc_success") and spender == entry.get("sweep_txid"):
            # the second-stage tx's output is ours after to_self_delay
            out = tx.vout[0]
            chan.onchain["outputs"].append(_entry(
                "htlc_delayed", spender, 0, out.nValue, height, csv=entry["delay"], ctn=entry["ctn"],
                witness_script=entry["second_stage_script"]))
            if entry["kind"] == "local_htlc_success":
                await self.manager.htlcs.claimed_on_chain(payment_hash, htlc.amount_msat if htlc else 0)

    async def _sweep_ready(self, chan: Channel, height: int) -> None:
        for entry in list(chan.onchain.get("outputs", [])):
            if entry["resolved"]:
                continue
            # CSV: spendable in the block after confirm_height + csv - 1; CLTV: locktime < next height
            if height + 1 - entry["confirm_height"] < entry["csv"] or height < entry["cltv"]:
                continue
            tx_hex = await self._build_spend(chan, entry)
            if tx_hex is None:
                continue
            txid = await self.manager.broadcast(tx_hex, f"{entry['kind']} spend for channel {_cid(chan)}")
            if txid is not None and entry.get("sweep_txid") != txid:
                entry["sweep_txid"] = txid
                self.manager.save(chan)

    async def _dest_script(self, chan: Channel, entry: dict[str, Any]) -> bytes:
        if "dest_script" not in entry:
            entry["dest_script"] = self.services.wallet.new_address()[1].hex()
            self.manager.save(chan)
        return bytes.fromhex(entry["dest_script"])

    async def _build_spend(self, chan: Channel, entry: dict[str, Any]) -> str | None:
        kind = entry["kind"]
        if kind in ("local_htlc_timeout", "local_htlc_success"):
            return await self._second_stage(chan, entry)
        outpoint = txs.Outpoint.from_hex(entry["txid"], entry["vout"])
        keys = chan.keys
        if kind in ("to_local", "htlc_delayed"):
            privkey = derive_privkey(keys.delayed_payment_basepoint_secret, chan._our_point(entry["ctn"]))
            spend = sweeps.to_local_spend(outpoint, entry["amount_sat"], bytes.fromhex(entry["witness_script"]),
                                       privkey, entry["csv"])
        elif kind == "to_remote" and chan.anchors:
            spend = sweeps.to_remote_anchors_spend(outpoint, entry["amount_sat"], keys.payment_basepoint_secret)
        elif kind == "to_remote":
            spend = sweeps.p2wpkh_spend(outpoint, entry["amount_sat"], keys.payment_basepoint_secret)
        elif kind == "revoked_to_local":
            secret = chan.remote_secrets.get_for_commitment(entry["ctn"])
            privkey = derive_revocation_privkey(keys.revocation_basepoint_secret, secret)
            spend = sweeps.revoked_to_local_spend(outpoint, entry["amount_sat"], bytes.fromhex(entry["witness_script"]),
                                               privkey)
        elif kind in ("remote_htlc_timeout", "remote_htlc_preimage"):
            privkey = derive_privkey(keys.htlc_basepoint_secret, bytes.fromhex(entry["point"]))
            script = bytes.fromhex(entry["witness_script"])
            if kind == "remote_htlc_timeout":
                spend = sweeps.htlc_timeout_spend(outpoint, entry["amount_sat"], script, privkey, entry["cltv"],
                                                  anchors=chan.anchors)
            else:
                htlc = self._htlc_of(chan, entry["htlc"])
                preimage = self._preimage_for(htlc) if htlc is not None else None
                if preimage is None:
                    return None
                spend = sweeps.htlc_preimage_spend(outpoint, entry["amount_sat"], script, privkey, preimage,
                                                   anchors=chan.anchors)
        else:
            return None
        feerate = await self.services.chain.estimate_feerate_perkw(6, SWEEP_FALLBACK_FEERATE)
        try:
            tx = sweeps.build_sweep_tx([spend], await self._dest_script(chan, entry), feerate)
        except txs.TxError as exc:
            log.warning("channel %s: cannot spend %s: %s", _cid(chan), kind, exc)
            return None
        return b2x(tx.serialize())

    async def _second_stage(self, chan: Channel, entry: dict[str, Any]) -> str | None:
        """Our pre-signed HTLC-timeout / HTLC-success tx, with both signatures; on an anchor
        channel with a wallet coin added for its fee (built once: its coins stay reserved)."""
        if chan.log is None:
            return None
        if entry.get("tx_hex"):
            return str(entry["tx_hex"])
        commitment = chan._commitment(LOCAL, entry["ctn"])
        position = entry["htlc_position"]
        out = commitment.built.htlc_outputs[position]
        htlc_tx = htlc_txs.build_htlc_tx(commitment.built, out)
        entry["second_stage_script"] = bytes(htlc_tx.output_witness_script).hex()
        privkey = derive_privkey(chan.keys.htlc_basepoint_secret, chan._our_point(entry["ctn"]))
        remote_sig = signing.compact_to_der(chan.local_htlc_sigs[position])
        preimage = None
        if entry["kind"] == "local_htlc_success":
            htlc = self._htlc_of(chan, entry["htlc"])
            preimage = self._preimage_for(htlc) if htlc is not None else None
            if preimage is None:
                return None
        if not htlc_tx.anchors:
            local_sig = signing.sign_tx(htlc_tx, privkey)
            return b2x(signing.finalize_htlc_tx(htlc_tx, local_sig, remote_sig, preimage).serialize())
        feerate = await self.services.chain.estimate_feerate_perkw(6, SWEEP_FALLBACK_FEERATE)
        try:
            funded = anchor_spends.funded_htlc_tx(self.services.wallet, htlc_tx, privkey, remote_sig, preimage,
                                                  feerate)
        except WalletError as exc:
            log.warning("channel %s: cannot pay the fee of our %s tx: %s", _cid(chan), entry["kind"], exc)
            return None
        entry["tx_hex"] = b2x(funded.serialize())
        self.manager.save(chan)
        return str(entry["tx_hex"])

    async def bump_our_commitment(self, chan: Channel) -> None:
        """On an anchor channel, bring our broadcast commitment up to the chain's fee estimate
        with a child spending our anchor, paid by the wallet (BOLT 5); the child goes out again
        with the commitment every block until the funding is spent."""
        if not chan.anchors or chan.anchor_spend_hex or not chan.local_commitment_tx_hex:
            return
        estimate = await self.services.chain.fee_estimate_perkw(COMMITMENT_FEE_TARGET_BLOCKS)
        if estimate is None:
            log.debug("channel %s: no fee estimate: our commitment goes at its own fee rate", _cid(chan))
            return
        commitment = CTransaction.deserialize(x(chan.local_commitment_tx_hex))
        try:
            child = anchor_spends.anchor_cpfp(chan, self.services.wallet, commitment, estimate)
        except (WalletError, ChannelError) as exc:
            log.warning("channel %s: cannot bump our commitment through our anchor: %s", _cid(chan), exc)
            return
        if child is None:
            return
        chan.anchor_spend_hex = b2x(child.serialize())
        self.manager.save(chan)
        log.info("channel %s: our anchor's child %s brings our commitment to %d sat/kw", _cid(chan),
                 b2lx(child.GetTxid()), estimate)
        if await self.manager.broadcast(chan.anchor_spend_hex, f"anchor CPFP for channel {_cid(chan)}"):
            self.services.wallet.note_broadcast(child)


def _csv_of(chan: Channel) -> int:
    """Blocks after the commitment confirms before its to_remote and HTLC outputs can be spent."""
    return sweeps.CSV_OF_ONE if chan.anchors else 0


def _entry(kind: str, txid: str, vout: int, amount_sat: int, height: int, *, csv: int = 0, cltv: int = 0,
           **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "txid": txid, "vout": vout, "amount_sat": amount_sat, "confirm_height": height,
            "csv": csv, "cltv": cltv, "sweep_txid": None, "resolved": False, **extra}


def _preimage_in_witness(tx: CTransaction, input_index: int, payment_hash: bytes) -> bytes | None:
    if not tx.wit or input_index >= len(tx.wit.vtxinwit):
        return None
    for item in tx.wit.vtxinwit[input_index].scriptWitness.stack:
        if len(item) == 32 and hashlib.sha256(item).digest() == payment_hash:
            return bytes(item)
    return None


def _cid(chan: Channel) -> str:
    return (chan.channel_id or chan.temporary_channel_id).hex()
