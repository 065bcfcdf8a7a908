"""Backend-agnostic chain helpers: mine, wait for the mempool, faucet, reorg, fee rates.

`Chain` wraps a started `ChainBackend` and adds the helpers tests use; everything goes
through the backend's JSON-RPC, except reorgs, which use the backend's `replace_blocks`
primitive (invalidateblock + generateblock on Bitcoin Core, a longer competing branch
via generateblockfrom on the embedded chain).
"""
from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from bitcoin.core import CBlock
from lnharness.backend import (
    FEATURE_SET_FEERATE,
    ChainBackend,
    UnsupportedFeature,
    select_chain_backend,
)
from lnharness.bitcoin_rpc import BitcoinRpc
from lnharness.errors import LnhError, RpcError
from lnharness.wait import wait_for

COIN_SAT = 100_000_000
RPC_VERIFY_ALREADY_IN_CHAIN = -27
MATURITY_BLOCKS = 101
#: outputs per faucet transaction (`Chain.faucet_many`)
FAUCET_BATCH = 250

MempoolWait = bool | int | str | Sequence[str]


class NotMined(LnhError):
    """Transactions a `generate_block` waited for were still unconfirmed after mining."""


def sat_to_btc(amount_sat: int) -> Decimal:
    """`amount_sat` as an exact BTC Decimal with 8 decimals."""
    if isinstance(amount_sat, bool) or not isinstance(amount_sat, int):
        raise TypeError(f"amount_sat must be an int number of satoshis, got {amount_sat!r}")
    return (Decimal(amount_sat) / COIN_SAT).quantize(Decimal("0.00000001"))


def btc_to_sat(amount_btc: Decimal | int | str) -> int:
    """A BTC amount (as bitcoind's JSON gives it) in satoshis; refuses sub-satoshi amounts."""
    sat = Decimal(str(amount_btc)) * COIN_SAT
    if sat != sat.to_integral_value():
        raise ValueError(f"{amount_btc} BTC is not a whole number of satoshis")
    return int(sat)


class Chain:
    """A started chain backend plus the helpers tests use (the `bitcoind` fixture's object).

    Attributes not defined here (e.g. `datadir`, `rpc_port`, `rpcuser`, `rpcpassword`,
    `rpc_url`, `daemon`, `version()`, `supports()`) are the backend's.
    """

    def __init__(self, backend: ChainBackend):
        self.backend = backend

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.backend, name)

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def rpc(self) -> BitcoinRpc:
        """JSON-RPC client of the harness wallet's endpoint."""
        return self.backend.rpc

    @property
    def datadir(self) -> Path:
        return self.backend.datadir

    # -- lifecycle (delegated) -------------------------------------------------------------
    def start(self, timeout: float | None = None) -> None:
        self.backend.start(timeout)

    def stop(self, timeout: float = 30.0) -> int | None:
        return self.backend.stop(timeout)

    def kill(self) -> int | None:
        return self.backend.kill()

    def restart(self, timeout: float | None = None) -> None:
        self.backend.restart(timeout)

    # -- reading the chain -----------------------------------------------------------------
    def height(self) -> int:
        """Height of the active tip."""
        return int(self.rpc.getblockcount())

    def get_new_address(self) -> str:
        """A fresh address of the harness wallet."""
        return str(self.rpc.getnewaddress())

    def wait_for_height(self, height: int, timeout: float | None = None) -> int:
        """Wait until the tip is at least `height`; return the height reached."""
        return wait_for(lambda: (h := self.height()) >= height and h, timeout,
                        what=f"{self.name} to reach height {height}")

    # -- mempool and mining ----------------------------------------------------------------
    def wait_for_mempool(self, expected: MempoolWait, timeout: float | None = None) -> list[str]:
        """Wait until the mempool holds what `expected` names; return the mempool's txids.

        `expected` is a txid, a list of txids (all must be there), a count (at least that
        many transactions) or True (at least one).
        """
        if isinstance(expected, str):
            wanted: list[str] | None = [expected]
            count = 0
            what = f"transaction {expected} in the mempool"
        elif isinstance(expected, bool) or isinstance(expected, int):
            wanted, count = None, int(expected)
            what = f"at least {count} transaction(s) in the mempool"
        else:
            wanted, count = list(expected), 0
            what = f"transactions {wanted} in the mempool"

        def present() -> tuple[list[str]] | None:
            mempool = list(self.rpc.getrawmempool())
            if wanted is not None:
                return (mempool,) if all(txid in mempool for txid in wanted) else None
            return (mempool,) if len(mempool) >= count else None

        found = wait_for(present, timeout, what=what)
        if found is None:  # wait_for returns only truthy values
            raise LnhError(f"wait_for returned nothing waiting for {what}")
        return found[0]

    def generate_block(self, n: int = 1, wait_for_mempool: MempoolWait = 0,
                       to_addr: str | None = None, timeout: float | None = None) -> list[str]:
        """Mine `n` blocks (to `to_addr`, default a new wallet address); return their hashes.

        With `wait_for_mempool` (see `wait_for_mempool`) first wait until those
        transactions are in the mempool; awaited txids must then have been mined.
        """
        if n < 0:
            raise ValueError(f"cannot mine {n} blocks")
        awaited: list[str] = []
        if wait_for_mempool:
            self.wait_for_mempool(wait_for_mempool, timeout)
            if isinstance(wait_for_mempool, str):
                awaited = [wait_for_mempool]
            elif not isinstance(wait_for_mempool, int):
                awaited = list(wait_for_mempool)
        address = to_addr if to_addr is not None else self.get_new_address()
        hashes = [str(h) for h in self.rpc.generatetoaddress(n, address)]
        if awaited and n > 0:
            left = set(awaited).intersection(self.rpc.getrawmempool())
            if left:
                raise NotMined(f"generate_block: {len(left)} awaited transaction(s) still in the "
                               f"mempool after mining {n} block(s): {sorted(left)}")
        return hashes

    def fund_wallet(self, blocks: int = MATURITY_BLOCKS) -> list[str]:
        """Mine `blocks` blocks to the wallet so it has mature coins (101: one spendable)."""
        return self.generate_block(blocks)

    def faucet(self, address: str, amount_sat: int) -> str:
        """Send `amount_sat` from the harness wallet to `address`; return the txid."""
        return str(self.rpc.sendtoaddress(address, sat_to_btc(amount_sat)))

    def faucet_many(self, outputs: Sequence[tuple[str, int]]) -> list[str]:
        """Pay every (address, sat) of `outputs` from the harness wallet in as few
        transactions as possible (`sendmany`, `FAUCET_BATCH` outputs each); return their txids.

        One transaction per batch, not per output: a chain of unconfirmed wallet sends stops
        at the mempool's ancestor limit (25), as with Bitcoin Core. An address may appear
        once per batch, so repeated addresses go to later batches.
        """
        batches: list[dict[str, Decimal]] = []
        for address, amount_sat in outputs:
            if amount_sat <= 0:
                raise ValueError(f"faucet_many: {amount_sat} sat to {address} is not a positive amount")
            batch = next((b for b in batches if address not in b and len(b) < FAUCET_BATCH), None)
            if batch is None:
                batch = {}
                batches.append(batch)
            batch[address] = sat_to_btc(amount_sat)
        return [str(self.rpc.sendmany("", batch)) for batch in batches]

    # -- reorgs ----------------------------------------------------------------------------
    def simple_reorg(self, height: int, shift: int = 0) -> list[str]:
        """Replace the chain from block `height` on by a longer branch; return its hashes.

        The transactions of the replaced blocks are mined again in the new branch's block at
        `height + shift` (so `shift > 0` moves them later; they may not depend on coinbases
        of replaced blocks). The new tip is at `max(height + shift, old tip + 1)`. Mempool
        transactions stay in the mempool.
        """
        if shift < 0:
            raise ValueError(f"simple_reorg: shift must be >= 0, got {shift}")
        tip = self.height()
        if not 1 <= height <= tip:
            raise ValueError(f"simple_reorg: height {height} is not in 1..{tip} (the tip)")
        removed: list[str] = []
        for h in range(height, tip + 1):
            raw = self.rpc.getblock(self.rpc.getblockhash(h), 0)
            block = CBlock.deserialize(bytes.fromhex(raw))
            removed.extend(tx.serialize().hex() for tx in block.vtx[1:])
        final_height = max(height + shift, tip + 1)
        block_txs: list[list[str]] = [[] for _ in range(final_height - height + 1)]
        block_txs[shift] = removed
        pending = {txid: self.rpc.getrawtransaction(txid) for txid in self.rpc.getrawmempool()}
        hashes = self.backend.replace_blocks(height, block_txs, self.get_new_address())
        wait_for(lambda: self.rpc.getbestblockhash() == hashes[-1], None,
                 what=f"{self.name} to reorg to the new tip {hashes[-1]} at {final_height}")
        self._restore_mempool(pending)
        return hashes

    def _restore_mempool(self, pending: dict[str, str]) -> None:
        """Send again the transactions a reorg dropped from the mempool.

        Bitcoin Core evicts a transaction that is not final at the lower height it passes
        through (its wallet sets nLockTime to the tip against fee sniping).
        """
        missing = set(pending) - set(self.rpc.getrawmempool())
        for txid in missing:
            try:
                self.rpc.sendrawtransaction(pending[txid])
            except RpcError as exc:
                if exc.code != RPC_VERIFY_ALREADY_IN_CHAIN:
                    raise

    # -- fees ------------------------------------------------------------------------------
    def set_feerate(self, *, sat_per_kvb: int | None = None, sat_per_vbyte: int | None = None,
                    sat_per_kw: int | None = None) -> None:
        """Make `estimatesmartfee` answer this fee rate for every target (give exactly one unit).

        Only chains with the `set_feerate` feature (the embedded chain) can do this;
        Bitcoin Core derives estimates from blocks it has seen and has no RPC to set them,
        so there this raises `UnsupportedFeature`.
        """
        given = {k: v for k, v in (("sat_per_kvb", sat_per_kvb), ("sat_per_vbyte", sat_per_vbyte),
                                   ("sat_per_kw", sat_per_kw)) if v is not None}
        if len(given) != 1:
            raise TypeError("set_feerate takes exactly one of sat_per_kvb, sat_per_vbyte, "
                            f"sat_per_kw; got {sorted(given) or 'none'}")
        if sat_per_kvb is None:
            sat_per_kvb = sat_per_vbyte * 1000 if sat_per_vbyte is not None else sat_per_kw * 4  # type: ignore[operator]
        if not isinstance(sat_per_kvb, int) or sat_per_kvb <= 0:
            raise ValueError(f"fee rate must be a positive whole number, got {given}")
        if not self.backend.supports(FEATURE_SET_FEERATE):
            raise UnsupportedFeature(
                f"set_feerate is not available on the {self.name!r} chain backend: Bitcoin Core "
                "derives fee estimates from the blocks it has seen and has no RPC to set them; "
                "run this test on the embedded chain (--lnh-chain=embedded)")
        self.rpc.setfeeestimate(sat_to_btc(sat_per_kvb))

    def __repr__(self) -> str:
        return f"<Chain {self.backend!r}>"


def start_chain(directory: Path | str, backend: str | type[ChainBackend] = "auto", *,
                fund_blocks: int = MATURITY_BLOCKS, timeout: float | None = None,
                **backend_options: Any) -> Chain:
    """Start a chain backend under `directory` and mine `fund_blocks` blocks to its wallet.

    `backend` is a registered name, `auto` (bitcoind if found, else embedded) or a
    `ChainBackend` class; `backend_options` go to its constructor (e.g. `zmq=True` for
    bitcoind). On failure the process is stopped and its ports released before raising.
    """
    cls = select_chain_backend(backend) if isinstance(backend, str) else backend
    cls.require_available()
    instance = cls(directory, **backend_options)
    try:
        instance.start(timeout)
        chain = Chain(instance)
        if fund_blocks:
            chain.fund_wallet(fund_blocks)
    except BaseException:
        instance.close()
        raise
    return chain
