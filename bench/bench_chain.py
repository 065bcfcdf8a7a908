"""Benchmark of every available chain backend; writes the "Chain backends" section of
bench/RESULTS.md.

Measures per backend: time from start to the first RPC answer, `generatetoaddress 101`,
1,000 `sendrawtransaction` of simple one-input one-output spends (signed beforehand),
and mining those 1,000 transactions into one block.

Run: /work/venv/bin/python bench/bench_chain.py [--backends embedded,bitcoind] [--txs 1000]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lnharness.backend import ChainBackend, chain_availability, chain_backend_class  # noqa: E402
from lnharness.chain import Chain  # noqa: E402
from lnharness.p2wpkh import P2wpkhKey, Utxo  # noqa: E402
from results import header, write_section  # noqa: E402

SECTION = "## Chain backends"
FEE_SAT = 1_000
FANOUT_FEE_SAT = 100_000


@dataclass
class Result:
    backend: str
    version: str
    ready_s: float
    generate_101_s: float
    txs: int
    send_s: float
    mine_s: float
    cli_s: float


def timed(fn, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def bench_backend(name: str, txs: int, workdir: Path) -> Result:
    cls = chain_backend_class(name)
    backend = cls(workdir / name)
    try:
        backend.write_conf()
        start = time.perf_counter()
        backend.daemon.start()
        backend.wait_rpc_ready()
        ready_s = time.perf_counter() - start
        backend.ensure_wallet()
        chain = Chain(backend)
        rpc = chain.rpc
        key = P2wpkhKey()
        generate_s, hashes = timed(rpc.generatetoaddress, 101, key.address)

        # One mature coinbase of the key, fanned out into `txs` outputs, then one spend each.
        coinbase = rpc.getblock(hashes[0], 2)["tx"][0]
        coinbase_sat = int(Decimal(coinbase["vout"][0]["value"]) * 100_000_000)
        each_sat = (coinbase_sat - FANOUT_FEE_SAT) // txs
        fanout = key.spend([Utxo(coinbase["txid"], 0, coinbase_sat)],
                           [(key.script_pubkey, each_sat)] * txs)
        rpc.sendrawtransaction(fanout.hex)
        chain.generate_block(1, wait_for_mempool=fanout.txid)
        sink = P2wpkhKey().script_pubkey
        spends = [key.spend([Utxo(fanout.txid, i, each_sat)], [(sink, each_sat - FEE_SAT)])
                  for i in range(txs)]
        start = time.perf_counter()
        for tx in spends:
            rpc.sendrawtransaction(tx.hex)
        send_s = time.perf_counter() - start
        mine_s, _ = timed(chain.generate_block, 1)
        if rpc.getrawmempool():
            raise RuntimeError(f"{name}: the block did not take all {txs} transactions")
        cli_s = cli_call_seconds(backend)
        return Result(name, str(backend.version()), ready_s, generate_s, txs, send_s, mine_s,
                      cli_s)
    finally:
        backend.close()


def cli_call_seconds(backend: ChainBackend, calls: int = 20) -> float:
    """Median wall time of one `lnharness-bitcoin-cli getblockcount`, run as bcli runs it."""
    shim = Path(sys.executable).parent / "lnharness-bitcoin-cli"
    cmd = [str(shim), "-regtest", f"-datadir={backend.datadir}", "-rpcclienttimeout=60",
           f"-rpcport={backend.rpc_port}", f"-rpcuser={backend.rpcuser}", "-stdinrpcpass",
           "-stdin", "getblockcount"]
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        subprocess.run(cmd, input=backend.rpcpassword + "\n", capture_output=True, text=True,
                       check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def render(results: list[Result], skipped: dict[str, str], command: str) -> str:
    lines = [*header(SECTION, command),
             "| backend | version | start to RPC ready | generatetoaddress 101 | "
             "sendrawtransaction (each) | 1,000 sendrawtransaction | mine them (1 block) | "
             "lnharness-bitcoin-cli call |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.backend} | {r.version} | {r.ready_s:.2f} s | {r.generate_101_s:.2f} s | "
                     f"{1000 * r.send_s / r.txs:.2f} ms | {r.send_s * 1000 / r.txs:.2f} s "
                     f"per 1,000 ({r.txs / r.send_s:.0f} tx/s) | {r.mine_s:.2f} s | "
                     f"{1000 * r.cli_s:.0f} ms |")
    for name, reason in skipped.items():
        lines.append(f"| {name} | not measured: {reason} | | | | | | |")
    lines.append("")
    lines.append("Each spend: 1 P2WPKH input, 1 P2WPKH output, signed before timing; every call "
                 "is one HTTP connection through lnharness.bitcoin_rpc.BitcoinRpc. The cli call is "
                 "the median of 20 `getblockcount` runs of the shim as a process, as Core "
                 "Lightning's bcli runs it.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", help="comma-separated names (default: every available)")
    parser.add_argument("--txs", type=int, default=1000, help="spends to send (default 1000)")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = parser.parse_args()
    available = {a.name: a for a in chain_availability()}
    wanted = args.backends.split(",") if args.backends else sorted(available)
    results, skipped = [], {}
    with tempfile.TemporaryDirectory(prefix="lnh-bench-chain-") as tmp:
        for name in wanted:
            if name not in available:
                sys.exit(f"unknown backend {name!r}; registered: {', '.join(sorted(available))}")
            if not available[name].available:
                skipped[name] = available[name].reason
                continue
            results.append(bench_backend(name, args.txs, Path(tmp)))
    command = "python bench/bench_chain.py" + "".join(f" {a}" for a in sys.argv[1:])
    text = render(results, skipped, command)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
