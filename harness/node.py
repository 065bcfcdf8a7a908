"""`LightningNode`: the one interface the harness and tests use for every implementation.

An adapter per implementation (node_impl/<impl>.py, or a third-party package) subclasses
`LightningNode`, registers the class in the entry-point group `lnharness.impls`, and
implements the abstract methods below. Everything an implementation does not share goes
through `.rpc`, the implementation's own client, untouched.
"""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from lnharness.backend import UnsupportedFeature
from lnharness.errors import LnhError
from lnharness.proc import Daemon
from lnharness.results import Availability, Balance, Channel, Invoice, Payment
from lnharness.runtime import PROCESS_RUNTIME, NodeRuntime
from lnharness.wait import wait_for

if TYPE_CHECKING:
    from lnharness.chain import Chain


class PaymentFailed(LnhError):
    """`pay` did not complete; `reason` is the implementation's explanation."""

    def __init__(self, reason: str, *, payment_hash: str | None = None, native: Any = None):
        self.reason = reason
        self.payment_hash = payment_hash
        self.native = native
        super().__init__(f"payment failed: {reason}")


class PaymentPending(LnhError):
    """`pay` stopped waiting while the payment was still in flight: its outcome is unknown
    (it may yet complete, e.g. once a payee that went away comes back). Not a failure."""

    def __init__(self, payment_hash: str, reason: str):
        self.payment_hash = payment_hash
        self.reason = reason
        super().__init__(f"payment {payment_hash} is still pending: {reason}")


class InvoiceExpired(LnhError):
    """An awaited invoice expired before it was paid."""


class LightningNode(ABC):
    """One Lightning node process of some implementation.

    Subclasses set `impl`, implement the abstract methods, and report whether they can run
    here through `availability()`. Constructor arguments are keyword-only after `name`;
    `options` are the implementation's own settings, and an unknown one is rejected by the
    adapter with a TypeError, never ignored.
    """

    impl: ClassVar[str]
    #: confirmations of its funding this implementation waits for before a channel it
    #: accepts is usable (its `minimum_depth`): the harness mines that many to confirm one
    accept_depth: ClassVar[int] = 1
    #: log lines that mean the node hit a bug; checked at teardown unless allowed
    broken_log_regex: ClassVar[str] = r"\b(BROKEN|Traceback|CRITICAL)\b"
    #: whether the adapter derives the node's keys from `identity` (and so takes the
    #: `identity` keyword): the factory then passes the test id with the node's name
    derives_identity: ClassVar[bool] = False
    #: why a node of this implementation cannot restart from a copy of its directory on
    #: fresh ports (snapshots, `lnharness replay`); None when it can. Adapters that can say so
    #: explicitly; the default is the honest "not known".
    restore_unsupported: ClassVar[str | None] = (
        "its adapter does not declare that a node restarts from a copy of its directory")
    #: paths in the node's directory (glob patterns, relative) a snapshot does not save: logs,
    #: the chain's credentials (rewritten at every start); sockets are never saved
    saved_excludes: ClassVar[tuple[str, ...]] = ("log",)
    #: whether the node's process may start before the chain answers (it retries the chain by
    #: itself): a restore then starts the chain and these processes at once (`launch`)
    starts_before_chain: ClassVar[bool] = False

    #: the lnharness image (`lnharness images`) a node of this implementation runs in under
    #: the container runtime; None: it cannot run in a container (`runtime=` is never passed)
    container_image: ClassVar[str | None] = None

    def __init__(self, name: str, *, directory: Path, chain: Chain,
                 options: dict[str, Any] | None = None, may_reconnect: bool = False,
                 identity: str | None = None, runtime: NodeRuntime | None = None):
        self.name = name
        #: where the node's process runs (a process here, or a container): adapters take
        #: listen addresses, the chain's address and the daemon from it
        self.runtime = runtime or PROCESS_RUNTIME
        #: the text the node's keys derive from, where the adapter derives them
        #: (`derives_identity`): the same identity gives the same node id in every run;
        #: default the node's name, under pytest `<test id>/<name>`
        self.identity = identity or name
        #: whether the node may redial its channel peers by itself (at start and after a drop);
        #: off by default, as in pyln-testing: implementations that can turn automatic
        #: reconnection off do so unless this is set, so a test reconnects with `connect`
        self.may_reconnect = may_reconnect
        self.lightning_dir = Path(directory)
        self.chain = chain
        self.options = dict(options or {})
        #: where other nodes dial this one (with `port`); the harness reaches its ports at
        #: `runtime.reach_host`
        self.host = self.runtime.peer_host(name)
        self.port: int = 0
        #: where this node dials a peer other than at the peer's own address (a fault link)
        self._dial_via: dict[int, tuple[str, int]] = {}

    # -- availability and lifecycle ---------------------------------------------------
    @classmethod
    @abstractmethod
    def availability(cls) -> Availability:
        """Whether this implementation can run here, with its version or the reason not."""

    @property
    @abstractmethod
    def daemon(self) -> Daemon:
        """The supervised process (`wait_for_log`, `is_in_log`, `log_tail`)."""

    @property
    @abstractmethod
    def rpc(self) -> Any:
        """The implementation's own RPC client."""

    @property
    @abstractmethod
    def node_id(self) -> str:
        """The node's public key, 66 hex characters."""

    @abstractmethod
    def start(self, timeout: float | None = None) -> None:
        """Start the process and wait until it is ready for RPC and peers."""

    @abstractmethod
    def stop(self, timeout: float = 30.0) -> int | None:
        """Stop gracefully (kill after `timeout`); return the exit code."""

    def launch(self, timeout: float | None = None) -> None:
        """Start the process without waiting for the chain (implementations that set
        `starts_before_chain`); `start` then finishes: it waits until the node is synced."""
        raise UnsupportedFeature(f"{self.impl} ({self.name}): its process cannot start before "
                                 "the chain answers (LightningNode.launch)")

    def kill(self) -> int | None:
        """SIGKILL the process at once; return its exit status."""
        return self.daemon.kill()

    def restart(self, timeout: float | None = None) -> None:
        """Stop, then start again with the same data."""
        self.stop()
        self.start(timeout)

    def set_options(self, options: dict[str, Any]) -> None:
        """Replace the implementation options (as `get_node(options=...)` takes them) for the
        next start; the node must be stopped. Adapters whose command line can be rebuilt
        override this; the default raises `UnsupportedFeature`."""
        raise UnsupportedFeature(f"{self.impl} ({self.name}): its adapter cannot change "
                                 "options after the node was made")

    def _check_stopped_for_options(self) -> None:
        if self.daemon.is_running():
            raise RuntimeError(f"{self.name}: stop the node before changing its options")

    @abstractmethod
    def close(self) -> None:
        """Release everything the node holds (ports); called once after the last stop."""

    # -- identity and wallet ------------------------------------------------------------
    @abstractmethod
    def info(self) -> dict[str, Any]:
        """At least `id`, `alias` and `blockheight`."""

    @abstractmethod
    def new_address(self) -> str:
        """A fresh on-chain address of the node's wallet."""

    @abstractmethod
    def balance(self) -> Balance:
        """Confirmed on-chain sat and our side of all active channels in msat."""

    def fund_wallet(self, amount_sat: int, *, confirm: bool = True) -> str:
        """Send `amount_sat` from the chain's faucet to the node and confirm it; return the txid."""
        before = self.balance().onchain_sat
        txid = self.chain.faucet(self.new_address(), amount_sat)
        if confirm:
            self.chain.generate_block(1, wait_for_mempool=txid)
            self.wait_onchain_balance(before + amount_sat)
        return txid

    def wait_onchain_balance(self, at_least_sat: int, timeout: float | None = None) -> Balance:
        """Wait until the confirmed on-chain balance is at least `at_least_sat`."""
        def enough() -> Balance | None:
            balance = self.balance()
            return balance if balance.onchain_sat >= at_least_sat else None
        return wait_for(enough, timeout,
                        what=f"{self.name} to have {at_least_sat} sat confirmed in its wallet")

    # -- peers --------------------------------------------------------------------------
    def connect(self, other: LightningNode) -> None:
        """Connect to `other` over the Lightning protocol (idempotent), at `dial_address(other)`:
        through the fault link between the two when there is one (`NodeFactory.link`)."""
        host, port = self.dial_address(other)
        self._connect(other, host, port)

    @abstractmethod
    def _connect(self, other: LightningNode, host: str, port: int) -> None:
        """Connect to `other` at `host:port` (idempotent); adapters implement this, never
        `connect`, so every dial goes where `dial_address` says."""

    def dial_address(self, other: LightningNode) -> tuple[str, int]:
        """Where this node dials `other`: `other`'s own address, or a link's proxy."""
        via = self._dial_via.get(id(other))
        return via if via is not None else (other.host, other.port)

    def dial_through(self, other: LightningNode, address: tuple[str, int] | None) -> None:
        """Dial `other` at `address` from now on (None: at its own address again)."""
        if address is None:
            self._dial_via.pop(id(other), None)
        else:
            self._dial_via[id(other)] = address

    @abstractmethod
    def disconnect(self, other: LightningNode) -> None:
        """Drop the connection to `other`."""

    @abstractmethod
    def is_connected(self, other: LightningNode) -> bool:
        """Whether a connection to `other` is up."""

    # -- channels -----------------------------------------------------------------------
    @abstractmethod
    def _fund_channel(self, other: LightningNode, amount_sat: int, push_msat: int,
                      announce: bool) -> str:
        """Open a channel to a connected `other`; return the funding txid once broadcast."""

    @abstractmethod
    def channels(self, peer: LightningNode | str | None = None) -> list[Channel]:
        """Our channels, optionally only those with `peer` (a node or its id)."""

    @abstractmethod
    def _close(self, channel: Channel, force: bool) -> str:
        """Close `channel` mutually (or unilaterally with `force`); return the closing txid."""

    def htlcs_in_flight(self) -> int:
        """HTLCs offered or received on our active channels and not yet settled or failed.

        By default the sum of the active channels' `Channel.pending_htlcs`; an adapter whose
        channels do not say (None) makes this raise `UnsupportedFeature`, never answer 0.
        """
        total = 0
        for channel in self.channels():
            if channel.state != "active":
                continue
            if channel.pending_htlcs is None:
                raise UnsupportedFeature(f"{self.impl} ({self.name}): its channels do not report "
                                         "pending HTLCs (Channel.pending_htlcs)")
            total += channel.pending_htlcs
        return total

    def known_channels(self) -> set[str]:
        """Short channel ids of the announced channels in our view of the network graph.

        Adapters override this (the default raises `UnsupportedFeature`): there is no
        portable way to read a node's graph.
        """
        raise UnsupportedFeature(f"{self.impl} ({self.name}): its adapter does not list the "
                                 "channels of its graph (LightningNode.known_channels)")

    def open_channel(self, other: LightningNode, amount_sat: int, *, push_msat: int = 0,
                     announce: bool = True, wait_for_active: bool = True) -> Channel:
        """Connect if needed, fund a channel, confirm it, and wait until it is active on both
        ends (so `other` can invoice over it at once); returns our side of it."""
        if amount_sat <= 0:
            raise ValueError(f"amount_sat must be positive, got {amount_sat}")
        if not 0 <= push_msat <= amount_sat * 1000:
            raise ValueError(f"push_msat must be between 0 and the channel's {amount_sat * 1000} msat")
        if not self.is_connected(other):
            self.connect(other)
        # a peer still processing the last block may refuse the channel (lnd does)
        other.wait_for_blockheight(self.chain.height())
        txid = self._fund_channel(other, amount_sat, push_msat, announce)
        if wait_for_active:
            self.chain.generate_block(max(1, other.accept_depth), wait_for_mempool=txid)
            return self.wait_channel_active(other, funding_txid=txid)
        return wait_for(lambda: self._channel_by_txid(other, txid),
                        what=f"{self.name} to list its channel with funding {txid}")

    def _channel_by_txid(self, other: LightningNode | str, txid: str) -> Channel | None:
        return next((c for c in self.channels(other) if c.funding_txid == txid), None)

    def wait_channel_active(self, other: LightningNode, *, funding_txid: str | None = None,
                            timeout: float | None = None) -> Channel:
        """Wait until a channel with `other` (the one funded by `funding_txid`) can carry a
        payment from either side: usable on BOTH ends (see `usable_channel`). Return our side."""
        def both() -> Channel | None:
            ours = self.usable_channel(other, funding_txid=funding_txid)
            if ours is None or other.usable_channel(self, funding_txid=ours.funding_txid) is None:
                return None
            return ours
        return wait_for(both, timeout,
                        what=f"the channel of {self.name} and {other.name} to be active and "
                             f"connected on both ends",
                        hint=f"logs: {self.daemon.log_path}, {other.daemon.log_path}")

    def usable_channel(self, other: LightningNode, *, funding_txid: str | None = None) -> Channel | None:
        """Our channel with `other` (funded by `funding_txid`) if it can carry a payment now:
        active and connected. Adapters whose implementation needs more add it (lnd: the
        channel in its own graph)."""
        return next((c for c in self.channels(other) if c.state == "active"
                     and c.connected is not False
                     and (funding_txid is None or c.funding_txid == funding_txid)), None)

    def close_channel(self, other_or_channel: LightningNode | Channel, *, force: bool = False) -> str:
        """Close the channel (the only active one with a node, or the given one); return the txid."""
        if isinstance(other_or_channel, Channel):
            channel = other_or_channel
        else:
            candidates = [c for c in self.channels(other_or_channel) if c.state in ("active", "opening")]
            if len(candidates) != 1:
                raise LnhError(f"{self.name} has {len(candidates)} open channels with "
                               f"{other_or_channel.name}; pass the Channel to close")
            channel = candidates[0]
        if not force:
            self._wait_htlcs_resolved(channel)
        return self._close(channel, force)

    def wait_channel_closed(self, other: LightningNode, funding_txid: str, *,
                            timeout: float | None = None) -> Channel | None:
        """Wait until the channel with `other` funded by `funding_txid` is `closed` on both
        ends (its closing transaction confirmed as far as each implementation requires; mine
        those blocks first). Returns our side, or None if we no longer list it."""
        def closed_on(node: LightningNode, peer: LightningNode) -> bool:
            channel = node._channel_by_txid(peer, funding_txid)
            return channel is None or channel.state == "closed"
        wait_for(lambda: closed_on(self, other) and closed_on(other, self), timeout,
                 what=f"the channel of {self.name} and {other.name} funded by {funding_txid} "
                      "to be closed on both ends",
                 hint=f"logs: {self.daemon.log_path}, {other.daemon.log_path}")
        return self._channel_by_txid(other, funding_txid)

    def _wait_htlcs_resolved(self, channel: Channel) -> None:
        """Wait until `channel` carries no HTLC (as far as this node can tell): a payment that
        just completed may still be in its commitment dance, and a mutual close must not
        start before it ends (lnd refuses one then)."""
        def resolved() -> bool:
            now = next((c for c in self.channels() if c.channel_id == channel.channel_id), None)
            return now is None or not now.pending_htlcs
        wait_for(resolved, what=f"the HTLCs on {self.name}'s channel {channel.channel_id} to "
                                "resolve before closing it")

    # -- payments -----------------------------------------------------------------------
    @abstractmethod
    def invoice(self, amount_msat: int | None, *, label: str | None = None,
                description: str = "", expiry: int = 3600) -> Invoice:
        """Create an invoice (`amount_msat=None` for any amount)."""

    def pay(self, bolt11: str, *, amount_msat: int | None = None,
            timeout: float | None = None) -> Payment:
        """Pay `bolt11` and wait for the outcome, at most `timeout` seconds (default: the
        harness timeout). Raise `PaymentFailed` with the reason if it failed, and
        `PaymentPending` if it is still in flight when the time is up.

        A complete payment returns once its HTLCs are gone from our channels too, so our
        balance already shows it (the preimage arrives before the commitment dance ends)."""
        payment = self._pay(bolt11, amount_msat=amount_msat, timeout=timeout)
        self._wait_payment_htlcs_gone(payment.payment_hash, timeout)
        return payment

    @abstractmethod
    def _pay(self, bolt11: str, *, amount_msat: int | None = None,
             timeout: float | None = None) -> Payment:
        """Pay `bolt11` to its final outcome (see `pay`), without the wait for the HTLCs."""

    def keysend(self, other: LightningNode | str, amount_msat: int, *,
                timeout: float | None = None) -> Payment:
        """Pay `other` (a node or its id) `amount_msat` without an invoice: a spontaneous
        payment whose preimage travels in the onion (keysend, TLV 5482373484). Waits like
        `pay` (same errors); raises `UnsupportedFeature` naming the implementation if it
        cannot send one."""
        if amount_msat <= 0:
            raise ValueError(f"amount_msat must be positive, got {amount_msat}")
        node_id = other if isinstance(other, str) else other.node_id
        payment = self._keysend(node_id, amount_msat, timeout=timeout)
        self._wait_payment_htlcs_gone(payment.payment_hash, timeout)
        return payment

    def _keysend(self, node_id: str, amount_msat: int, *, timeout: float | None = None) -> Payment:
        """Send a keysend to its final outcome (see `keysend`), without the wait for the HTLCs.
        Adapters whose implementation can send one override this."""
        raise UnsupportedFeature(f"{self.impl} ({self.name}): its adapter cannot send keysend payments "
                                 "(LightningNode.keysend)")

    def payment_htlcs(self, payment_hash: str) -> int | None:
        """HTLCs carrying `payment_hash` on our active channels (None: the adapter cannot say)."""
        count = 0
        for channel in self.channels():
            if channel.state != "active":
                continue
            if channel.htlc_hashes is None:
                return None
            count += channel.htlc_hashes.count(payment_hash)
        return count

    def _wait_payment_htlcs_gone(self, payment_hash: str, timeout: float | None) -> None:
        wait_for(lambda: not self.payment_htlcs(payment_hash), timeout,
                 what=f"the HTLCs of payment {payment_hash} to leave {self.name}'s channels",
                 hint=f"log: {self.daemon.log_path}")

    @abstractmethod
    def lookup_invoice(self, label_or_hash: str) -> Invoice:
        """The current state of one of our invoices, by label or payment hash."""

    @abstractmethod
    def decode(self, bolt11: str) -> dict[str, Any]:
        """The implementation's decoding of a BOLT 11 invoice."""

    def wait_invoice_paid(self, label_or_hash: str, timeout: float | None = None) -> Invoice:
        """Wait until our invoice is paid and its HTLCs are gone from our channels (so our
        balance shows it); raise `InvoiceExpired` if it expires first."""
        def paid() -> Invoice | None:
            invoice = self.lookup_invoice(label_or_hash)
            if invoice.status == "expired":
                raise InvoiceExpired(f"{self.name}'s invoice {label_or_hash} expired unpaid")
            return invoice if invoice.status == "paid" else None
        invoice = wait_for(paid, timeout, what=f"{self.name}'s invoice {label_or_hash} to be paid")
        self._wait_payment_htlcs_gone(invoice.payment_hash, timeout)
        return invoice

    def wait_for_blockheight(self, height: int, timeout: float | None = None) -> int:
        """Wait until the node has processed the chain up to `height`; return its height."""
        def reached() -> int | None:
            current = int(self.info()["blockheight"])
            return current if current >= height else None
        return wait_for(reached, timeout, what=f"{self.name} to reach block height {height}")

    # -- routing ------------------------------------------------------------------------
    @abstractmethod
    def has_route(self, other: LightningNode, amount_msat: int) -> bool:
        """Whether our view of the graph has a route to `other` for `amount_msat`."""

    def route_node_ids(self, other: LightningNode, amount_msat: int = 1000) -> list[str] | None:
        """The node ids (hex) along a route we know to `other` for `amount_msat`, ending with
        `other`'s, or None when we know none. Adapters whose implementation answers the
        route itself list every hop; this default, on `has_route`, knows only the last."""
        return [other.node_id] if self.has_route(other, amount_msat) else None

    def wait_for_route(self, other: LightningNode, amount_msat: int = 1000,
                       timeout: float | None = None) -> None:
        """Wait until we know a route to `other` that can carry `amount_msat`, and both of us
        have processed the chain's tip: a payment's expiries are computed from the payer's
        height and checked against the payee's, so a lagging end is not yet usable."""
        wait_for(lambda: self.has_route(other, amount_msat), timeout,
                 what=f"{self.name} to find a route to {other.name} for {amount_msat} msat")
        tip = self.chain.height()
        for node in (self, other):
            node.wait_for_blockheight(tip, timeout)

    # -- reaching the node from outside -------------------------------------------------
    def connection_info(self) -> dict[str, str]:
        """How to reach this node: id, peer address and the implementation's RPC endpoint."""
        return {"id": self.node_id,
                "address": f"{self.node_id}@{self.runtime.reach_host}:{self.port}",
                "impl": self.impl, "log": str(self.daemon.log_path)}

    # -- teardown helpers ------------------------------------------------------------------
    def broken_log_lines(self) -> list[str]:
        """Log lines matching `broken_log_regex`."""
        pattern = re.compile(self.broken_log_regex)
        try:
            text = self.daemon.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        return [line for line in text.splitlines() if pattern.search(line)]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.impl} port={self.port}>"
