"""BOLT 8 connections over real 127.0.0.1 sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from coincurve import PrivateKey
from lnharness.node_impl.builtin.net.noise import InitiatorHandshake
from lnharness.node_impl.builtin.net.transport import (
    ConnectionClosed,
    ConnectionFailed,
    HandshakeError,
    PeerConnection,
    accept,
    connect,
)

ALICE_PRIV = bytes.fromhex("11" * 32)
BOB_PRIV = bytes.fromhex("21" * 32)
ALICE_ID = PrivateKey(ALICE_PRIV).public_key.format(compressed=True)
BOB_ID = PrivateKey(BOB_PRIV).public_key.format(compressed=True)
TIMEOUT = 5.0


async def with_server(
    body: Callable[[int, asyncio.Queue], Awaitable[None]], privkey: bytes = BOB_PRIV
) -> None:
    """Run a listener that accepts BOLT 8 connections and puts each result
    (a PeerConnection or the exception) on a queue, then run `body(port, queue)`."""
    results: asyncio.Queue = asyncio.Queue()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await results.put(await accept(reader, writer, privkey, timeout=TIMEOUT))
        except HandshakeError as exc:
            await results.put(exc)

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await asyncio.wait_for(body(port, results), 20)
    finally:
        server.close()
        await server.wait_closed()


def run(coro: Awaitable[None]) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_messages_flow_both_ways_across_key_rotations() -> None:
    async def body(port: int, results: asyncio.Queue) -> None:
        alice = await connect("127.0.0.1", port, ALICE_PRIV, BOB_ID, timeout=TIMEOUT)
        bob = await results.get()
        assert isinstance(bob, PeerConnection)
        assert alice.remote_node_id == BOB_ID
        assert bob.remote_node_id == ALICE_ID
        assert alice.local_node_id == ALICE_ID
        # 600 messages each way: nonces pass 1000, so both keys rotate.
        for i in range(600):
            await alice.send(i.to_bytes(2, "big") + b"x" * i)
            await bob.send(b"reply" + i.to_bytes(2, "big"))
        for i in range(600):
            assert await bob.receive() == i.to_bytes(2, "big") + b"x" * i
            assert await alice.receive() == b"reply" + i.to_bytes(2, "big")
        biggest = b"\xff" * 65535
        await alice.send(biggest)
        assert await bob.receive() == biggest
        with pytest.raises(ValueError, match="exceeds the 65535-byte maximum"):
            await alice.send(b"\x00" * 65536)
        alice.close()
        await alice.wait_closed()
        with pytest.raises(ConnectionClosed, match="closed by peer"):
            await bob.receive()
        with pytest.raises(ConnectionClosed):
            await alice.send(b"\x00\x12")
        bob.close()

    run(with_server(body))


def test_concurrent_senders_keep_the_stream_decryptable() -> None:
    async def body(port: int, results: asyncio.Queue) -> None:
        alice = await connect("127.0.0.1", port, ALICE_PRIV, BOB_ID, timeout=TIMEOUT)
        bob = await results.get()
        assert isinstance(bob, PeerConnection)
        payloads = [i.to_bytes(2, "big") * (1 + i % 50) for i in range(300)]
        await asyncio.gather(*(alice.send(payload) for payload in payloads))
        received = [await bob.receive() for _ in payloads]
        assert sorted(received) == sorted(payloads)
        alice.close()
        bob.close()

    run(with_server(body))


def test_send_many_writes_in_order_and_refuses_an_oversized_batch_whole() -> None:
    async def body(port: int, results: asyncio.Queue) -> None:
        alice = await connect("127.0.0.1", port, ALICE_PRIV, BOB_ID, timeout=TIMEOUT)
        bob = await results.get()
        assert isinstance(bob, PeerConnection)
        # 1200 messages in three batches: the keys rotate inside a batch
        batches = [[(i * 400 + j).to_bytes(2, "big") + b"g" * j for j in range(400)]
                   for i in range(3)]
        for batch in batches:
            await alice.send_many(batch)
        for batch in batches:
            assert [await bob.receive() for _ in batch] == batch
        # nothing of a batch holding an oversized message is encrypted or sent...
        with pytest.raises(ValueError, match="exceeds the 65535-byte maximum"):
            await alice.send_many([b"\x00\x01first", b"\x00" * 65536])
        await alice.send_many([b"\x00\x02after"])  # ...so the stream stays in step
        assert await bob.receive() == b"\x00\x02after"
        await alice.send_many([])
        alice.close()
        bob.close()

    run(with_server(body))


def test_local_close_ends_a_pending_receive() -> None:
    async def body(port: int, results: asyncio.Queue) -> None:
        alice = await connect("127.0.0.1", port, ALICE_PRIV, BOB_ID, timeout=TIMEOUT)
        bob = await results.get()
        assert isinstance(bob, PeerConnection)
        pending = asyncio.ensure_future(alice.receive())
        await asyncio.sleep(0)  # let receive() start waiting on the socket
        alice.close()
        with pytest.raises(ConnectionClosed, match="closed locally"):
            await asyncio.wait_for(pending, TIMEOUT)
        with pytest.raises(ConnectionClosed, match="closed by peer"):
            await bob.receive()
        bob.close()

    run(with_server(body))


def test_wrong_remote_node_id_fails_handshake_on_both_sides() -> None:
    async def body(port: int, results: asyncio.Queue) -> None:
        with pytest.raises(HandshakeError, match="act two"):
            await connect("127.0.0.1", port, ALICE_PRIV, ALICE_ID, timeout=TIMEOUT)
        error = await results.get()
        assert isinstance(error, HandshakeError)
        assert "act one: bad MAC" in str(error)

    run(with_server(body))


async def raw_initiator(port: int, first_act: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(first_act)
    await writer.drain()
    return reader, writer


def test_bad_version_byte_is_rejected_by_responder() -> None:
    async def body(port: int, results: asyncio.Queue) -> None:
        act_one = InitiatorHandshake(ALICE_PRIV, BOB_ID).act_one()
        reader, writer = await raw_initiator(port, b"\x01" + act_one[1:])
        error = await results.get()
        assert isinstance(error, HandshakeError)
        assert "act one: unknown handshake version 1" in str(error)
        # The responder hangs up without sending act two.
        assert await reader.read() == b""
        writer.close()

    run(with_server(body))


def test_bad_mac_in_act_three_is_rejected_by_responder() -> None:
    async def body(port: int, results: asyncio.Queue) -> None:
        handshake = InitiatorHandshake(ALICE_PRIV, BOB_ID)
        reader, writer = await raw_initiator(port, handshake.act_one())
        act_three = bytearray(handshake.process_act_two(await reader.readexactly(50)))
        act_three[-1] ^= 1
        writer.write(bytes(act_three))
        await writer.drain()
        error = await results.get()
        assert isinstance(error, HandshakeError)
        assert "act three: bad final MAC" in str(error)
        writer.close()

    run(with_server(body))


def test_responder_that_answers_garbage_fails_initiator() -> None:
    async def garbage_responder(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(50)
        writer.write(b"\x00" * 50)
        await writer.drain()

    async def main() -> None:
        server = await asyncio.start_server(garbage_responder, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(HandshakeError, match="act two: bad public key"):
                await connect("127.0.0.1", port, ALICE_PRIV, BOB_ID, timeout=TIMEOUT)
        finally:
            server.close()
            await server.wait_closed()

    run(main())


def test_silent_peer_times_out_handshake() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async def main() -> None:
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(HandshakeError, match=r"act two: timed out after 0.2s"):
                await connect("127.0.0.1", port, ALICE_PRIV, BOB_ID, timeout=0.2)
        finally:
            server.close()
            await server.wait_closed()

    run(main())


def test_tampered_message_closes_connection() -> None:
    async def body(port: int, results: asyncio.Queue) -> None:
        handshake = InitiatorHandshake(ALICE_PRIV, BOB_ID)
        reader, writer = await raw_initiator(port, handshake.act_one())
        writer.write(handshake.process_act_two(await reader.readexactly(50)))
        await writer.drain()
        bob = await results.get()
        assert isinstance(bob, PeerConnection)
        assert handshake.transport is not None
        wire = bytearray(handshake.transport.encrypt_message(b"\x00\x12hello"))
        wire[-1] ^= 1
        writer.write(bytes(wire))
        await writer.drain()
        with pytest.raises(ConnectionClosed, match="bad MAC on message body"):
            await bob.receive()
        assert bob.is_closed
        writer.close()

    run(with_server(body))


def test_connection_refused_is_a_clear_error() -> None:
    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        with pytest.raises(ConnectionFailed, match=f"connecting to 127.0.0.1:{port} failed"):
            await connect("127.0.0.1", port, ALICE_PRIV, BOB_ID, timeout=TIMEOUT)

    run(main())
