"""regtestd's -rpcbind and -rpcallowip, with Bitcoin Core's rules: without -rpcallowip only
the loopback is served; with it, the -rpcbind address (every address by default), and a
client neither on the loopback nor allowed is answered 403 (the chain in a container serves
its network, while its published port stays on the host's loopback)."""
from __future__ import annotations

import http.client
import ipaddress
import socket

import pytest
from lnharness.node_impl.bitcoin.regtestd.config import ConfigError, parse_args
from lnharness.node_impl.bitcoin.regtestd.rpc_server import RpcHttpServer


def test_rpcbind_without_rpcallowip_is_ignored_with_cores_warning(tmp_path):
    config = parse_args([f"-datadir={tmp_path}", "-rpcbind=0.0.0.0"])
    assert config.rpcbind == "127.0.0.1"
    assert config.warnings == ["Warning: Option -rpcbind was ignored because -rpcallowip was not "
                               "specified, refusing to allow everyone to connect"]


def test_rpcallowip_alone_serves_every_address_and_rpcbind_picks_one(tmp_path):
    config = parse_args([f"-datadir={tmp_path}", "-rpcallowip=10.0.0.0/8"])
    assert config.rpcbind == "0.0.0.0" and config.rpcallowip == [ipaddress.ip_network("10.0.0.0/8")]
    config = parse_args([f"-datadir={tmp_path}", "-rpcallowip=10.0.0.0/8",
                         "-rpcbind=192.168.7.1:18555"])
    assert (config.rpcbind, config.rpcport) == ("192.168.7.1", 18555)
    assert parse_args([f"-datadir={tmp_path}", "-rpcallowip=::/0", "-rpcbind=[::1]"]).rpcbind == "::1"


def test_a_bad_rpcallowip_is_an_error_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="Invalid -rpcallowip subnet specification: 10.0.0.0/99"):
        parse_args([f"-datadir={tmp_path}", "-rpcallowip=10.0.0.0/99"])


def test_the_server_allows_the_loopback_and_the_allowed_networks_only():
    allows = RpcHttpServer.allows
    server = type("S", (), {"allowed": (ipaddress.ip_network("10.0.0.0/8"),)})()
    assert allows(server, "127.0.0.1") and allows(server, "::1")  # type: ignore[arg-type]
    assert allows(server, "10.1.2.3") and allows(server, "::ffff:10.1.2.3")  # type: ignore[arg-type]
    assert not allows(server, "192.168.1.1") and not allows(server, "fe80::1%eth0")  # type: ignore[arg-type]


def _outward_address() -> str | None:
    """An address of this machine that is not the loopback (None if it has no route out)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET: no packet is sent by a UDP connect
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if ipaddress.ip_address(address).is_loopback else address


def test_a_client_outside_the_allowed_networks_is_refused(make_regtestd):
    outward = _outward_address()
    if outward is None:
        pytest.skip("this machine has no address besides the loopback to call from")
    node = make_regtestd("-rpcallowip=203.0.113.0/24")  # serves every address, allows TEST-NET-3
    conn = http.client.HTTPConnection(outward, node.port, timeout=10)
    conn.request("POST", "/", body=b"{}")
    assert conn.getresponse().status == 403
    assert node.rpc().getblockcount() == 0  # the loopback is always allowed
