"""Finding a Lightning implementation's adapter by name, and the per-node flags of `opts`."""
from __future__ import annotations

from typing import Any

from lnharness import registry
from lnharness.errors import LnhError, UnavailableError
from lnharness.node import LightningNode


class UnknownImplementation(LnhError, KeyError):
    """No Lightning implementation of that name is registered; the message lists them."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def implementation(name: str) -> type[LightningNode]:
    """The adapter class registered as `name`.

    Raises `UnknownImplementation` for a name nobody registered and `UnavailableError`
    (with the reason) for one that cannot run here.
    """
    try:
        cls = registry.load(registry.IMPLS_GROUP, name)
    except KeyError as exc:
        raise UnknownImplementation(str(exc.args[0])) from None
    availability = cls.availability()
    if not availability.available:
        raise UnavailableError(f"Lightning implementation {name!r} is unavailable: {availability.reason}")
    return cls


NODE_FLAGS = ("may_fail", "may_reconnect", "allow_broken_log")


def split_node_flags(options: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, bool]]:
    """Split one node's `opts` into implementation options and `get_node`'s flags
    (`may_fail`, `may_reconnect`, `allow_broken_log`), as pyln-testing's `get_nodes(opts=...)`
    does; a flag must be a bool."""
    if options is None:
        return None, {}
    flags: dict[str, bool] = {}
    for key in NODE_FLAGS:
        if key in options:
            value = options[key]
            if not isinstance(value, bool):
                raise TypeError(f"{key} must be True or False, got {value!r}")
            flags[key] = value
    return {k: v for k, v in options.items() if k not in NODE_FLAGS}, flags
