"""The `lnharness` command."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from lnharness import registry
from lnharness.dirs import base_dir
from lnharness.errors import LnhError


def _cmd_impls(args: argparse.Namespace) -> int:
    from lnharness.backend import chain_availability

    print("Lightning implementations (--lnh-impl / LNH_IMPL):")
    for item in registry.implementation_availability():
        print("  " + item.describe())
    print("Chain backends (--lnh-chain / LNH_CHAIN):")
    for chain in chain_availability():
        state = "available" if chain.available else "unavailable"
        print(f"  {chain.name}: {state}: {chain.reason}")
    return 0


DEMO_GROUP = "lnharness.demos"


def _cmd_demo(args: argparse.Namespace) -> int:
    # the demo is an example built on the engine: found through its entry point, as
    # implementations are, so the engine never imports what stands on it
    demo_main = registry.load(DEMO_GROUP, "catshop")
    return int(demo_main(chain_name=args.chain, impl=args.impl))


INSTALLERS_GROUP = "lnharness.installers"


def _cmd_install(args: argparse.Namespace) -> int:
    # each implementation registers its installer, as it registers its adapter
    try:
        installer = registry.load(INSTALLERS_GROUP, args.name)
    except KeyError:
        known = ", ".join(registry.names(INSTALLERS_GROUP)) or "none"
        raise LnhError(f"nothing to install named {args.name!r}; installable: {known}") from None
    installer(args.version, bin_dir=Path(args.bin_dir) if args.bin_dir else None, out=sys.stdout)
    return 0


def _default_up_dir() -> Path:
    return base_dir() / "up"


def _cmd_up(args: argparse.Namespace) -> int:
    from lnharness.session import UpConfig, run_until_signalled

    config = UpConfig(directory=Path(args.dir) if args.dir else _default_up_dir(), nodes=args.nodes,
                      topology=args.topology, impl=args.impl, chain=args.chain,
                      fundamount_sat=args.fundamount_sat)
    return run_until_signalled(config, sys.stdout)


def _cmd_down(args: argparse.Namespace) -> int:
    from lnharness.session import bring_down

    return bring_down(Path(args.dir) if args.dir else _default_up_dir(), sys.stdout)


def _topology(value: str) -> str:
    if value in ("line", "star", "ring") or Path(value).is_file():
        return value
    raise argparse.ArgumentTypeError(f"{value!r} is not line, star, ring or an existing "
                                     ".json/.toml graph file")


def _add_network_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--impl", default="builtin",
                        help="Lightning implementation of the nodes (default builtin; see `lnharness impls`)")
    parser.add_argument("--chain", default="auto", choices=["auto", "embedded", "bitcoind", "docker"],
                        help="chain backend (default auto: bitcoind if found, else embedded)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lnharness", description="Regtest Lightning networks for tests and demos.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    impls = sub.add_parser("impls", help="list Lightning implementations and chain backends, "
                                         "with their versions or why they are unavailable")
    impls.set_defaults(run=_cmd_impls)

    demo = sub.add_parser("demo", help="replay the cat shop story on a fresh regtest network")
    _add_network_options(demo)
    demo.set_defaults(run=_cmd_demo)

    install = sub.add_parser(
        "install", help="build an implementation into the tool directory (lnd: with Go, from "
                        "the Go module proxy)")
    install.add_argument("name", help="what to install, e.g. lnd")
    install.add_argument("--version", help="release to build (default: the pinned one)")
    install.add_argument("--bin-dir", help="where the binaries go (default $LNH_BIN_DIR, else "
                                           "~/.cache/lnharness/bin)")
    install.set_defaults(run=_cmd_install)

    up = sub.add_parser("up", help="start a network and keep it running for interactive work")
    up.add_argument("--nodes", type=int, default=3, help="number of nodes (default 3)")
    up.add_argument("--topology", type=_topology, default="line",
                    help="line, star, ring, or a .json/.toml graph file (default line)")
    up.add_argument("--fundamount-sat", type=int, default=10**6, help="channel size (default 1000000)")
    up.add_argument("--dir", help="working directory (default <LNH_TEST_DIR>/up)")
    _add_network_options(up)
    up.set_defaults(run=_cmd_up)

    down = sub.add_parser("down", help="stop the network started by `lnharness up`")
    down.add_argument("--dir", help="working directory given to `up` (default <LNH_TEST_DIR>/up)")
    down.set_defaults(run=_cmd_down)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `lnharness` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (LnhError, ValueError) as exc:  # bad input and unavailable parts: one line, no trace
        print(f"lnharness {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
