"""What the peer layer dispatches to: the message-handler interface.

Layer: net. Imports net.peer for the Peer type (peer.py's `Peer` is one connection; the
PeerManager in peers.py dispatches to handlers and imports this module, never the reverse).

Each subsystem that speaks to peers (channels, gossip) implements `MessageHandler` and is
registered with `PeerManager.add_handler` by the composition root (node.py); the peer layer
never knows which subsystems exist.
"""

from __future__ import annotations

from typing import Protocol

from .peer import Peer


class MessageHandler(Protocol):
    """A subsystem that receives some peer message types and hears of (dis)connections."""

    @property
    def message_types(self) -> frozenset[int]:
        """The BOLT message types this handler takes; each type has exactly one handler."""
        ...

    async def handle_message(self, peer: Peer, msg_type: int, payload: bytes) -> None: ...

    async def on_peer_connected(self, peer: Peer) -> None: ...

    async def on_peer_disconnected(self, peer: Peer) -> None: ...
