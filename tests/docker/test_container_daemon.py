"""`ContainerDaemon`: a container supervised as a process is (ready line, log, stop, kill,
crash, restart), its ports published on the loopback only, its directories bind-mounted."""
from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator

import pytest
from lnharness.containers.daemon import ContainerDaemon
from lnharness.containers.scope import ContainerScope
from lnharness.errors import ProcessError
from lnharness.ports import release_port, reserve_port
from lnharness.wait import wait_for

from tests.docker.conftest import require_image

SERVE = 'trap "echo got TERM; exit 0" TERM; echo ready $(id -u); while :; do sleep 0.05; done'


@pytest.fixture
def scope(engine) -> Iterator[ContainerScope]:
    scope = ContainerScope(engine)
    yield scope
    scope.close()


def _daemon(scope, image, tmp_path, script: str, **kwargs) -> ContainerDaemon:
    return ContainerDaemon("d1", ["sh", "-c", script], scope=scope, image=image,
                           log_path=tmp_path / "d1" / "log", cwd=tmp_path, mounts=[tmp_path],
                           ready_regex=r"^ready", **kwargs)


def test_start_waits_for_the_ready_line_and_stop_is_graceful(scope, base_image, tmp_path):
    daemon = _daemon(scope, base_image, tmp_path, SERVE)
    daemon.start()
    assert daemon.is_running() and daemon.pid
    assert daemon.log_tail() == [f"ready {os.getuid()}"]  # runs as this user, logs here
    assert daemon.stop(timeout=10) == 0
    assert daemon.log_tail()[-1] == "got TERM"
    assert not daemon.is_running() and not daemon.exited_unexpectedly()
    assert scope.engine.containers(f"lnharness.scope={scope.id}") == []  # removed at stop
    daemon.start()  # a new container on the same directory and log
    assert daemon.log_tail() == [f"ready {os.getuid()}", "got TERM", f"ready {os.getuid()}"]
    assert daemon.is_running()
    assert daemon.kill() == -9  # SIGKILL, as subprocess reports it


def test_a_crash_is_noticed_with_the_exit_code_and_the_log(scope, base_image, tmp_path):
    daemon = _daemon(scope, base_image, tmp_path, "echo ready; echo dying; exit 3")
    daemon.start()
    wait_for(lambda: daemon.returncode is not None, what="the container to exit")
    assert daemon.returncode == 3 and daemon.exited_unexpectedly()
    with pytest.raises(ProcessError, match="exited with code 3") as raised:
        daemon.check_alive()
    assert "dying" in str(raised.value)


def test_an_exit_during_start_up_fails_the_start(scope, base_image, tmp_path):
    daemon = _daemon(scope, base_image, tmp_path, "echo no good; exit 2")
    with pytest.raises(ProcessError, match="exited during start-up with code 2"):
        daemon.start(timeout=20)


def test_files_it_writes_are_this_users_in_the_mounted_directory(scope, base_image, tmp_path):
    daemon = _daemon(scope, base_image, tmp_path, f"echo hello > {tmp_path}/out; echo ready; sleep 60")
    daemon.start()
    out = tmp_path / "out"
    assert out.read_text() == "hello\n" and out.stat().st_uid == os.getuid()
    daemon.kill()


def test_ports_are_published_on_the_loopback_only(images, scope, tmp_path):
    port = reserve_port()
    try:
        daemon = ContainerDaemon(
            "web", ["python", "-c", f"import http.server as h; print('ready', flush=True); "
                    f"h.ThreadingHTTPServer(('0.0.0.0', {port}), h.SimpleHTTPRequestHandler)"
                    ".serve_forever()"],
            scope=scope, image=require_image(images, "python"), log_path=tmp_path / "web.log",
            cwd=tmp_path, mounts=[tmp_path], ports=[port], ready_regex="^ready")
        daemon.start()
        (tmp_path / "hello.txt").write_text("hi")
        body = wait_for(lambda: _get(f"http://127.0.0.1:{port}/hello.txt"), what="the web server")
        assert body == b"hi"
        bindings = scope.engine.inspect(daemon.container_id)["HostConfig"]["PortBindings"]
        assert bindings == {f"{port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
        daemon.stop()
    finally:
        release_port(port)


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read()
    except OSError:
        return None
