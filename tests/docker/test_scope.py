"""Scopes: what a test made is removed with it, and what a dead run left is swept."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

from lnharness.containers import scope as scopes
from lnharness.containers.scope import (
    LABEL_OWNER,
    LABEL_SCOPE,
    ContainerScope,
    owner_alive,
    owner_label,
    sweep_leftovers,
)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_owner_labels_tell_live_processes_from_dead_ones():
    assert owner_alive(owner_label())
    host = socket.gethostname()
    assert not owner_alive(f"{host}/{_dead_pid()}/1")
    assert not owner_alive(f"{host}/{os.getpid()}/1")  # same pid, another start: a reused pid
    assert owner_alive(f"another-host/{_dead_pid()}/1")  # another machine's: never ours to judge


def _sleeper(engine, name: str, labels: dict[str, str], image: str, network: str) -> str:
    container = engine.create_container(name, {
        "Image": image, "Cmd": ["sleep", "600"], "Labels": labels,
        "HostConfig": {"NetworkMode": network}})
    engine.start(container)
    return container


def test_close_removes_the_scopes_containers_and_network(engine, base_image):
    scope = ContainerScope(engine)
    network = scope.ensure_network()
    container = _sleeper(engine, scope.container_name("sleeper"), scope.labels, base_image, network)
    other = ContainerScope(engine)
    kept = _sleeper(engine, other.container_name("kept"), other.labels, base_image, "bridge")
    try:
        scope.close()
        assert engine.inspect(container) is None
        assert engine.networks(f"{LABEL_SCOPE}={scope.id}") == []
        assert engine.inspect(kept) is not None  # another scope's: left alone
    finally:
        other.close()
    assert engine.inspect(kept) is None


def test_the_first_scope_of_a_process_sweeps_what_dead_runs_left(engine, base_image, monkeypatch):
    dead = {LABEL_SCOPE: "deadbeef", LABEL_OWNER: f"{socket.gethostname()}/{_dead_pid()}/1"}
    alive = {LABEL_SCOPE: "alive", LABEL_OWNER: owner_label()}
    engine.create_network("lnh-test-dead", dead)
    left = _sleeper(engine, "lnh-test-dead-sleeper", dead, base_image, "lnh-test-dead")
    engine.create_network("lnh-test-alive", alive)
    try:
        monkeypatch.setattr(scopes, "_swept", set())
        scope = ContainerScope(engine)
        assert "container lnh-test-dead-sleeper" in scope.swept
        assert "network lnh-test-dead" in scope.swept
        assert engine.inspect(left) is None
        assert engine.networks(f"{LABEL_SCOPE}=alive")  # a live owner's: kept
        assert sweep_leftovers(engine) == []  # nothing left to sweep
    finally:
        engine.remove(left)
        for name in ("lnh-test-dead", "lnh-test-alive"):
            engine.remove_network(name)
