"""`BitcoinD`: pyln-testing's bitcoind object over an lnharness chain (any backend)."""
from __future__ import annotations

from typing import Any

from lnharness.backend import UnsupportedFeature
from lnharness.chain import Chain


class BitcoinD:
    """The `bitcoind` fixture's object: `rpc` (attribute calls: `rpc.getblockcount()`),
    `generate_block`, `simple_reorg`, `getnewaddress`, `send_and_mine_block`; every other
    attribute is the lnharness `Chain`'s (`faucet`, `set_feerate`, `height`, ...)."""

    def __init__(self, chain: Chain):
        self.chain = chain

    @property
    def rpc(self) -> Any:
        return self.chain.rpc

    @property
    def rpcport(self) -> int:
        return int(self.chain.rpc_port)

    @property
    def bitcoin_dir(self) -> str:
        return str(self.chain.datadir)

    def generate_block(self, numblocks: int = 1, wait_for_mempool: Any = 0,
                       to_addr: str | None = None, needfeerate: Any = None) -> list[str]:
        """Mine `numblocks` blocks (after waiting for `wait_for_mempool`: a count, a txid or
        a list of txids); return their hashes. `needfeerate` is not supported."""
        if needfeerate is not None:
            raise UnsupportedFeature("bitcoind.generate_block(needfeerate=...) is not supported "
                                     "by lnharness.pyln")
        return self.chain.generate_block(numblocks, wait_for_mempool=wait_for_mempool,
                                         to_addr=to_addr)

    def simple_reorg(self, height: int, shift: int = 0) -> list[str]:
        """Fork at `height`, re-mining the removed transactions `shift` blocks later."""
        return self.chain.simple_reorg(height, shift)

    def getnewaddress(self) -> str:
        return self.chain.get_new_address()

    def send_and_mine_block(self, addr: str, sats: int) -> str:
        """Send `sats` to `addr` and mine it in one block; return the txid."""
        txid = self.chain.faucet(addr, int(sats))
        self.chain.generate_block(1, wait_for_mempool=txid)
        return txid

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.chain, name)

    def __repr__(self) -> str:
        return f"<pyln BitcoinD {self.chain!r}>"
