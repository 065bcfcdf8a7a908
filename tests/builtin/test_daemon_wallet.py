"""Built-in node on-chain wallet against the embedded regtest chain: newaddr, funding seen in
blocks, listfunds, withdraw, restart and catch-up."""

from __future__ import annotations

from decimal import Decimal

import pytest
from bitcoin.core import CTransaction
from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpcError
from lnharness.wait import wait_for


def fund(chain, node, btc: str) -> tuple[str, str]:
    """Send `btc` to a fresh address of `node`, mine it; returns (address, txid)."""
    address = node.rpc.newaddr()["bech32"]
    txid = chain.rpc.sendtoaddress(address, Decimal(btc))
    chain.mine(1)
    return address, txid


def confirmed_outputs(node) -> list[dict]:
    return [o for o in node.rpc.listfunds()["outputs"] if o["status"] == "confirmed"]


def test_newaddr_fund_listfunds_confirmed(chain, chained_builtin_nodes):
    node = chained_builtin_nodes.get_node()
    node.wait_synced(chain)
    address, txid = fund(chain, node, "0.01")
    assert address.startswith("bcrt1q")
    (output,) = wait_for(lambda: confirmed_outputs(node), what="funding to confirm in listfunds")
    assert output["txid"] == txid and output["address"] == address
    assert output["amount_msat"] == 1_000_000_000
    assert output["blockheight"] == chain.rpc.getblockcount()
    # the wallet sees the block before the other subsystems are done with it; getinfo's
    # blockheight moves once all of them are
    height = chain.rpc.getblockcount()
    info = wait_for(lambda: (i := node.rpc.getinfo())["blockheight"] == height and i,
                    what=f"getinfo to report block {height}")
    assert "warning_lightningd_sync" not in info


def test_withdraw_pays_destination_and_keeps_change(chain, chained_builtin_nodes):
    node = chained_builtin_nodes.get_node()
    node.wait_synced(chain)
    _, funding_txid = fund(chain, node, "0.02")
    wait_for(lambda: confirmed_outputs(node), what="funding to confirm")
    destination = chain.rpc.getnewaddress()
    result = node.rpc.withdraw(destination, 500_000)
    tx = CTransaction.deserialize(bytes.fromhex(result["tx"]))
    assert [txin.prevout.n for txin in tx.vin] and len(tx.vout) == 2
    assert result["txid"] in chain.rpc.getrawmempool()
    paid = [n for n, out in enumerate(tx.vout) if out.nValue == 500_000]
    assert len(paid) == 1
    chain.mine(1)
    txout = chain.rpc.gettxout(result["txid"], paid[0])
    assert txout["scriptPubKey"]["address"] == destination
    node.wait_synced(chain)
    (change,) = wait_for(lambda: [o for o in confirmed_outputs(node) if o["txid"] == result["txid"]],
                         what="change output to confirm")
    fee_sat = 2_000_000 - 500_000 - change["amount_msat"] // 1000
    assert 0 < fee_sat < 10_000
    assert all(o["txid"] != funding_txid for o in node.rpc.listfunds()["outputs"])
    (spent,) = [o for o in node.rpc.listfunds(spent=True)["outputs"] if o["txid"] == funding_txid]
    assert spent["status"] == "spent" and spent["amount_msat"] == 2_000_000_000


def test_withdraw_all_and_bad_input(chain, chained_builtin_nodes):
    node = chained_builtin_nodes.get_node()
    node.wait_synced(chain)
    with pytest.raises(BuiltinRpcError) as err:
        node.rpc.withdraw(chain.rpc.getnewaddress(), 1000)
    assert err.value.code == 301 and "insufficient funds" in err.value.message
    with pytest.raises(BuiltinRpcError) as err:
        node.rpc.withdraw("bc1qnotregtest", 1000)
    assert err.value.code == -32602 and "destination" in err.value.message
    fund(chain, node, "0.001")
    wait_for(lambda: confirmed_outputs(node), what="funding to confirm")
    result = node.rpc.withdraw(chain.rpc.getnewaddress(), "all")
    tx = CTransaction.deserialize(bytes.fromhex(result["tx"]))
    assert len(tx.vout) == 1 and 90_000 < tx.vout[0].nValue < 100_000
    assert node.rpc.listfunds()["outputs"] == []


def test_restart_keeps_node_id_and_funds_and_catches_up(chain, chained_builtin_nodes):
    node = chained_builtin_nodes.get_node()
    node.wait_synced(chain)
    node_id = node.node_id
    fund(chain, node, "0.01")
    wait_for(lambda: confirmed_outputs(node), what="first funding to confirm")
    second_address = node.rpc.newaddr()["bech32"]
    node.stop()
    # funds arriving while the node is down are found when it catches up
    second_txid = chain.rpc.sendtoaddress(second_address, Decimal("0.02"))
    chain.mine(3)
    node.start()
    assert node.node_id == node_id
    node.wait_synced(chain)
    outputs = wait_for(lambda: len(confirmed_outputs(node)) == 2 and confirmed_outputs(node),
                       what="both fundings after restart")
    assert sorted(o["amount_msat"] for o in outputs) == [1_000_000_000, 2_000_000_000]
    assert any(o["txid"] == second_txid for o in outputs)


def test_reorg_unconfirms_then_reconfirms_funding(chain, chained_builtin_nodes):
    node = chained_builtin_nodes.get_node()
    node.wait_synced(chain)
    _, txid = fund(chain, node, "0.01")
    funded_height = chain.rpc.getblockcount()
    wait_for(lambda: confirmed_outputs(node), what="funding to confirm")
    # a longer branch from the parent of the funding block, without the funding tx
    parent = chain.rpc.getblockhash(funded_height - 1)
    for _ in range(2):
        parent = chain.rpc.generateblockfrom(parent, chain.rpc.getnewaddress(), [])["hash"]
    wait_for(lambda: chain.rpc.getbestblockhash() == parent, what="chain to switch branch")
    (output,) = wait_for(
        lambda: [o for o in node.rpc.listfunds()["outputs"] if o["status"] == "unconfirmed"],
        what="funding to become unconfirmed after the reorg")
    assert output["txid"] == txid and "blockheight" not in output
    assert txid in chain.rpc.getrawmempool()
    chain.mine(1)
    (output,) = wait_for(lambda: confirmed_outputs(node), what="funding to confirm again")
    assert output["blockheight"] == funded_height + 2
