"""RPC methods over peers (Core Lightning's names and result shapes): connect, disconnect,
listpeers.

Layer: rpc. Imports core, net, channel (channel states) and rpc.params only; it sees the
PeerManager and, of the channel subsystem, only `PeerChannels` (its channels by index, and
which of them need their peer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from ..channel.machine import CLOSED, OPENING, Channel
from ..core.jsonrpc import INVALID_PARAMS, RpcError, RpcRegistry, param_error
from ..net import transport
from ..net.peer import Peer, PeerRefused
from ..net.peers import PeerManager
from . import params

# Core Lightning's error codes
LIGHTNINGD = -1
CONNECT_NO_KNOWN_ADDRESS = 400
CONNECT_FAILED = 401
CONNECT_DISCONNECTED_DURING = 402
DEFAULT_PEER_PORT = 9735


class ChannelTable(Protocol):
    """The channel subsystem's channels, by channel index."""

    @property
    def channels(self) -> Mapping[int, Channel]: ...


class PeerChannels(ChannelTable, Protocol):
    """What the peer methods read of the channel subsystem."""

    def states_needing_peer(self, peer_id: bytes) -> list[str]: ...


def channel_counts(channels: ChannelTable) -> dict[bytes, int]:
    """Per peer, the channels that keep it listed by listpeers: all but failed opens and
    channels closed and fully resolved on chain (which Core Lightning forgets)."""
    counts: dict[bytes, int] = {}
    for chan in channels.channels.values():
        if chan.state not in (OPENING, CLOSED):
            counts[chan.peer_id] = counts.get(chan.peer_id, 0) + 1
    return counts


def listed_peer_ids(peers: PeerManager, channels: ChannelTable) -> set[bytes]:
    """The peers listpeers shows: connected ones and those we have a channel with."""
    return {p.node_id for p in peers.peers.values() if p.connected} | set(channel_counts(channels))


class PeerMethods:
    """connect, disconnect, listpeers."""

    def __init__(self, node_id: bytes, peers: PeerManager, channels: PeerChannels) -> None:
        self._node_id = node_id
        self._peers = peers
        self._channels = channels

    async def connect(self, id: Any, host: Any = None, port: Any = None) -> dict[str, Any]:
        """Connect to a peer: id[@host[:port]] or id with host and port."""
        text = params.string(id, "id")
        node_hex, _, where = text.partition("@")
        if where:
            if host is not None:
                raise param_error("host", "given twice (in id and as host)")
            host_part, sep, port_part = where.rpartition(":")
            if sep and port_part.isascii() and port_part.isdigit():
                host, port = host_part, port_part
            else:
                host = where
        node_id = params.node_id(node_hex)
        if node_id == self._node_id:
            raise param_error("id", "cannot connect to ourselves")
        if host is None:
            if port is not None:
                raise RpcError(INVALID_PARAMS, "Can't specify port without host")
            known = self._peers.known_address(node_id)
            if known is None and self._peers.get(node_id) is None:
                raise RpcError(CONNECT_NO_KNOWN_ADDRESS, f"Unable to connect, no address known for peer "
                                                         f"{node_hex}: give host and port")
            host, port = known or (None, None)
        port_num = DEFAULT_PEER_PORT if port is None else params.integer(port, "port", minimum=1,
                                                                           maximum=65535)
        try:
            peer = (self._peers.get(node_id)
                    or await self._peers.connect(node_id, params.string(host, "host"), port_num))
        except (transport.ConnectionFailed, transport.HandshakeError, PeerRefused,
                asyncio.TimeoutError) as exc:
            raise RpcError(CONNECT_FAILED, f"connecting to {node_hex}@{host}:{port_num}: {exc}") from None
        if not peer.connected:
            raise RpcError(CONNECT_DISCONNECTED_DURING, f"{node_hex} disconnected during connection")
        return {"id": peer.id_hex, "features": peer.features.to_bytes().hex(),
                "direction": peer.direction, "address": _resolved_address(peer)}

    async def disconnect(self, id: Any, force: Any = False) -> dict[str, Any]:
        """Disconnect a connected peer; as Core Lightning, refused while a channel needs the
        peer unless `force`.

        A forced disconnect does not release such a peer: the node dials it again on its own
        (about a second later, then with growing pauses) unless it runs with --no-reconnect
        (Core Lightning's --dev-no-reconnect). Only the side that dialled knows the peer's
        address, so the peer may be the one that reconnects."""
        node_id = params.node_id(id)
        if not isinstance(force, bool):
            raise param_error("force", "expected true or false")
        busy = self._channels.states_needing_peer(node_id)
        if busy and not force and self._peers.get(node_id) is not None:
            raise RpcError(LIGHTNINGD, f"Peer has (at least one) channel in state {busy[0]}")
        if not await self._peers.disconnect(node_id, "disconnect requested over RPC"):
            raise RpcError(LIGHTNINGD, f"Peer not connected: {id}")
        return {}

    async def listpeers(self, id: Any = None) -> dict[str, Any]:
        """Connected peers and, like Core Lightning, disconnected ones we have a channel with
        (`connected: false`, no netaddr); or only the one with `id`."""
        wanted = params.node_id(id) if id is not None else None
        counts = channel_counts(self._channels)
        entries: dict[bytes, dict[str, Any]] = {}
        for peer in self._peers.peers.values():
            if peer.connected:
                entries[peer.node_id] = peer.info() | {"num_channels": counts.get(peer.node_id, 0)}
        for peer_id, count in counts.items():
            entries.setdefault(peer_id, {"id": peer_id.hex(), "connected": False, "num_channels": count})
        return {"peers": [entries[k] for k in sorted(entries) if wanted is None or k == wanted]}


def _resolved_address(peer: Peer) -> dict[str, Any]:
    """connect's `address`, as Core Lightning gives it: the socket's address (an IP, never the
    host name dialled, e.g. 127.0.0.1 for localhost) with its type."""
    where = peer.conn.remote_address if peer.direction == "out" else None
    where = where or peer.address
    if where is None:
        return {"type": "ipv4"}
    host = where[0]
    return {"type": "ipv6" if ":" in host else "ipv4", "address": host, "port": where[1]}


def register(registry: RpcRegistry, *, node_id: bytes, peers: PeerManager,
             channels: PeerChannels) -> None:
    """Add connect, disconnect and listpeers to `registry`."""
    methods = PeerMethods(node_id, peers, channels)
    for handler in (methods.connect, methods.disconnect, methods.listpeers):
        registry.register(handler.__name__, handler)
