"""Core Lightning's sendpays indexes in the built-in node's payment store: `created` is the
last payment row, `updated` counts status changes and survives reopening the storage, and
listeners hear both."""

from __future__ import annotations

from lnharness.node_impl.builtin.channel.store import ChannelStore, PaymentRecord
from lnharness.node_impl.builtin.core.storage import Storage


def payment(byte: int, status: str = "pending") -> PaymentRecord:
    return PaymentRecord(payment_hash=bytes([byte]) * 32, bolt11=None, destination=bytes(33),
                         amount_msat=1000, amount_sent_msat=1000, status=status, preimage=None,
                         failure=None, created_at=0, completed_at=None, channel_id=None,
                         htlc_id=None, data={})


def test_created_and_updated_indexes_and_their_listeners(tmp_path):
    store = ChannelStore(Storage(tmp_path / "node.sqlite3"))
    heard: list[tuple[str, int, str]] = []
    store.payment_listeners.append(lambda name, value, record: heard.append((name, value, record.status)))
    assert (store.sendpays_index("created"), store.sendpays_index("updated")) == (0, 0)
    first, second = payment(1), payment(2)
    store.save_payment(first)
    store.save_payment(second)
    assert (first.created_index, second.created_index) == (1, 2)
    first.htlc_id = 7
    store.save_payment(first)  # same status: not an update
    first.status = "complete"
    store.save_payment(first)
    assert heard == [("created", 1, "pending"), ("created", 2, "pending"), ("updated", 1, "complete")]
    assert (store.sendpays_index("created"), store.sendpays_index("updated")) == (2, 1)
    assert store.sendpays_index("deleted") == 0
    reopened = ChannelStore(Storage(tmp_path / "node.sqlite3"))
    assert (reopened.sendpays_index("created"), reopened.sendpays_index("updated")) == (2, 1)
