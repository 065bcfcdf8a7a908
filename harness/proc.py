"""Supervision of one OS process: start, tail its log, stop, kill, restart."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lnharness import forkserver
from lnharness.dirs import bytecode_cache_dir
from lnharness.errors import ProcessError, WaitTimeout
from lnharness.wait import default_timeout, wait_for

TAIL_LINES = 20


def python_daemon_env() -> dict[str, str] | None:
    """The environment for a Python daemon of ours (the built-in node, the embedded chain).

    With PYTHONDONTWRITEBYTECODE set (many containers and CI images set it) every daemon
    compiles its modules again at each start: for the built-in node about 0.15 s of CPU, most
    of a 100-node network's start. The daemon then keeps its bytecode in
    `dirs.bytecode_cache_dir()` (PYTHONPYCACHEPREFIX, unless one is set), never next to the
    sources. None (inherit the environment) when bytecode is cached already.
    """
    if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return None
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.setdefault("PYTHONPYCACHEPREFIX", str(bytecode_cache_dir()))
    return env


class Daemon:
    """A supervised process whose stdout and stderr are appended to `log_path`.

    `wait_for_log` searches forward from where the previous successful search ended, so a
    test can wait for the next occurrence of a line (as pyln-testing's TailableProc does).

    `fork_preload`: for a daemon of ours run as `sys.executable -m MODULE ...`, the modules it
    imports; the daemon is then forked from the fork server (`lnharness.forkserver`), which
    imports them once, instead of starting a new Python (unless `LNH_FORKSERVER=0`).
    """

    def __init__(self, name: str, cmd: list[str], *, log_path: Path | str,
                 cwd: Path | str | None = None, env: Mapping[str, str] | None = None,
                 ready_regex: str | None = None, fork_preload: Sequence[str] | None = None):
        if not cmd:
            raise ValueError(f"{name}: empty command")
        self.name = name
        self.cmd = [str(part) for part in cmd]
        self.log_path = Path(log_path)
        self.cwd = Path(cwd) if cwd is not None else None
        self.env = dict(env) if env is not None else None
        self.ready_regex = ready_regex
        self.fork_preload = list(fork_preload) if fork_preload is not None else None
        self.proc: subprocess.Popen[bytes] | forkserver.ForkedProcess | None = None
        self._stopping = False
        self._search_pos = 0
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def returncode(self) -> int | None:
        """Exit status once the process has ended, else None."""
        return self.proc.poll() if self.proc else None

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float | None = None) -> None:
        """Start the process; wait for `ready_regex` in the log if one was given."""
        if self.is_running():
            raise ProcessError(f"{self.name} is already running (pid {self.pid})")
        executable = self.cmd[0]
        if os.sep not in executable and shutil.which(executable, path=self._path()) is None:
            raise ProcessError(f"cannot start {self.name}: executable {executable!r} not found on PATH")
        if os.sep in executable and not os.access(executable, os.X_OK):
            raise ProcessError(f"cannot start {self.name}: {executable!r} does not exist or is not executable")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            start_offset = log.tell()
            self.proc = self._forked(log)
            if self.proc is None:
                try:
                    self.proc = subprocess.Popen(
                        self.cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                        cwd=self.cwd, env=self.env, start_new_session=True)
                except OSError as exc:
                    raise ProcessError(f"cannot start {self.name}: {exc}") from None
        self._stopping = False
        self._search_pos = start_offset
        if self.ready_regex:
            self._wait_ready(timeout)

    def _forked(self, log: Any) -> forkserver.ForkedProcess | None:
        """The daemon forked from the fork server, or None where it does not apply (or the
        server cannot serve: said in the daemon's log, then it starts as a new process)."""
        if (self.fork_preload is None or not forkserver.enabled()
                or self.cmd[:2] != [sys.executable, "-m"] or len(self.cmd) < 3):
            return None
        try:
            server = forkserver.shared(python_daemon_env())
            return server.spawn(self.cmd[2], self.cmd[3:], log=self.log_path, cwd=self.cwd,
                                env=self.env, preload=self.fork_preload)
        except (ProcessError, WaitTimeout) as exc:
            log.write(f"lnharness: not forked ({exc}); starting a new process\n".encode())
            log.flush()
            return None

    def _path(self) -> str | None:
        return (self.env or os.environ).get("PATH")

    def _wait_ready(self, timeout: float | None) -> None:
        timeout = default_timeout() if timeout is None else timeout
        pattern = re.compile(self.ready_regex or "")

        exited_marker = object()

        def ready_or_dead() -> object:
            exited = self.proc is not None and self.proc.poll() is not None
            line = self._search(pattern)  # after poll(): an exited process wrote everything
            if line is None and exited:
                return exited_marker
            return line

        try:
            outcome = wait_for(ready_or_dead, timeout, what=f"{self.name} to log {self.ready_regex!r}")
        except WaitTimeout:
            tail = self.log_tail()
            self.kill()
            raise ProcessError(f"{self.name} did not become ready within {timeout:g}s "
                               f"(no log line matching {self.ready_regex!r})",
                               log_tail=tail, log_path=str(self.log_path)) from None
        if outcome is exited_marker:
            raise ProcessError(f"{self.name} exited during start-up with code {self.returncode}",
                               returncode=self.returncode, log_tail=self.log_tail(),
                               log_path=str(self.log_path))

    def stop(self, timeout: float = 10.0, graceful: Callable[[], object] | None = None) -> int | None:
        """Stop the process: `graceful()` (e.g. an RPC `stop`) or SIGTERM, then SIGKILL."""
        if self.proc is None:
            return None
        self._stopping = True
        if self.proc.poll() is None:
            try:
                if graceful is not None:
                    graceful()
                else:
                    self._signal(signal.SIGTERM)
            except Exception:  # graceful stop failed: fall through to the kill below
                self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait()
        self._reap_group()
        return self.proc.returncode

    def kill(self) -> int | None:
        """SIGKILL the process (and its process group) at once."""
        if self.proc is None:
            return None
        self._stopping = True
        if self.proc.poll() is None:
            self._signal(signal.SIGKILL)
            self.proc.wait()
        self._reap_group()
        return self.proc.returncode

    def restart(self, timeout: float | None = None) -> None:
        """Stop, then start again with the same command."""
        self.stop()
        self.start(timeout)

    def _signal(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def _reap_group(self) -> None:
        # Children of the daemon (e.g. lightningd's subdaemons) share its process group.
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def exited_unexpectedly(self) -> bool:
        """True if the process ended without `stop()` or `kill()` being called."""
        return self.proc is not None and not self._stopping and self.proc.poll() is not None

    def check_alive(self) -> None:
        """Raise `ProcessError` with the exit code and log tail if the process died."""
        if self.proc is None:
            raise ProcessError(f"{self.name} was never started")
        code = self.proc.poll()
        if code is not None:
            raise ProcessError(f"{self.name} is not running: exited with code {code}",
                               returncode=code, log_tail=self.log_tail(), log_path=str(self.log_path))

    # -- log -------------------------------------------------------------------------
    def _read_log(self, start: int) -> tuple[bytes, int]:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(start)
                data = log.read()
        except FileNotFoundError:
            return b"", start
        return data, start + len(data)

    def _search(self, pattern: re.Pattern[str]) -> str | None:
        """Find `pattern` in complete lines after the search position; advance past it."""
        with self._lock:
            data, _ = self._read_log(self._search_pos)
            offset = 0
            for raw in data.splitlines(keepends=True):
                if not raw.endswith(b"\n"):
                    break  # incomplete line: look again once it is written
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                offset += len(raw)
                if pattern.search(line):
                    self._search_pos += offset
                    return line
            return None

    def wait_for_log(self, regex: str, timeout: float | None = None) -> str:
        """Wait for the next log line matching `regex`; return it."""
        return self.wait_for_logs([regex], timeout)[0]

    def wait_for_logs(self, regexes: Iterable[str], timeout: float | None = None) -> list[str]:
        """Wait for lines matching each of `regexes`, in order; return them."""
        found: list[str] = []
        for regex in regexes:
            pattern = re.compile(regex)

            def matched(pattern: re.Pattern[str] = pattern) -> str | None:
                return self._search(pattern)

            try:
                found.append(str(wait_for(matched, timeout, what=f"{self.name} to log {regex!r}")))
            except WaitTimeout as exc:
                state = "running" if self.is_running() else f"exited with code {self.returncode}"
                raise WaitTimeout(exc.what, exc.timeout, None,
                                  f"{self.name} is {state}; log: {self.log_path}; last lines: "
                                  + " | ".join(self.log_tail(5))) from None
        return found

    def is_in_log(self, regex: str, start: int = 0) -> str | None:
        """The first log line (from byte `start`) matching `regex`, or None."""
        pattern = re.compile(regex)
        data, _ = self._read_log(start)
        for raw in data.splitlines():
            line = raw.decode("utf-8", "replace")
            if pattern.search(line):
                return line
        return None

    def log_tail(self, n: int = TAIL_LINES) -> list[str]:
        """The last `n` lines of the log."""
        data, _ = self._read_log(0)
        lines = data.decode("utf-8", "replace").splitlines()
        return lines[-n:]

    def __repr__(self) -> str:
        state = "running" if self.is_running() else f"stopped ({self.returncode})"
        return f"<Daemon {self.name} pid={self.pid} {state}>"
