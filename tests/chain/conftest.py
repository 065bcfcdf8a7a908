"""Start real regtestd processes for the chain tests (subprocess + ready line in debug.log)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import ephemeral_port_reserve
import pytest
from bitcoinrpc.authproxy import AuthServiceProxy

READY_LINE = "init message: Done loading"
REPO_ROOT = Path(__file__).resolve().parents[2]


class RegtestdProcess:
    """One regtestd daemon: start, stop (RPC), kill -9, restart; rpc() gives a fresh client."""

    def __init__(self, datadir: Path, extra_args: list[str] | None = None) -> None:
        self.datadir = datadir
        self.port = ephemeral_port_reserve.reserve()
        self.extra_args = list(extra_args or [])
        self.proc: subprocess.Popen | None = None
        self.log_path = datadir / "regtest" / "debug.log"
        self.started_at = 0.0
        self.ready_after = 0.0

    @property
    def cmd(self) -> list[str]:
        return [sys.executable, "-m", "lnharness.node_impl.bitcoin.regtestd", "-regtest", f"-datadir={self.datadir}",
                f"-rpcport={self.port}", "-fallbackfee=0.0002", *self.extra_args]

    def start(self, timeout: float = 30.0) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.wait_for_log(READY_LINE, offset, timeout)
        self.ready_after = time.monotonic() - self.started_at

    def wait_for_log(self, text: str, offset: int = 0, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log_path.exists():
                with open(self.log_path, "rb") as fh:
                    fh.seek(offset)
                    if text.encode() in fh.read():
                        return
            if self.proc is not None and self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"regtestd exited with {self.proc.returncode} before '{text}': {err}")
            time.sleep(0.005)
        raise TimeoutError(f"'{text}' not in {self.log_path} after {timeout}s")

    def url(self, wallet: str | None = None) -> str:
        cookie = (self.datadir / "regtest" / ".cookie").read_text().strip()
        path = "" if wallet is None else f"/wallet/{wallet}"
        return f"http://{cookie}@127.0.0.1:{self.port}{path}"

    def rpc(self, wallet: str | None = None, timeout: int = 60) -> AuthServiceProxy:
        return AuthServiceProxy(self.url(wallet), timeout=timeout)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.rpc().stop()
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def make_regtestd(tmp_path):
    """Factory: make_regtestd(*extra_args) -> started RegtestdProcess (stopped at teardown)."""
    procs: list[RegtestdProcess] = []

    def factory(*extra_args: str, start: bool = True, datadir: Path | None = None) -> RegtestdProcess:
        directory = datadir or tmp_path / f"regtestd{len(procs)}"
        os.makedirs(directory, exist_ok=True)
        proc = RegtestdProcess(directory, list(extra_args))
        procs.append(proc)
        if start:
            proc.start()
        return proc

    yield factory
    for proc in procs:
        try:
            proc.stop()
        except Exception:
            proc.kill()


@pytest.fixture
def regtestd(make_regtestd) -> RegtestdProcess:
    return make_regtestd()


@pytest.fixture
def rpc(regtestd) -> AuthServiceProxy:
    return regtestd.rpc()
