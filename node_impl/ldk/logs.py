"""The ldk daemon's log lines that fail a test at teardown, and the ones known to be benign.

`lnh-ldkd` writes one stream (its own lines and ldk-node's) as `TIME LEVEL module: text`.
ldk-node logs at ERROR some conditions that are normal in a test; this is the one place that
lists them, each with the reason. Add a line here, never scatter `allow_broken_log=True`.
"""
from __future__ import annotations

import re

#: ERROR lines and a Rust panic
BROKEN_LOG_REGEX = r"^\S+ ERROR |panicked at "

#: ERROR lines expected in tests, not bugs: each pattern with the reason it is benign
BENIGN_ERRORS: tuple[str, ...] = (
    # regtest: bitcoind has no fee estimates without transaction history; ldk-node falls back
    # to 1 sat/vB there, as it documents
    r"Failed to retrieve fee rate estimates: .*Falling back to default of 1 sat/vb",
    # LDK logs every channel close at ERROR, a cooperative one included, and a force close
    # the test asked for (the daemon gives the reason below; the peer repeats it); a force
    # close for any other reason fails the test through its reason line
    r"ERROR lightning::ln::channelmanager: (Closed channel [0-9a-f]{64} due to close-required "
    r"error: |Closing channel: )(Coop Closed|(Channel closed because counterparty force-closed "
    r"with message: )?force close requested over RPC)$",
    r"ERROR lightning::ln::channelmanager: Force-closing channel [0-9a-f]{64}$",
    # the peer force-closed (its own log tells why, checked there), or a closing or
    # commitment transaction confirmed: the channel ends as the test asked
    r"ERROR lightning::ln::channelmanager: (Closed channel [0-9a-f]{64} due to close-required "
    r"error: |Closing channel: )Channel closed because (counterparty force-closed with message: "
    r".*|commitment or closing transaction was confirmed on chain\.)$",
    # after a close the peer may still send a message for the channel LDK has forgotten
    r"ERROR lightning::ln::channelmanager: Got non-closing error: Got a message for a channel "
    r"from the wrong node! No such channel for the passed counterparty_node_id [0-9a-f]{66}$",
    # after a force close both sides broadcast their commitment (and sweeps spending it):
    # the one that loses the race is refused as spending what is already spent
    r"ERROR ldk_node::chain::bitcoind: Failed to broadcast transaction [0-9a-f]{64}: RPC error "
    r"-2[56]: (bad-txns-inputs-missingorspent|txn-mempool-conflict|insufficient fee)",
    # ldk-node sees a new block up to 2 s after its peer (it polls the chain): the peer's
    # announcement_signatures at 6 confirmations can come first; LDK ignores them and the
    # peer sends them again on the next reconnection or block
    r"ERROR lightning::ln::channelmanager: Got non-closing error: Got announcement_signatures "
    r"prior to the required six confirmations - we may not have received a block yet that "
    r"our peer has$",
    # the same race in another state of the channel (Core Lightning sends them as soon as it
    # sees the sixth block): ignored, and sent again later
    r"ERROR lightning::ln::channelmanager: Got non-closing error: Got an announcement_signatures "
    r"before we were ready for it$",
    # Core Lightning sends its peers a peer_storage blob at every connection (option_provide_
    # storage); LDK keeps one only for a peer it has a funded channel with and ignores the
    # others: nothing of a channel depends on it
    r"ERROR lightning::ln::channelmanager: Got non-closing error: Ignoring peer_storage message, "
    r"as peer storage is currently supported only for peers with an active funded channel\.$",
    # a payment that cannot be sent: the reason reaches the caller as PaymentFailed
    r"ERROR lightning::ln::outbound_payment: Payment with id [0-9a-f]{64} and hash [0-9a-f]{64} "
    r"had expired before we started paying",
    r"ERROR ldk_node::payment::(bolt11|spontaneous): Failed to send payment: ",
    # ldk-node redials its channel peers at their stored addresses by itself (may_reconnect
    # cannot turn it off): at a restart the peer may not listen yet, and after a snapshot
    # restore or a replay the stored address carries the peer's old port; the harness
    # connects explicitly, and a connection a test asks for fails as an RPC error
    r"ERROR ldk_node::connection: Failed to connect to peer: [0-9a-f]{66}@\S+$",
)

_BENIGN = [re.compile(pattern) for pattern in BENIGN_ERRORS]


def is_benign(line: str) -> bool:
    """Whether a broken-looking log line is one of the known-benign ones."""
    return any(pattern.search(line) for pattern in _BENIGN)
