"""BOLT 2 update bookkeeping: which HTLCs and fee rate each commitment holds.

Every update (an HTLC add, its removal, a fee change) remembers, for each side's
commitment chain, the commitment number from which it takes effect.  Updates we
propose enter the remote commitment when we sign it and our own commitment when
the remote signs it after acknowledging them (revoke_and_ack); updates the
remote proposes enter our commitment when it signs it and the remote one when we
sign after acknowledging them.  Nothing here does cryptography or I/O, so the
two-party protocol can be unit-tested in isolation.

Layer: channel. Imports wire, keys, tx, core only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LOCAL = "local"
REMOTE = "remote"
SIDES = (LOCAL, REMOTE)


def other(side: str) -> str:
    """The opposite side."""
    return REMOTE if side == LOCAL else LOCAL


class UpdateError(ValueError):
    """An update breaks the protocol (unknown HTLC id, duplicate removal, ...)."""


@dataclass
class Htlc:
    """One HTLC and its life across both commitment chains."""

    offerer: str
    htlc_id: int
    amount_msat: int
    payment_hash: bytes
    cltv_expiry: int
    onion: bytes = b""
    added_at: dict = field(default_factory=lambda: {LOCAL: None, REMOTE: None})
    removal: str | None = None  # "fulfill" | "fail" | "fail_malformed"
    removal_data: dict = field(default_factory=dict)
    removed_at: dict = field(default_factory=lambda: {LOCAL: None, REMOTE: None})

    @property
    def receiver(self) -> str:
        return other(self.offerer)

    @property
    def remover(self) -> str:
        """Who proposes the removal: always the receiving side."""
        return self.receiver

    def active_in(self, side: str, ctn: int) -> bool:
        """Whether this HTLC is an output of ``side``'s commitment number ``ctn``."""
        added = self.added_at[side]
        if added is None or added > ctn:
            return False
        removed = self.removed_at[side]
        return removed is None or removed > ctn

    def settled_in(self, side: str, ctn: int) -> bool:
        """Whether this HTLC was fulfilled as of ``side``'s commitment ``ctn``."""
        removed = self.removed_at[side]
        return self.removal == "fulfill" and removed is not None and removed <= ctn

    def to_json(self) -> dict:
        return {
            "offerer": self.offerer,
            "htlc_id": self.htlc_id,
            "amount_msat": self.amount_msat,
            "payment_hash": self.payment_hash.hex(),
            "cltv_expiry": self.cltv_expiry,
            "onion": self.onion.hex(),
            "added_at": dict(self.added_at),
            "removal": self.removal,
            "removal_data": {k: (v.hex() if isinstance(v, bytes) else v) for k, v in self.removal_data.items()},
            "removed_at": dict(self.removed_at),
        }

    @classmethod
    def from_json(cls, data: dict) -> Htlc:
        removal_data = {}
        for key, value in data["removal_data"].items():
            removal_data[key] = bytes.fromhex(value) if isinstance(value, str) else value
        return cls(
            offerer=data["offerer"],
            htlc_id=data["htlc_id"],
            amount_msat=data["amount_msat"],
            payment_hash=bytes.fromhex(data["payment_hash"]),
            cltv_expiry=data["cltv_expiry"],
            onion=bytes.fromhex(data["onion"]),
            added_at=dict(data["added_at"]),
            removal=data["removal"],
            removal_data=removal_data,
            removed_at=dict(data["removed_at"]),
        )


@dataclass
class FeeUpdate:
    """An update_fee and where it took effect."""

    proposer: str
    feerate_per_kw: int
    seq: int
    effective_at: dict = field(default_factory=lambda: {LOCAL: None, REMOTE: None})

    def to_json(self) -> dict:
        return {
            "proposer": self.proposer,
            "feerate_per_kw": self.feerate_per_kw,
            "seq": self.seq,
            "effective_at": dict(self.effective_at),
        }

    @classmethod
    def from_json(cls, data: dict) -> FeeUpdate:
        return cls(data["proposer"], data["feerate_per_kw"], data["seq"], dict(data["effective_at"]))


@dataclass(frozen=True)
class CommitmentView:
    """What one commitment transaction contains, seen from its owner ``side``."""

    side: str
    ctn: int
    feerate_per_kw: int
    local_msat: int  # our balance (not the owner's): to_local if side is LOCAL
    remote_msat: int
    htlcs: tuple[Htlc, ...]

    def owner_msat(self) -> int:
        return self.local_msat if self.side == LOCAL else self.remote_msat

    def counterparty_msat(self) -> int:
        return self.remote_msat if self.side == LOCAL else self.local_msat


class UpdateLog:
    """HTLCs, fee updates and commitment numbers of one channel."""

    def __init__(self, *, local_msat: int, remote_msat: int, feerate_per_kw: int) -> None:
        self.base_msat = {LOCAL: local_msat, REMOTE: remote_msat}
        self.base_feerate_per_kw = feerate_per_kw
        self.ctn = {LOCAL: 0, REMOTE: 0}
        # True between sending commitment_signed and receiving revoke_and_ack.
        self.awaiting_revoke = False
        self.htlcs: dict[tuple[str, int], Htlc] = {}
        self.fee_updates: list[FeeUpdate] = []
        self.next_htlc_id = {LOCAL: 0, REMOTE: 0}
        self._fee_seq = 0
        # update order of our own proposals since the last commitment, for retransmission
        self.local_update_order: list[tuple] = []

    # ---- proposing -------------------------------------------------------------------
    def add_htlc(
        self, offerer: str, amount_msat: int, payment_hash: bytes, cltv_expiry: int, onion: bytes,
        htlc_id: int | None = None,
    ) -> Htlc:
        """Record an update_add_htlc by ``offerer`` (ids must be sequential)."""
        expected = self.next_htlc_id[offerer]
        if htlc_id is None:
            htlc_id = expected
        if htlc_id != expected:
            raise UpdateError(f"update_add_htlc id {htlc_id} from {offerer}: expected {expected}")
        htlc = Htlc(offerer, htlc_id, amount_msat, payment_hash, cltv_expiry, onion)
        self.htlcs[(offerer, htlc_id)] = htlc
        self.next_htlc_id[offerer] = htlc_id + 1
        if offerer == LOCAL:
            self.local_update_order.append(("add", htlc_id))
        return htlc

    def remove_htlc(self, remover: str, htlc_id: int, kind: str, **data: object) -> Htlc:
        """Record a fulfill/fail/fail_malformed by ``remover`` of an HTLC the other side offered."""
        htlc = self.htlcs.get((other(remover), htlc_id))
        if htlc is None:
            raise UpdateError(f"{kind} of unknown HTLC id {htlc_id} offered by {other(remover)}")
        if htlc.removal is not None:
            raise UpdateError(f"HTLC id {htlc_id} offered by {other(remover)} already removed")
        if not self.irrevocably_committed(htlc):
            raise UpdateError(f"{kind} of HTLC id {htlc_id} before it is committed on both sides")
        htlc.removal = kind
        htlc.removal_data = dict(data)
        if remover == LOCAL:
            self.local_update_order.append(("remove", htlc_id))
        return htlc

    def update_fee(self, proposer: str, feerate_per_kw: int) -> FeeUpdate:
        """Record an update_fee."""
        self._fee_seq += 1
        update = FeeUpdate(proposer, feerate_per_kw, self._fee_seq)
        self.fee_updates.append(update)
        if proposer == LOCAL:
            self.local_update_order.append(("fee", update.seq))
        return update

    # ---- state questions -------------------------------------------------------------
    def oldest_unrevoked(self, side: str) -> int:
        """Oldest commitment number of ``side`` that is not revoked yet."""
        if side == REMOTE and self.awaiting_revoke:
            return self.ctn[REMOTE] - 1
        return self.ctn[side]

    def _acked_by_remote(self, ctn_remote: int | None) -> bool:
        return ctn_remote is not None and ctn_remote <= self.oldest_unrevoked(REMOTE)

    def irrevocably_committed(self, htlc: Htlc) -> bool:
        """The add is in both sides' commitments and the previous ones are revoked."""
        return (
            htlc.added_at[LOCAL] is not None
            and htlc.added_at[LOCAL] <= self.ctn[LOCAL]
            and self._acked_by_remote(htlc.added_at[REMOTE])
        )

    def _proposals(self) -> list[tuple[str, dict]]:
        """(proposer, effective-at dict) of every update in the log."""
        items: list[tuple[str, dict]] = []
        for htlc in self.htlcs.values():
            items.append((htlc.offerer, htlc.added_at))
            if htlc.removal is not None:
                items.append((htlc.remover, htlc.removed_at))
        for fee in self.fee_updates:
            items.append((fee.proposer, fee.effective_at))
        return items

    def pending_for_remote(self) -> bool:
        """Whether signing a new remote commitment would change anything."""
        for proposer, at in self._proposals():
            if at[REMOTE] is not None:
                continue
            if proposer == LOCAL or at[LOCAL] is not None:
                return True
        return False

    def pending_for_local(self) -> bool:
        """Whether the remote has updates our commitment does not hold yet."""
        for proposer, at in self._proposals():
            if at[LOCAL] is not None:
                continue
            if proposer == REMOTE or self._acked_by_remote(at[REMOTE]):
                return True
        return False

    def has_uncommitted_remote_updates(self) -> bool:
        """Remote updates we received but no commitment_signed covers yet."""
        return any(p == REMOTE and at[LOCAL] is None for p, at in self._proposals())

    def has_unsettled_updates(self) -> bool:
        """Anything not yet in both latest commitments, or a revocation outstanding."""
        if self.awaiting_revoke:
            return True
        return any(at[LOCAL] is None or at[REMOTE] is None for _p, at in self._proposals())

    def live_htlcs(self) -> list[Htlc]:
        """HTLCs not yet removed from both commitments."""
        return list(self.htlcs.values())

    # ---- commitment transitions -----------------------------------------------------
    def sign_remote(self) -> int:
        """We are about to send commitment_signed: returns the new remote ctn."""
        if self.awaiting_revoke:
            raise UpdateError("cannot sign a new remote commitment before revoke_and_ack")
        new_ctn = self.ctn[REMOTE] + 1
        for proposer, at in self._proposals():
            if at[REMOTE] is None and (proposer == LOCAL or at[LOCAL] is not None):
                at[REMOTE] = new_ctn
        self.ctn[REMOTE] = new_ctn
        self.awaiting_revoke = True
        self.local_update_order = []
        return new_ctn

    def receive_commitment(self) -> int:
        """The remote signed our next commitment: returns the new local ctn."""
        new_ctn = self.ctn[LOCAL] + 1
        for proposer, at in self._proposals():
            if at[LOCAL] is None and (proposer == REMOTE or self._acked_by_remote(at[REMOTE])):
                at[LOCAL] = new_ctn
        self.ctn[LOCAL] = new_ctn
        return new_ctn

    def receive_revocation(self) -> None:
        """The remote revoked its previous commitment."""
        if not self.awaiting_revoke:
            raise UpdateError("revoke_and_ack without a pending commitment_signed")
        self.awaiting_revoke = False

    def drop_uncommitted_remote_updates(self) -> None:
        """On disconnect: forget remote updates no commitment_signed covered."""
        for key, htlc in list(self.htlcs.items()):
            if htlc.offerer == REMOTE and htlc.added_at[LOCAL] is None:
                del self.htlcs[key]
                self.next_htlc_id[REMOTE] = min(self.next_htlc_id[REMOTE], htlc.htlc_id)
            elif htlc.remover == REMOTE and htlc.removal is not None and htlc.removed_at[LOCAL] is None:
                htlc.removal = None
                htlc.removal_data = {}
        self.fee_updates = [
            f for f in self.fee_updates if not (f.proposer == REMOTE and f.effective_at[LOCAL] is None)
        ]

    def drop_unsigned_local_updates(self) -> None:
        """On disconnect: forget our updates that no commitment_signed we sent covers."""
        for key, htlc in list(self.htlcs.items()):
            if htlc.offerer == LOCAL and htlc.added_at[REMOTE] is None:
                del self.htlcs[key]
                self.next_htlc_id[LOCAL] = min(self.next_htlc_id[LOCAL], htlc.htlc_id)
            elif htlc.remover == LOCAL and htlc.removal is not None and htlc.removed_at[REMOTE] is None:
                htlc.removal = None
                htlc.removal_data = {}
        self.fee_updates = [
            f for f in self.fee_updates if not (f.proposer == LOCAL and f.effective_at[REMOTE] is None)
        ]
        self.local_update_order = []

    # ---- views -----------------------------------------------------------------------
    def feerate(self, side: str, ctn: int) -> int:
        rate = self.base_feerate_per_kw
        for fee in self.fee_updates:
            at = fee.effective_at[side]
            if at is not None and at <= ctn:
                rate = fee.feerate_per_kw
        return rate

    def view(self, side: str, ctn: int | None = None) -> CommitmentView:
        """Balances, HTLCs and fee rate of ``side``'s commitment ``ctn`` (default latest)."""
        if ctn is None:
            ctn = self.ctn[side]
        balance = dict(self.base_msat)
        active = []
        for htlc in self.htlcs.values():
            added = htlc.added_at[side]
            if added is None or added > ctn:
                continue
            balance[htlc.offerer] -= htlc.amount_msat
            if htlc.active_in(side, ctn):
                active.append(htlc)
            elif htlc.removal == "fulfill":
                balance[htlc.receiver] += htlc.amount_msat
            else:
                balance[htlc.offerer] += htlc.amount_msat
        active.sort(key=lambda h: (h.offerer, h.htlc_id))
        return CommitmentView(side, ctn, self.feerate(side, ctn), balance[LOCAL], balance[REMOTE], tuple(active))

    def next_view(self, side: str) -> CommitmentView:
        """What ``side``'s next commitment would contain if signed now (for checks)."""
        balance = dict(self.base_msat)
        active = []
        rate = self.base_feerate_per_kw
        for htlc in self.htlcs.values():
            balance[htlc.offerer] -= htlc.amount_msat
            if htlc.removal is None:
                active.append(htlc)
            elif htlc.removal == "fulfill":
                balance[htlc.receiver] += htlc.amount_msat
            else:
                balance[htlc.offerer] += htlc.amount_msat
        for fee in self.fee_updates:
            rate = fee.feerate_per_kw
        active.sort(key=lambda h: (h.offerer, h.htlc_id))
        return CommitmentView(side, self.ctn[side] + 1, rate, balance[LOCAL], balance[REMOTE], tuple(active))

    def compact(self) -> list[Htlc]:
        """Fold updates present in every unrevoked commitment into the base state.

        Returns the HTLCs that were fully resolved (for history)."""
        local_ctn = self.ctn[LOCAL]
        remote_ctn = self.oldest_unrevoked(REMOTE)
        resolved = []
        for key, htlc in list(self.htlcs.items()):
            if htlc.removal is None:
                continue
            r_local, r_remote = htlc.removed_at[LOCAL], htlc.removed_at[REMOTE]
            if r_local is None or r_remote is None or r_local > local_ctn or r_remote > remote_ctn:
                continue
            if htlc.removal == "fulfill":
                self.base_msat[htlc.offerer] -= htlc.amount_msat
                self.base_msat[htlc.receiver] += htlc.amount_msat
            del self.htlcs[key]
            resolved.append(htlc)
        keep = []
        for fee in self.fee_updates:
            e_local, e_remote = fee.effective_at[LOCAL], fee.effective_at[REMOTE]
            if e_local is not None and e_remote is not None and e_local <= local_ctn and e_remote <= remote_ctn:
                self.base_feerate_per_kw = fee.feerate_per_kw
            else:
                keep.append(fee)
        self.fee_updates = keep
        return resolved

    # ---- persistence -----------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "base_msat": dict(self.base_msat),
            "base_feerate_per_kw": self.base_feerate_per_kw,
            "ctn": dict(self.ctn),
            "awaiting_revoke": self.awaiting_revoke,
            "htlcs": [h.to_json() for h in self.htlcs.values()],
            "fee_updates": [f.to_json() for f in self.fee_updates],
            "next_htlc_id": dict(self.next_htlc_id),
            "fee_seq": self._fee_seq,
            "local_update_order": [list(x) for x in self.local_update_order],
        }

    @classmethod
    def from_json(cls, data: dict) -> UpdateLog:
        log = cls(
            local_msat=data["base_msat"][LOCAL],
            remote_msat=data["base_msat"][REMOTE],
            feerate_per_kw=data["base_feerate_per_kw"],
        )
        log.ctn = dict(data["ctn"])
        log.awaiting_revoke = data["awaiting_revoke"]
        for item in data["htlcs"]:
            htlc = Htlc.from_json(item)
            log.htlcs[(htlc.offerer, htlc.htlc_id)] = htlc
        log.fee_updates = [FeeUpdate.from_json(f) for f in data["fee_updates"]]
        log.next_htlc_id = dict(data["next_htlc_id"])
        log._fee_seq = data["fee_seq"]
        log.local_update_order = [tuple(x) for x in data["local_update_order"]]
        return log
