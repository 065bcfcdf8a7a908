"""PeerManager.keep_connected: two nodes in one event loop over real sockets; the kept peer is
reconnected after the other side drops the connection, and no longer once released."""

from __future__ import annotations

import asyncio

from tests.builtin.in_process import make_node, until

TIMEOUT_S = 10


def test_kept_peer_is_reconnected_until_released(tmp_path):
    async def scenario() -> None:
        a, b = make_node(tmp_path, "a"), make_node(tmp_path, "b")
        runs = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
        await until(lambda: a.listen_address and b.listen_address, "both nodes to listen")
        try:
            await a.peers.connect(b.node_id, *b.listen_address)
            a.peers.keep_connected(b.node_id)
            # a's connect returns once a has b's init; b registers a when it has a's init
            await until(lambda: b.peers.get(a.node_id) is not None, "b to register a")
            first = b.peers.get(a.node_id)
            await b.peers.disconnect(a.node_id)
            # b registers the new connection when it reads a's init, a when it reads b's: either may be first
            await until(lambda: b.peers.get(a.node_id) not in (None, first) and a.peers.get(b.node_id) is not None,
                        "a to reconnect to b")

            a.peers.stop_keeping(b.node_id)
            await b.peers.disconnect(a.node_id)
            await until(lambda: a.peers.get(b.node_id) is None, "a to see the disconnect")
            await asyncio.sleep(0)  # nothing may be scheduled to reconnect now
            assert not any(t.get_name().startswith("keep-") for t in asyncio.all_tasks())
        finally:
            a.request_stop()
            b.request_stop()
            await asyncio.wait_for(asyncio.gather(*runs), TIMEOUT_S)

    asyncio.run(scenario())
