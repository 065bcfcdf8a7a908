"""Finding chain backends through the `lnharness.chains` entry points, and their availability."""
from __future__ import annotations

from pathlib import Path

import pytest
from lnharness.backend import (
    AUTO,
    ChainBackend,
    UnknownChainBackend,
    chain_availability,
    chain_backend_class,
    chain_backend_names,
    select_chain_backend,
)
from lnharness.errors import UnavailableError


def test_the_three_backends_are_registered():
    assert {"embedded", "bitcoind", "docker"} <= set(chain_backend_names())
    for name in ("embedded", "bitcoind", "docker"):
        cls = chain_backend_class(name)
        assert issubclass(cls, ChainBackend) and cls.name == name


def test_unknown_backend_error_lists_the_valid_names():
    with pytest.raises(UnknownChainBackend) as info:
        chain_backend_class("nosuch")
    message = str(info.value)
    assert "'nosuch'" in message
    for name in (AUTO, "embedded", "bitcoind", "docker"):
        assert name in message


def test_every_backend_reports_availability_with_a_reason():
    report = {entry.name: entry for entry in chain_availability()}
    assert report["embedded"].available, report["embedded"].reason
    for entry in report.values():
        assert entry.reason


def test_bitcoind_from_lnh_bitcoind_that_does_not_exist(monkeypatch, tmp_path: Path):
    missing = tmp_path / "no-bitcoind"
    monkeypatch.setenv("LNH_BITCOIND", str(missing))
    ok, reason = chain_backend_class("bitcoind").available()
    assert not ok and str(missing) in reason
    with pytest.raises(UnavailableError, match="bitcoind"):
        select_chain_backend("bitcoind")


def test_auto_is_embedded_without_bitcoind(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("LNH_BITCOIND", str(tmp_path / "no-bitcoind"))
    assert select_chain_backend(AUTO).name == "embedded"


def test_docker_is_unavailable_with_a_reason_naming_the_engine(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    ok, reason = chain_backend_class("docker").available()
    assert not ok
    assert reason.startswith("docker backend: ")
    assert "/nonexistent/docker.sock" in reason
