"""Canned answers of `lnharness-bitcoin-cli`, per node: what pyln-testing's bitcoind proxy
does with `mock_rpc`, for the one program that reads them.

A Core Lightning node's lightningd (and so its bcli plugin and the shim it runs) gets
`LNH_BITCOIN_CLI_MOCKS=<file>` in its environment. The file is JSON: `{method: {params: result}}`
where `params` is the call's converted parameter list as compact JSON (`[2,"CONSERVATIVE"]`)
or `*` for any parameters; numbers are printed as written (a Decimal keeps its digits). A method without an entry goes to the chain. Each answered call
appends the method's name to `<file>.calls`, so a test can wait until the node has asked.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

MOCKS_ENV = "LNH_BITCOIN_CLI_MOCKS"
ANY_PARAMS = "*"
_DECIMAL_MARK = "\u0000dec\u0000"
_DECIMAL_TEXT = re.compile(r'"\\u0000dec\\u0000(-?[0-9.]+)\\u0000dec\\u0000"')


def params_key(params: Sequence[Any]) -> str:
    """The key of a parameter list in the mocks file."""
    return json.dumps(list(params), separators=(",", ":"), default=str)


def mocked_result(method: str, params: Sequence[Any],
                  environ: Mapping[str, str] | None = None) -> tuple[Any] | None:
    """`(result,)` when the mocks file named in the environment answers this call (and the
    call is counted), else None."""
    path = (environ if environ is not None else os.environ).get(MOCKS_ENV)
    if not path:
        return None
    try:
        mocks = json.loads(Path(path).read_text(), parse_float=Decimal)
    except FileNotFoundError:
        return None
    answers = mocks.get(method)
    if not isinstance(answers, dict):
        return None
    key = params_key(params)
    if key not in answers and ANY_PARAMS not in answers:
        return None
    with open(f"{path}.calls", "a") as calls:  # one short append: atomic between processes
        calls.write(method + "\n")
    return (answers[key] if key in answers else answers[ANY_PARAMS],)


def set_mock(path: Path, method: str, answers: Mapping[str, Any] | None) -> None:
    """Answer `method` from `answers` (`{params_key(...) or "*": result}`; None: ask the chain
    again) and restart its call count."""
    mocks = json.loads(path.read_text(), parse_float=Decimal) if path.exists() else {}
    if answers is None:
        mocks.pop(method, None)
    else:
        mocks[method] = dict(answers)
    calls = Path(f"{path}.calls")
    if calls.exists():
        kept = [line for line in calls.read_text().splitlines() if line != method]
        calls.write_text("".join(line + "\n" for line in kept))
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(_DECIMAL_TEXT.sub(r"\1", json.dumps(mocks, default=_number)))
    os.replace(temporary, path)  # a shim reading it sees the old file or the new one


def _number(value: Any) -> str:
    """A Decimal as a marked string, unmarked into a bare number with its digits as given
    (bitcoind prints amounts with 8 decimals, and lightningd's bcli wants them so)."""
    if isinstance(value, Decimal):
        return f"{_DECIMAL_MARK}{value:f}{_DECIMAL_MARK}"
    raise TypeError(f"a mocked result holds {type(value).__name__} {value!r}: not JSON")


def mock_calls(path: Path, method: str) -> int:
    """How many calls of `method` the mocks have answered since it was last set."""
    calls = Path(f"{path}.calls")
    if not calls.exists():
        return 0
    return sum(1 for line in calls.read_text().splitlines() if line == method)
