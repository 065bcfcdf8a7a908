"""Which cells the matrix runs: implementations that can run here, their ordered pairs and
(for three-node scenarios) a capped set of triples."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

from lnharness.matrix.scenario import Scenario
from lnharness.registry import implementation_availability
from lnharness.results import Availability

#: the most triples a three-node scenario runs over (see `triples`)
MAX_TRIPLES = 24


def split_available(names: Sequence[str] | None = None) -> tuple[list[Availability], list[Availability]]:
    """(available, unavailable) among the registered implementations called `names` (all
    registered ones when None), in the order given; an unknown name is a `ValueError`."""
    everything = {a.name: a for a in implementation_availability()}
    wanted = list(everything) if names is None else list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in everything]
    if unknown:
        raise ValueError(f"unknown implementation(s) {', '.join(unknown)}; registered: "
                         f"{', '.join(everything)}")
    chosen = [everything[n] for n in wanted]
    return [a for a in chosen if a.available], [a for a in chosen if not a.available]


def pairs(impls: Sequence[str]) -> list[tuple[str, str]]:
    """Every ordered pair of `impls`, an implementation with itself included."""
    return [(a, b) for a, b in product(impls, repeat=2)]


def triples(impls: Sequence[str], cap: int = MAX_TRIPLES) -> list[tuple[str, str, str]]:
    """Triples (first, middle, third) for a payment routed through the middle.

    Each implementation with itself (the baseline), then every triple whose middle differs
    from both ends: a forwarding node between peers of another kind, both ways. Over
    `cap`, the heterogeneous triples are taken in turn from each middle so every middle
    keeps its share.
    """
    if cap < 0:
        raise ValueError(f"the triple cap must be at least 0, got {cap}")
    chosen: list[tuple[str, str, str]] = [(a, a, a) for a in impls]
    by_middle = [[(a, m, c) for a, c in product(impls, repeat=2) if m not in (a, c)]
                 for m in impls]
    turn = 0
    while any(by_middle):
        queue = by_middle[turn % len(by_middle)]
        if queue:
            chosen.append(queue.pop(0))
        turn += 1
    return chosen[:cap]


def cell_id(scenario: str, impls: Sequence[str]) -> str:
    """The cell's name: `scenario/first-second[-third]` (also its file names' stem)."""
    return f"{scenario}/{'-'.join(impls)}"


@dataclass(frozen=True)
class CellSpec:
    """One cell to run: a scenario over implementations, in that order."""
    scenario: str
    impls: tuple[str, ...]

    @property
    def id(self) -> str:
        return cell_id(self.scenario, self.impls)


def plan_cells(scenarios: Sequence[Scenario], impls: Sequence[str], *,
               max_triples: int = MAX_TRIPLES) -> list[CellSpec]:
    """Every cell of `scenarios` over the implementations `impls`, scenario by scenario."""
    cells = []
    for scenario in scenarios:
        combos: Sequence[tuple[str, ...]] = (pairs(impls) if scenario.nodes == 2
                                             else triples(impls, max_triples))
        cells += [CellSpec(scenario.name, tuple(combo)) for combo in combos]
    return cells
