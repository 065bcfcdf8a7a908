"""Finding lnd, telling whether it runs here, and the command line the harness starts it with.

Discovery: `LNH_LND` (a path to any lnd binary) first, then the lnd that
`lnharness install lnd` put in the tool directory, then `lnd` on PATH. Settings are the
test-friendly ones of LND's own integration tests (lntest) that a release build accepts.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lnharness.dirs import tool_dir
from lnharness.errors import ProcessError

from .install import installed_binary

INSTALL_HINT = "run `lnharness install lnd` (needs Go) or set LNH_LND to an lnd binary"

#: options the adapter sets itself; a test cannot pass them through `options`
MANAGED_OPTIONS = frozenset({
    "lnddir", "configfile", "datadir", "logdir", "tlscertpath", "tlskeypath",
    "adminmacaroonpath", "readonlymacaroonpath", "invoicemacaroonpath",
    "listen", "rpclisten", "restlisten", "externalip", "norest", "no-rest-tls", "no-macaroons",
    "noseedbackup", "bitcoin.regtest", "bitcoin.mainnet", "bitcoin.testnet", "bitcoin.testnet4",
    "bitcoin.signet", "bitcoin.simnet", "bitcoin.node", "bitcoind.rpchost", "bitcoind.rpcuser",
    "bitcoind.rpcpass", "bitcoind.rpccookie", "bitcoind.rpcpolling", "bitcoind.zmqpubrawblock",
    "bitcoind.zmqpubrawtx", "bitcoind.dir", "bitcoind.config", "logging.file.disable",
})

#: what the harness passes unless a test overrides it (lntest's settings, release-build flags)
TEST_DEFAULTS: dict[str, Any] = {
    "nobootstrap": True,
    "debuglevel": "debug",
    "trickledelay": 50,
    "gossip.sub-batch-delay": "5ms",
    "caches.rpc-graph-cache-duration": "100ms",
    "bitcoin.defaultchanconfs": 1,
    "bitcoin.defaultremotedelay": 4,
    "accept-keysend": True,
    "keep-failed-payment-attempts": True,
    "logging.no-commit-hash": True,
    "db.batch-commit-interval": "10ms",
    "maxpendingchannels": 10,
    "bitcoind.blockpollinginterval": "100ms",
    "bitcoind.txpollinginterval": "100ms",
}


@dataclass(frozen=True)
class Found:
    """Where lnd was found, and how (which rule of the discovery order)."""
    path: str
    how: str


def find_lnd() -> Found | None:
    """lnd by `LNH_LND` (read now), then the installed one, then PATH; None if none."""
    configured = os.environ.get("LNH_LND")
    if configured:
        return Found(configured, "LNH_LND")
    installed = installed_binary("lnd")
    if installed is not None:
        return Found(str(installed), "installed by `lnharness install lnd`")
    on_path = shutil.which("lnd")
    return Found(on_path, "PATH") if on_path else None


def not_found_reason() -> str:
    """Why no lnd was found, and the command that fixes it."""
    return (f"lnd not found: LNH_LND is not set, {tool_dir() / 'lnd'} does not exist and "
            f"there is no lnd on PATH; {INSTALL_HINT}")


@functools.lru_cache(maxsize=8)
def probe(binary: str) -> tuple[str, frozenset[str]]:
    """`lnd --version` of `binary` and the long options its `--help` lists."""
    try:
        version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
        helptext = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ProcessError(f"{binary} does not run: {exc}") from None
    if version.returncode != 0:
        raise ProcessError(f"{binary} --version exited with {version.returncode}: "
                           f"{(version.stderr or version.stdout).strip()[:200]}")
    options = frozenset(re.findall(r"--([A-Za-z0-9][A-Za-z0-9.\-_]*)", helptext.stdout + helptext.stderr))
    return version.stdout.strip(), options


def option_args(options: dict[str, Any], known: frozenset[str]) -> list[str]:
    """Command-line arguments: the test defaults overridden by `options` (LND's long options,
    `_` accepted for `-`). A managed option or one this lnd does not know is a TypeError;
    `False` drops a default flag."""
    merged = dict(TEST_DEFAULTS)
    for key, value in options.items():
        name = key.replace("_", "-")
        if name in MANAGED_OPTIONS:
            raise TypeError(f"lnd option {key!r} is set by the harness and cannot be overridden")
        if known and name not in known:
            raise TypeError(f"unknown lnd option {key!r} (not in `lnd --help`)")
        merged[name] = value
    args = []
    for name, value in merged.items():
        if value is True:
            args.append(f"--{name}")
        elif value is not False and value is not None:
            args.append(f"--{name}={value}")
    return args


def base_args(*, lnddir: Path, alias: str, host: str, p2p_port: int, rpc_port: int,
              rest_port: int, chain_rpc: str, rpcuser: str, rpcpassword: str,
              external_host: str | None = None, reach_host: str = "127.0.0.1") -> list[str]:
    """The managed part of the command line: directories, ports (listening on `host`,
    announced at `external_host`, default `host`), regtest on bitcoind's RPC in polling mode
    (no ZMQ: works on every chain backend), no seed backup. The TLS certificate also names
    `reach_host`, where the harness calls the REST API, when it is not the loopback."""
    tls = []
    if reach_host not in ("127.0.0.1", "localhost", "::1"):
        is_ip = all(part.isdigit() for part in reach_host.split(".")) or ":" in reach_host
        tls = [f"--tlsextraip={reach_host}" if is_ip else f"--tlsextradomain={reach_host}"]
    return [f"--lnddir={lnddir}", f"--alias={alias}",
            f"--listen={host}:{p2p_port}", f"--externalip={external_host or host}:{p2p_port}",
            f"--rpclisten={host}:{rpc_port}", f"--restlisten={host}:{rest_port}", *tls,
            "--noseedbackup", "--logging.file.disable",
            "--bitcoin.regtest", "--bitcoin.node=bitcoind", f"--bitcoind.rpchost={chain_rpc}",
            f"--bitcoind.rpcuser={rpcuser}", f"--bitcoind.rpcpass={rpcpassword}",
            "--bitcoind.rpcpolling"]
