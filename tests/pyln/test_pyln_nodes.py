"""A pyln-testing style suite on lnharness.pyln: the factory, nodes, errors and helpers."""
import pytest
from lnharness.pyln.fixtures import *  # noqa: F401,F403
from lnharness.pyln.utils import TIMEOUT, Millisatoshi, RpcError, only_one, scid_to_int, wait_for

pytestmark = pytest.mark.impls("builtin", "cln")


def test_fixtures_are_the_pyln_ones(node_factory, bitcoind, test_name):
    from lnharness.pyln.utils import BitcoinD, NodeFactory
    assert isinstance(node_factory, NodeFactory) and isinstance(bitcoind, BitcoinD)
    assert test_name == 'test_fixtures_are_the_pyln_ones'  # no parametrize id, as pyln


def test_get_nodes_with_a_list_of_opts(node_factory):
    l1, l2 = node_factory.get_nodes(2, opts=[{'may_fail': True}, {'alias': 'SILENTARTILLERY'}])
    assert l1.may_fail and not l2.may_fail
    assert l2.info['alias'] == 'SILENTARTILLERY'
    l1.daemon.kill()  # may_fail: its exit is not a teardown failure


def test_info_survives_stop(node_factory):
    l1 = node_factory.get_node()
    node_id = l1.info['id']
    assert l1.stop() == 0
    assert l1.info['id'] == node_id and l1.rc == 0
    with pytest.raises((OSError, RpcError)):  # nothing listens any more
        l1.rpc.getinfo()
    l1.start()
    assert l1.rpc.getinfo()['id'] == node_id


def test_rpc_errors_carry_the_codes(node_factory):
    l1 = node_factory.get_node()
    l1.rpc.invoice(1000, 'dup', 'first')
    with pytest.raises(RpcError, match='dup') as err:
        l1.rpc.invoice(1000, 'dup', 'second')
    assert err.value.error['code'] == 900  # INVOICE_LABEL_ALREADY_EXISTS
    assert err.value.method == 'invoice'
    with pytest.raises(RpcError) as err:
        l1.rpc.call('no-such-command')
    assert err.value.error['code'] == -32601
    with pytest.raises(TypeError, match='positional'):
        l1.rpc.getinfo('unexpected')


def test_get_node_rejects_what_it_cannot_do(node_factory):
    from lnharness.backend import UnsupportedFeature
    with pytest.raises(UnsupportedFeature, match='dbfile'):
        node_factory.get_node(dbfile='l1-before.sqlite3.xz')
    with pytest.raises(TypeError, match='bogus'):
        node_factory.get_node(bogus=1)
    l1 = node_factory.get_node(allow_bad_gossip=True, wait_for_bitcoind_sync=False)
    assert l1.allow_bad_gossip


def test_expect_fail_returns_the_node_that_did_not_start(node_factory, impl):
    bad = {'builtin': 'to-self-delay', 'cln': 'cltv-delta'}[impl]
    l1 = node_factory.get_node(options={bad: 'not-a-number'}, expect_fail=True)
    assert l1.info == {} and l1.may_fail  # it exited at start-up; not a teardown failure
    assert l1.daemon.is_in_log('not-a-number')


def test_bitcoind_and_blocks(node_factory, bitcoind):
    l1 = node_factory.get_node()
    start = bitcoind.rpc.getblockcount()
    hashes = bitcoind.generate_block(3)
    assert len(hashes) == 3 and bitcoind.rpc.getblockcount() == start + 3
    wait_for(lambda: l1.rpc.getinfo()['blockheight'] == start + 3)
    assert bitcoind.getnewaddress().startswith('bcrt1')


def test_helpers():
    assert only_one([7]) == 7
    with pytest.raises(AssertionError):
        only_one([1, 2])
    with pytest.raises(ValueError):
        wait_for(lambda: False, timeout=0.05)
    assert TIMEOUT > 0
    assert scid_to_int('103x1x0') == 103 << 40 | 1 << 16
    msat = Millisatoshi('0.001btc')
    assert msat == 100000000 and msat.to_satoshi() == 100000
    assert Millisatoshi('1sat') + 1 == Millisatoshi('1001msat')
    assert Millisatoshi(3000) // 2 == Millisatoshi(1500) and Millisatoshi(10) < 11


def test_daemon_opts_changed_while_stopped_apply_at_the_next_start(node_factory):
    l1 = node_factory.get_node(options={'alias': 'BEFORE'})
    assert l1.info['alias'] == 'BEFORE'
    l1.stop()
    l1.daemon.opts['alias'] = 'AFTER'
    l1.start()
    assert l1.rpc.getinfo()['alias'] == 'AFTER'
    l1.daemon.opts['no-such-option'] = 1
    l1.stop()
    with pytest.raises(TypeError, match='no-such-option'):
        l1.start()


def test_a_cmd_prefix_is_refused_at_start(node_factory):
    from lnharness.backend import UnsupportedFeature
    l1 = node_factory.get_node(start=False)
    assert l1.daemon.cmd_line == l1.lnh.daemon.cmd
    l1.daemon.cmd_prefix += ['valgrind']
    with pytest.raises(UnsupportedFeature, match='valgrind'):
        l1.start()


def test_executable_naming_another_lightningd_is_refused(node_factory, impl, tmp_path):
    other = tmp_path / 'lightningd'
    other.write_text('#!/bin/sh\n')
    if impl == 'builtin':  # a built-in node runs its own daemon, whatever lightningd is named
        assert node_factory.get_node(executable=str(other)).info['id']
        return
    from lnharness.backend import UnsupportedFeature
    with pytest.raises(UnsupportedFeature, match='LNH_LIGHTNINGD'):
        node_factory.get_node(executable=str(other))


def test_tailable_proc_runs_a_helper_process_with_a_log(tmp_path):
    from lnharness.pyln.utils import TailableProc

    class Echo(TailableProc):
        def __init__(self, directory):
            TailableProc.__init__(self, directory)
            self.cmd_line = ['sh', '-c', 'echo ready; echo second; exec sleep 30']

    proc = Echo(tmp_path)
    proc.start()
    assert 'second' in proc.wait_for_log('sec')
    assert proc.is_in_log('ready') == 'ready'
    assert proc.stop() is not None
    assert proc.logs[:2] == ['ready', 'second']


def test_getpeer_and_pyln_testings_final_cltv(node_factory):
    l1, l2 = node_factory.get_nodes(2)
    assert l1.rpc.getpeer(l2.info['id']) is None
    l1.rpc.connect(l2.info['id'], 'localhost', l2.port)
    assert l1.rpc.getpeer(l2.info['id'])['id'] == l2.info['id']
    # pyln-testing starts nodes with cltv-final=5, and Core Lightning's tests rely on it
    inv = l2.rpc.invoice(1000, 'cltv', 'cltv')['bolt11']
    assert l1.rpc.decode(inv)['min_final_cltv_expiry'] == 5


def test_db_query_needs_lightningds_database(node_factory, impl):
    l1 = node_factory.get_node()
    if impl == 'cln':
        assert l1.db_query('SELECT 1 AS one;') == [{'one': 1}]
        return
    from lnharness.backend import UnsupportedFeature
    with pytest.raises(UnsupportedFeature, match='db_query'):
        l1.db_query('SELECT 1;')
