"""node_factory and the LightningNode interface on the default implementation."""
import pytest
from lnharness.network import UnknownImplementation


def test_get_node_is_ready_and_reproducible(node_factory):
    node = node_factory.get_node()
    info = node.info()
    assert info["id"] == node.node_id and len(node.node_id) == 66
    assert info["alias"] == "l1"
    assert info["blockheight"] == node_factory.chain.height()
    assert node.daemon.is_running()
    again = node_factory.get_node(name="l1-copy", options=None)
    assert again.node_id != node.node_id


def test_node_ids_are_reproducible_across_runs(node_factory):
    node = node_factory.get_node()
    first = node.node_id
    node.restart()
    assert node.info()["id"] == first


def test_unknown_option_is_a_type_error(node_factory):
    with pytest.raises(TypeError, match="unknown builtin node option 'colour'"):
        node_factory.get_node(impl="builtin", options={"colour": "red"})
    with pytest.raises(TypeError, match="'rpc_port' is set by the harness"):
        node_factory.get_node(impl="builtin", options={"rpc_port": 1})


def test_unknown_kwarg_is_a_type_error(node_factory):
    with pytest.raises(TypeError):
        node_factory.get_node(colour="red")
    with pytest.raises(TypeError):
        node_factory.line_graph(2, colour="red")


def test_unknown_impl_is_named(node_factory):
    with pytest.raises(UnknownImplementation, match="no lnharness.impls entry named 'lnd9'"):
        node_factory.get_node(impl="lnd9")


def test_unavailable_impl_skips_with_the_reason(pytester, monkeypatch):
    monkeypatch.setenv("LNH_LIGHTNINGD", "/nonexistent/lightningd")
    pytester.makepyfile("""
        def test_needs_cln(node_factory):
            node_factory.get_node(impl="cln")
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*Lightning implementation 'cln' is unavailable: "
                                 "/nonexistent/lightningd (LNH_LIGHTNINGD) is not executable*"])


def test_connect_and_disconnect(node_factory):
    l1, l2 = node_factory.get_nodes(2)
    l1.connect(l2)
    assert l1.is_connected(l2) and l2.is_connected(l1)
    l1.disconnect(l2)
    from lnharness.wait import wait_for
    wait_for(lambda: not l2.is_connected(l1), what="l2 to see l1 gone")
    assert not l1.is_connected(l2)


def test_fund_wallet_shows_confirmed_balance(node_factory):
    node = node_factory.get_node()
    node.fund_wallet(250_000)
    assert node.balance().onchain_sat == 250_000
    assert node.balance().channels_msat == 0


def test_invoice_lookup_and_decode(node_factory):
    node = node_factory.get_node()
    invoice = node.invoice(42_000, label="lbl", description="a cat", expiry=60)
    assert invoice.label == "lbl" and invoice.amount_msat == 42_000
    assert node.lookup_invoice("lbl").status == "unpaid"
    assert node.lookup_invoice(invoice.payment_hash).bolt11 == invoice.bolt11
    decoded = node.decode(invoice.bolt11)
    assert decoded["payment_hash"] == invoice.payment_hash
    assert decoded["amount_msat"] == 42_000
    assert decoded["payee"] == node.node_id


def test_builtin_node_redials_its_channel_peer_only_with_may_reconnect(node_factory):
    """As the cln adapter with --dev-no-reconnect: a built-in node gets --no-reconnect unless
    may_reconnect=True, so after a restart only the one that may reconnect dials its peer."""
    from lnharness.wait import wait_for

    redialling = node_factory.get_node(impl="builtin", may_reconnect=True)
    plain = node_factory.get_node(impl="builtin")
    peer = node_factory.get_node(impl="builtin")
    assert "--no-reconnect" in plain.daemon.cmd and "--no-reconnect" not in redialling.daemon.cmd
    for node in (redialling, plain):  # each dials peer, so each knows its address
        node.fund_wallet(2_000_000)
        node.open_channel(peer, 1_000_000)
    for node in (redialling, plain):
        node.restart()
    wait_for(lambda: redialling.is_connected(peer) and peer.is_connected(redialling),
             what=f"{redialling.name} to redial {peer.name}")
    # the channel manager asked to keep peer connected and the node refused (before its ready line)
    assert plain.daemon.is_in_log(f"not dialling {peer.node_id} by ourselves")
    assert not plain.daemon.is_in_log("reconnecting to")
    assert not plain.is_connected(peer)
    plain.connect(peer)  # as a pyln user would
    assert plain.is_connected(peer)


def test_get_node_flags_may_be_given_in_opts_like_pyln(node_factory):
    """get_nodes/line_graph `opts` carry get_node's flags next to the implementation's options."""
    l1, l2 = node_factory.get_nodes(2, opts=[{"may_reconnect": True, "allow_broken_log": True}, {"may_fail": True}])
    assert l1.may_reconnect and "--no-reconnect" not in l1.daemon.cmd
    assert not l2.may_reconnect and "--no-reconnect" in l2.daemon.cmd
    managed = {m.node.name: m for m in node_factory.managed}
    assert (managed[l1.name].allow_broken_log, managed[l1.name].may_fail) == (True, False)
    assert (managed[l2.name].allow_broken_log, managed[l2.name].may_fail) == (False, True)
    with pytest.raises(TypeError, match="may_reconnect must be True or False"):
        node_factory.get_nodes(1, opts={"may_reconnect": "yes"})
