"""Which cells the matrix runs: pairs, capped triples, scenario lookup, availability."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from lnharness.matrix.catalog import all_scenarios, scenarios_named
from lnharness.matrix.plan import CellSpec, pairs, plan_cells, split_available, triples
from lnharness.matrix.scenario import Scenario
from lnharness.matrix.scenarios import BUILTIN_SCENARIOS

ISSUE_SCENARIOS = ["open", "pay", "route", "expiry", "coop-close", "force-close", "restart"]


def test_pairs_are_every_ordered_pair_self_included():
    assert pairs(["a", "b"]) == [("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")]
    assert len(pairs(["a", "b", "c", "d"])) == 16


def test_triples_are_the_baselines_then_a_middle_unlike_both_ends():
    assert triples(["a", "b"]) == [("a", "a", "a"), ("b", "b", "b"), ("b", "a", "b"), ("a", "b", "a")]
    assert triples(["a"]) == [("a", "a", "a")]
    three = triples(["a", "b", "c"])
    assert len(three) == 3 + 3 * 2 * 2 and len(set(three)) == len(three)
    assert all(m not in (f, t) for f, m, t in three[3:])


def test_triples_over_the_cap_share_it_between_middles():
    impls = ["a", "b", "c", "d"]                 # 4 baselines + 36 heterogeneous triples
    capped = triples(impls, cap=24)
    assert len(capped) == 24 and capped[:4] == [(i, i, i) for i in impls]
    assert Counter(m for _, m, _ in capped[4:]) == {i: 5 for i in impls}
    assert len(triples(impls, cap=100)) == 40
    assert triples(impls, cap=0) == []
    with pytest.raises(ValueError, match="at least 0"):
        triples(impls, cap=-1)


def test_plan_crosses_two_node_scenarios_with_pairs_and_three_node_ones_with_triples():
    def noop(run):
        return None
    two, three = Scenario("two", 2, "x", noop), Scenario("three", 3, "y", noop)
    cells = plan_cells([two, three], ["a", "b"], max_triples=3)
    assert cells[:4] == [CellSpec("two", p) for p in pairs(["a", "b"])]
    assert [c.impls for c in cells[4:]] == triples(["a", "b"], 3)
    assert cells[5].id == "three/b-b-b"
    with pytest.raises(ValueError, match="nodes must be 2 or 3"):
        Scenario("four", 4, "z", noop)


def test_the_built_in_scenarios_are_the_issues_in_order():
    assert [s.name for s in all_scenarios()][:7] == ISSUE_SCENARIOS
    assert {s.name: s.nodes for s in all_scenarios()}["route"] == 3
    assert all(s.checks for s in all_scenarios())


def test_scenarios_are_named_in_the_matrix_order_and_unknown_ones_refused():
    assert [s.name for s in scenarios_named(["restart", "open"])] == ["open", "restart"]
    with pytest.raises(ValueError, match="unknown scenario.s. teleport; known: open, pay"):
        scenarios_named(["open", "teleport"])


def test_availability_comes_from_the_registry(monkeypatch):
    monkeypatch.setenv("LNH_LIGHTNINGD", "/nonexistent/lightningd")
    available, unavailable = split_available(["cln", "builtin"])
    assert [a.name for a in available] == ["builtin"]
    assert [a.name for a in unavailable] == ["cln"]
    assert "/nonexistent/lightningd" in unavailable[0].reason
    everything, missing = split_available()
    assert {a.name for a in everything + missing} >= {"builtin", "cln", "lnd"}
    with pytest.raises(ValueError, match="unknown implementation.s. eclair; registered: builtin"):
        split_available(["builtin", "eclair"])


def test_the_readme_tells_every_built_in_scenario_and_shows_a_matrix():
    repo = Path(__file__).resolve().parents[2]
    readme = (repo / "README.md").read_text()
    for scenario in BUILTIN_SCENARIOS:
        assert f"| `{scenario.name}` | {scenario.nodes} |" in readme
    assert "](docs/matrix.png)" in readme and (repo / "docs" / "matrix.png").is_file()
