"""What a pyln-testing suite gets from Core Lightning nodes and no other: its fee estimates
(`feerates`, `set_feerates`), `disconnect` scripts, pyln-testing's daemon settings and
developer commands. Skipped where lightningd is not available."""
import pytest
from lnharness.pyln.fixtures import *  # noqa: F401,F403
from lnharness.pyln.utils import RpcError, wait_for

pytestmark = pytest.mark.impls("cln")


def test_nodes_get_pyln_testings_default_fee_estimates(node_factory):
    l1 = node_factory.get_node()
    perkw = l1.rpc.feerates('perkw')['perkw']
    # (15000, 11000, 7500, 3750) for 2, 6, 12 and 100 blocks, as pyln-testing mocks them
    assert {e['blockcount']: e['feerate'] for e in perkw['estimates']} == \
        {2: 15000, 6: 11000, 12: 7500, 100: 3750}


def test_feerates_and_set_feerates_are_the_nodes_own(node_factory):
    l1, l2 = node_factory.get_nodes(2, opts=[{'feerates': (20000, 16000, 12000, 8000)}, {}])
    assert {e['blockcount']: e['feerate'] for e in
            l1.rpc.feerates('perkw')['perkw']['estimates']}[2] == 20000
    assert {e['blockcount']: e['feerate'] for e in
            l2.rpc.feerates('perkw')['perkw']['estimates']}[2] == 15000
    l2.set_feerates((5000, 4000, 3000, 2000, 1000))  # waits until lightningd asked again
    assert l2.rpc.feerates('perkb')['perkb']['floor'] == 4000
    wait_for(lambda: {e['blockcount']: e['feerate'] for e in
                      l2.rpc.feerates('perkw')['perkw']['estimates']}[100] < 3750)


def test_a_disconnect_script_is_run_by_lightningd(node_factory):
    l1 = node_factory.get_node()
    l2 = node_factory.get_node(disconnect=['-WIRE_INIT'])
    assert l2.daemon.opts['dev-disconnect'].endswith('dev-disconnect')
    assert (l2.lightning_dir / 'regtest' / 'dev-disconnect').read_text() == '-WIRE_INIT'
    with pytest.raises(RpcError):
        l1.rpc.connect(l2.info['id'], 'localhost', l2.port)
    l2.daemon.wait_for_log('dev_disconnect: -WIRE_INIT')


def test_daemon_settings_are_pyln_testings(node_factory):
    l1 = node_factory.get_node(options={'log-level': ['trace', 'debug:connectd'],
                                        'allow-deprecated-apis': True})
    cmd = l1.daemon.cmd_line
    assert '--log-level=trace' in cmd and '--log-level=debug:connectd' in cmd
    assert '--allow-deprecated-apis=true' in cmd  # a bool is a value, as pyln writes it
    assert l1.rpc.listconfigs('allow-deprecated-apis')['configs']['allow-deprecated-apis']['value_bool']
    l2 = node_factory.get_node()
    assert '--allow-deprecated-apis=false' in l2.daemon.cmd_line  # DEPRECATED_APIS unset
    assert l2.daemon.is_in_log(' TRACE ')


def test_dev_memleak_runs(node_factory):
    l1 = node_factory.get_node()
    assert l1.rpc.dev_memleak()['leaks'] == []


def test_db_query_reads_and_db_manip_changes_lightningds_database(node_factory):
    l1, l2 = node_factory.line_graph(2)
    assert l1.db_query('SELECT COUNT(id) AS count FROM channels;') == [{'count': 1}]
    l1.stop()
    l1.db_manip("INSERT INTO vars (name, intval) VALUES ('lnh-test', 7);")
    assert l1.db_query("SELECT intval FROM vars WHERE name = 'lnh-test';") == [{'intval': 7}]


def test_plugin_io_is_saved_unless_the_suite_deletes_the_option(node_factory):
    l1 = node_factory.get_node()
    saved = l1.daemon.opts['dev-save-plugin-io']
    assert f'--dev-save-plugin-io={saved}' in l1.daemon.cmd_line
    del l1.daemon.opts['dev-save-plugin-io']
    l1.restart()
    assert not any(a.startswith('--dev-save-plugin-io') for a in l1.daemon.cmd_line)


def test_rpcproxy_mock_rpc_answers_fixed_results(node_factory):
    l1 = node_factory.get_node(start=False)
    l1.daemon.rpcproxy.mock_rpc('estimatesmartfee', {'errors': ['Insufficient data'], 'blocks': 0})
    l1.start()
    wait_for(lambda: l1.daemon.rpcproxy.mock_counts['estimatesmartfee'] >= 4)
    # no estimate: lightningd falls back to regtest's fake minimum, not pyln's 11000 sat/kw
    assert l1.rpc.feerates('perkw')['perkw']['opening'] < 1000


def test_rpcproxy_mock_rpc_calls_a_function_in_the_test_process(node_factory):
    from decimal import Decimal
    asked = []

    def estimate(r):
        asked.append((r['method'], r['params'][0]))
        return {'id': r['id'], 'error': None,
                'result': {'feerate': Decimal('0.00040000'), 'blocks': r['params'][0]}}
    l1 = node_factory.get_node(start=False)
    l1.daemon.rpcproxy.mock_rpc('estimatesmartfee', estimate)
    l1.start()
    wait_for(lambda: l1.daemon.rpcproxy.mock_counts['estimatesmartfee'] >= 4)
    assert {('estimatesmartfee', 2), ('estimatesmartfee', 100)} <= set(asked)
    # 0.0004 BTC/kvB is 10000 sat/kw, at every target
    assert {e['feerate'] for e in l1.rpc.feerates('perkw')['perkw']['estimates']} == {10000}
