import os
import signal
import subprocess
import sys

import pytest
from lnharness.errors import ProcessError, WaitTimeout
from lnharness.proc import Daemon, python_daemon_env
from lnharness.wait import wait_for

PY = sys.executable
SERVE = "import signal; print('ready', flush=True); signal.pause()"
IGNORE_TERM = ("import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
               "print('ready', flush=True); signal.pause()")


def daemon(tmp_path, code, **kwargs):
    return Daemon("testproc", [PY, "-c", code], log_path=tmp_path / "log", **kwargs)


def test_start_waits_for_ready_and_stop_terminates(tmp_path):
    proc = daemon(tmp_path, SERVE, ready_regex="^ready$")
    proc.start(timeout=10)
    assert proc.is_running()
    assert proc.stop(timeout=5) == -signal.SIGTERM
    assert not proc.is_running()
    assert not proc.exited_unexpectedly()


def test_stop_kills_after_timeout_when_term_ignored(tmp_path):
    proc = daemon(tmp_path, IGNORE_TERM, ready_regex="ready")
    proc.start(timeout=10)
    assert proc.stop(timeout=0.3) == -signal.SIGKILL


def test_missing_executable_is_named(tmp_path):
    proc = Daemon("ghost", ["lnh-no-such-binary"], log_path=tmp_path / "log")
    with pytest.raises(ProcessError, match="'lnh-no-such-binary' not found"):
        proc.start()
    proc = Daemon("ghost", [str(tmp_path / "nope")], log_path=tmp_path / "log")
    with pytest.raises(ProcessError, match="does not exist or is not executable"):
        proc.start()


def test_exit_at_once_reports_code_and_log(tmp_path):
    proc = daemon(tmp_path, "import sys; print('boom: bad config', flush=True); sys.exit(3)",
                  ready_regex="ready")
    with pytest.raises(ProcessError) as info:
        proc.start(timeout=10)
    assert info.value.returncode == 3
    assert "boom: bad config" in str(info.value)
    assert "exited during start-up with code 3" in str(info.value)


def test_unexpected_exit_is_detected(tmp_path):
    proc = daemon(tmp_path, "print('ready', flush=True)", ready_regex="ready")
    proc.start(timeout=10)
    wait_for(lambda: proc.returncode is not None, timeout=10)
    assert proc.exited_unexpectedly()
    with pytest.raises(ProcessError, match="exited with code 0"):
        proc.check_alive()


def test_wait_for_log_advances_past_each_match(tmp_path):
    code = "import signal; print('a 1'); print('b'); print('a 2', flush=True); signal.pause()"
    proc = daemon(tmp_path, code)
    proc.start()
    try:
        assert proc.wait_for_log("^a ", timeout=10) == "a 1"
        assert proc.wait_for_log("^a ", timeout=10) == "a 2"
        with pytest.raises(WaitTimeout, match="testproc is running"):
            proc.wait_for_log("^a ", timeout=0.1)
        assert proc.is_in_log("^b$") == "b"
        assert proc.is_in_log("^c$") is None
    finally:
        proc.stop()


def test_restart_and_kill(tmp_path):
    proc = daemon(tmp_path, SERVE, ready_regex="ready")
    proc.start(timeout=10)
    first_pid = proc.pid
    proc.restart(timeout=10)
    assert proc.pid != first_pid and proc.is_running()
    assert proc.kill() == -signal.SIGKILL
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)


def test_env_and_cwd_are_passed(tmp_path):
    code = "import os; print(os.environ['LNH_X'], os.getcwd(), flush=True)"
    proc = daemon(tmp_path, code, env={**os.environ, "LNH_X": "hello"}, cwd=tmp_path)
    proc.start()
    line = proc.wait_for_log("hello", timeout=10)
    assert line == f"hello {tmp_path}"


def test_python_daemons_cache_bytecode_even_when_told_not_to_write_it(monkeypatch, tmp_path):
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    assert python_daemon_env() is None  # bytecode is cached as usual: inherit
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    env = python_daemon_env()
    assert env is not None and "PYTHONDONTWRITEBYTECODE" not in env
    assert env["PYTHONPYCACHEPREFIX"] == str(tmp_path / "lnharness" / "pycache")
    assert env["XDG_CACHE_HOME"] == str(tmp_path)  # the rest is inherited
    script = "import sys; print(sys.pycache_prefix, sys.dont_write_bytecode)"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.stdout.split() == [str(tmp_path / "lnharness" / "pycache"), "False"]
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", str(tmp_path / "mine"))
    assert python_daemon_env()["PYTHONPYCACHEPREFIX"] == str(tmp_path / "mine")
