"""Typed events between subsystems: a publisher never imports its subscribers.

Layer: core (bottom). Imports nothing of the node.

A lower layer publishes a frozen dataclass (the event types live beside their publisher,
e.g. channel/events.py); a higher layer subscribes to that type. `publish` awaits every
subscriber in the order they subscribed, so when it returns every subscriber has seen the
event (a channel is shown as normal only after gossip registered it, for instance). A
subscriber that raises is logged with its traceback and the error is raised to the
publisher: a bug is never hidden.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .log import get_logger

log = get_logger("events")

E = TypeVar("E")
Handler = Callable[[Any], Awaitable[None]]


class EventBus:
    """Subscribers by event type; `publish` delivers to each in turn."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = {}

    def subscribe(self, event_type: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        """Call `handler(event)` for every published event of exactly `event_type`."""
        self._handlers.setdefault(event_type, []).append(handler)

    async def publish(self, event: object) -> None:
        """Deliver `event` to its subscribers, in subscription order."""
        for handler in self._handlers.get(type(event), ()):
            try:
                await handler(event)
            except Exception:
                log.error("%s subscriber %s failed", type(event).__name__,
                          getattr(handler, "__qualname__", handler), exc_info=True)
                raise
