import multiprocessing
import socket

import pytest
from lnharness.errors import PortError
from lnharness.ports import ensure_port_free, held_ports, release_port, reserve_port

WORKERS = 8
PORTS_EACH = 200


def _reserve_many(count, lock_dir, results, barrier):
    import os
    os.environ["LNH_PORT_LOCK_DIR"] = lock_dir
    ports = [reserve_port() for _ in range(count)]
    results.put(ports)
    barrier.wait(60)  # hold every port until all workers have reserved theirs


def test_ports_unique_across_processes(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    barrier = ctx.Barrier(WORKERS)
    procs = [ctx.Process(target=_reserve_many, args=(PORTS_EACH, str(tmp_path), results, barrier))
             for _ in range(WORKERS)]
    for proc in procs:
        proc.start()
    collected = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    every = [port for ports in collected for port in ports]
    assert len(every) == WORKERS * PORTS_EACH
    assert len(set(every)) == len(every), "a port was handed out twice"


def test_reserved_port_is_bindable_and_released(tmp_path, monkeypatch):
    monkeypatch.setenv("LNH_PORT_LOCK_DIR", str(tmp_path))
    port = reserve_port()
    assert port in held_ports()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    release_port(port)
    assert port not in held_ports()
    with pytest.raises(PortError, match=str(port)):
        release_port(port)


def test_port_in_use_is_named():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortError, match=f"port {port} .*already in use"):
            ensure_port_free(port)
