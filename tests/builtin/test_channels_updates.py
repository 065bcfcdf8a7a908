"""The two-party update bookkeeping of BOLT 2 (channel_updates.UpdateLog), run as two logs
that mirror each other the way two real peers do."""

from __future__ import annotations

import pytest
from lnharness.node_impl.builtin.channel.updates import LOCAL, REMOTE, UpdateError, UpdateLog

HASH = bytes(range(32))


class Pair:
    """Alice's and Bob's logs; messages are method calls in protocol order."""

    def __init__(self, alice_msat: int = 700_000, bob_msat: int = 300_000) -> None:
        self.alice = UpdateLog(local_msat=alice_msat, remote_msat=bob_msat, feerate_per_kw=253)
        self.bob = UpdateLog(local_msat=bob_msat, remote_msat=alice_msat, feerate_per_kw=253)

    def add(self, sender: UpdateLog, receiver: UpdateLog, amount_msat: int) -> int:
        htlc = sender.add_htlc(LOCAL, amount_msat, HASH, 500, b"")
        receiver.add_htlc(REMOTE, amount_msat, HASH, 500, b"", htlc_id=htlc.htlc_id)
        return htlc.htlc_id

    def fulfill(self, sender: UpdateLog, receiver: UpdateLog, htlc_id: int) -> None:
        sender.remove_htlc(LOCAL, htlc_id, "fulfill", preimage=b"x" * 32)
        receiver.remove_htlc(REMOTE, htlc_id, "fulfill", preimage=b"x" * 32)

    def fail(self, sender: UpdateLog, receiver: UpdateLog, htlc_id: int) -> None:
        sender.remove_htlc(LOCAL, htlc_id, "fail", reason=b"")
        receiver.remove_htlc(REMOTE, htlc_id, "fail", reason=b"")

    @staticmethod
    def commit(signer: UpdateLog, receiver: UpdateLog) -> None:
        """signer: commitment_signed -> receiver: revoke_and_ack."""
        remote_ctn = signer.sign_remote()
        local_ctn = receiver.receive_commitment()
        assert remote_ctn == local_ctn
        signer.receive_revocation()
        signer.compact()
        receiver.compact()

    def dance(self, first: UpdateLog, second: UpdateLog) -> None:
        """The full exchange after `first` proposed updates."""
        self.commit(first, second)
        self.commit(second, first)


def balances(log: UpdateLog, side: str) -> tuple[int, int]:
    view = log.view(side)
    return view.local_msat, view.remote_msat


def test_add_then_fulfill_moves_the_amount_in_all_four_commitments():
    pair = Pair()
    hid = pair.add(pair.alice, pair.bob, 10_000)
    assert pair.alice.pending_for_remote()
    pair.dance(pair.alice, pair.bob)
    for log in (pair.alice, pair.bob):
        for side in (LOCAL, REMOTE):
            assert len(log.view(side).htlcs) == 1
    assert pair.bob.irrevocably_committed(pair.bob.htlcs[(REMOTE, hid)])
    pair.fulfill(pair.bob, pair.alice, hid)
    pair.dance(pair.bob, pair.alice)
    assert balances(pair.alice, LOCAL) == (690_000, 310_000)
    assert balances(pair.alice, REMOTE) == (690_000, 310_000)
    assert balances(pair.bob, LOCAL) == (310_000, 690_000)
    assert not pair.alice.htlcs and not pair.bob.htlcs  # compacted
    assert not pair.alice.has_unsettled_updates() and not pair.bob.has_unsettled_updates()


def test_failed_htlc_returns_the_amount_to_the_offerer():
    pair = Pair()
    hid = pair.add(pair.alice, pair.bob, 10_000)
    pair.dance(pair.alice, pair.bob)
    pair.fail(pair.bob, pair.alice, hid)
    pair.dance(pair.bob, pair.alice)
    assert balances(pair.alice, LOCAL) == (700_000, 300_000)
    assert balances(pair.bob, REMOTE) == (300_000, 700_000)


def test_remote_commitment_excludes_unacked_remote_updates():
    pair = Pair()
    pair.add(pair.alice, pair.bob, 10_000)
    # Bob signs Alice's commitment before Alice signed: the add is not acked by Bob yet.
    assert not pair.bob.pending_for_remote()
    # Alice's commitment, once Bob signs after receiving Alice's signature, holds it.
    pair.commit(pair.alice, pair.bob)
    assert pair.bob.pending_for_remote()
    assert pair.alice.pending_for_local()


def test_local_commitment_waits_for_the_revocation_of_our_updates():
    pair = Pair()
    pair.add(pair.alice, pair.bob, 10_000)
    pair.alice.sign_remote()
    pair.bob.receive_commitment()
    # A peer that sends commitment_signed before revoke_and_ack signs without Alice's add:
    # Alice must not include it in the commitment that signature covers.
    pair.alice.receive_commitment()
    assert pair.alice.view(LOCAL).htlcs == ()
    pair.alice.receive_revocation()  # the revoke_and_ack arrives afterwards
    assert pair.alice.pending_for_local()


def test_concurrent_payments_both_ways_end_balanced():
    pair = Pair()
    a_ids = [pair.add(pair.alice, pair.bob, 1_000) for _ in range(3)]
    b_ids = [pair.add(pair.bob, pair.alice, 2_000) for _ in range(2)]
    # both sign at once (crossing commitment_signed)
    pair.alice.sign_remote()
    pair.bob.sign_remote()
    pair.bob.receive_commitment()
    pair.alice.receive_commitment()
    pair.alice.receive_revocation()
    pair.bob.receive_revocation()
    pair.dance(pair.alice, pair.bob)
    pair.dance(pair.bob, pair.alice)
    for hid in a_ids:
        pair.fulfill(pair.bob, pair.alice, hid)
    for hid in b_ids:
        pair.fulfill(pair.alice, pair.bob, hid)
    pair.dance(pair.alice, pair.bob)
    pair.dance(pair.bob, pair.alice)
    pair.dance(pair.alice, pair.bob)
    assert balances(pair.alice, LOCAL) == (700_000 - 3_000 + 4_000, 300_000 + 3_000 - 4_000)
    assert balances(pair.bob, REMOTE) == balances(pair.alice, LOCAL)[::-1]
    assert not pair.alice.htlcs and not pair.bob.htlcs


def test_fee_update_takes_effect_per_commitment():
    pair = Pair()
    pair.alice.update_fee(LOCAL, 1000)
    pair.bob.update_fee(REMOTE, 1000)
    pair.commit(pair.alice, pair.bob)
    assert pair.bob.view(LOCAL).feerate_per_kw == 1000
    assert pair.bob.view(REMOTE).feerate_per_kw == 253
    pair.commit(pair.bob, pair.alice)
    assert pair.alice.view(LOCAL).feerate_per_kw == 1000
    assert pair.alice.base_feerate_per_kw == 1000 and not pair.alice.fee_updates


def test_protocol_violations_are_rejected():
    log = UpdateLog(local_msat=1, remote_msat=1, feerate_per_kw=253)
    with pytest.raises(UpdateError, match="expected 0"):
        log.add_htlc(REMOTE, 1, HASH, 1, b"", htlc_id=5)
    with pytest.raises(UpdateError, match="unknown HTLC"):
        log.remove_htlc(REMOTE, 0, "fulfill")
    log.add_htlc(REMOTE, 1, HASH, 1, b"")
    with pytest.raises(UpdateError, match="before it is committed"):
        log.remove_htlc(LOCAL, 0, "fail")
    with pytest.raises(UpdateError, match="without a pending"):
        log.receive_revocation()


def test_disconnect_drops_uncommitted_remote_updates_and_json_round_trips():
    pair = Pair()
    pair.add(pair.alice, pair.bob, 5_000)
    pair.dance(pair.alice, pair.bob)
    pair.add(pair.alice, pair.bob, 6_000)
    pair.bob.drop_uncommitted_remote_updates()
    assert pair.bob.next_htlc_id[REMOTE] == 1
    restored = UpdateLog.from_json(pair.bob.to_json())
    assert restored.to_json() == pair.bob.to_json()
    assert restored.view(LOCAL) == pair.bob.view(LOCAL)
