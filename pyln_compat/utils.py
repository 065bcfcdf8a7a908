"""pyln-testing's `pyln.testing.utils`, on lnharness.

Helpers (`wait_for`, `only_one`, `sync_blockheight`, `mine_funding_to_announce`,
`wait_channel_quiescent`, `scid_to_int`, `get_tx_p2wsh_outnum`, `write_config`, `env`), the
classes (`LightningNode`, `TailableProc`, `NodeFactory`, `BitcoinD`, `RpcError`, `Millisatoshi`,
`LightningRpc`), `FUNDAMOUNT`, and the flags (`TIMEOUT`, `TEST_NETWORK`, `VALGRIND`, ...),
which are read from the environment when looked up (see `flags`).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from lnharness.pyln.chain import BitcoinD
from lnharness.pyln.client import LightningRpc, Millisatoshi, RpcError
from lnharness.pyln.factory import NodeFactory
from lnharness.pyln.flags import FLAGS, env, flag
from lnharness.pyln.node import FUNDAMOUNT, LightningNode
from lnharness.pyln.proc import TailableProc
from lnharness.pyln.waits import PylnWaitTimeout, only_one, sync_blockheight, wait_for

__all__ = [
    "BitcoinD", "FUNDAMOUNT", "LightningNode", "LightningRpc", "Millisatoshi", "NodeFactory",
    "PylnWaitTimeout", "RpcError", "TailableProc", "env", "get_tx_p2wsh_outnum", "mine_funding_to_announce",
    "only_one", "scid_to_int", "sync_blockheight", "wait_channel_quiescent", "wait_for",
    "write_config", *FLAGS,
]


def __getattr__(name: str) -> Any:
    if name in FLAGS:
        return flag(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def mine_funding_to_announce(bitcoind: BitcoinD, nodes: list[Any], num_blocks: int = 5,
                             wait_for_mempool: Any = 0) -> None:
    """Mine `num_blocks` so channels can be announced, letting every node catch up before the
    last block so none rejects an announcement."""
    bitcoind.generate_block(num_blocks - 1, wait_for_mempool)
    sync_blockheight(bitcoind, nodes)
    bitcoind.generate_block(1)


def wait_channel_quiescent(n1: LightningNode, n2: LightningNode) -> None:
    """Wait until the channel between `n1` and `n2` carries no HTLC on either side."""
    wait_for(lambda: only_one(n1.rpc.listpeerchannels(n2.info["id"])["channels"])["htlcs"] == [])
    wait_for(lambda: only_one(n2.rpc.listpeerchannels(n1.info["id"])["channels"])["htlcs"] == [])


def scid_to_int(scid: str) -> int:
    """A "BLOCKxTXxOUT" short channel id as BOLT 7's 64-bit integer."""
    block, tx, out = (int(part) for part in scid.split("x"))
    return (block << 40) | (tx << 16) | out


def get_tx_p2wsh_outnum(bitcoind: BitcoinD, tx: str, amount: int) -> int | None:
    """The output of raw transaction `tx` paying `amount` sat to a P2WSH script, or None."""
    for out in bitcoind.rpc.decoderawtransaction(tx, True)["vout"]:
        if out["scriptPubKey"]["type"] == "witness_v0_scripthash" \
                and Decimal(str(out["value"])) == Decimal(amount) / 10**8:
            return int(out["n"])
    return None


def write_config(filename: str, opts: dict[str, Any], regtest_opts: dict[str, Any] | None = None,
                 section_name: str = "regtest") -> None:
    """Write `key=value` lines, then a `[section_name]` of `regtest_opts`."""
    lines = [f"{k}={v}" for k, v in opts.items()]
    if regtest_opts:
        lines += [f"[{section_name}]", *(f"{k}={v}" for k, v in regtest_opts.items())]
    with open(filename, "w") as out:
        out.write("".join(line + "\n" for line in lines))
