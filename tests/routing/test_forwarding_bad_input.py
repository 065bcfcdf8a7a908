"""Forwarding nodes given bad HTLCs (onions built by the test, sent with `sendonion`): the
right BOLT 4 failure comes back from the right hop and no funds move."""
from __future__ import annotations

import os

import coincurve
import pytest
from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpcError
from lnharness.node_impl.builtin.payments import onion
from lnharness.wait import wait_for

pytestmark = pytest.mark.impls("builtin")

FINAL_CLTV = 20
DELTA = 6  # the built-in node's default cltv_expiry_delta


def fee_msat(amount_msat: int) -> int:
    return 1 + amount_msat * 10 // 1_000_000


def scid(a, b) -> int:
    text = a.rpc.listpeerchannels(b.node_id)["channels"][0]["short_channel_id"]
    block, tx, out = (int(x) for x in text.split("x"))
    return block << 40 | tx << 16 | out


def to_us_msat(node) -> int:
    return sum(c["to_us_msat"] for c in node.rpc.listpeerchannels()["channels"])


def no_htlcs(node) -> bool:
    return all(c["htlcs"] == [] for c in node.rpc.listpeerchannels()["channels"])


class Route:
    """A payment along fixed hops, with payloads the test may spoil before sending."""

    def __init__(self, sender, hops, scids, invoice, amount_msat):
        height = sender.rpc.getinfo()["blockheight"]
        self.sender, self.hops, self.invoice = sender, hops, invoice
        self.payloads = []
        amount, cltv = amount_msat, height + FINAL_CLTV
        final = onion.HopPayload(amt_to_forward_msat=amount, outgoing_cltv_value=cltv,
                                 payment_secret=bytes.fromhex(invoice["payment_secret"]), total_msat=amount_msat)
        self.payloads.append(final)
        for i in range(len(hops) - 2, -1, -1):  # forwarding hops, last first
            self.payloads.insert(0, onion.HopPayload(amt_to_forward_msat=amount, outgoing_cltv_value=cltv,
                                                     short_channel_id=scids[i + 1]))
            amount += fee_msat(amount)
            cltv += DELTA
        self.first_msat, self.first_delay = amount, cltv - height - 1  # sendonion adds height + 1
        self.pubkeys = [bytes.fromhex(h.node_id) for h in hops]

    def send(self) -> None:
        session_key = os.urandom(32)
        packet = onion.construct_onion(
            session_key, [onion.OnionHop(k, p.encode()) for k, p in zip(self.pubkeys, self.payloads, strict=True)],
            bytes.fromhex(self.invoice["payment_hash"]))
        self.packet = bytearray(packet)
        self.secrets = onion.hop_shared_secrets(session_key, self.pubkeys)

    def go(self, spoil_packet=None) -> dict:
        """Send; returns waitsendpay's result or raises its BuiltinRpcError."""
        self.send()
        if spoil_packet is not None:
            spoil_packet(self.packet)
        self.sender.rpc.sendonion(
            onion=bytes(self.packet).hex(), payment_hash=self.invoice["payment_hash"],
            first_hop={"id": self.hops[0].node_id, "amount_msat": self.first_msat, "delay": self.first_delay},
            shared_secrets=[s.hex() for s in self.secrets])
        return self.sender.rpc.waitsendpay(payment_hash=self.invoice["payment_hash"], timeout=30)


@pytest.fixture
def line(node_factory):
    return node_factory.line_graph(4, wait_for_announce=False)


def expect_failure(route, *fragments, spoil_packet=None):
    with pytest.raises(BuiltinRpcError) as failed:
        route.go(spoil_packet)
    for fragment in fragments:
        assert fragment in failed.value.message, failed.value.message
    return failed.value


def test_bad_htlcs_fail_with_the_right_code_from_the_right_hop(line):
    l1, l2, l3, l4 = line
    scids = [scid(l1, l2), scid(l2, l3), scid(l3, l4)]
    balances = [to_us_msat(n) for n in line]
    counter = iter(range(100))

    def route(amount_msat=5_000_000):
        invoice = l4.rpc.invoice(amount_msat=amount_msat, label=f"bad-{next(counter)}", description="bad input")
        return Route(l1, [l2, l3, l4], scids, invoice, amount_msat)

    # l3 gets one msat less than its fee asks: fee_insufficient from hop 1, with l3's channel_update
    r = route()
    r.payloads[0] = onion.HopPayload(amt_to_forward_msat=r.payloads[0].amt_to_forward_msat - 1,
                                     outgoing_cltv_value=r.payloads[0].outgoing_cltv_value,
                                     short_channel_id=scids[1])
    expect_failure(r, "WIRE_FEE_INSUFFICIENT", f"htlc_msat={r.payloads[0].amt_to_forward_msat}", "at hop 1")

    # l2's HTLC expires one block too early for its cltv_expiry_delta: incorrect_cltv_expiry from hop 0
    r = route()
    r.first_delay -= 1
    expect_failure(r, "WIRE_INCORRECT_CLTV_EXPIRY", "at hop 0")

    # l2 is asked to forward over a channel that does not exist: unknown_next_peer from hop 0
    r = route()
    r.payloads[0] = onion.HopPayload(amt_to_forward_msat=r.payloads[0].amt_to_forward_msat,
                                     outgoing_cltv_value=r.payloads[0].outgoing_cltv_value,
                                     short_channel_id=(999 << 40) | (7 << 16))
    expect_failure(r, "WIRE_UNKNOWN_NEXT_PEER", "at hop 0")

    # l3 forwards less than l4's payload says it should receive: final_incorrect_htlc_amount from l4
    r = route()
    r.payloads[1] = onion.HopPayload(amt_to_forward_msat=r.payloads[1].amt_to_forward_msat - 1,
                                     outgoing_cltv_value=r.payloads[1].outgoing_cltv_value,
                                     short_channel_id=scids[2])
    expect_failure(r, "WIRE_FINAL_INCORRECT_HTLC_AMOUNT")

    # a flipped byte in the packet: l2's HMAC check fails, it answers update_fail_malformed_htlc
    r = route()
    expect_failure(r, "WIRE_INVALID_ONION_HMAC", "could not read our onion",
                   spoil_packet=lambda packet: packet.__setitem__(100, packet[100] ^ 1))

    # l3's layer made for another key: l3 answers malformed to l2, which turns it into a
    # failure onion with the same code (BOLT 4), readable by the sender as coming from hop 0
    r = route()
    r.pubkeys[1] = coincurve.PrivateKey().public_key.format()
    expect_failure(r, "WIRE_INVALID_ONION_HMAC", "at hop 0")

    for node in line:
        wait_for(lambda node=node: no_htlcs(node), what=f"{node.name}'s failed HTLCs to be removed")
    assert [to_us_msat(n) for n in line] == balances  # no funds moved
    assert all(i["status"] == "unpaid" for i in l4.rpc.listinvoices()["invoices"])
    statuses = {f["failreason"] for f in l2.rpc.listforwards()["forwards"] if f["status"] == "local_failed"}
    assert statuses == {"WIRE_INCORRECT_CLTV_EXPIRY", "WIRE_UNKNOWN_NEXT_PEER"}

    # and the same route unspoilt pays
    r = route()
    assert r.go()["status"] == "complete"


def test_two_htlcs_with_one_payment_hash_are_paid_once(line):
    l1, l2, l3, l4 = line
    scids = [scid(l1, l2), scid(l2, l3), scid(l3, l4)]
    amount = 7_000_000
    invoice = l4.rpc.invoice(amount_msat=amount, label="once", description="replayed hash")
    before = [to_us_msat(n) for n in line]
    l4.rpc.call("dev-hold-htlcs", {"hold": True})
    from_l1 = Route(l1, [l2, l3, l4], scids, invoice, amount)
    from_l2 = Route(l2, [l3, l4], scids[1:], invoice, amount)
    for r in (from_l1, from_l2):
        r.send()
        r.sender.rpc.sendonion(
            onion=bytes(r.packet).hex(), payment_hash=invoice["payment_hash"],
            first_hop={"id": r.hops[0].node_id, "amount_msat": r.first_msat, "delay": r.first_delay},
            shared_secrets=[s.hex() for s in r.secrets])
    wait_for(lambda: len(l4.rpc.listpeerchannels(l3.node_id)["channels"][0]["htlcs"]) == 2,
             what="both HTLCs to reach l4")
    l4.rpc.call("dev-hold-htlcs", {"hold": False})
    outcomes = []
    for r in (from_l1, from_l2):
        try:
            outcomes.append(r.sender.rpc.waitsendpay(payment_hash=invoice["payment_hash"], timeout=30)["status"])
        except BuiltinRpcError as exc:
            assert "WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS" in exc.message
            outcomes.append("failed")
    assert sorted(outcomes) == ["complete", "failed"]
    for node in line:
        wait_for(lambda node=node: no_htlcs(node), what=f"{node.name}'s HTLCs to settle")
    paid = l4.rpc.listinvoices("once")["invoices"][0]
    assert paid["status"] == "paid" and paid["amount_received_msat"] == amount
    after = [to_us_msat(n) for n in line]
    assert after[3] - before[3] == amount  # l4 was paid once
    assert sum(after) == sum(before)  # nothing created or lost
    fee3 = fee_msat(amount)
    winner = 0 if outcomes[0] == "complete" else 1
    if winner == 0:  # l1 paid through l2 and l3
        fee2 = fee_msat(amount + fee3)
        assert after[0] - before[0] == -(amount + fee3 + fee2)
        assert (after[1] - before[1], after[2] - before[2]) == (fee2, fee3)
    else:  # l2 paid through l3; l1's HTLC failed back through l2
        assert after[0] == before[0]
        assert (after[1] - before[1], after[2] - before[2]) == (-(amount + fee3), fee3)
