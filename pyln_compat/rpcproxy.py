"""`daemon.rpcproxy`: pyln-testing's bitcoind proxy surface (`mock_rpc`, `mock_counts`) over
a Core Lightning node's `ChainRpcProxy`, which answers its bitcoin-cli calls in the test
process: a fixed result, or a function of the request returning the whole reply."""
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
        """Answer `method` with `response`: the call's result for every parameter list, or a
        function called with each request (`{"method", "params", "id"}`) that returns the
        whole reply (`{"id", "result"}` or with `"error"`; None passes the call to the
        chain); None asks the chain again."""
        if self.node.impl != "cln":
            raise UnsupportedFeature(f"daemon.rpcproxy.mock_rpc on {self.node.impl} node "
                                     f"{self.node.name}: only Core Lightning nodes reach the "
                                     "chain through a bitcoin-cli lnharness can answer for")
        if response is None:
            self.node.mock_bitcoin_rpc(method, None)
            self.mocked.discard(method)
            return
        self.node.mock_bitcoin_rpc(method, response if callable(response) else {"*": response})
        self.mocked.add(method)
