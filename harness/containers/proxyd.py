"""Fault proxies in a container, for links between nodes in containers.

`python -m lnharness.containers.proxyd --control-port P` runs in the `python` image on the
test's network: the nodes dial its proxies there, and each proxy dials its target there.
The harness drives it through the control port (published on the scope's publish host):
one JSON object per line each way. Requests: `open` (target) -> id and port, then `mode`,
`delay`, `drop_broken`, `counters`, `close` on an id. `ContainerProxyHost` is the harness's
side: the same calls as `FaultProxy`, made over that port.
"""
from __future__ import annotations

import argparse
import json
import socket
import socketserver
import sys
import threading
from dataclasses import asdict
from typing import Any

from lnharness.proxy import FaultProxy, ProxyCounters, ProxyError, ProxyLoop

READY_LINE = "lnharness proxyd ready, control port"
READY_REGEX = READY_LINE
CALL_TIMEOUT_S = 30.0
MODES = ("pass", "cut", "blackhole")


class _Proxies:
    """The proxies this daemon runs, by id, on one loop."""

    def __init__(self) -> None:
        self.loop = ProxyLoop("proxyd")
        self.proxies: dict[int, FaultProxy] = {}
        self.lock = threading.Lock()

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "open":
            host, port = request["target"]
            proxy = FaultProxy(self.loop, listen_port=0, listen_host="0.0.0.0",
                               target=(str(host), int(port)))
            proxy.start()
            with self.lock:
                ident = len(self.proxies) + 1
                self.proxies[ident] = proxy
            return {"id": ident, "port": proxy.port}
        found = self.proxies.get(int(request.get("id", 0)))
        if found is None:
            raise ValueError(f"no proxy with id {request.get('id')!r}")
        proxy = found
        if op == "mode":
            if request.get("mode") not in MODES:
                raise ValueError(f"mode must be one of {MODES}, got {request.get('mode')!r}")
            proxy.set_mode(request["mode"])
            return {}
        if op == "delay":
            proxy.set_delay(float(request["delay_s"]))
            return {}
        if op == "drop_broken":
            return {"dropped": proxy.drop_broken()}
        if op == "counters":
            return {"counters": asdict(proxy.counters())}
        if op == "close":
            proxy.close()
            return {}
        raise ValueError(f"unknown op {op!r}")


class _ControlHandler(socketserver.StreamRequestHandler):
    server: _ControlServer

    def handle(self) -> None:
        for line in self.rfile:
            try:
                answer = {"ok": True, **self.server.proxies.handle(json.loads(line))}
            except Exception as exc:  # every failure goes back to the caller, named
                answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            self.wfile.write(json.dumps(answer).encode() + b"\n")
            self.wfile.flush()


class _ControlServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int):
        self.proxies = _Proxies()
        super().__init__(("0.0.0.0", port), _ControlHandler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lnharness.containers.proxyd",
                                     description="fault proxies driven over a control port")
    parser.add_argument("--control-port", type=int, required=True)
    args = parser.parse_args(argv)
    server = _ControlServer(args.control_port)
    print(f"{READY_LINE} {args.control_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


class RemoteProxy:
    """One proxy of a proxyd, driven over its control port (the calls of `FaultProxy`)."""

    def __init__(self, control: tuple[str, int], ident: int):
        self.control = control
        self.ident = ident

    def _call(self, op: str, **fields: Any) -> dict[str, Any]:
        return control_call(self.control, {"op": op, "id": self.ident, **fields})

    def set_mode(self, mode: str) -> None:
        self._call("mode", mode=mode)

    def set_delay(self, delay_s: float) -> None:
        self._call("delay", delay_s=delay_s)

    def drop_broken(self) -> int:
        return int(self._call("drop_broken")["dropped"])

    def counters(self) -> ProxyCounters:
        return ProxyCounters(**self._call("counters")["counters"])

    def close(self) -> None:
        self._call("close")


def control_call(control: tuple[str, int], request: dict[str, Any]) -> dict[str, Any]:
    """One request to the proxyd at `control`; its answer (`ProxyError` if it failed)."""
    try:
        with socket.create_connection(control, timeout=CALL_TIMEOUT_S) as sock:
            sock.sendall(json.dumps(request).encode() + b"\n")
            with sock.makefile("rb") as reply:
                line = reply.readline()
    except OSError as exc:
        raise ProxyError(f"fault proxy container at {control[0]}:{control[1]} did not answer "
                         f"{request.get('op')}: {exc}") from None
    if not line:
        raise ProxyError(f"fault proxy container at {control[0]}:{control[1]} closed the "
                         f"connection on {request.get('op')}")
    answer: dict[str, Any] = json.loads(line)
    if not answer.pop("ok", False):
        raise ProxyError(f"fault proxy container: {request.get('op')}: {answer.get('error')}")
    return answer


if __name__ == "__main__":
    sys.exit(main())
