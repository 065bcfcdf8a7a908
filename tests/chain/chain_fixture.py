"""`chain`: a started, funded chain of every registered backend (unavailable ones skip).

Imported by the backend conformance, RPC client and cli shim tests.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lnharness.backend import chain_backend_class, chain_backend_names
from lnharness.chain import Chain
from lnharness.fixtures.chain import run_chain
from lnharness.fixtures.teardown import TeardownChecks

ALWAYS_AVAILABLE = {"embedded"}  # these must run everywhere: unavailable is a failure


@pytest.fixture(name="chain", params=chain_backend_names())
def chain_fixture(request: pytest.FixtureRequest, directory: Path,
          teardown_checks: TeardownChecks) -> Iterator[Chain]:
    cls = chain_backend_class(request.param)
    ok, reason = cls.available()
    if not ok:
        if request.param in ALWAYS_AVAILABLE:
            pytest.fail(f"chain backend {request.param} must be available: {reason}")
        pytest.skip(f"chain backend {request.param} unavailable: {reason}")
    yield from run_chain(directory, cls, teardown_checks)
