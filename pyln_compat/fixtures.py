"""pyln-testing's `pyln.testing.fixtures`, on lnharness.

`from lnharness.pyln.fixtures import *` in a test module or conftest.py gives the fixtures
pyln-testing users know (`node_factory`, `bitcoind`, `directory`, `test_name`,
`teardown_checks`, `executor`, `node_cls`, `chainparams`, ...); being defined in the user's
module, they take precedence over the lnharness plugin's fixtures of the same names. The
plugin must be loaded (it is, through its `pytest11` entry point): its options
(`--lnh-impl`, `--lnh-chain`, ...) choose the nodes and the chain.
"""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from lnharness.backend import UnsupportedFeature
from lnharness.dirs import base_dir, prepare_base
from lnharness.fixtures.chain import chain_backend_for, run_chain
from lnharness.fixtures.nodes import SkippingNodeFactory
from lnharness.fixtures.options import get_option
from lnharness.fixtures.plugin import directory, executor, teardown_checks
from lnharness.fixtures.repro import capture_before_stopping, register_chain, register_factory
from lnharness.fixtures.teardown import TeardownChecks
from lnharness.pyln.chain import BitcoinD
from lnharness.pyln.client import Millisatoshi
from lnharness.pyln.factory import NodeFactory
from lnharness.pyln.flags import env, flag
from lnharness.pyln.node import LightningNode

__all__ = [
    "bitcoind", "chainparams", "db_provider", "directory", "executor", "jsonschemas",
    "node_cls", "node_factory", "setup_logging", "teardown_checks", "test_base_dir",
    "test_name", "LightningNode", "Millisatoshi", "NodeFactory", "env",
    *("TEST_NETWORK", "TEST_DEBUG", "SLOW_MACHINE", "VALGRIND"),
]
#: the flags pyln-testing's fixtures module imports (read when looked up, see `flags`)
_RE_EXPORTED_FLAGS = ("TEST_NETWORK", "TEST_DEBUG", "SLOW_MACHINE", "VALGRIND")

#: regtest's chain parameters (`example_addr` is an address of no node of the test)
REGTEST_CHAINPARAMS = {
    "bip173_prefix": "bcrt",
    "elements": False,
    "name": "regtest",
    "p2sh_prefix": "2",
    "example_addr": "bcrt1qcwdqv9xk4kcup9xxz46udeyq54sxf6dt8sy5f3",
    "feeoutput": False,
    "chain_hash": "06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f",
}


def __getattr__(name: str) -> Any:
    if name in _RE_EXPORTED_FLAGS:
        return flag(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@pytest.fixture(scope="session")
def test_base_dir(request: pytest.FixtureRequest) -> Path:
    """The base directory of the test directories (`--lnh-test-dir` / `LNH_TEST_DIR`)."""
    configured = get_option(request.config, "test-dir")
    return prepare_base(Path(configured)) if configured else base_dir()


@pytest.fixture
def test_name(request: pytest.FixtureRequest) -> str:
    """The test function's name, without a parametrize id (as pyln-testing)."""
    return str(request.function.__name__)


@pytest.fixture
def setup_logging() -> Iterator[None]:
    """pyln-testing configures Python logging here; lnharness leaves it to pytest."""
    yield None


@pytest.fixture
def jsonschemas() -> dict[str, Any]:
    """pyln-testing's RPC schemas; lnharness validates no replies against schemas."""
    return {}


@pytest.fixture
def db_provider() -> None:
    """Not supported: nodes keep their own databases (sqlite) in their directories."""
    raise UnsupportedFeature("db_provider is not supported by lnharness.pyln: each node keeps "
                             "its own database; there is no PostgreSQL provider")


@pytest.fixture
def chainparams() -> dict[str, Any]:
    """The chain's parameters; lnharness runs regtest only."""
    if flag("TEST_NETWORK") != "regtest":
        raise UnsupportedFeature(f"TEST_NETWORK={flag('TEST_NETWORK')!r}: lnharness runs regtest only")
    return dict(REGTEST_CHAINPARAMS)


@pytest.fixture
def bitcoind(request: pytest.FixtureRequest, directory: Path,
             teardown_checks: TeardownChecks) -> Iterator[BitcoinD]:
    """A started, funded regtest chain (`--lnh-chain`), as pyln-testing's `BitcoinD`."""
    running = run_chain(directory, chain_backend_for(request.config), teardown_checks)
    chain = next(running)
    register_chain(request, chain.backend)
    try:
        yield BitcoinD(chain)
    finally:
        capture_before_stopping(request)  # with --lnh-repro
        running.close()  # reports a crash of the chain and stops it


@pytest.fixture
def node_cls() -> type[LightningNode]:
    """The class of the nodes `node_factory` makes; override it to add behaviour."""
    return LightningNode


@pytest.fixture
def node_factory(request: pytest.FixtureRequest, directory: Path, test_name: str,
                 bitcoind: BitcoinD, executor: ThreadPoolExecutor,
                 teardown_checks: TeardownChecks, node_cls: type[LightningNode],
                 impl: str) -> Iterator[NodeFactory]:
    """pyln-testing's node factory; nodes of `impl` (`--lnh-impl`, `@pytest.mark.impls`).

    At teardown every node is stopped; crashes, unclean exits and broken log lines fail the
    test (all reported at once)."""
    engine = SkippingNodeFactory(directory, bitcoind.chain, default_impl=impl, executor=executor,
                                 test_id=request.node.nodeid)
    factory = NodeFactory(engine, bitcoind, executor, node_cls=node_cls, testname=test_name)
    register_factory(request, engine)
    yield factory
    capture_before_stopping(request)  # with --lnh-repro: ids and channels while nodes run
    for problem in factory.teardown():
        teardown_checks.add_error(problem)
