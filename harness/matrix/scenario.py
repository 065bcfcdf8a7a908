"""What a matrix scenario is: a named script of steps over 2 or 3 nodes of given implementations.

The built-in scenarios are in `lnharness.matrix.scenarios`; other packages add theirs in
the entry-point group `lnharness.scenarios` (each entry a `Scenario`). The same `Scenario`
runs under `lnharness matrix` and under pytest (tests/interop), on a `NodeFactory`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from lnharness.chain import Chain
from lnharness.errors import LnhError
from lnharness.network import NodeFactory
from lnharness.node import LightningNode


class CheckFailed(LnhError):
    """What a scenario expected did not hold; the message says what and what was seen."""


def expect(condition: object, message: str) -> None:
    """Raise `CheckFailed(message)` unless `condition` holds."""
    if not condition:
        raise CheckFailed(message)


class StepFailed(LnhError):
    """A step of a scenario failed; `step` names it, the cause is chained."""

    def __init__(self, scenario: str, impls: Sequence[str], step: str, cause: BaseException):
        self.scenario = scenario
        self.impls = tuple(impls)
        self.step = step
        self.cause = cause
        detail = f"{type(cause).__name__}: {cause}"
        super().__init__(f"{scenario} [{'-'.join(impls)}]: step {step!r} failed: {detail}")


@dataclass
class ScenarioRun:
    """One run of a scenario: the factory and chain it uses, and the step it is at."""
    scenario: Scenario
    factory: NodeFactory
    impls: tuple[str, ...]
    #: called with each step's name when it begins (the matrix cell records it on disk)
    on_step: Callable[[str], None] | None = None
    steps: list[str] = field(default_factory=list)

    @property
    def chain(self) -> Chain:
        return self.factory.chain

    @property
    def current_step(self) -> str | None:
        return self.steps[-1] if self.steps else None

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """A named step: an exception inside it becomes `StepFailed` naming the step."""
        self.steps.append(name)
        if self.on_step is not None:
            self.on_step(name)
        try:
            yield
        except StepFailed:
            raise
        except Exception as exc:
            raise StepFailed(self.scenario.name, self.impls, name, exc) from exc

    def nodes(self) -> list[LightningNode]:
        """Start one node per implementation of this run, in order (l1, l2, ...)."""
        with self.step("start the nodes"):
            return self.factory.get_nodes(len(self.impls), impls=list(self.impls))


@dataclass(frozen=True)
class Scenario:
    """A matrix scenario: `run` scripts it over `nodes` (2 or 3) implementations.

    `checks` says, in a sentence, what a pass proves (it is shown in reports and docs).
    """
    name: str
    nodes: int
    checks: str
    run: Callable[[ScenarioRun], None] = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.nodes not in (2, 3):
            raise ValueError(f"scenario {self.name!r}: nodes must be 2 or 3, got {self.nodes}")


def run_scenario(scenario: Scenario, factory: NodeFactory, impls: Sequence[str], *,
                 on_step: Callable[[str], None] | None = None) -> ScenarioRun:
    """Run `scenario` with nodes of `impls` made by `factory`; raise `StepFailed` on failure."""
    if len(impls) != scenario.nodes:
        raise ValueError(f"scenario {scenario.name!r} takes {scenario.nodes} implementations, "
                         f"got {list(impls)}")
    run = ScenarioRun(scenario, factory, tuple(impls), on_step=on_step)
    scenario.run(run)
    return run
