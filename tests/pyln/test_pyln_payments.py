"""A pyln-testing style suite on lnharness.pyln: channels and payments.

Written as a pyln-testing user writes it; only the imports name lnharness.pyln (and the
`impls` mark runs it on the built-in node and, where lightningd exists, on Core Lightning).
"""
import pytest
from lnharness.pyln.fixtures import *  # noqa: F401,F403
from lnharness.pyln.utils import (
    Millisatoshi,
    RpcError,  # noqa: F401 (pyln users import it from pyln.client)
    only_one,
    sync_blockheight,
    wait_for,
)

pytestmark = pytest.mark.impls("builtin", "cln")


def test_connect(node_factory):
    l1, l2 = node_factory.get_nodes(2)
    ret = l1.rpc.connect(l2.info['id'], '127.0.0.1', l2.port)
    assert ret['id'] == l2.info['id']
    assert only_one(l1.rpc.listpeers()['peers'])['id'] == l2.info['id']
    wait_for(lambda: [p['id'] for p in l2.rpc.listpeers()['peers']] == [l1.info['id']])
    assert l1.is_connected(l2)


def test_fundchannel_then_pay_directly(node_factory):
    l1, l2 = node_factory.get_nodes(2)
    scid, res = l1.fundchannel(l2, 10**6)
    assert l1.get_channel_scid(l2) == scid == l2.get_channel_scid(l1)
    assert l1.channel_state(l2) == 'CHANNELD_NORMAL'
    assert l1.get_channel_id(l2) == res['channel_id']

    inv = l2.rpc.invoice(123000, 'test_pay', 'description')
    ret = l1.rpc.pay(inv['bolt11'])
    assert ret['status'] == 'complete'
    assert ret['payment_hash'] == inv['payment_hash']

    invoice = only_one(l2.rpc.listinvoices('test_pay')['invoices'])
    assert invoice['status'] == 'paid'
    assert Millisatoshi(invoice['amount_received_msat']) == Millisatoshi('123sat')
    pay = only_one(l1.rpc.listpays(inv['bolt11'])['pays'])
    assert pay['status'] == 'complete'


def test_routed_payment_over_line_graph(node_factory):
    l1, l2, l3 = node_factory.line_graph(3, wait_for_announce=True)
    inv = l3.rpc.invoice(Millisatoshi(50000), 'routed', 'a cat')
    ret = l1.rpc.pay(bolt11=inv['bolt11'])
    assert ret['status'] == 'complete'
    assert Millisatoshi(ret['amount_sent_msat']) > Millisatoshi(ret['amount_msat'])  # l2's fee
    assert only_one(l3.rpc.listinvoices(payment_hash=inv['payment_hash'])['invoices'])['status'] == 'paid'
    assert [p['status'] for p in l1.rpc.listpays()['pays']] == ['complete']


def test_the_pay_helper(node_factory):
    l1, l2 = node_factory.line_graph(2)
    l1.pay(l2, 100000, label='helper')
    invoice = only_one(l2.rpc.listinvoices('helper')['invoices'])
    assert invoice['status'] == 'paid' and invoice['amount_received_msat'] == 100000


def test_dev_pay_pays_and_refuses_what_the_node_cannot_do(node_factory, impl):
    from lnharness.backend import UnsupportedFeature
    l1, l2 = node_factory.line_graph(2)
    inv = l2.rpc.invoice(5000, 'devpay', 'devpay')
    assert l1.dev_pay(inv['bolt11'], dev_use_shadow=False)['status'] == 'complete'
    assert only_one(l2.rpc.listinvoices('devpay')['invoices'])['status'] == 'paid'
    if impl != 'cln':
        other = l2.rpc.invoice(5000, 'devpay2', 'devpay2')['bolt11']
        with pytest.raises(UnsupportedFeature, match='exclude'):
            l1.dev_pay(other, exclude=[l2.info['id']])


def test_mutual_close_returns_the_funds(node_factory, bitcoind):
    l1, l2 = node_factory.line_graph(2, fundamount=200000)
    res = l1.rpc.close(l2.info['id'])
    assert res['type'] == 'mutual'
    txid = only_one(res['txids'])  # Core Lightning's close() since v24.11
    bitcoind.generate_block(1, wait_for_mempool=txid)
    sync_blockheight(bitcoind, [l1, l2])
    wait_for(lambda: any(o['txid'] == txid and o['status'] == 'confirmed'
                         for o in l1.rpc.listfunds()['outputs']))
    wait_for(lambda: l1.channel_state(l2) in (None, 'CLOSINGD_COMPLETE', 'ONCHAIN', 'CLOSED'))


def confirmed_txids(node):
    return {o['txid'] for o in node.rpc.listfunds()['outputs'] if o['status'] == 'confirmed'}


def test_unilateral_close_returns_the_funds_after_the_delay(node_factory, bitcoind):
    l1, l2 = node_factory.line_graph(2, fundamount=200000)
    l1.pay(l2, 50000000)  # so both sides have an output on the commitment
    before1, before2 = confirmed_txids(l1), confirmed_txids(l2)
    l1.rpc.disconnect(l2.info['id'], force=True)
    res = l1.rpc.close(l2.info['id'], 1)  # unilateral after 1 s without an answer
    assert res['type'] == 'unilateral'
    bitcoind.generate_block(1, wait_for_mempool=only_one(res['txids']))
    # l1's own output waits for its to_self_delay, then l1 sweeps it to its wallet
    bitcoind.generate_block(10)
    sync_blockheight(bitcoind, [l1, l2])
    bitcoind.generate_block(1, wait_for_mempool=1)
    wait_for(lambda: confirmed_txids(l1) - before1 and confirmed_txids(l2) - before2)


def test_restart_then_pay(node_factory):
    l1, l2 = node_factory.line_graph(2)
    l2.restart()
    l1.rpc.connect(l2.info['id'], '127.0.0.1', l2.port)  # no automatic reconnection
    wait_for(lambda: l1.is_local_channel_active(l1.get_channel_scid(l2)))
    wait_for(lambda: l2.is_local_channel_active(l2.get_channel_scid(l1)))
    inv = l2.rpc.invoice(5000, 'after-restart', 'after a restart')['bolt11']
    assert l1.rpc.pay(inv)['status'] == 'complete'


def test_line_graph_without_channels(node_factory):
    l1, l2 = node_factory.line_graph(2, fundchannel=False)
    assert l1.is_connected(l2)
    assert l1.rpc.listpeerchannels()['channels'] == []
