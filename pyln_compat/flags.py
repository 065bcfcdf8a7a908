"""pyln-testing's module-level flags, read from the environment when they are looked up.

pyln-testing reads each flag from the environment, then from `config.vars` in the current
directory (Core Lightning's `./configure` output), then a default. `lnharness.pyln.utils`
(and `.fixtures`) answer these names through a module `__getattr__`, so nothing is read at
import time of lnharness; `from lnharness.pyln.utils import VALGRIND` reads it then.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lnharness.wait import default_timeout

CONFIG_VARS = "config.vars"


def env(name: str, default: Any = None) -> Any:
    """`name` from the environment, else from ./config.vars, else `default` (as pyln-testing)."""
    if name in os.environ:
        return os.environ[name]
    path = Path(CONFIG_VARS)
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.rstrip().partition("=")
            if sep and key == name:
                return value
    return default


def _on(name: str) -> Callable[[], bool]:
    return lambda: env(name, "0") == "1"


def _timeout() -> int:
    fallback = 180 if env("SLOW_MACHINE", "0") == "1" else int(default_timeout())
    return int(env("TIMEOUT", fallback))


#: name -> how its value is found (README: "Coming from pyln-testing" lists the values)
FLAGS: dict[str, Callable[[], Any]] = {
    "TEST_NETWORK": lambda: env("TEST_NETWORK", "regtest"),
    "TEST_DEBUG": _on("TEST_DEBUG"),
    "SLOW_MACHINE": _on("SLOW_MACHINE"),
    "DEPRECATED_APIS": _on("DEPRECATED_APIS"),
    "EXPERIMENTAL_DUAL_FUND": _on("EXPERIMENTAL_DUAL_FUND"),
    "GENERATE_EXAMPLES": _on("GENERATE_EXAMPLES"),
    "RUST": _on("RUST"),
    "TIMEOUT": _timeout,
    # lnharness never runs a node under valgrind
    "VALGRIND": lambda: False,
    # removed from pyln-testing in v23.11; nodes run with developer options where they have them
    "DEVELOPER": lambda: True,
}


def flag(name: str) -> Any:
    """The current value of flag `name`."""
    return FLAGS[name]()
