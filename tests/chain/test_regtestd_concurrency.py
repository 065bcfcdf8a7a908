"""Long RPCs do not stall the others: generatetoaddress lets other calls in between blocks."""

from __future__ import annotations

import threading
import time


def test_generatetoaddress_serves_other_rpcs_between_blocks(regtestd):
    """Issue 12, defect 5: during a 2,000-block generatetoaddress, getblockcount is answered
    before the generate call returns, and its answers show the chain growing."""
    address = regtestd.rpc().getnewaddress()
    done = threading.Event()
    result: dict[str, list] = {}

    def generate() -> None:
        result["hashes"] = regtestd.rpc(timeout=600).generatetoaddress(2000, address)
        done.set()

    thread = threading.Thread(target=generate, daemon=True)
    thread.start()
    client = regtestd.rpc()
    seen: list[int] = []
    slowest = 0.0
    while not done.is_set():
        asked = time.monotonic()
        count = client.getblockcount()
        if done.is_set():
            break  # this answer may have come after the generate call returned
        slowest = max(slowest, time.monotonic() - asked)
        seen.append(count)
    thread.join(60)
    assert len(result["hashes"]) == 2000
    during = sorted({c for c in seen if 0 < c < 2000})
    assert len(during) >= 2, f"getblockcount answered only {sorted(set(seen))} during the generate call"
    assert slowest < 1.0, f"a getblockcount waited {slowest:.2f}s for the miner"
    assert client.getblockcount() == 2000
