"""Finding implementations and chain backends through entry points.

Lightning implementations register in the group `lnharness.impls`, chain backends in
`lnharness.chains`, exactly as a third-party package would.
"""
from __future__ import annotations

import functools
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from lnharness.results import Availability

IMPLS_GROUP = "lnharness.impls"
CHAINS_GROUP = "lnharness.chains"


def names(group: str) -> list[str]:
    """Sorted names registered in `group`."""
    return sorted({ep.name for ep in entry_points(group=group)})


def _entry_point(group: str, name: str) -> EntryPoint:
    found = [ep for ep in entry_points(group=group) if ep.name == name]
    if not found:
        known = ", ".join(names(group)) or "none"
        raise KeyError(f"no {group} entry named {name!r}; registered: {known}")
    return found[0]


@functools.cache
def load(group: str, name: str) -> Any:
    """The object registered as `name` in `group`: imported at the first call, then
    remembered (reading the entry points costs milliseconds, and every node made asks)."""
    return _entry_point(group, name).load()


def implementation_availability() -> list[Availability]:
    """Availability of every registered Lightning implementation, by name."""
    result = []
    for name in names(IMPLS_GROUP):
        try:
            result.append(load(IMPLS_GROUP, name).availability())
        except Exception as exc:  # a broken third-party adapter is reported, not fatal
            result.append(Availability(name, False, reason=f"cannot load adapter: {exc!r}"))
    return result
