"""Every scenario the matrix knows: the built-in ones, then those other packages register
in the entry-point group `lnharness.scenarios` (each entry a `Scenario`)."""
from __future__ import annotations

from collections.abc import Sequence

from lnharness import registry
from lnharness.errors import LnhError
from lnharness.matrix.scenario import Scenario
from lnharness.matrix.scenarios import BUILTIN_SCENARIOS

SCENARIOS_GROUP = "lnharness.scenarios"


def all_scenarios() -> list[Scenario]:
    """The built-in scenarios in their fixed order, then the registered ones by entry name."""
    found = list(BUILTIN_SCENARIOS)
    taken = {s.name for s in found}
    for name in registry.names(SCENARIOS_GROUP):
        extra = registry.load(SCENARIOS_GROUP, name)
        if not isinstance(extra, Scenario):
            raise LnhError(f"entry point {SCENARIOS_GROUP}:{name} is {extra!r}, not a Scenario")
        if extra.name in taken:
            raise LnhError(f"entry point {SCENARIOS_GROUP}:{name} registers a second scenario "
                           f"named {extra.name!r}")
        taken.add(extra.name)
        found.append(extra)
    return found


def scenarios_named(names: Sequence[str] | None) -> list[Scenario]:
    """The scenarios called `names` (all when None), in the matrix's order; an unknown name
    is a `ValueError` listing the known ones."""
    known = all_scenarios()
    if names is None:
        return known
    by_name = {s.name: s for s in known}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    wanted = set(names)
    return [s for s in known if s.name in wanted]


def scenario_named(name: str) -> Scenario:
    """The scenario called `name` (see `scenarios_named`)."""
    return scenarios_named([name])[0]
