"""The `lnharness` command."""
from __future__ import annotations

import argparse
import os
import sys
import time
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


def _cmd_images(args: argparse.Namespace) -> int:
    from lnharness.containers import commands

    if args.action == "build":
        return commands.build(args.impls, sys.stdout)
    if args.impls is not None:
        raise LnhError(f"--impls applies to `images build`, not `images {args.action}`")
    if args.action == "list":
        return commands.list_images(sys.stdout)
    return commands.prune(sys.stdout)


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


def _cmd_snapshots(args: argparse.Namespace) -> int:
    from lnharness.snapshot import clear_snapshots, list_snapshots, snapshot_root

    root = snapshot_root()
    if args.clear:
        removed = clear_snapshots(root)
        print(f"removed {removed} snapshot(s) from {root}")
        return 0
    found = list_snapshots(root)
    print(f"snapshots in {root} (LNH_SNAPSHOT_DIR): {len(found)}, "
          f"{_size(sum(info.size_bytes for info in found))}")
    for info in found:
        saved = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.saved_at))
        print(f"  {info.key}  {_size(info.size_bytes):>8}  {saved}  {info.description}")
    return 0


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f} MiB"


def _cmd_replay(args: argparse.Namespace) -> int:
    from lnharness.dirs import make_test_dir
    from lnharness.replay import replay

    bundle = Path(args.bundle)
    if args.dir:
        directory = Path(args.dir)
        if directory.exists() and any(directory.iterdir()):
            raise LnhError(f"--dir {directory} is not empty: replay needs a fresh working "
                           "directory (the bundle itself is never modified)")
    else:
        directory = make_test_dir(f"replay-{bundle.resolve().name}")
    return replay(bundle, directory, sys.stdout)


def _cmd_matrix(args: argparse.Namespace) -> int:
    from lnharness.matrix.command import MatrixConfig, run_matrix

    given = {key: value for key in ("cell_timeout", "max_triples")
             if (value := getattr(args, key)) is not None}  # else MatrixConfig's defaults
    config = MatrixConfig(out=Path(args.out), impls=args.impls, scenarios=args.scenarios,
                          chain=args.chain, jobs=args.jobs, keep_dirs=args.keep_dirs, **given)
    return run_matrix(config, sys.stdout)


def _cmd_logs(args: argparse.Namespace) -> int:
    from lnharness.repro import bundle_log_lines

    processes = [name for given in args.process or [] for name in given]
    lines = bundle_log_lines(Path(args.bundle), processes)
    try:
        sys.stdout.writelines(line + "\n" for line in lines)
        sys.stdout.flush()
    except BrokenPipeError:  # `lnharness logs B | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _names(value: str) -> list[str]:
    names = [part.strip() for part in value.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{value!r} names nothing: give a comma-separated list")
    return names


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {value}")
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value}")
    return number


def _topology(value: str) -> str:
    if value in ("line", "star", "ring") or Path(value).is_file():
        return value
    raise argparse.ArgumentTypeError(f"{value!r} is not line, star, ring or an existing "
                                     ".json/.toml graph file (a spec, listchannels or describegraph)")


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
                        "the Go module proxy; ldk: our daemon, with cargo, from crates.io)")
    install.add_argument("name", help="what to install: lnd or ldk")
    install.add_argument("--version", help="release to build (default: the pinned one)")
    install.add_argument("--bin-dir", help="where the binaries go (default $LNH_BIN_DIR, else "
                                           "~/.cache/lnharness/bin)")
    install.set_defaults(run=_cmd_install)

    images = sub.add_parser(
        "images", help="build (or list, or prune) the images that run the chain and the nodes "
                       "in containers, on the engine of DOCKER_HOST (no registry needed)")
    images.add_argument("action", choices=["build", "list", "prune"],
                        help="build: the Debian base, then each image, tagged by the hash of "
                             "what goes in (built again only on a change); list: what the "
                             "engine has and what is current; prune: remove older builds")
    images.add_argument("--impls", type=_names, metavar="A,B,...",
                        help="images to build: python (also builtin, embedded), bitcoind, "
                             "cln, lnd, ldk (default: every one that can be built here)")
    images.set_defaults(run=_cmd_images)

    up = sub.add_parser("up", help="start a network and keep it running for interactive work")
    up.add_argument("--nodes", type=int, default=3, help="number of nodes (default 3)")
    up.add_argument("--topology", type=_topology, default="line",
                    help="line, star, ring, or a .json/.toml graph file: a graph spec, or Core "
                         "Lightning listchannels / LND describegraph JSON, imported (default line)")
    up.add_argument("--fundamount-sat", type=int, default=10**6, help="channel size (default 1000000)")
    up.add_argument("--dir", help="working directory (default <LNH_TEST_DIR>/up)")
    _add_network_options(up)
    up.set_defaults(run=_cmd_up)

    matrix = sub.add_parser(
        "matrix", help="run the interop scenarios over every pair (and triple) of "
                       "implementations; write matrix.json, matrix.md and matrix.html")
    matrix.add_argument("--impls", type=_names, metavar="A,B,...",
                        help="implementations to cross (default: every registered one; "
                             "unavailable ones are listed with the reason and skipped)")
    matrix.add_argument("--scenarios", type=_names, metavar="A,B,...",
                        help="scenarios to run (default all: open, pay, route, expiry, "
                             "coop-close, force-close, restart, then any registered)")
    matrix.add_argument("--chain", default="auto",
                        help="chain backend of every cell (default auto: bitcoind if found, "
                             "else embedded)")
    matrix.add_argument("--out", default="lnharness-matrix",
                        help="directory of the reports (default ./lnharness-matrix)")
    matrix.add_argument("-j", "--jobs", type=_positive_int,
                        help="cells run at once (default: one per core)")
    matrix.add_argument("--cell-timeout", type=_positive_float, metavar="SECONDS",
                        help="a cell still running after this is stopped and reported timed "
                             "out (default 600)")
    matrix.add_argument("--max-triples", type=_positive_int, metavar="N",
                        help="most implementation triples a three-node scenario runs over "
                             "(default 24)")
    matrix.add_argument("--keep-dirs", action="store_true",
                        help="keep the directories of passing cells too (failed ones are "
                             "always kept)")
    matrix.set_defaults(run=_cmd_matrix)

    logs = sub.add_parser("logs", help="print the merged, time-ordered log of a repro bundle "
                                       "(written by pytest --lnh-repro)")
    logs.add_argument("bundle", help="the bundle's directory (the failure report names it)")
    logs.add_argument("--process", type=_names, action="append", metavar="NAME[,NAME...]",
                      help="only the lines of these processes: node names, or chain "
                           "(repeatable)")
    logs.set_defaults(run=_cmd_logs)

    snapshots = sub.add_parser(
        "snapshots", help="list the saved network snapshots (snapshot=True) with their sizes")
    snapshots.add_argument("--clear", action="store_true", help="delete every snapshot")
    snapshots.set_defaults(run=_cmd_snapshots)

    replay = sub.add_parser(
        "replay", help="restart a saved network (a repro bundle or a snapshot directory) on "
                       "fresh ports and keep it running; prints every endpoint like `up`")
    replay.add_argument("bundle", help="directory holding manifest.json, chain/ and nodes/")
    replay.add_argument("--dir", help="working directory, empty or new (default a new "
                                      "<LNH_TEST_DIR>/replay-<bundle name>); `lnharness down "
                                      "--dir DIR` stops it")
    replay.set_defaults(run=_cmd_replay)

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
