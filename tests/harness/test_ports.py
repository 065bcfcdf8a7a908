import multiprocessing
import socket

import pytest
from lnharness import ports
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


def _reserve_offered(held: int, lock_dir: str, results) -> None:
    """In a second process: reserve a port while the first candidate is forced to be `held`."""
    import os

    from lnharness import ports

    os.environ["LNH_PORT_LOCK_DIR"] = lock_dir
    real = ports._candidate
    offered: list[int] = []

    def offer_held_first(host: str, span: tuple[int, int] | None) -> int | None:
        pick = held if not offered else real(host, span)
        offered.append(pick)
        return pick

    ports._candidate = offer_held_first
    results.put((ports.reserve_port(), offered))


def test_port_held_by_another_process_is_never_handed_out(tmp_path, monkeypatch):
    """The collision is forced: the second process is offered exactly the port the first holds
    and must take another one (without the lock it would take the held one)."""
    monkeypatch.setenv("LNH_PORT_LOCK_DIR", str(tmp_path))
    held = reserve_port()
    try:
        ctx = multiprocessing.get_context("spawn")
        results = ctx.Queue()
        proc = ctx.Process(target=_reserve_offered, args=(held, str(tmp_path), results))
        proc.start()
        got, offered = results.get(timeout=60)
        proc.join(60)
        assert proc.exitcode == 0
    finally:
        release_port(held)
    assert offered[0] == held, "the held port was not offered: the test did not force a collision"
    assert got != held, f"port {held} was handed to a second process while the first held it"
    assert got == offered[-1]


def test_ports_are_drawn_outside_the_kernels_ephemeral_range(tmp_path, monkeypatch):
    """No outgoing connection, and no listener the kernel places (Docker's embedded DNS in a
    container), can take a reserved port before its daemon binds it."""
    monkeypatch.setenv("LNH_PORT_LOCK_DIR", str(tmp_path))
    first, last = ports.ephemeral_range()
    assert ports.drawing_range() is not None, f"ephemeral range {first}-{last} leaves no other ports"
    drawn = [reserve_port() for _ in range(50)]
    try:
        assert all(ports.PORT_FLOOR <= p and not first <= p <= last for p in drawn), drawn
    finally:
        for port in drawn:
            release_port(port)


def test_a_taken_port_is_not_drawn(tmp_path, monkeypatch):
    """A port something listens on (here: on every address) is skipped, not handed out."""
    monkeypatch.setenv("LNH_PORT_LOCK_DIR", str(tmp_path))
    taken, free = reserve_port(), reserve_port()
    release_port(taken)
    release_port(free)
    draws = iter([taken, free])
    monkeypatch.setattr(ports.random, "randint", lambda first, last: next(draws))
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", taken))
        sock.listen()
        port = reserve_port()
    release_port(port)
    assert port == free


def test_the_kernel_picks_where_the_ephemeral_range_spans_nearly_every_port(tmp_path, monkeypatch):
    monkeypatch.setenv("LNH_PORT_LOCK_DIR", str(tmp_path))
    monkeypatch.setattr(ports, "ephemeral_range", lambda: (1024, 65000))
    assert ports.drawing_range() is None
    port = reserve_port()
    release_port(port)
    assert 1024 <= port <= 65535
