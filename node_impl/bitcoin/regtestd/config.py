"""Command line and bitcoin.conf parsing with bitcoind's syntax (-name=value, -noname, [regtest])."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .dialect import DEFAULT_MIN_RELAY_FEE_SAT_PER_KVB

DEFAULT_RPC_PORT = 18443
DEFAULT_MAX_TX_FEE_SAT = 10_000_000  # 0.10 BTC, bitcoind's -maxtxfee default
DEFAULT_RPC_SERVER_TIMEOUT = 30  # seconds, bitcoind's -rpcservertimeout default

# Options this daemon interprets; every other bitcoind option is accepted with a warning.
_KNOWN = {
    "datadir", "conf", "rpcport", "rpcbind", "rpcallowip", "rpcuser", "rpcpassword", "rpcauth",
    "rpccookiefile", "fallbackfee", "minrelaytxfee", "printtoconsole", "regtest", "chain",
    "wallet", "disablewallet", "txindex", "server", "maxtxfee", "help", "version", "daemon",
    "testnet", "signet", "rpcthreads", "debuglogfile", "persistmempool", "walletdir",
    "addresstype", "changetype", "mempoolfullrbf", "rpcservertimeout", "logtimemicros",
}
_BOOL_OPTIONS = {"printtoconsole", "regtest", "disablewallet", "txindex", "server", "help",
                 "version", "daemon", "testnet", "signet", "persistmempool", "mempoolfullrbf",
                 "logtimemicros"}


class ConfigError(Exception):
    """A malformed option; the message names it (printed as 'Error: ...' and exit code 1)."""


@dataclass
class Config:
    datadir: Path
    rpcport: int = DEFAULT_RPC_PORT
    rpcbind: str = "127.0.0.1"
    #: -rpcbind values, applied once every option is read (they need -rpcallowip)
    rpcbind_given: list[str] = field(default_factory=list)
    #: networks allowed to call the RPC besides the loopback (-rpcallowip)
    rpcallowip: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(default_factory=list)
    rpcuser: str | None = None
    rpcpassword: str | None = None
    rpcauth: list[str] = field(default_factory=list)
    cookie_path: Path | None = None
    fallbackfee_sat_per_kvb: int = 0
    minrelaytxfee_sat_per_kvb: int = DEFAULT_MIN_RELAY_FEE_SAT_PER_KVB
    maxtxfee_sat: int = DEFAULT_MAX_TX_FEE_SAT
    printtoconsole: bool = False
    logtimemicros: bool = False
    rpcservertimeout: int = DEFAULT_RPC_SERVER_TIMEOUT
    wallets: list[str] = field(default_factory=list)
    wallet_option_given: bool = False
    disablewallet: bool = False
    persistmempool: bool = True
    mempoolfullrbf: bool = True
    addresstype: str = "bech32"
    changetype: str | None = None  # None: same as the payment output's type, like bitcoind
    show_help: bool = False
    show_version: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def net_dir(self) -> Path:
        """<datadir>/regtest, where the log, cookie, chain and wallets live."""
        return self.datadir / "regtest"

    @property
    def log_path(self) -> Path:
        return self.net_dir / "debug.log"

    @property
    def effective_cookie_path(self) -> Path:
        return self.cookie_path or self.net_dir / ".cookie"


def _split_arg(arg: str) -> tuple[str, str | None]:
    body = arg.lstrip("-")
    if "=" in body:
        name, value = body.split("=", 1)
        return name, value
    return body, None


def _parse_bool(name: str, value: str | None) -> bool:
    if value is None or value == "":
        return True
    try:
        return int(value) != 0
    except ValueError:
        return value.lower() not in ("false", "no")


def _parse_amount_sat(name: str, value: str | None) -> int:
    try:
        dec = Decimal(value or "")
        if not dec.is_finite() or dec < 0:
            raise InvalidOperation
    except InvalidOperation:
        raise ConfigError(f"Invalid amount for -{name}=<amount>: '{value}'") from None
    sat = dec * 100_000_000
    if sat != sat.to_integral_value():
        raise ConfigError(f"Invalid amount for -{name}=<amount>: '{value}'")
    return int(sat)


def _parse_int(name: str, value: str | None, lo: int, hi: int) -> int:
    try:
        number = int(value or "")
    except ValueError:
        raise ConfigError(f"Invalid value for -{name}: '{value}' is not a number") from None
    if not lo <= number <= hi:
        raise ConfigError(f"Invalid value for -{name}: {number} is out of range [{lo}, {hi}]")
    return number


def _read_conf_file(path: Path) -> list[tuple[str, str | None]]:
    """Options of a bitcoin.conf, global section and [regtest] (other sections ignored)."""
    entries: list[tuple[str, str | None]] = []
    section = ""
    for lineno, raw_line in enumerate(path.read_text().splitlines(), start=1):
        line = raw_line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if line.startswith("-"):
            raise ConfigError(
                f"parse error on line {lineno} of {path}: {line}, options in configuration file "
                "must be specified without leading -"
            )
        if "=" not in line:
            raise ConfigError(
                f"parse error on line {lineno} of {path}: {line}, if you intended to specify a "
                f"negated option, use -no{line}=1 instead"
            )
        name, value = (part.strip() for part in line.split("=", 1))
        if "." in name:
            prefix, name = name.split(".", 1)
            if prefix != "regtest":
                continue
        if section not in ("", "regtest"):
            continue
        entries.append((name, value))
    return entries


def parse_args(argv: list[str]) -> Config:
    """Parse a bitcoind-style command line (and the conf file it names); ConfigError if malformed."""
    cli: list[tuple[str, str | None]] = []
    for arg in argv:
        if not arg.startswith("-"):
            raise ConfigError(f"Command line contains unexpected token '{arg}', see -help for a list of options.")
        name, value = _split_arg(arg)
        if name in ("h", "?"):
            name = "help"
        if not name:
            raise ConfigError(f"Invalid parameter {arg}")
        cli.append((name, value))

    datadir_value = next((v for n, v in reversed(cli) if n == "datadir"), None)
    datadir = Path(os.path.expanduser(datadir_value or "~/.bitcoin")).absolute()
    conf_value = next((v for n, v in reversed(cli) if n == "conf"), None)
    entries: list[tuple[str, str | None]] = []
    if conf_value:
        conf_path = Path(os.path.expanduser(conf_value))
        if not conf_path.is_absolute():
            conf_path = datadir / conf_path
        if not conf_path.exists():
            raise ConfigError(f"specified config file \"{conf_path}\" could not be opened.")
        entries.extend(_read_conf_file(conf_path))
    elif (datadir / "bitcoin.conf").exists():
        entries.extend(_read_conf_file(datadir / "bitcoin.conf"))
    # Command line wins over the configuration file: apply it last.
    entries.extend(cli)

    config = Config(datadir=datadir)
    for name, value in entries:
        _apply(config, name, value)
    _choose_rpc_address(config)
    if datadir_value is not None and not datadir.is_dir():
        raise ConfigError(f"Specified data directory \"{datadir_value}\" does not exist.")
    return config


def _choose_rpc_address(config: Config) -> None:
    """Bitcoin Core's rule: without -rpcallowip only the loopback is served (-rpcbind is
    ignored); with it, the -rpcbind address (one here: the last), else every address."""
    if not config.rpcallowip:
        if config.rpcbind_given:
            config.warnings.append("Warning: Option -rpcbind was ignored because -rpcallowip was "
                                   "not specified, refusing to allow everyone to connect")
        return
    if not config.rpcbind_given:
        config.rpcbind = "0.0.0.0"
        return
    if len(config.rpcbind_given) > 1:
        config.warnings.append(f"Warning: regtestd serves one address: -rpcbind="
                               f"{config.rpcbind_given[-1]} (the others are ignored)")
    value = config.rpcbind_given[-1]
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit() and not host.endswith(":"):
        config.rpcport = _parse_int("rpcbind", port, 1, 65535)
        value = host
    config.rpcbind = value.strip("[]")


def _apply(config: Config, name: str, value: str | None) -> None:
    negated = False
    if name.startswith("no") and name[2:] in _KNOWN | _BOOL_OPTIONS:
        negated = True
        name = name[2:]
    if name not in _KNOWN:
        config.warnings.append(f"Warning: option -{name} is not supported by regtestd and is ignored")
        return
    if negated:
        flag = not _parse_bool(name, value)
    else:
        flag = _parse_bool(name, value) if name in _BOOL_OPTIONS else False
    if name == "rpcport":
        config.rpcport = _parse_int(name, value, 1, 65535)
    elif name == "rpcbind":
        if not value:
            raise ConfigError("Invalid value for -rpcbind: empty")
        config.rpcbind_given.append(value)
    elif name == "rpcallowip":
        try:
            config.rpcallowip.append(ipaddress.ip_network(value or "", strict=False))
        except ValueError:
            raise ConfigError(f"Invalid -rpcallowip subnet specification: {value}. Valid are a "
                              "single IP (e.g. 1.2.3.4) or a network/netmask (e.g. "
                              "1.2.3.4/255.255.255.0) or a network/CIDR (e.g. 1.2.3.4/24).") from None
    elif name == "rpcuser":
        config.rpcuser = value or ""
    elif name == "rpcpassword":
        config.rpcpassword = value or ""
    elif name == "rpcauth":
        if not value or ":" not in value or "$" not in value:
            raise ConfigError(f"Invalid -rpcauth argument '{value}'")
        config.rpcauth.append(value)
    elif name == "rpccookiefile":
        if value:
            path = Path(os.path.expanduser(value))
            config.cookie_path = path if path.is_absolute() else config.net_dir / path
    elif name == "fallbackfee":
        config.fallbackfee_sat_per_kvb = _parse_amount_sat(name, value)
    elif name == "minrelaytxfee":
        config.minrelaytxfee_sat_per_kvb = _parse_amount_sat(name, value)
    elif name == "maxtxfee":
        config.maxtxfee_sat = _parse_amount_sat(name, value)
    elif name == "printtoconsole":
        config.printtoconsole = flag
    elif name == "logtimemicros":
        config.logtimemicros = flag
    elif name == "persistmempool":
        config.persistmempool = flag
    elif name == "mempoolfullrbf":
        config.mempoolfullrbf = flag
    elif name == "disablewallet":
        config.disablewallet = flag
    elif name == "wallet":
        config.wallet_option_given = True
        if not negated and value not in config.wallets:
            config.wallets.append(value or "")
    elif name in ("regtest",):
        if negated or not flag:
            raise ConfigError("regtestd only runs the regtest chain; -regtest=0 is not supported")
    elif name in ("testnet", "signet"):
        if flag:
            raise ConfigError(f"regtestd only runs the regtest chain; -{name} is not supported")
    elif name == "chain":
        if value != "regtest":
            raise ConfigError(f"regtestd only runs the regtest chain; -chain={value} is not supported")
    elif name == "help":
        config.show_help = flag
    elif name == "version":
        config.show_version = flag
    elif name == "daemon":
        if flag:
            config.warnings.append("Warning: -daemon ignored, regtestd runs in the foreground")
    elif name in ("addresstype", "changetype"):
        if value not in ("bech32", "bech32m", "legacy", "p2sh-segwit"):
            raise ConfigError(f"Unknown address type '{value}' for -{name}")
        if value in ("legacy", "p2sh-segwit"):
            config.warnings.append(f"Warning: -{name}={value} is not supported by regtestd, using bech32")
            value = "bech32"
        setattr(config, name, value)
    elif name == "rpcservertimeout":
        config.rpcservertimeout = _parse_int(name, value, 1, 86400)
    elif name == "rpcthreads":
        _parse_int(name, value, 1, 1024)
    # datadir, conf, txindex, server, debuglogfile, walletdir: accepted, nothing to do
