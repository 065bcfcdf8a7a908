"""Command line of the built-in node (`python -m lnharness.node_impl.builtin --help`).

Layer: core. Imports nothing of the node.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

SUPPORTED_NETWORKS = ("regtest",)

DESCRIPTION = "The lnharness built-in Lightning node (pure Python, real BOLT protocol)."
EPILOG = """\
Everything lives in --lightning-dir: node.sqlite3, rpc_secret, seed, log.
JSON-RPC 2.0 over HTTP POST to http://127.0.0.1:<rpc-port>/ (--rpc-bind) with HTTP Basic auth,
user 'rpc', password = contents of <lightning-dir>/rpc_secret.
Ready line in the log: 'Server started with public key <node id>, alias <alias>'.
"""


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Config:
    """Parsed options of one node."""

    lightning_dir: Path
    addr: HostPort | None
    rpc_port: int
    alias: str | None
    bitcoin_rpcurl: str | None
    bitcoin_rpccookie: Path | None
    seed_hex: str | None
    seed_file: Path | None
    log_files: tuple[str, ...]
    log_level: str
    network: str
    min_depth: int
    to_self_delay: int
    cltv_delta: int
    cltv_final: int
    fee_base_msat: int
    fee_ppm: int
    dust_limit_sat: int
    htlc_minimum_msat: int
    max_accepted_htlcs: int
    ping_idle_s: float
    chain_poll_s: float
    no_reconnect: bool = False
    anchors: bool = True
    rpc_read_timeout_s: float = 60.0
    mpp_timeout_s: float = 60.0
    rpc_bind: str = "127.0.0.1"


def _host_port(text: str) -> HostPort:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return HostPort(host, int(port))


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def _seed_hex(text: str) -> str:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError("--seed must be hex") from None
    if len(raw) != 32:
        raise argparse.ArgumentTypeError(f"--seed must be 32 bytes (64 hex), got {len(raw)} bytes")
    return text.lower()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; its --help is the documented command line."""
    p = argparse.ArgumentParser(
        prog="python -m lnharness.node_impl.builtin",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument("--lightning-dir", required=True, type=Path, metavar="DIR",
                   help="node directory (created if missing)")
    p.add_argument("--addr", type=_host_port, default=None, metavar="HOST:PORT",
                   help="listen for peers (BOLT 8) on HOST:PORT; port 0 picks a free one; "
                        "default: do not listen")
    p.add_argument("--no-reconnect", action="store_true",
                   help="never dial a peer by ourselves: channel peers are not redialled at startup "
                        "nor after a drop (like Core Lightning's --dev-no-reconnect); `connect` "
                        "still dials and incoming connections are accepted")
    p.add_argument("--rpc-port", type=_non_negative_int, default=0, metavar="PORT",
                   help="JSON-RPC port (on --rpc-bind); 0 picks a free one (written to DIR/rpc_port)")
    p.add_argument("--rpc-bind", default="127.0.0.1", metavar="HOST",
                   help="address the JSON-RPC listens on (default 127.0.0.1; 0.0.0.0 in a "
                        "container, whose port is published on the host's loopback)")
    p.add_argument("--alias", default=None, help="node alias (default derived from the node id)")
    p.add_argument("--bitcoin-rpcurl", default=None, metavar="URL",
                   help="chain backend, http://user:pass@127.0.0.1:PORT")
    p.add_argument("--bitcoin-rpccookie", type=Path, default=None, metavar="FILE",
                   help="cookie file with user:pass, instead of credentials in the URL")
    seed = p.add_mutually_exclusive_group()
    seed.add_argument("--seed", dest="seed_hex", type=_seed_hex, default=None, metavar="HEX",
                      help="32-byte node seed (hex); visible to every user in `ps`: "
                           "prefer --seed-file (the harness never uses --seed)")
    seed.add_argument("--seed-file", type=Path, default=None, metavar="FILE",
                      help="file holding the 32-byte seed (raw or hex); default DIR/seed, "
                           "created at random once")
    p.add_argument("--log-file", dest="log_files", action="append", default=None, metavar="FILE",
                   help="log to FILE ('-' = stderr); repeatable; default DIR/log")
    p.add_argument("--log-level", default="info",
                   choices=["debug", "info", "warning", "error"], help="default info")
    p.add_argument("--network", default="regtest",
                   help="only 'regtest' is supported")
    pol = p.add_argument_group("channel policy")
    pol.add_argument("--min-depth", type=_non_negative_int, default=1,
                     help="confirmations before a channel we accept is usable (default 1)")
    pol.add_argument("--to-self-delay", type=_non_negative_int, default=6,
                     help="CSV delay, in blocks, we ask of the peer's to_local output (default 6)")
    pol.add_argument("--cltv-delta", type=_non_negative_int, default=6,
                     help="cltv_expiry_delta we announce for forwarding (default 6)")
    pol.add_argument("--cltv-final", type=_non_negative_int, default=10,
                     help="min_final_cltv_expiry of our invoices (default 10)")
    pol.add_argument("--fee-base-msat", type=_non_negative_int, default=1,
                     help="base forwarding fee, msat (default 1)")
    pol.add_argument("--fee-ppm", type=_non_negative_int, default=10,
                     help="proportional forwarding fee, millionths (default 10)")
    pol.add_argument("--dust-limit-sat", type=_non_negative_int, default=546,
                     help="our dust limit, sat (default 546)")
    pol.add_argument("--htlc-minimum-msat", type=_non_negative_int, default=0,
                     help="smallest HTLC we accept, msat (default 0)")
    pol.add_argument("--no-anchors", action="store_true",
                     help="make static_remotekey channels only: do not offer option_anchors (feature "
                          "bits 22/23) and refuse anchor channels (default: anchor channels with "
                          "peers that offer them)")
    pol.add_argument("--max-accepted-htlcs", type=_non_negative_int, default=483,
                     help="most HTLCs we accept at once per channel (default 483)")
    dev = p.add_argument_group("timing (tests)")
    dev.add_argument("--ping-idle", dest="ping_idle_s", type=float, default=60.0, metavar="SECONDS",
                     help="send a ping after this many seconds without traffic (default 60)")
    dev.add_argument("--chain-poll", dest="chain_poll_s", type=float, default=0.1,
                     metavar="SECONDS",
                     help="block polling interval when the backend lacks waitfornewblock")
    dev.add_argument("--rpc-read-timeout", dest="rpc_read_timeout_s", type=float, default=60.0,
                     metavar="SECONDS",
                     help="an RPC request (or an idle connection's next one) must arrive within "
                          "this, else HTTP 408 and the connection is closed (default 60)")
    dev.add_argument("--mpp-timeout", dest="mpp_timeout_s", type=float, default=60.0, metavar="SECONDS",
                     help="fail every part of a multi-part payment with mpp_timeout when its total has "
                          "not arrived this long after its first part (default 60, as BOLT 4 advises)")
    return p


def parse_config(argv: list[str] | None = None) -> Config:
    """Parse the command line; exits with status 2 naming a bad or unknown option."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.network not in SUPPORTED_NETWORKS:
        parser.error(f"--network={ns.network} is not supported (only: {', '.join(SUPPORTED_NETWORKS)})")
    if ns.max_accepted_htlcs == 0 or ns.max_accepted_htlcs > 483:
        parser.error(f"--max-accepted-htlcs must be 1..483, got {ns.max_accepted_htlcs}")
    if ns.ping_idle_s <= 0:
        parser.error("--ping-idle must be positive")
    if not ns.rpc_read_timeout_s > 0:
        parser.error("--rpc-read-timeout must be positive")
    if not ns.mpp_timeout_s > 0:
        parser.error("--mpp-timeout must be positive")
    lightning_dir: Path = ns.lightning_dir.resolve()
    log_files = tuple(ns.log_files) if ns.log_files else (str(lightning_dir / "log"),)
    return Config(
        lightning_dir=lightning_dir,
        addr=ns.addr,
        rpc_port=ns.rpc_port,
        alias=ns.alias,
        bitcoin_rpcurl=ns.bitcoin_rpcurl,
        bitcoin_rpccookie=ns.bitcoin_rpccookie,
        seed_hex=ns.seed_hex,
        seed_file=ns.seed_file,
        log_files=log_files,
        log_level=ns.log_level,
        network=ns.network,
        min_depth=ns.min_depth,
        to_self_delay=ns.to_self_delay,
        cltv_delta=ns.cltv_delta,
        cltv_final=ns.cltv_final,
        fee_base_msat=ns.fee_base_msat,
        fee_ppm=ns.fee_ppm,
        dust_limit_sat=ns.dust_limit_sat,
        htlc_minimum_msat=ns.htlc_minimum_msat,
        max_accepted_htlcs=ns.max_accepted_htlcs,
        ping_idle_s=ns.ping_idle_s,
        chain_poll_s=ns.chain_poll_s,
        no_reconnect=ns.no_reconnect,
        anchors=not ns.no_anchors,
        rpc_read_timeout_s=ns.rpc_read_timeout_s,
        mpp_timeout_s=ns.mpp_timeout_s,
        rpc_bind=ns.rpc_bind,
    )
