"""Fixtures shared by the project's own test folders."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lnharness.errors import UnavailableError
from lnharness.network import NodeFactory, implementation


@pytest.fixture
def mixed(directory, bitcoind, executor) -> Iterator[NodeFactory]:
    """A NodeFactory for networks that mix the built-in node with Core Lightning; the test is
    skipped with the reason when lightningd is not available. Teardown problems fail it."""
    try:
        implementation("cln")
    except UnavailableError as exc:
        pytest.skip(str(exc))
    factory = NodeFactory(directory, bitcoind, executor=executor)
    yield factory
    problems = factory.teardown()
    assert not problems, problems
