"""`lnharness-bitcoin-cli`: a bitcoin-cli for regtest that talks to any chain backend.

Made for Core Lightning's bcli plugin (`--bitcoin-cli=lnharness-bitcoin-cli`), so it
behaves like bitcoin-cli where lightningd looks: the options lightningd passes, arguments
converted to JSON for the same (method, position) pairs, a string result printed raw, null
printed as nothing, anything else as 2-space-indented JSON with numbers exactly as the
server wrote them (`0.00001000` stays `0.00001000`), errors on stderr as
`error code: C` / `error message:` / `M` with exit status |C|, connection problems as
`error: ...` with exit status 1.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from lnharness.bitcoin_rpc import BitcoinRpc, RpcConnectionError
from lnharness.errors import RpcError, WaitTimeout
from lnharness.wait import wait_for

PROG = "lnharness-bitcoin-cli"
DEFAULT_RPC_PORT = 18443
DEFAULT_CLIENT_TIMEOUT_S = 900  # bitcoin-cli's -rpcclienttimeout default
FOREVER_S = 365 * 24 * 3600.0
RPC_IN_WARMUP = -28
RPC_WALLET_NOT_SPECIFIED = -19

# (method -> argument positions) parsed as JSON, as bitcoin-cli's conversion table does;
# every other argument is passed as a string.
JSON_ARGS: dict[str, frozenset[int]] = {name: frozenset(pos) for name, pos in {
    "getblockhash": (0,), "getblock": (1,), "getblockheader": (1,), "getblockstats": (0, 1),
    "getchaintxstats": (0,), "estimatesmartfee": (0,), "estimaterawfee": (0, 1),
    "sendrawtransaction": (1, 2), "testmempoolaccept": (0, 1), "gettxout": (1, 2),
    "gettxoutproof": (0,), "getrawtransaction": (1,), "decoderawtransaction": (1,),
    "createrawtransaction": (0, 1, 2, 3), "fundrawtransaction": (1, 2),
    "signrawtransactionwithwallet": (1,), "signrawtransactionwithkey": (1, 2),
    "generatetoaddress": (0, 2), "generatetodescriptor": (0, 2), "generateblock": (1, 2),
    "generateblockfrom": (2,), "setfeeestimate": (0,),
    "getrawmempool": (0, 1), "getmempoolancestors": (1,), "getmempooldescendants": (1,),
    "prioritisetransaction": (1, 2), "waitfornewblock": (0,), "waitforblock": (1,),
    "waitforblockheight": (0, 1), "sendtoaddress": (1, 4, 5, 6, 8, 9, 10),
    "sendmany": (1, 2, 4, 5, 6, 8, 9, 10), "listunspent": (0, 1, 2, 3, 4),
    "getbalance": (1, 2, 3), "getreceivedbyaddress": (1,), "listtransactions": (1, 2, 3),
    "gettransaction": (1, 2), "lockunspent": (0, 1, 2), "settxfee": (0,), "bumpfee": (1,),
    "createwallet": (1, 2, 4, 5, 6, 7), "loadwallet": (1,), "unloadwallet": (1,),
    "scantxoutset": (1,), "gettxoutsetinfo": (1, 2), "deriveaddresses": (1,),
    "importdescriptors": (0,), "walletcreatefundedpsbt": (0, 1, 2, 3, 4),
    "walletprocesspsbt": (1, 3, 4), "finalizepsbt": (1,), "combinepsbt": (0,),
    "createpsbt": (0, 1, 2, 3), "setmocktime": (0,), "verifychain": (0, 1),
    "pruneblockchain": (0,), "logging": (0, 1), "echojson": tuple(range(10)),
    "getnetworkhashps": (0, 1),
}.items()}

_VALUE_OPTIONS = {"datadir", "conf", "rpcclienttimeout", "rpcconnect", "rpcport", "rpcuser",
                  "rpcpassword", "rpcwaittimeout", "rpcwallet", "rpccookiefile", "chain"}
_FLAG_OPTIONS = {"regtest", "stdinrpcpass", "stdin", "rpcwait", "version", "help",
                 "testnet", "signet", "named"}


class CliError(Exception):
    """A failure printed as `error: <message>` with exit status `exit_code`."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


class RawJson(str):
    """A JSON number kept as the server wrote it."""


@dataclass
class Options:
    values: dict[str, str] = field(default_factory=dict)
    flags: dict[str, bool] = field(default_factory=dict)

    def flag(self, name: str) -> bool:
        return self.flags.get(name, False)


def parse_command_line(argv: Sequence[str]) -> tuple[Options, list[str]]:
    """Split `-option[=value]` arguments from the method and its parameters."""
    options = Options()
    index = 0
    while index < len(argv) and argv[index].startswith("-") and len(argv[index]) > 1:
        arg = argv[index].lstrip("-")
        name, has_value, value = arg.partition("=")
        if name.startswith("no") and name[2:] in _FLAG_OPTIONS and not has_value:
            options.flags[name[2:]] = False
        elif name in _FLAG_OPTIONS:
            options.flags[name] = value.strip().lower() not in ("0", "false", "no") \
                if has_value else True
        elif name in _VALUE_OPTIONS:
            options.values[name] = value
        elif name in ("h", "?"):
            options.flags["help"] = True
        else:
            raise CliError(f"Error parsing command line arguments: Invalid parameter {argv[index]}")
        index += 1
    return options, list(argv[index:])


def read_conf(path: Path) -> dict[str, str]:
    """Settings of a bitcoin.conf that apply to regtest (global section and [regtest])."""
    settings: dict[str, str] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        name, _, value = (part.strip() for part in line.partition("="))
        if "." in name:
            prefix, name = name.split(".", 1)
            if prefix != "regtest":
                continue
        if section in ("", "regtest"):
            settings[name] = value
    return settings


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    user: str
    password: str
    wallet: str | None
    timeout_s: float


def resolve_endpoint(options: Options, stdin_password: str | None) -> Endpoint:
    """Where to connect and with which credentials: command line, then bitcoin.conf, then cookie."""
    if options.flag("testnet") or options.flag("signet") or \
            options.values.get("chain", "regtest") != "regtest":
        raise CliError(f"{PROG} only supports -regtest")
    datadir_value = options.values.get("datadir")
    datadir = Path(os.path.expanduser(datadir_value)) if datadir_value else None
    if datadir is not None and not datadir.is_dir():
        raise CliError(f"Error: Specified data directory \"{datadir_value}\" does not exist.")
    conf: dict[str, str] = {}
    conf_value = options.values.get("conf")
    if conf_value:
        conf_path = Path(os.path.expanduser(conf_value))
        if not conf_path.is_absolute() and datadir is not None:
            conf_path = datadir / conf_path
        if not conf_path.exists():
            raise CliError(f"Error reading configuration file: specified config file "
                           f"\"{conf_path}\" could not be opened.")
        conf = read_conf(conf_path)
    elif datadir is not None and (datadir / "bitcoin.conf").exists():
        conf = read_conf(datadir / "bitcoin.conf")

    def setting(name: str) -> str | None:
        return options.values.get(name, conf.get(name))

    host = setting("rpcconnect") or "127.0.0.1"
    port_text = setting("rpcport")
    if ":" in host and not host.startswith("["):
        host, _, host_port = host.rpartition(":")
        port_text = port_text or host_port
    try:
        port = int(port_text) if port_text else DEFAULT_RPC_PORT
    except ValueError:
        raise CliError(f"Invalid port provided in -rpcport: {port_text}") from None

    password = stdin_password if stdin_password is not None else setting("rpcpassword")
    user = setting("rpcuser") or ""
    if not password:
        cookie = options.values.get("rpccookiefile")
        cookie_path = Path(cookie) if cookie else (datadir / "regtest" / ".cookie" if datadir else None)
        if cookie_path is not None and cookie_path.exists():
            user, _, password = cookie_path.read_text().strip().partition(":")
        else:
            raise CliError("Could not locate RPC credentials. No authentication cookie could be "
                           "found, and RPC password is not set.  See -rpcpassword and "
                           "-stdinrpcpass.")
    timeout_text = options.values.get("rpcclienttimeout")
    try:
        timeout_s = float(timeout_text) if timeout_text is not None else DEFAULT_CLIENT_TIMEOUT_S
    except ValueError:
        raise CliError(f"Invalid value for -rpcclienttimeout: {timeout_text}") from None
    return Endpoint(host, port, user, password, options.values.get("rpcwallet"),
                    timeout_s if timeout_s > 0 else FOREVER_S)


def convert_params(method: str, params: Sequence[str]) -> list[Any]:
    """bitcoin-cli's argument conversion: JSON for listed positions, strings otherwise."""
    positions = JSON_ARGS.get(method, frozenset())
    converted: list[Any] = []
    for index, text in enumerate(params):
        if index in positions:
            try:
                converted.append(json.loads(text, parse_float=Decimal))
            except ValueError:
                raise CliError(f"Error parsing JSON: {text}") from None
        else:
            converted.append(text)
    return converted


def format_number(value: int | Decimal) -> str:
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def write_json(value: Any, indent_level: int = 1, indent: int = 2) -> str:
    """JSON the way bitcoin-cli prints it (UniValue's `write(2)`), numbers kept as written."""
    pad = " " * (indent * indent_level)
    close_pad = " " * (indent * (indent_level - 1))
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, Decimal)):
        return format_number(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(str(k), ensure_ascii=False)}: "
                 f"{write_json(v, indent_level + 1, indent)}" for k, v in value.items()]
        return "{\n" + "".join(item + (",\n" if i < len(items) - 1 else "\n")
                               for i, item in enumerate(items)) + close_pad + "}"
    if isinstance(value, list):
        items = [f"{pad}{write_json(v, indent_level + 1, indent)}" for v in value]
        return "[\n" + "".join(item + (",\n" if i < len(items) - 1 else "\n")
                               for i, item in enumerate(items)) + close_pad + "]"
    raise TypeError(f"cannot print {type(value).__name__} as JSON")


def format_result(result: Any) -> str:
    """What bitcoin-cli prints for a result ('' for null)."""
    if result is None:
        return ""
    if isinstance(result, str):
        return result
    return write_json(result)


def format_rpc_error(exc: RpcError) -> tuple[str, int]:
    """bitcoin-cli's text and exit status for an error answered by the server."""
    if exc.code == -342 and "401" in exc.message:
        return "error: Authorization failed: Incorrect rpcuser or rpcpassword", 1
    if exc.code is None or exc.code in (-342, -343):
        return f"error: {exc.message}", 1
    text = f"error code: {exc.code}\nerror message:\n{exc.message}"
    if exc.code == RPC_WALLET_NOT_SPECIFIED:
        text += " Or for the CLI, specify the \"-rpcwallet=<walletname>\" option before the command"
    return text, abs(exc.code)


def connection_failure(endpoint: Endpoint) -> str:
    return (f"Could not connect to the server {endpoint.host}:{endpoint.port}\n\n"
            "Make sure the bitcoind server is running and that you are connecting to the "
            "correct RPC port.")


def call(endpoint: Endpoint, method: str, params: list[Any], *, rpcwait: bool,
         rpcwait_timeout_s: float) -> Any:
    """Send the call (waiting for the server with `rpcwait`); raise RpcError or CliError."""
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    url = f"http://{endpoint.user}:{endpoint.password}@{host}:{endpoint.port}/"
    rpc = BitcoinRpc(url, timeout=endpoint.timeout_s)
    if endpoint.wallet is not None:
        rpc = rpc.wallet(endpoint.wallet)
    if not rpcwait:
        try:
            return rpc.call(method, *params)
        except RpcConnectionError as exc:
            if exc.kind in ("refused", "os"):
                raise CliError(connection_failure(endpoint)) from None
            raise

    last_transient: list[str] = []

    def attempt() -> tuple[Any] | None:
        try:
            return (rpc.call(method, *params),)
        except RpcConnectionError as exc:
            if exc.kind in ("refused", "os", "lost"):
                last_transient[:] = [connection_failure(endpoint)]
                return None
            raise
        except RpcError as exc:
            if exc.code == RPC_IN_WARMUP:
                last_transient[:] = [exc.message]
                return None
            raise

    try:
        answer = wait_for(attempt, rpcwait_timeout_s if rpcwait_timeout_s > 0 else FOREVER_S,
                          what=f"{method} on {endpoint.host}:{endpoint.port}", interval=0.05)
    except WaitTimeout:
        detail = last_transient[0] if last_transient else "no answer"
        raise CliError(f"timeout on transient error: {detail}") from None
    if answer is None:  # wait_for returns only truthy values
        raise CliError(f"no answer to {method}")
    return answer[0]


def usage() -> str:
    return (f"Usage: {PROG} [options] <command> [params]\n"
            "A bitcoin-cli for regtest chains run by lnharness (any backend).\n"
            "Options: -regtest -datadir=<dir> -conf=<file> -rpcconnect=<ip> -rpcport=<port>\n"
            "  -rpcuser=<user> -rpcpassword=<pw> -stdinrpcpass -stdin -rpcwallet=<name>\n"
            "  -rpcclienttimeout=<s> -rpcwait -rpcwaittimeout=<s> -rpccookiefile=<file>\n")


def run(argv: Sequence[str], stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    """The whole command; returns the exit status."""
    try:
        options, args = parse_command_line(argv)
        if options.flag("help"):
            stdout.write(usage())
            return 0
        if options.flag("version"):
            stdout.write(f"{PROG} (bitcoin-cli compatible) version v0.1.0\n")
            return 0
        if options.flag("named"):
            raise CliError(f"{PROG} does not support -named")
        password = None
        if options.flag("stdinrpcpass"):
            line = stdin.readline()
            if not line:
                raise CliError("-stdinrpcpass specified but failed to read from standard input")
            password = line.rstrip("\n")
        if options.flag("stdin"):
            args += [line.rstrip("\n") for line in stdin]
        if not args:
            raise CliError("too few parameters (need at least command)")
        endpoint = resolve_endpoint(options, password)
        wait_text = options.values.get("rpcwaittimeout", "0")
        try:
            wait_timeout = float(wait_text)
        except ValueError:
            raise CliError(f"Invalid value for -rpcwaittimeout: {wait_text}") from None
        method = args[0]
        params = convert_params(method, args[1:])
        result = call(endpoint, method, params, rpcwait=options.flag("rpcwait"),
                      rpcwait_timeout_s=wait_timeout)
    except CliError as exc:
        stderr.write(f"error: {exc}\n" if not str(exc).startswith("Error") else f"{exc}\n")
        return exc.exit_code
    except RpcError as exc:
        text, code = format_rpc_error(exc)
        stderr.write(text + "\n")
        return code
    text = format_result(result)
    if text:
        stdout.write(text + "\n")
    return 0


def main() -> None:
    """Console script entry point."""
    status = run(sys.argv[1:], sys.stdin, sys.stdout, sys.stderr)
    sys.stdout.flush()
    sys.exit(status)


if __name__ == "__main__":
    main()
