"""The `lnharness` command."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness import registry
from harness.results import Availability


def implementation_availability() -> list[Availability]:
    """Availability of every registered Lightning implementation."""
    result = []
    for name in registry.names(registry.IMPLS_GROUP):
        try:
            result.append(registry.load(registry.IMPLS_GROUP, name).availability())
        except Exception as exc:  # a broken third-party adapter is reported, not fatal
            result.append(Availability(name, False, reason=f"cannot load adapter: {exc!r}"))
    return result


def _cmd_impls(args: argparse.Namespace) -> int:
    from harness.backend import chain_availability

    print("Lightning implementations (--lnh-impl / LNH_IMPL):")
    for item in implementation_availability():
        print("  " + item.describe())
    print("Chain backends (--lnh-chain / LNH_CHAIN):")
    for chain in chain_availability():
        state = "available" if chain.available else "unavailable"
        print(f"  {chain.name}: {state}: {chain.reason}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lnharness", description="Regtest Lightning networks for tests and demos.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    impls = sub.add_parser("impls", help="list Lightning implementations and chain backends, "
                                         "with their versions or why they are unavailable")
    impls.set_defaults(run=_cmd_impls)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `lnharness` console script."""
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
