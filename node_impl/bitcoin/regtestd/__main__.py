"""Entry point: python -m lnharness.node_impl.bitcoin.regtestd [bitcoind options]."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

from . import __doc__ as PACKAGE_DOC
from .config import ConfigError, parse_args

HELP = (PACKAGE_DOC or "") + """
Options (bitcoind syntax, also read from bitcoin.conf / -conf=):
  -datadir=<dir>          data directory (default ~/.bitcoin)
  -conf=<file>            configuration file (default <datadir>/bitcoin.conf)
  -rpcport=<port>         RPC port (default 18443)
  -rpcbind=<addr>[:port]  the address served, only with -rpcallowip (default 127.0.0.1)
  -rpcallowip=<ip|cidr>   clients allowed besides the loopback (repeatable)
  -rpcuser=<user> -rpcpassword=<pw>   credentials (otherwise a .cookie file is written)
  -rpcauth=<user>:<salt>$<hash>       salted credentials, like bitcoind
  -fallbackfee=<btc/kvB>  wallet fee rate when there is no estimate (default 0: disabled)
  -minrelaytxfee=<btc/kvB> minimum relay fee rate (default 0.000001: 0.1 sat/vB, as Core v30+)
  -maxtxfee=<btc>         accepted for compatibility
  -wallet=<name>          wallet to load (created if missing); default: the default wallet ""
  -disablewallet          no wallet
  -persistmempool         save the mempool on stop and load it on start (default 1)
  -mempoolfullrbf         replace any conflicting transaction that pays enough (default 1)
  -addresstype=<type>     getnewaddress default: bech32 (P2WPKH) or bech32m (P2TR)
  -changetype=<type>      change output type (default: like the payment)
  -printtoconsole         log to stdout as well as debug.log
  -logtimemicros          log timestamps with microseconds (2026-01-02T03:04:05.678901Z)
  -rpcservertimeout=<s>   a request must arrive whole within this (default 30), else HTTP 408
  -regtest / -chain=regtest   the only chain
Unknown bitcoind options are accepted with a warning in the log.
"""

log = logging.getLogger("regtestd")


class _UtcFormatter(logging.Formatter):
    """bitcoind's log timestamps: 2026-01-02T03:04:05Z, or 2026-01-02T03:04:05.678901Z
    with -logtimemicros."""

    def __init__(self, fmt: str, *, micros: bool = False):
        super().__init__(fmt)
        self.micros = micros

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        if self.micros:
            stamp += f".{int(record.created * 1_000_000) % 1_000_000:06d}"
        return stamp + "Z"


def _setup_logging(log_path, printtoconsole: bool, micros: bool = False) -> None:
    formatter = _UtcFormatter("%(asctime)s %(message)s", micros=micros)
    root = logging.getLogger("regtestd")
    root.setLevel(logging.DEBUG)
    root.propagate = False
    file_handler = logging.FileHandler(log_path)
    file_handler.setFormatter(formatter)
    file_handler.setLevel(logging.DEBUG)
    root.addHandler(file_handler)
    if printtoconsole:
        console = logging.StreamHandler(sys.stdout)
        console.setFormatter(formatter)
        console.setLevel(logging.INFO)
        root.addHandler(console)


def _lock_exclusively(handle) -> None:
    """Non-blocking exclusive lock on an open file (OSError when another process holds it)."""
    if sys.platform == "win32":
        import msvcrt

        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


def main(argv: list[str] | None = None) -> int:
    try:
        config = parse_args(sys.argv[1:] if argv is None else argv)
    except ConfigError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    if config.show_help:
        print(HELP)
        return 0
    if config.show_version:
        from .dialect import SUBVERSION

        print(f"regtestd (Bitcoin Core RPC compatible, answers as {SUBVERSION.strip('/')})")
        return 0
    if sys.platform != "win32":
        os.umask(0o077)  # like bitcoind: the cookie, wallets and chain are this user's alone
    try:
        config.net_dir.mkdir(parents=True, exist_ok=True)
        if sys.platform != "win32":
            os.chmod(config.net_dir, 0o700)
    except OSError as exc:
        print(f"Error: cannot create data directory {config.net_dir}: {exc}", file=sys.stderr)
        return 1
    lock_file = open(config.net_dir / ".lock", "w")  # noqa: SIM115 - held for the process lifetime
    try:
        _lock_exclusively(lock_file)
    except OSError:
        print(f"Error: Cannot obtain a lock on data directory {config.datadir}. regtestd is probably already running.",
              file=sys.stderr)
        return 1
    _setup_logging(config.log_path, config.printtoconsole, config.logtimemicros)
    log.info("regtestd starting (Bitcoin Core RPC compatible), datadir %s", config.datadir)
    for warning in config.warnings:
        log.warning(warning)

    from . import (  # noqa: F401 - registers the RPC methods
        rpc_chain,
        rpc_control,
        rpc_mining,
        rpc_rawtx,
        rpc_wallet,
        rpc_wallet_send,
    )
    from .node import Node
    from .rpc_server import Credentials, RpcHttpServer

    try:
        node = Node(config)
    except Exception as exc:
        log.exception("Error: failed to load the chain")
        print(f"Error: failed to load the chain: {exc}", file=sys.stderr)
        return 1
    try:
        server = RpcHttpServer((config.rpcbind, config.rpcport), node, Credentials(config),
                               request_timeout=config.rpcservertimeout,
                               allowed=config.rpcallowip)
    except OSError as exc:
        log.error("Error: Unable to bind RPC server on %s:%d: %s", config.rpcbind, config.rpcport, exc)
        print(f"Error: Unable to start HTTP server. See debug log for details. (port {config.rpcport}: {exc})",
              file=sys.stderr)
        node.close()
        return 1

    def request_stop(signum, _frame) -> None:
        log.info("Received signal %d, shutting down", signum)
        node.shutdown_requested.set()
        server.stop_event.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    serve_thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                    name="rpc-server", daemon=True)
    serve_thread.start()
    log.info("Binding RPC on address %s port %d", config.rpcbind, config.rpcport)
    log.info("init message: Done loading")
    for handler in log.handlers:
        handler.flush()

    while not server.stop_event.wait(0.1):
        pass
    log.info("Shutdown: In progress...")
    node.shutdown_requested.set()
    with node.lock:
        node.tip_changed.notify_all()
    server.shutdown()
    server.server_close()
    node.close()
    server.credentials.remove_cookie()
    log.info("Shutdown: done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
