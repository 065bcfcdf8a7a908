"""Writing benchmark results into bench/RESULTS.md, one `## ` section per benchmark."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine() -> str:
    """Cores, CPU model, Python, py-bitcoinkernel and OS of this machine."""
    cpu = "unknown CPU"
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        if match:
            cpu = match.group(1).strip()
    except OSError:
        pass
    try:
        kernel = importlib.metadata.version("py-bitcoinkernel")
    except importlib.metadata.PackageNotFoundError:
        kernel = "not installed"
    return (f"nproc {os.cpu_count()}, {cpu}, Python {platform.python_version()}, "
            f"py-bitcoinkernel {kernel}, {platform.system()} {platform.release()}")


def header(section: str, command: str) -> list[str]:
    """The first lines of a section: title, command, machine and date."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return [section, "", f"Command: `{command}`  ", f"Machine: {machine()}  ",
            f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"load average at start {load}", ""]


def write_section(section: str, text: str) -> None:
    """Replace (or append) the section titled `section` in RESULTS.md with `text`."""
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _: text + "\n", old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(new.rstrip("\n") + "\n")
