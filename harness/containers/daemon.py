"""`ContainerDaemon`: a `Daemon` whose process runs in a container of a `ContainerScope`.

The same interface as a process: start (waiting for the ready line), stop (graceful, then
SIGTERM, then SIGKILL), kill, restart, `exited_unexpectedly`, and the log calls. The
container's output is appended to `log_path` on this machine through a bind mount (so
`wait_for_log` reads the same file as for a process), and every path the command names is
bind-mounted at the same path, so a command line is the same in and out of a container.
Each start makes a new container (the directories persist); each stop removes it.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lnharness.containers.engine import EngineError
from lnharness.containers.scope import LABEL_NAME, ContainerScope, dns_name
from lnharness.errors import ProcessError
from lnharness.proc import Daemon

#: runs the command with its output appended to $LNH_LOG (a file bind-mounted from here)
ENTRYPOINT = ["/bin/sh", "-c", 'exec "$@" >>"$LNH_LOG" 2>&1', "lnharness"]
#: tini (the engine's init) exits with 128 + the signal that killed the command
SIGNAL_EXIT_BASE = 128
WAIT_MARGIN_S = 5.0


class ContainerDaemon(Daemon):
    """A supervised process in a container: image `image`, network alias `alias` on the
    scope's network, `ports` published on the scope's publish host under the same numbers,
    `mounts` (directories or files of this machine) bind-mounted at the same paths."""

    def __init__(self, name: str, cmd: list[str], *, scope: ContainerScope, image: str,
                 log_path: Path | str, cwd: Path | str | None = None,
                 env: Mapping[str, str] | None = None, ready_regex: str | None = None,
                 ports: Sequence[int] = (), mounts: Sequence[Path | str] = (),
                 alias: str | None = None):
        super().__init__(name, cmd, log_path=log_path, cwd=cwd, ready_regex=ready_regex)
        self.scope = scope
        self.image = image
        self.container_env = dict(env or {})
        self.ports = list(ports)
        self.mounts = [Path(m) for m in mounts]
        self.alias = alias or dns_name(name)
        self.container_id: str | None = None
        self._exit_code: int | None = None
        self._host_pid: int | None = None

    # -- state --------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """The process's pid on the engine's machine (while it runs)."""
        return self._host_pid if self.is_running() else None

    @property
    def returncode(self) -> int | None:
        if self.container_id is None or self._exit_code is not None:
            return self._exit_code
        state = self._state()
        if state is None or state.get("Running") or state.get("Status") == "created":
            return None
        self._exit_code = _exit_status(int(state.get("ExitCode", 0)))
        return self._exit_code

    def is_running(self) -> bool:
        return self.container_id is not None and self.returncode is None

    def _state(self) -> dict[str, Any] | None:
        assert self.container_id is not None
        info = self.scope.engine.inspect(self.container_id)
        return dict(info["State"]) if info is not None else None

    def exited_unexpectedly(self) -> bool:
        return self.container_id is not None and not self._stopping and self.returncode is not None

    def check_alive(self) -> None:
        if self.container_id is None:
            raise ProcessError(f"{self.name} was never started")
        code = self.returncode
        if code is not None:
            raise ProcessError(f"{self.name} is not running: its container exited with code {code}",
                               returncode=code, log_tail=self.log_tail(), log_path=str(self.log_path))

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, timeout: float | None = None) -> None:
        if self.is_running():
            raise ProcessError(f"{self.name} is already running (container {self.container_id})")
        self._remove()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.touch()
        start_offset = self.log_path.stat().st_size
        engine, name = self.scope.engine, self.scope.container_name(self.name)
        try:
            self.container_id = engine.create_container(name, self._config())
            engine.start(self.container_id)
        except EngineError as exc:
            self._remove()
            raise ProcessError(f"cannot start {self.name} in a container of {self.image}: {exc}",
                               log_path=str(self.log_path)) from None
        info = engine.inspect(self.container_id) or {}
        self._host_pid = int(info.get("State", {}).get("Pid") or 0) or None
        self._stopping = False
        self._exit_code = None
        self._search_pos = start_offset
        if self.ready_regex:
            self._wait_ready(timeout)

    def _config(self) -> dict[str, object]:
        mounts = list(dict.fromkeys(self.mounts))
        if not any(self.log_path == m or m in self.log_path.parents for m in mounts):
            mounts.append(self.log_path)
        scope = self.scope
        network = scope.ensure_network()
        env = {"LNH_LOG": str(self.log_path), "HOME": "/tmp", **self.container_env}
        return {
            "Image": self.image,
            "Entrypoint": ENTRYPOINT,
            "Cmd": self.cmd,
            "Env": [f"{k}={v}" for k, v in env.items()],
            "User": f"{os.getuid()}:{os.getgid()}",
            "WorkingDir": str(self.cwd) if self.cwd else "/",
            "Labels": {**scope.labels, LABEL_NAME: self.name},
            "ExposedPorts": {f"{port}/tcp": {} for port in self.ports},
            "HostConfig": {
                "Binds": [f"{m}:{m}" for m in mounts],
                "PortBindings": {f"{port}/tcp": [{"HostIp": scope.publish_host,
                                                  "HostPort": str(port)}]
                                 for port in self.ports},
                "NetworkMode": network,
                "Init": True,
            },
            "NetworkingConfig": {"EndpointsConfig": {network: {"Aliases": [self.alias]}}},
        }

    def stop(self, timeout: float = 10.0, graceful: Callable[[], object] | None = None) -> int | None:
        """Stop: `graceful()` (e.g. an RPC `stop`), else SIGTERM; SIGKILL after `timeout`."""
        if self.container_id is None:
            return self._exit_code
        self._stopping = True
        engine = self.scope.engine
        if self.returncode is None:
            try:
                if graceful is None:
                    raise RuntimeError("no graceful stop")
                graceful()
                engine.wait(self.container_id, timeout + WAIT_MARGIN_S)
            except Exception:  # graceful stop failed or took too long: the engine's stop
                engine.stop(self.container_id, max(1, int(timeout)))
        return self._finish()

    def kill(self) -> int | None:
        """SIGKILL the container's process at once."""
        if self.container_id is None:
            return self._exit_code
        self._stopping = True
        if self.returncode is None:
            self.scope.engine.kill(self.container_id)
        return self._finish()

    def _finish(self) -> int | None:
        assert self.container_id is not None
        code = self.scope.engine.wait(self.container_id, 60.0)
        self._exit_code = _exit_status(code)
        self._remove()
        return self._exit_code

    def _remove(self) -> None:
        if self.container_id is not None:
            self.scope.engine.remove(self.container_id)
            self.container_id = None

    def _reap_group(self) -> None:
        pass  # the container holds every child; removing it ends them

    def __repr__(self) -> str:
        state = "running" if self.is_running() else f"stopped ({self._exit_code})"
        return f"<ContainerDaemon {self.name} {self.image} {state}>"


def _exit_status(code: int) -> int:
    """An exit code as `subprocess` reports it: a death by signal N is -N."""
    if SIGNAL_EXIT_BASE < code < SIGNAL_EXIT_BASE + 32:
        return SIGNAL_EXIT_BASE - code
    return code
