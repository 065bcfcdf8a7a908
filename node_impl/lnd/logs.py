"""LND's log lines that fail a test at teardown, and the ones known to be benign.

lnd logs at `[ERR]` many conditions that are normal in a test (an RPC error answered to
the caller, a channel closed before it was announced, shutting down mid-update). This is
the one place that lists them, each with the reason; add a line here, never scatter
`allow_broken_log=True` over tests.
"""
from __future__ import annotations

import re

#: lnd's error and critical log levels, and a Go panic with its goroutine dump
BROKEN_LOG_REGEX = r"\[(ERR|CRT)\]|^panic:|^goroutine \d+ \["

#: `[ERR]` lines expected in tests, not bugs: each pattern with the reason it is benign
BENIGN_ERRORS: tuple[str, ...] = (
    # every error an RPC answers is also logged at ERR; the caller gets it as RpcError
    r"\[ERR\] RPCS: \[/[\w.]+/\w+\]: ",
    r"\[ERR\] RRPC: SendPayment async error for payment \w+: ",
    # lnd stopped while an HTLC was being forwarded (a test ends right after a routed payment)
    r"\[ERR\] HSWC: unable to forward htlc packet htlc switch was stopped$",
    # lnd stopped while a commitment update was in flight (a test ends right after a payment)
    r"\[ERR\] HSWC: ChannelLink\([0-9a-f:]+\): failing link: unable to update commitment: "
    r"link shutting down",
    # ... which makes it send its peer an `error` "internal error" and drop the connection:
    # the peer fails its link in turn (the sender's own log holds the cause, checked there)
    r"\[ERR\] HSWC: ChannelLink\([0-9a-f:]+\): failing link: ChannelPoint\([0-9a-f:]+\): "
    r"received error from peer: chan_id=[0-9a-f]+, err=internal error with error: remote error",
    r"\[ERR\] PEER: Peer\([0-9a-f]+\): unable to send msg to remote peer: peer exiting",
    # the peer force-closed the channel and told us with an `error`, as Core Lightning, the
    # built-in node and the ldk daemon do: the link fails; the close itself is the test's doing
    r"\[ERR\] HSWC: ChannelLink\([0-9a-f:]+\): failing link: ChannelPoint\([0-9a-f:]+\): "
    r"received error from peer: chan_id=[0-9a-f]+, err=(Forcibly closed by `close` command|"
    r"force close requested over RPC) with error: remote error",
    # `connect` while the peer had just dialled us itself (ldk and lnd redial channel peers):
    # lnd answers the caller "already connected", which the adapter takes as success
    r"\[ERR\] RPCS: \[connectpeer\]: error connecting to peer: already connected to peer: ",
    # follows every link failure; the failure itself is the line before, checked on its own
    r"\[ERR\] HSWC: ChannelLink\([0-9a-f:]+\): link failed, exiting htlcManager",
    # a channel closed before its 6 confirmations: its announcement proof finds no channel
    r"\[ERR\] (DISC|FNDG): .*unable to store the proof for short_chan_id=\d+: unable to find channel",
    # after a force close of an anchor channel lnd offers each 330-sat anchor to its sweeper
    # with the anchor's own value as budget; no fee curve fits, so that sweep is dropped
    r"\[ERR\] SWPR: Failed to init fee function: startingFeeRate=(\d+) sat/kw, "
    r"endingFeeRate=\1 sat/kw",
    r"\[ERR\] SWPR: (Initial broadcast failed: |Removing monitor record=\d+, tx=0{64}, "
    r"due to err: )init fee function: fee rate delta is zero",
    # PendingChannels read a force-closing channel whose arbitrator had just resolved it
    # (lnd's two reads race the resolution); the adapter reads again (LndNode._pending_channels)
    r"\[ERR\] RPCS: unable to populate arbitrator force close resp:[0-9a-f]+:\d+, "
    r"unable to find arbitrator$",
    # a payment that fails: the reason reaches the caller as PaymentFailed
    r"\[ERR\] CRTR: (No route found for payment \w+$|Payment \w+ failed: )",
    # a multi-part payment: lnd's splitter sent a part over a local channel whose bandwidth an
    # earlier part had just taken; its switch refuses that attempt and lnd splits again (the
    # payment's outcome reaches the caller)
    r"\[ERR\] HSWC: Link [\d:]+ policy for local forward not satisfied$",
    r"\[ERR\] CRTR: Failed sending attempt \d+ for payment \w+ to switch: insufficient bandwidth "
    r"to route htlc$",
    r"\[ERR\] CRTR: Channel update of ourselves received$",
    # regtest: bitcoind has no fee estimates without transaction history; lnd falls back to
    # its default fee rate
    r"\[ERR\] LNWL: unable to query estimator: fee estimation data not available yet",
    # shutdown: the best-block tracker's epoch stream closes before the tracker stops
    r"\[ERR\] NTFN: dead epoch stream in BestBlockTracker",
    # shutdown while a fresh channel, or a peer's node announcement, is being added to the graph
    r"\[ERR\] (GRPH|DISC): .*unable to add (channel|node [0-9a-f]{66} to the graph): "
    r"ChannelGraph shutting down",
    # shutdown before a public channel's 6 confirmations: its announcement is abandoned
    r"\[ERR\] FNDG: Unable to advance state\(.*funding manager shutting down",
)

_BENIGN = [re.compile(pattern) for pattern in BENIGN_ERRORS]


def is_benign(line: str) -> bool:
    """Whether a broken-looking log line is one of the known-benign ones."""
    return any(pattern.search(line) for pattern in _BENIGN)
