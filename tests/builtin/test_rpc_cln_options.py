"""Core Lightning options on the built-in node: the documented no-ops are accepted and dropped,
dev-no-reconnect and log-level are translated, plugin options are unsupported, anything else
is still refused by name."""

from __future__ import annotations

import pytest
from lnharness.node_impl.builtin.adapter import CLN_NOOP_OPTIONS, _option_args


def test_cln_noop_options_are_dropped_and_translated_ones_mapped():
    assert _option_args(dict.fromkeys(CLN_NOOP_OPTIONS, None)) == []
    assert _option_args({"allow-deprecated-apis": "false", "dev-bitcoind-poll": 1}) == []
    assert _option_args({"dev-no-reconnect": None}) == ["--no-reconnect"]
    assert _option_args({"log-level": "io"}) == ["--log-level=debug"]
    assert _option_args({"log-level": "unusual"}) == ["--log-level=warning"]
    assert _option_args({"log-level": "debug:gossipd"}) == []  # one level for the whole node
    assert _option_args({"log_level": "info"}) == ["--log-level=info"]


def test_unknown_options_are_still_refused_by_name():
    with pytest.raises(TypeError, match="unknown builtin node option 'dev-disconnect'.*no-ops: allow-deprecated"):
        _option_args({"dev-disconnect": "file"})
    with pytest.raises(TypeError, match="'log-level': unknown level 'loud'"):
        _option_args({"log-level": "loud"})
    with pytest.raises(TypeError, match="'alias' takes a value"):
        _option_args({"alias": None})


def test_plugin_options_are_unsupported_with_the_reason():
    from lnharness.backend import UnsupportedFeature
    for name in ("plugin", "plugin-dir", "important-plugin"):
        with pytest.raises(UnsupportedFeature, match=f"option '{name}'.*plugin host"):
            _option_args({name: "/tmp/some_plugin.py"})


def test_a_node_started_with_pyln_options_runs_at_the_mapped_log_level(node_factory):
    node = node_factory.get_node(impl="builtin", options={
        "allow-deprecated-apis": "true", "dev-allow-localhost": None, "dev-fast-gossip": None,
        "dev-bitcoind-poll": 1, "dev-fail-on-subdaemon-fail": None, "log-level": "io",
        "dev-no-reconnect": None})
    assert node.call("getinfo")["id"] == node.node_id
    log = (node.lightning_dir / "log").read_text()
    assert "Z DEBUG " in log  # the default level is info: no debug line without the option
