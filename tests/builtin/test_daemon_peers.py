"""Built-in node peers: BOLT 8 + BOLT 1 init, ping/pong, errors, odd/even rule, bad input.

Two real node processes, and a scripted peer in the test process that speaks BOLT 8 through
lnharness.node_impl.builtin.net.transport.
"""

from __future__ import annotations

import asyncio
import os
import struct

import pytest
from coincurve import PrivateKey
from lnharness.node_impl.builtin.core.jsonrpc_client import BuiltinRpcError
from lnharness.node_impl.builtin.net import transport
from lnharness.node_impl.builtin.wire import messages
from lnharness.node_impl.builtin.wire.codec import REGTEST_CHAIN_HASH
from lnharness.node_impl.builtin.wire.features import Features
from lnharness.wait import wait_for

MAINNET_CHAIN_HASH = bytes.fromhex("6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000")
TIMEOUT_S = 10


def feature_bits(field: bytes) -> frozenset[int]:
    return Features.from_bytes(field).bits


def encode_init(features: bytes, chain_hashes: list[bytes]) -> bytes:
    return messages.Init(globalfeatures=b"", features=features, networks=tuple(chain_hashes),
                         remote_addr=None, unknown_tlvs=()).encode()


def features(*bits: int) -> bytes:
    value = sum(1 << b for b in bits)
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


ASSUMED = features(0, 8, 12, 14, 44)


def msg_type(message: bytes) -> int:
    return struct.unpack(">H", message[:2])[0]


class ScriptedPeer:
    """A BOLT 8 peer driven by the test: handshake, init, then raw messages."""

    def __init__(self, conn: transport.PeerConnection) -> None:
        self.conn = conn

    @classmethod
    async def connect(cls, node, *, send_init: bool = True, chain_hashes=(REGTEST_CHAIN_HASH,),
                      our_features: bytes = ASSUMED) -> tuple[ScriptedPeer, bytes]:
        key = PrivateKey(os.urandom(32)).secret
        conn = await transport.connect("127.0.0.1", node.peer_port, key,
                                       bytes.fromhex(node.node_id), TIMEOUT_S)
        peer = cls(conn)
        their_init = await peer.receive()
        if send_init:
            await conn.send(encode_init(our_features, list(chain_hashes)))
        return peer, their_init

    async def receive(self) -> bytes:
        return await asyncio.wait_for(self.conn.receive(), TIMEOUT_S)

    async def receive_type(self, wanted: int) -> bytes:
        """Next message of type `wanted` (others, e.g. gossip, are skipped)."""
        while True:
            message = await self.receive()
            if msg_type(message) == wanted:
                return message

    async def expect_closed(self) -> list[bytes]:
        """Read until the node closes the connection; returns what it sent meanwhile."""
        seen = []
        while True:
            try:
                seen.append(await self.receive())
            except transport.ConnectionClosed:
                return seen


def warnings_in(seen: list[bytes]) -> list[str]:
    return [messages.decode(m).data.decode() for m in seen if msg_type(m) == 1]


def test_two_nodes_connect_both_ways_and_list_each_other(builtin_nodes):
    a, b = builtin_nodes.get_node(), builtin_nodes.get_node()
    result = a.connect_to(b)
    assert result["id"] == b.node_id and result["direction"] == "out"
    assert feature_bits(bytes.fromhex(result["features"])) >= {0, 8, 12, 14, 44}
    wait_for(lambda: b.rpc.listpeers()["peers"], what="b to list a")
    (peer_of_a,) = a.rpc.listpeers()["peers"]
    (peer_of_b,) = b.rpc.listpeers()["peers"]
    assert peer_of_a["id"] == b.node_id and peer_of_a["connected"] is True
    assert peer_of_b["id"] == a.node_id and peer_of_b["connected"] is True
    assert feature_bits(bytes.fromhex(peer_of_b["features"])) >= {0, 8, 12, 14, 44}
    assert a.rpc.getinfo()["num_peers"] == 1

    a.rpc.disconnect(b.node_id)
    wait_for(lambda: not b.rpc.listpeers()["peers"], what="b to see a disconnect")
    assert a.rpc.listpeers()["peers"] == []

    result = b.connect_to(a)
    assert result["id"] == a.node_id and result["direction"] == "out"
    wait_for(lambda: a.rpc.listpeers(b.node_id)["peers"], what="a to list b again")
    assert b.rpc.listpeers(a.node_id)["peers"][0]["connected"] is True


def test_init_carries_regtest_network_and_assumed_features(builtin_nodes):
    node = builtin_nodes.get_node()

    async def run():
        peer, their_init = await ScriptedPeer.connect(node)
        peer.conn.close()
        return their_init

    their_init = asyncio.run(run())
    init = messages.decode(their_init)
    assert isinstance(init, messages.Init)
    assert init.networks == (REGTEST_CHAIN_HASH,)
    feature_field = init.features
    assert REGTEST_CHAIN_HASH.hex() == "06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f"
    assert feature_bits(feature_field) >= {0, 8, 12, 14, 44}


def test_peer_without_common_network_is_warned_and_disconnected(builtin_nodes):
    node = builtin_nodes.get_node()

    async def run():
        peer, _ = await ScriptedPeer.connect(node, chain_hashes=(MAINNET_CHAIN_HASH,))
        return await peer.expect_closed()

    seen = asyncio.run(run())
    assert "No common network" in warnings_in(seen)
    assert node.rpc.listpeers()["peers"] == []
    node.daemon.wait_for_log("no common network")


def test_peer_requiring_unknown_feature_is_disconnected(builtin_nodes):
    node = builtin_nodes.get_node()

    async def run():
        peer, _ = await ScriptedPeer.connect(node, our_features=features(0, 8, 12, 14, 44, 100))
        return await peer.expect_closed()

    seen = asyncio.run(run())
    assert any("do not support" in w and "100" in w for w in warnings_in(seen))
    assert node.rpc.listpeers()["peers"] == []


def test_ping_is_answered_with_requested_pong_length(builtin_nodes):
    node = builtin_nodes.get_node()

    async def run():
        peer, _ = await ScriptedPeer.connect(node)
        await peer.conn.send(struct.pack(">HHH", 18, 7, 3) + b"abc")
        pong = await peer.receive_type(19)
        # num_pong_bytes >= 65532 must not be answered: the next pong answers the next ping
        await peer.conn.send(struct.pack(">HHH", 18, 65532, 0))
        await peer.conn.send(struct.pack(">HHH", 18, 2, 0))
        second = await peer.receive_type(19)
        peer.conn.close()
        return pong, second

    pong, second = asyncio.run(run())
    assert pong == struct.pack(">HH", 19, 7) + bytes(7)
    assert second == struct.pack(">HH", 19, 2) + bytes(2)


def test_idle_peer_gets_a_ping_and_silence_after_it_disconnects(builtin_nodes):
    node = builtin_nodes.get_node(extra_args=["--ping-idle=0.3"])

    async def run():
        peer, _ = await ScriptedPeer.connect(node)
        ping = await peer.receive_type(18)
        return ping, await peer.expect_closed()

    ping, _ = asyncio.run(run())
    num_pong_bytes, byteslen = struct.unpack(">HH", ping[2:6])
    assert byteslen == len(ping) - 6
    node.daemon.wait_for_log("no pong within")


def test_unknown_odd_message_is_ignored_unknown_even_disconnects(builtin_nodes):
    node = builtin_nodes.get_node()

    async def run():
        peer, _ = await ScriptedPeer.connect(node)
        await peer.conn.send(struct.pack(">H", 32769) + b"odd payload")
        await peer.conn.send(struct.pack(">HHH", 18, 1, 0))
        await peer.receive_type(19)  # still connected after the odd message
        await peer.conn.send(struct.pack(">H", 32768) + b"even payload")
        return await peer.expect_closed()

    seen = asyncio.run(run())
    assert any("unknown even message type 32768" in w for w in warnings_in(seen))
    node.daemon.wait_for_log("ignoring unknown odd message type 32769")
    assert node.rpc.getinfo()["id"] == node.node_id


def test_malformed_message_gets_warning_and_node_keeps_running(builtin_nodes):
    node = builtin_nodes.get_node()

    async def run():
        peer, _ = await ScriptedPeer.connect(node)
        await peer.conn.send(struct.pack(">HH", 18, 5))  # ping without its byteslen
        return await peer.expect_closed()

    seen = asyncio.run(run())
    assert any("malformed message type 18" in w for w in warnings_in(seen))
    assert node.rpc.getinfo()["num_peers"] == 0


def test_garbage_after_handshake_does_not_crash_the_node(builtin_nodes):
    a, b = builtin_nodes.get_node(), builtin_nodes.get_node()

    async def run():
        peer, _ = await ScriptedPeer.connect(a)
        # raw bytes that are not a BOLT 8 frame: decryption fails on the node's side
        peer.conn._writer.write(os.urandom(300))
        await peer.conn._writer.drain()
        return await peer.expect_closed()

    asyncio.run(run())
    a.daemon.wait_for_log("disconnected")
    assert a.rpc.getinfo()["id"] == a.node_id
    assert a.connect_to(b)["id"] == b.node_id


def test_error_from_peer_is_logged(builtin_nodes):
    node = builtin_nodes.get_node()

    async def run():
        peer, _ = await ScriptedPeer.connect(node)
        await peer.conn.send(struct.pack(">H", 17) + bytes(32) + struct.pack(">H", 5) + b"oops!")
        await peer.conn.send(struct.pack(">H", 1) + bytes(32) + struct.pack(">H", 4) + b"hmm.")
        await peer.conn.send(struct.pack(">HHH", 18, 1, 0))
        await peer.receive_type(19)
        peer.conn.close()

    asyncio.run(run())
    node.daemon.wait_for_log(r"sent error \(all channels\): oops!")
    node.daemon.wait_for_log(r"sent warning \(all channels\): hmm.")


def test_connect_failures_are_clear_errors(builtin_nodes):
    a, b = builtin_nodes.get_node(), builtin_nodes.get_node()
    with pytest.raises(BuiltinRpcError) as err:
        a.rpc.connect(f"{b.node_id}@127.0.0.1:1")
    assert err.value.code == 401 and "connect" in err.value.message
    wrong_id = PrivateKey(os.urandom(32)).public_key.format().hex()
    with pytest.raises(BuiltinRpcError) as err:
        a.rpc.connect(f"{wrong_id}@127.0.0.1:{b.peer_port}")
    assert err.value.code == 401
    with pytest.raises(BuiltinRpcError) as err:
        a.rpc.connect("02zz")
    assert err.value.code == -32602 and "id" in err.value.message
    assert a.rpc.getinfo()["num_peers"] == 0


def test_truncated_channel_message_gets_warning_naming_the_field(builtin_nodes):
    node = builtin_nodes.get_node()

    async def run():
        peer, _ = await ScriptedPeer.connect(node)
        await peer.conn.send(struct.pack(">H", 32) + bytes(10))  # open_channel, 10 bytes only
        return await peer.expect_closed()

    seen = asyncio.run(run())
    assert any("open_channel.chain_hash" in w for w in warnings_in(seen))
    assert node.rpc.getinfo()["num_peers"] == 0
