"""The fork server: daemons forked from it are processes of their own, with their own
session, log, environment and exit status, and the harness falls back to new processes
where it cannot serve."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from lnharness import forkserver
from lnharness.errors import ProcessError
from lnharness.proc import Daemon
from lnharness.wait import wait_for

PROBE = textwrap.dedent("""
    import os, sys, time
    print("pid", os.getpid(), "sid", os.getsid(0), "cwd", os.getcwd(),
          "color", os.environ.get("PROBE_COLOR"), "argv", sys.argv[1:], flush=True)
    if sys.argv[1] == "sleep":
        time.sleep(60)
    sys.exit(int(sys.argv[1]))
""")
UNBUFFERED = {**os.environ, "PYTHONUNBUFFERED": "1"}
THREADED = "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"


@pytest.fixture
def probe_dir(tmp_path: Path) -> Path:
    (tmp_path / "fsprobe.py").write_text(PROBE)
    (tmp_path / "fsthreaded.py").write_text(THREADED)
    return tmp_path


@pytest.fixture
def server(probe_dir: Path) -> Iterator[forkserver.ForkServer]:
    server = forkserver.ForkServer()
    server.start({**os.environ, "PYTHONPATH": str(probe_dir)})
    yield server
    server.close()


def test_a_forked_child_is_its_own_process_with_its_env_cwd_log_and_exit_code(
        server: forkserver.ForkServer, tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    child = server.spawn("fsprobe", ["3"], log=log, cwd=tmp_path,
                         env={"PROBE_COLOR": "teal", "PATH": os.environ["PATH"]})
    assert child.wait(20) == 3
    words = log.read_text().split()
    assert words[1] == str(child.pid) and words[3] == str(child.pid)  # own session
    assert child.pid != os.getpid()
    assert words[5] == str(tmp_path) and words[7] == "teal"
    assert "['3']" in log.read_text()


def test_a_child_killed_by_a_signal_reports_it_as_popen_does(
        server: forkserver.ForkServer, tmp_path: Path) -> None:
    child = server.spawn("fsprobe", ["sleep"], log=tmp_path / "log", cwd=None, env=None)
    assert child.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        child.wait(0.05)
    os.killpg(child.pid, signal.SIGKILL)
    assert child.wait(20) == -signal.SIGKILL


def test_a_preload_that_fails_is_refused_by_name_and_the_server_serves_on(
        server: forkserver.ForkServer, tmp_path: Path) -> None:
    with pytest.raises(ProcessError, match="no_such_module_here"):
        server.spawn("fsprobe", ["0"], log=tmp_path / "log", cwd=None, env=None,
                     preload=["no_such_module_here"])
    assert server.spawn("fsprobe", ["0"], log=tmp_path / "log", cwd=None, env=None).wait(20) == 0


def test_a_server_running_threads_refuses_to_fork(server: forkserver.ForkServer,
                                                   tmp_path: Path) -> None:
    with pytest.raises(ProcessError, match="threads"):
        server.spawn("fsprobe", ["0"], log=tmp_path / "log", cwd=None, env=None,
                     preload=["fsthreaded"])


def test_a_child_outlives_a_dead_server_and_is_watched_by_pid(
        server: forkserver.ForkServer, tmp_path: Path) -> None:
    child = server.spawn("fsprobe", ["sleep"], log=tmp_path / "log", cwd=None, env=None)
    assert server._proc is not None
    server._proc.kill()
    server._proc.wait()
    assert child.poll() is None  # still running, now init's
    os.killpg(child.pid, signal.SIGKILL)
    assert child.wait(20) == forkserver.UNKNOWN_EXIT


def test_daemon_forks_a_python_module_and_stops_it(tmp_path: Path) -> None:
    daemon = Daemon("forked", [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"],
                    log_path=tmp_path / "log", cwd=tmp_path, fork_preload=["http.server"], env=UNBUFFERED,
                    ready_regex="Serving HTTP")
    daemon.start(20)
    try:
        assert isinstance(daemon.proc, forkserver.ForkedProcess)
        assert os.getsid(daemon.pid) == daemon.pid
    finally:
        code = daemon.stop(10)
    assert code == -signal.SIGTERM
    assert not daemon.is_running() and not daemon.exited_unexpectedly()


def test_daemon_detects_a_forked_child_that_dies(tmp_path: Path) -> None:
    daemon = Daemon("forked", [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"],
                    log_path=tmp_path / "log", fork_preload=["http.server"], env=UNBUFFERED,
                    ready_regex="Serving HTTP")
    daemon.start(20)
    assert daemon.pid is not None
    os.kill(daemon.pid, signal.SIGKILL)
    wait_for(daemon.exited_unexpectedly, 20, what="the daemon's death to be seen")
    with pytest.raises(ProcessError, match="exited with code -9"):
        daemon.check_alive()


def test_lnh_forkserver_0_starts_a_new_process(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LNH_FORKSERVER", "0")
    daemon = Daemon("popen", [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"],
                    log_path=tmp_path / "log", fork_preload=["http.server"], env=UNBUFFERED,
                    ready_regex="Serving HTTP")
    daemon.start(20)
    try:
        assert isinstance(daemon.proc, subprocess.Popen)
    finally:
        daemon.stop(10)
