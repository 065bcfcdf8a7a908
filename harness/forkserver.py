"""A fork server for the harness's own Python daemons (the built-in node, the embedded chain).

Each such daemon, started as `python -m MODULE`, spends about 0.3 s of CPU starting Python and
importing its modules before it does anything; ten of them on two cores are a second of a
test's setup. The fork server is one process per harness process that imports those modules
once and forks every daemon from that state: each child is still its own OS process (own pid,
own session and process group, own log, environment and working directory, real sockets),
it only skips the imports.

Protocol, over a Unix socket in a private (0700) directory: the client sends one JSON line
`{"module", "args", "env", "cwd", "log", "preload"}`; the server imports `preload` (once),
forks, answers `{"pid": N}` and keeps the connection open until the child exits, then sends
`{"exit": CODE}` (negative: killed by that signal, as `subprocess.Popen.returncode`).

`LNH_FORKSERVER=0` (read at each start) turns it off: daemons are then started with
`subprocess.Popen` as every other process is. The server refuses to fork while it runs more
than one thread (a fork would copy locks held by the others); the daemon is then started with
`Popen` too.
"""
from __future__ import annotations

import atexit
import json
import os
import runpy
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lnharness.errors import ProcessError

SOCKET_NAME = "forkserver.sock"
MAX_REQUEST = 1 << 20
START_TIMEOUT_S = 30.0
ENV_SWITCH = "LNH_FORKSERVER"
UNKNOWN_EXIT = 255
ORPHAN_POLL_S = 0.05


def enabled() -> bool:
    """Whether daemons that allow it are forked from the server (`LNH_FORKSERVER`, read now)."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


# -- the server (runs as `python -m lnharness.forkserver SOCKET`) ------------------------
@dataclass(frozen=True)
class ChildSpec:
    """What a forked child runs: `python -m module *args` with this environment and log."""
    module: str
    args: list[str]
    env: dict[str, str]
    cwd: str | None
    log: str

    @classmethod
    def from_request(cls, request: object) -> ChildSpec:
        if not isinstance(request, dict):
            raise ValueError("a request is a JSON object")
        module, args, env = request.get("module"), request.get("args"), request.get("env")
        cwd, log = request.get("cwd"), request.get("log")
        if not isinstance(module, str) or not module:
            raise ValueError("module must be a non-empty string")
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ValueError("args must be a list of strings")
        if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                for k, v in env.items()):
            raise ValueError("env must be an object of strings")
        if cwd is not None and not isinstance(cwd, str):
            raise ValueError("cwd must be a string or null")
        if not isinstance(log, str) or not log:
            raise ValueError("log must be a path")
        return cls(module, list(args), dict(env), cwd, log)


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST:
            raise ValueError(f"request longer than {MAX_REQUEST} bytes")
    return data


def _send(conn: socket.socket, message: dict[str, object]) -> None:
    try:
        conn.sendall(json.dumps(message).encode() + b"\n")
    except OSError:
        pass  # the client went away; the child runs on regardless


def _exit_code(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


class _Server:
    """The accept loop: one request per connection, one child per request."""

    def __init__(self, sock_path: str):
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # bound under another name and renamed once listening: the client waits for the
        # path, and a connect between bind and listen would be refused
        self.listener.bind(sock_path + ".bind")
        self.listener.listen(128)
        os.rename(sock_path + ".bind", sock_path)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        self.children: dict[int, socket.socket] = {}
        self.selector = selectors.DefaultSelector()

    def serve(self) -> ChildSpec | None:
        """Serve until the client's pipe (our stdin) closes; in a forked child, return its spec."""
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness's Ctrl-C is for the harness
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.selector.register(self.wake_r, selectors.EVENT_READ)
        self.selector.register(sys.stdin.fileno(), selectors.EVENT_READ)
        print(f"fork server {os.getpid()} ready", flush=True)
        while True:
            for key, _ in self.selector.select():
                if key.fileobj is self.listener:
                    spec = self._accept()
                    if spec is not None:
                        return spec
                elif key.fileobj == self.wake_r:
                    os.read(self.wake_r, 4096)
                    self._reap()
                elif not os.read(sys.stdin.fileno(), 4096):
                    return None  # the harness is gone or closed us

    def _accept(self) -> ChildSpec | None:
        conn, _ = self.listener.accept()
        conn.settimeout(10)
        try:
            request = json.loads(_read_line(conn))
            spec = ChildSpec.from_request(request)
            for module in request.get("preload") or []:
                __import__(str(module))
            threads = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") \
                else threading.active_count()
            if threads > 1:
                raise RuntimeError(f"the fork server runs {threads} threads after the imports; "
                                   "forking it is unsafe")
        except Exception as exc:  # anything wrong with the request: say so, keep serving
            _send(conn, {"error": f"{type(exc).__name__}: {exc}"})
            conn.close()
            return None
        sys.stdout.flush()
        sys.stderr.flush()
        in_session_r, in_session_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.setsid()  # before the pid is told: the caller may signal its group at once
            os.close(in_session_r)
            os.write(in_session_w, b".")
            os.close(in_session_w)
            self._close_in_child(conn)
            return spec
        os.close(in_session_w)
        os.read(in_session_r, 1)  # the child is in its own session (or dead: end of file)
        os.close(in_session_r)
        self.children[pid] = conn
        _send(conn, {"pid": pid})
        return None

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is not None:
                _send(conn, {"exit": _exit_code(status)})
                conn.close()

    def _close_in_child(self, conn: socket.socket) -> None:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        self.selector.close()
        self.listener.close()
        for other in self.children.values():
            other.close()
        conn.close()
        os.close(self.wake_r)
        os.close(self.wake_w)


def run_child(spec: ChildSpec) -> None:
    """In a forked child, already in its own session: become `python -m spec.module
    *spec.args` with its log, cwd and environment."""
    log_fd = os.open(spec.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    os.close(null_fd)
    if spec.cwd is not None:
        os.chdir(spec.cwd)
    os.environ.clear()
    os.environ.update(spec.env)
    if spec.env.get("PYTHONUNBUFFERED"):  # as a new Python would read it at start
        for stream in (sys.stdout, sys.stderr):
            stream.reconfigure(write_through=True)  # type: ignore[union-attr]
    sys.argv = [spec.module, *spec.args]
    runpy.run_module(spec.module, run_name="__main__", alter_sys=True)


def main(argv: Sequence[str]) -> None:
    if len(argv) != 1:
        sys.exit("usage: python -m lnharness.forkserver SOCKET_PATH")
    spec = _Server(argv[0]).serve()
    if spec is not None:
        run_child(spec)  # a daemon now; its SystemExit ends this interpreter as its own


# -- the client -----------------------------------------------------------------------
class ForkedProcess:
    """A daemon forked by the server, with the part of `subprocess.Popen`'s interface that
    `Daemon` uses: `pid`, `returncode`, `poll()`, `wait(timeout)`.

    The exit status comes from the server. Should the server die first, the child (now
    init's) is watched by its pid and its status, unknowable then, is `UNKNOWN_EXIT`."""

    def __init__(self, conn: socket.socket, pid: int, args: list[str]):
        self._conn: socket.socket | None = conn
        self.pid = pid
        self.args = args
        self.returncode: int | None = None
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        return self._wait_status(0)

    def wait(self, timeout: float | None = None) -> int:
        code = self._wait_status(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return code

    def _wait_status(self, timeout: float | None) -> int | None:
        with self._lock:
            if self.returncode is None and self._conn is not None:
                self._conn.settimeout(timeout)
                try:
                    line = _read_line(self._conn)
                except (TimeoutError, BlockingIOError):
                    return None
                except OSError:
                    line = b""
                self._conn.close()
                self._conn = None
                try:
                    self.returncode = int(json.loads(line)["exit"])
                except (ValueError, KeyError, TypeError):
                    pass  # the server died without telling
            if self.returncode is None and self._conn is None:
                self._watch_orphan(timeout)
            return self.returncode

    def _watch_orphan(self, timeout: float | None) -> None:
        """Wait up to `timeout` for the orphaned child to end (a pidfd where Linux has it)."""
        try:
            pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            self.returncode = UNKNOWN_EXIT
            return
        except (AttributeError, OSError):  # no pidfd here: poll the pid
            deadline = None if timeout is None else time.monotonic() + timeout
            while _pid_alive(self.pid):
                if deadline is not None and time.monotonic() >= deadline:
                    return
                time.sleep(ORPHAN_POLL_S)
            self.returncode = UNKNOWN_EXIT
            return
        try:
            ended, _, _ = select.select([pidfd], [], [], timeout)
        finally:
            os.close(pidfd)
        if ended:
            self.returncode = UNKNOWN_EXIT


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ForkServer:
    """One running fork server, started by `start()` and ended by `close()`."""

    def __init__(self) -> None:
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def socket_path(self) -> Path:
        if self._dir is None:
            raise ProcessError("the fork server is not started")
        return self._dir / SOCKET_NAME

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, env: Mapping[str, str] | None = None) -> None:
        """Start the server process and wait until it listens."""
        with self._lock:
            if self.is_running():
                return
            self._dir = Path(tempfile.mkdtemp(prefix="lnh-fork-"))
            log = open(self._dir / "forkserver.log", "ab")
            try:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "lnharness.forkserver", str(self._dir / SOCKET_NAME)],
                    stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                    env=dict(env) if env is not None else None, start_new_session=True)
            finally:
                log.close()
            from lnharness.wait import wait_for
            wait_for(lambda: self.socket_path.exists() or self._proc.poll() is not None,
                     START_TIMEOUT_S, what="the fork server to listen")
            if self._proc.poll() is not None:
                tail = (self._dir / "forkserver.log").read_text(errors="replace")[-2000:]
                raise ProcessError(f"the fork server exited at start with code "
                                   f"{self._proc.returncode}: {tail}")

    def spawn(self, module: str, args: Sequence[str], *, log: Path, cwd: Path | None,
              env: Mapping[str, str] | None, preload: Sequence[str] = ()) -> ForkedProcess:
        """Fork `python -m module *args` from the server; raise ProcessError if it cannot."""
        request = {"module": module, "args": list(args), "log": str(log),
                   "cwd": str(cwd) if cwd is not None else None,
                   "env": dict(env if env is not None else os.environ), "preload": list(preload)}
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.settimeout(START_TIMEOUT_S)
            conn.connect(str(self.socket_path))
            conn.sendall(json.dumps(request).encode() + b"\n")
            reply = json.loads(_read_line(conn) or b"{}")
        except (OSError, ValueError) as exc:
            conn.close()
            raise ProcessError(f"fork server: cannot start {module}: {exc}") from None
        if "pid" not in reply:
            conn.close()
            raise ProcessError(f"fork server: cannot start {module}: "
                               f"{reply.get('error', 'no answer')}")
        return ForkedProcess(conn, int(reply["pid"]), [sys.executable, "-m", module, *args])

    def close(self) -> None:
        """End the server (its children run on until they are stopped)."""
        with self._lock:
            if self._proc is not None:
                if self._proc.stdin is not None:
                    self._proc.stdin.close()
                try:
                    self._proc.wait(5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
                self._proc = None
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None


_shared: ForkServer | None = None
_shared_lock = threading.Lock()


def shared(env: Mapping[str, str] | None = None) -> ForkServer:
    """This process's fork server, started on first use and ended at exit."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.is_running():
            server = ForkServer()
            server.start(env)
            if _shared is None:
                atexit.register(lambda: _shared.close() if _shared is not None else None)
            _shared = server
        return _shared


if __name__ == "__main__":
    main(sys.argv[1:])
