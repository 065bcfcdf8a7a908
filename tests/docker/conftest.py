"""Fixtures of the container tests: the engine of DOCKER_HOST and lnharness's images on it.

Without an engine (or without the base image, which `lnharness images build` makes) the
tests that need one skip with the reason; .ci/run starts an engine and builds the images.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lnharness.chain import Chain, start_chain
from lnharness.containers.engine import Engine, EngineError
from lnharness.containers.images import Images
from lnharness.errors import UnavailableError
from lnharness.node_impl.bitcoin.docker import DockerBackend, inner_chain


@pytest.fixture
def engine() -> Engine:
    """The engine of DOCKER_HOST; the test skips with the reason if none answers."""
    engine = Engine()
    try:
        engine.ping()
    except EngineError as exc:
        pytest.skip(str(exc))
    return engine


@pytest.fixture
def images(engine: Engine) -> Images:
    """lnharness's images on the engine; skips unless the base image is there."""
    images = Images(engine)
    try:
        images.require_base()
    except UnavailableError as exc:
        pytest.skip(str(exc))
    return images


def require_image(images: Images, name: str) -> str:
    """The reference of image `name`, built if missing; the test skips with the reason when
    it cannot be had here (not buildable, a failed build, or LNH_BUILD_IMAGES=0)."""
    try:
        return images.ensure(name)
    except UnavailableError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def base_image(images: Images) -> str:
    return images.require_base()


@pytest.fixture
def docker_chain(images: Images, directory: Path) -> Iterator[Chain]:
    """A started, funded chain in a container (the `docker` backend); removed at teardown."""
    require_image(images, "bitcoind" if inner_chain() == "bitcoind" else "python")
    chain = start_chain(directory, DockerBackend)
    yield chain
    chain.backend.close()
