"""The matrix's scenarios as tests: each over every pair (or triple) of the implementations
available here, with real nodes on a real chain; the same definitions `lnharness matrix`
runs (lnharness.matrix.scenarios)."""
from __future__ import annotations

import pytest
from lnharness.matrix.catalog import all_scenarios
from lnharness.matrix.scenario import run_scenario

pytestmark = pytest.mark.interop

TWO_NODES = [s for s in all_scenarios() if s.nodes == 2]
THREE_NODES = [s for s in all_scenarios() if s.nodes == 3]


@pytest.mark.parametrize("scenario", TWO_NODES, ids=lambda s: s.name)
def test_two_node_scenario(node_factory, impl_pair, scenario):
    run = run_scenario(scenario, node_factory, impl_pair)
    assert run.steps, "a scenario runs at least one step"


@pytest.mark.parametrize("scenario", THREE_NODES, ids=lambda s: s.name)
def test_three_node_scenario(node_factory, impl_triple, scenario):
    run = run_scenario(scenario, node_factory, impl_triple)
    assert run.steps
