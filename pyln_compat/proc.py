"""`TailableProc`: pyln-testing's base class for a helper process with a log, on lnharness's
`Daemon` (start, stop, kill, `wait_for_log(s)`, `is_in_log`, `logs`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from lnharness.proc import Daemon


class TailableProc:
    """A process of the test (a subclass sets `cmd_line`), its output in `outputDir/log`.

    As in pyln-testing: `start()`, `stop(timeout)` (SIGTERM, then SIGKILL), `kill()`,
    `wait()`, `wait_for_log(regex)` searching forward from the last match, `is_in_log`,
    `logs`. `prefix` names the process in errors."""

    def __init__(self, outputDir: str | Path, verbose: bool = True, *, prefix: str = "proc"):
        self.outputDir = Path(outputDir)
        self.verbose = verbose
        self.prefix = prefix
        self.cmd_line: list[str] | None = None
        self.cmd_prefix: list[str] = []
        self.env: dict[str, str] | None = None
        self.proc: Daemon | None = None

    def _daemon(self) -> Daemon:
        if self.proc is None:
            raise RuntimeError(f"{self.prefix}: not started")
        return self.proc

    def start(self, stdin: Any = None, stdout_redir: bool = True, stderr_redir: bool = True) -> None:
        """Start `cmd_prefix + cmd_line`, its output appended to `outputDir/log`."""
        if not self.cmd_line:
            raise ValueError(f"{self.prefix}: set cmd_line before start()")
        self.proc = Daemon(self.prefix, [*self.cmd_prefix, *self.cmd_line],
                           log_path=self.outputDir / "log", cwd=self.outputDir, env=self.env)
        self.proc.start()

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; the exit status."""
        return self._daemon().stop(timeout)

    def kill(self) -> int | None:
        """SIGKILL at once; the exit status."""
        return self._daemon().kill()

    def wait(self, timeout: float = 10) -> int | None:
        """Wait until the process ends by itself; its exit status."""
        daemon = self._daemon()
        assert daemon.proc is not None
        return daemon.proc.wait(timeout)

    @property
    def logs(self) -> list[str]:
        path = self.outputDir / "log"
        return path.read_text(errors="replace").splitlines() if path.exists() else []

    def is_in_log(self, regex: str, start: int = 0) -> str | None:
        return self._daemon().is_in_log(regex, start)

    def wait_for_log(self, regex: str, timeout: float | None = None) -> str:
        return self._daemon().wait_for_log(regex, timeout)

    def wait_for_logs(self, regexs: list[str], timeout: float | None = None) -> list[str]:
        return self._daemon().wait_for_logs(regexs, timeout)
