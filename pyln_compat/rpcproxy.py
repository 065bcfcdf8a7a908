"""`daemon.rpcproxy`: pyln-testing's bitcoind proxy surface (`mock_rpc`, `mock_counts`) over
a Core Lightning node's bitcoin-cli mocks. A fixed answer works; a Python function as the
answer (pyln's proxy calls it per request) cannot: bitcoin-cli runs in another process."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from lnharness.backend import UnsupportedFeature


class MockCounts(Mapping[str, int]):
    """`mock_counts[method]`: calls the mock of `method` answered since it was set."""

    def __init__(self, proxy: RpcProxy):
        self._proxy = proxy

    def __getitem__(self, method: str) -> int:
        if method not in self._proxy.mocked:
            raise KeyError(method)
        return int(self._proxy.node.mock_rpc_calls(method))

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._proxy.mocked))

    def __len__(self) -> int:
        return len(self._proxy.mocked)


class RpcProxy:
    """The proxy of one node."""

    def __init__(self, node: Any):
        self.node = node
        self.mocked: set[str] = set()
        self.mock_counts = MockCounts(self)

    def mock_rpc(self, method: str, response: Any = None) -> None:
        """Answer `method` with `response` (the call's result) for every parameter list;
        None asks the chain again."""
        if self.node.impl != "cln":
            raise UnsupportedFeature(f"daemon.rpcproxy.mock_rpc on {self.node.impl} node "
                                     f"{self.node.name}: only Core Lightning nodes reach the "
                                     "chain through a bitcoin-cli lnharness can answer for")
        if callable(response):
            raise UnsupportedFeature(f"daemon.rpcproxy.mock_rpc({method!r}, <function>): "
                                     "lnharness answers bitcoin-cli calls with fixed results "
                                     "only (the call runs in another process)")
        if response is None:
            self.node.mock_bitcoin_rpc(method, None)
            self.mocked.discard(method)
            return
        self.node.mock_bitcoin_rpc(method, {"*": response})
        self.mocked.add(method)
