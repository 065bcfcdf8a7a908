"""Channel and payment RPCs parse their parameters with rpc/params: amounts are never truncated."""

from __future__ import annotations

import pytest
from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpcError


def test_fundchannel_refuses_an_amount_that_is_not_whole_satoshi(builtin_nodes):
    """"1000500msat" used to open a 1000 sat channel (the msat were dropped)."""
    node = builtin_nodes.get_node()
    with pytest.raises(BuiltinRpcError) as err:
        node.rpc.fundchannel(id=node.node_id, amount="1000500msat")
    assert err.value.code == -32602 and "amount" in err.value.message and "whole number" in err.value.message
