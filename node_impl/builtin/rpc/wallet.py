"""RPC methods over the on-chain wallet (Core Lightning's names and result shapes): newaddr,
listfunds, withdraw.

Layer: rpc. Imports core, chain and rpc.params only; of the channel subsystem it sees only
`ChannelFunds` (listfunds' `channels` entries).
"""

from __future__ import annotations

from typing import Any, Protocol

from ..chain.wallet import Wallet, WalletError, address_to_script
from ..chain.watcher import ChainClient, ChainRpcError, ChainUnavailable
from ..core.jsonrpc import RpcError, RpcRegistry, param_error
from . import params

WITHDRAW_FAILED = 301  # Core Lightning's error code
WITHDRAW_FALLBACK_PERKW = 1000
"""Fee rate when the backend has no estimate (fundchannel uses the same)."""


class ChannelFunds(Protocol):
    """What listfunds reads of the channel subsystem."""

    def listfunds_channels(self) -> list[dict[str, Any]]: ...


class WalletMethods:
    """newaddr, listfunds, withdraw."""

    def __init__(self, wallet: Wallet, chain: ChainClient, channels: ChannelFunds,
                 network: str) -> None:
        self._wallet = wallet
        self._chain = chain
        self._channels = channels
        self._network = network

    async def newaddr(self, addresstype: Any = "bech32") -> dict[str, Any]:
        """A fresh on-chain address of the wallet (P2WPKH)."""
        if params.string(addresstype, "addresstype") not in ("bech32", "all"):
            raise param_error("addresstype", f"only bech32 is supported, got {addresstype!r}")
        address, _ = self._wallet.new_address()
        return {"bech32": address}

    async def listfunds(self, spent: Any = False) -> dict[str, Any]:
        """Wallet outputs (spent ones too with spent=true) and channel funds."""
        include_spent = params.boolean(spent, "spent")
        return {"outputs": self._wallet.listfunds_outputs(include_spent=include_spent),
                "channels": self._channels.listfunds_channels()}

    async def withdraw(self, destination: Any, satoshi: Any, feerate: Any = None,
                       minconf: Any = 1) -> dict[str, Any]:
        """Send on-chain funds to an address ('all' sends everything)."""
        dest = params.string(destination, "destination")
        try:
            script = address_to_script(dest, self._network)
        except WalletError as exc:
            raise param_error("destination", str(exc)) from None
        send_all = satoshi == "all"
        amount_sat = 0 if send_all else params.sat(satoshi, "satoshi", minimum=1)
        perkw = await params.feerate_perkw(feerate, self._chain.estimate_feerate_perkw,
                                           fallback_perkw=WITHDRAW_FALLBACK_PERKW)
        try:
            tx = self._wallet.fund_tx([(script, amount_sat)], perkw,
                                      minconf=params.integer(minconf, "minconf"), send_all=send_all)
        except WalletError as exc:
            raise RpcError(WITHDRAW_FAILED, str(exc)) from None
        tx_hex = tx.serialize().hex()
        try:
            txid = await self._chain.sendrawtransaction(tx_hex)
        except (ChainRpcError, ChainUnavailable) as exc:
            self._wallet.release(tx)
            raise RpcError(WITHDRAW_FAILED, f"broadcast failed: {exc}") from None
        self._wallet.note_broadcast(tx)
        return {"tx": tx_hex, "txid": txid}


def register(registry: RpcRegistry, *, wallet: Wallet, chain: ChainClient,
             channels: ChannelFunds, network: str) -> None:
    """Add newaddr, listfunds and withdraw to `registry`."""
    methods = WalletMethods(wallet, chain, channels, network)
    for handler in (methods.newaddr, methods.listfunds, methods.withdraw):
        registry.register(handler.__name__, handler)
