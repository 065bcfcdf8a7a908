"""`LogView`: the `daemon` of a pyln-style node, over an lnharness node's process and log."""
from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lnharness.pyln.rpcproxy import RpcProxy
from lnharness.pyln.waits import wait_for


class LogView:
    """pyln-testing's `TailableProc` surface: `opts`, `cmd_line`, `logs`, `is_in_log`,
    `wait_for_log`, `wait_for_logs`, `logsearch_start`, `lightning_dir`.

    `wait_for_log(s)` search forward from `logsearch_start` (a line index that only moves
    forward, across restarts too, as in pyln-testing); `is_in_log` searches from line `start`.
    """

    def __init__(self, node: Any, opts: dict[str, Any]):
        self._node = node
        #: the options the node was created with; changing them does not change the node
        self.opts = dict(opts)
        self.logsearch_start = 0
        #: pyln's wrapper commands (valgrind); lnharness runs none, so it must stay empty
        self.cmd_prefix: list[str] = []
        #: pyln's bitcoind proxy: fixed answers to the node's bitcoin-cli calls (cln only)
        self.rpcproxy = RpcProxy(node)

    @property
    def lightning_dir(self) -> Path:
        return Path(self._node.lightning_dir)

    @property
    def cmd_line(self) -> list[str]:
        """The node's command line (a copy: changing it does not change the node)."""
        return list(self._node.daemon.cmd)

    @property
    def prefix(self) -> str:
        return str(self._node.name)

    @property
    def log_path(self) -> Path:
        return Path(self._node.daemon.log_path)

    @property
    def logs(self) -> list[str]:
        """Every complete line the node has logged so far."""
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return []
        complete = data[:data.rfind(b"\n") + 1]
        return complete.decode("utf-8", "replace").splitlines()

    def kill(self) -> int | None:
        """SIGKILL the node at once; return its exit status."""
        return self._node.kill()

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM the node (kill after `timeout`), without its RPC `stop`."""
        return self._node.daemon.stop(timeout)

    def is_in_log(self, regex: str, start: int = 0) -> str | None:
        """The first line from line `start` on that matches `regex`, or None."""
        pattern = re.compile(regex)
        return next((line for line in self.logs[start:] if pattern.search(line)), None)

    def wait_for_logs(self, regexs: Iterable[str], timeout: float | None = None) -> str:
        """Wait until every regex has matched a line after `logsearch_start`, in any order;
        move `logsearch_start` past the lines read and return the last line matched."""
        remaining = [re.compile(r) for r in regexs]
        wanted = [p.pattern for p in remaining]
        found: list[str] = []

        def all_seen() -> bool:
            lines = self.logs
            while remaining and self.logsearch_start < len(lines):
                line = lines[self.logsearch_start]
                self.logsearch_start += 1
                hit = next((p for p in remaining if p.search(line)), None)
                if hit is not None:
                    remaining.remove(hit)
                    found.append(line)
            return not remaining

        all_seen.__name__ = f"{self.prefix} to log {wanted}"
        wait_for(all_seen, timeout)
        return found[-1] if found else ""

    def wait_for_log(self, regex: str, timeout: float | None = None) -> str:
        """Wait for a line matching `regex` after `logsearch_start`; return it."""
        return self.wait_for_logs([regex], timeout)

    def __repr__(self) -> str:
        return f"<pyln LogView {self.prefix} {self.log_path}>"
