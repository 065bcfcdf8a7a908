"""Chain backend client: bitcoind's JSON-RPC (Bitcoin Core or the embedded regtestd).

Calls run in worker threads (http.client, one connection per call). `ChainWatcher` follows the
tip with `waitforblockheight` long polls (falling back to polling `getblockcount` when the backend
lacks it), hands every connected block to its subscribers in height order and reports reorgs.

Layer: chain. Imports core only; its subscribers (wallet, channels, gossip) are registered by
the composition root (node.py) as plain callbacks, so it knows none of them.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import socket
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from bitcoin.core import CBlock

from ..core.log import get_logger
from ..core.storage import Storage

log = get_logger("chain")

REGTEST_GENESIS_HASH = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
METHOD_NOT_FOUND = -32601
REORG_MEMORY_BLOCKS = 100
FAILURE_MIN_PAUSE_S = 0.2
FAILURE_MAX_PAUSE_S = 10.0
#: an unavailable chain is dialled again after this pause during its first second ...
UNAVAILABLE_FIRST_PAUSE_S = 0.005
UNAVAILABLE_FAST_FOR_S = 1.0
#: ... then after at most this (or the poll interval, if longer)
UNAVAILABLE_MAX_PAUSE_S = 0.2


def unavailable_pause(unavailable_for_s: float, poll_s: float) -> float:
    """Seconds to wait before dialling again a chain unavailable for `unavailable_for_s`."""
    if unavailable_for_s < UNAVAILABLE_FAST_FOR_S:
        return UNAVAILABLE_FIRST_PAUSE_S
    return max(poll_s, UNAVAILABLE_MAX_PAUSE_S)


class ChainRpcError(Exception):
    """The backend answered an error: method, code and its message."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"bitcoin RPC {method} failed: {code}: {message}")
        self.method = method
        self.code = code
        self.message = message


class ChainUnavailable(Exception):
    """The backend could not be reached (not configured, refused, timed out)."""


class ChainClient:
    """Async calls to the backend's JSON-RPC."""

    def __init__(self, url: str | None, cookie_file: Path | None = None) -> None:
        self.url = url
        self.cookie_file = cookie_file
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="chain-rpc")
        self._open: set[http.client.HTTPConnection] = set()
        self._closed = False
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme != "http" or not parts.hostname or not parts.port:
                raise ValueError(f"--bitcoin-rpcurl: expected http://user:pass@HOST:PORT, got {url!r}")
            self._host, self._port = parts.hostname, parts.port
            self._path = parts.path or "/"
            self._url_user = unquote(parts.username) if parts.username else None
            self._url_password = unquote(parts.password) if parts.password else None

    @property
    def configured(self) -> bool:
        return self.url is not None

    def _auth_header(self) -> str:
        if self.cookie_file is not None:
            credentials = self.cookie_file.read_text().strip()
        elif self._url_user is not None:
            credentials = f"{self._url_user}:{self._url_password or ''}"
        else:
            raise ChainUnavailable("no credentials for the bitcoin backend (URL user:pass or cookie)")
        return "Basic " + base64.b64encode(credentials.encode()).decode()

    def _call_blocking(self, method: str, params: list[Any], timeout: float) -> Any:
        if self._closed:
            raise ChainUnavailable("chain client is closed")
        body = json.dumps({"jsonrpc": "1.0", "id": method, "method": method, "params": params})
        conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        self._open.add(conn)
        try:
            conn.request("POST", self._path, body,
                         {"Authorization": self._auth_header(), "Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise ChainUnavailable(f"bitcoin RPC {method} to {self._host}:{self._port}: {exc}") from exc
        finally:
            self._open.discard(conn)
            conn.close()
        if response.status == 401:
            raise ChainUnavailable(f"bitcoin RPC {method}: authentication refused (HTTP 401)")
        try:
            reply = json.loads(data, parse_float=Decimal)
        except ValueError as exc:
            raise ChainUnavailable(
                f"bitcoin RPC {method}: HTTP {response.status}, not JSON: {data[:200]!r}") from exc
        error = reply.get("error")
        if error:
            raise ChainRpcError(method, int(error.get("code", -1)), str(error.get("message", error)))
        return reply.get("result")

    async def call(self, method: str, *params: Any, timeout: float = 30.0) -> Any:
        """Call `method` with positional params; raises ChainRpcError or ChainUnavailable."""
        if self.url is None:
            raise ChainUnavailable("no chain backend configured (--bitcoin-rpcurl)")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call_blocking, method, list(params), timeout)

    async def getblockcount(self) -> int:
        return int(await self.call("getblockcount"))

    async def getblockhash(self, height: int) -> str:
        return str(await self.call("getblockhash", height))

    async def getrawblock(self, block_hash: str) -> bytes:
        return bytes.fromhex(await self.call("getblock", block_hash, 0))

    async def gettxout(self, txid: str, vout: int) -> dict[str, Any] | None:
        """The unspent output, or None when it is spent or unknown."""
        return await self.call("gettxout", txid, vout)

    async def sendrawtransaction(self, tx_hex: str) -> str:
        return str(await self.call("sendrawtransaction", tx_hex))

    async def fee_estimate_perkw(self, blocks: int) -> int | None:
        """The backend's `estimatesmartfee` for confirmation within `blocks`, in sat per 1000
        weight units (floor 253); None when it has no estimate or cannot be asked."""
        try:
            result = await self.call("estimatesmartfee", blocks)
        except (ChainRpcError, ChainUnavailable):
            return None
        btc_per_kvb = result.get("feerate") if isinstance(result, dict) else None
        if btc_per_kvb is None:
            return None
        return max(253, int(Decimal(btc_per_kvb) * 100_000_000 / 4))

    async def estimate_feerate_perkw(self, blocks: int, default_perkw: int = 253) -> int:
        """Fee rate in sat per 1000 weight units for confirmation within `blocks` (floor 253),
        `default_perkw` without an estimate."""
        estimate = await self.fee_estimate_perkw(blocks)
        return default_perkw if estimate is None else estimate

    def close(self) -> None:
        """Abort in-flight calls (long polls included) and refuse new ones."""
        self._closed = True
        for conn in list(self._open):
            sock = conn.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._executor.shutdown(wait=False, cancel_futures=True)


BlockCallback = Callable[[int, str, CBlock], Awaitable[None]]
ReorgCallback = Callable[[int], Awaitable[None]]


class ChainWatcher:
    """Follows the backend's tip; subscribers see each block once, in order, across restarts.

    Processed blocks are remembered in the `chain_blocks` table; a restart resumes after the
    last one. A fresh node starts at the tip it first sees (its birth height).
    """

    def __init__(self, client: ChainClient, db: Storage, *, poll_s: float = 0.1) -> None:
        self.client = client
        self.db = db
        self.poll_s = poll_s
        self.tip_height: int | None = None
        self.synced = False
        self._block_subscribers: list[BlockCallback] = []
        self._reorg_subscribers: list[ReorgCallback] = []
        self._new_tip = asyncio.Condition()
        self._use_longpoll = True
        self._warned_unavailable = False
        db.migrate("chain", [
            "CREATE TABLE chain_blocks (height INTEGER PRIMARY KEY, hash TEXT NOT NULL)",
        ])

    def subscribe(self, on_block: BlockCallback, on_reorg: ReorgCallback | None = None) -> None:
        """`on_block(height, block_hash_hex, block)` (a python-bitcoinlib CBlock) for every new block in order;
        `on_reorg(fork_height)` when blocks above fork_height were disconnected."""
        self._block_subscribers.append(on_block)
        if on_reorg is not None:
            self._reorg_subscribers.append(on_reorg)

    @property
    def processed_height(self) -> int | None:
        row = self.db.query("SELECT MAX(height) AS h FROM chain_blocks")[0]
        return row["h"]

    async def wait_for_height(self, height: int, timeout: float) -> bool:
        """Wait until blocks up to `height` have been processed; returns whether they were."""
        async def reached() -> None:
            async with self._new_tip:
                await self._new_tip.wait_for(
                    lambda: (self.processed_height or -1) >= height)
        try:
            await asyncio.wait_for(reached(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def run(self) -> None:
        """Follow the tip until cancelled."""
        if not self.client.configured:
            log.warning("no --bitcoin-rpcurl given: running without a chain backend")
            return
        failure_pause_s = FAILURE_MIN_PAUSE_S
        # a node started beside its chain dials it until it listens: every 5 ms for the first
        # second (a refused local connection costs next to nothing), then less often, every
        # 0.2 s at most
        unavailable_since: float | None = None
        while True:
            try:
                await self._catch_up()
                await self._wait_for_next_block()
            except ChainUnavailable as exc:
                self.synced = False
                if not self._warned_unavailable:
                    log.warning("chain backend unavailable: %s (retrying)", exc)
                    self._warned_unavailable = True
                now = time.monotonic()
                unavailable_since = now if unavailable_since is None else unavailable_since
                await asyncio.sleep(unavailable_pause(now - unavailable_since, self.poll_s))
                continue
            except ChainRpcError as exc:
                log.warning("chain backend error: %s (retrying)", exc)
                await asyncio.sleep(max(self.poll_s, 0.2))
            except Exception as exc:  # a subscriber failed on a block: retry it, don't stop following
                log.error("processing blocks failed: %r (retrying in %.1fs)", exc, failure_pause_s,
                          exc_info=True)
                await asyncio.sleep(failure_pause_s)
                failure_pause_s = min(failure_pause_s * 2, FAILURE_MAX_PAUSE_S)
                continue
            failure_pause_s = FAILURE_MIN_PAUSE_S
            unavailable_since = None

    async def _wait_for_next_block(self) -> None:
        if self._use_longpoll:
            try:
                # returns at once if the block arrived since we looked; 1 s cap catches reorgs
                # at the same height
                next_height = (self.tip_height or 0) + 1
                await self.client.call("waitforblockheight", next_height, 1000, timeout=10)
                return
            except ChainRpcError as exc:
                if exc.code != METHOD_NOT_FOUND:
                    raise
                log.info("backend has no waitforblockheight: polling every %.2fs", self.poll_s)
                self._use_longpoll = False
        await asyncio.sleep(self.poll_s)

    async def _catch_up(self) -> None:
        tip = await self.client.getblockcount()
        if self._warned_unavailable:
            log.info("chain backend reachable again")
            self._warned_unavailable = False
        self.tip_height = tip
        processed = self.processed_height
        if processed is None:
            tip_hash = await self.client.getblockhash(tip)
            self.db.execute("INSERT INTO chain_blocks (height, hash) VALUES (?, ?)", (tip, tip_hash))
            log.info("first start: following the chain from height %d (%s)", tip, tip_hash)
            processed = tip
        processed = await self._unwind_reorg(processed)
        for height in range(processed + 1, tip + 1):
            block_hash = await self.client.getblockhash(height)
            raw = await self.client.getrawblock(block_hash)
            await self._connect(height, block_hash, raw)
        if not self.synced:
            log.info("synced to chain height %d", tip)
        self.synced = True
        async with self._new_tip:
            self._new_tip.notify_all()

    async def _unwind_reorg(self, processed: int) -> int:
        """Disconnect processed blocks the backend no longer has; returns the new processed height."""
        height = processed
        while True:
            row = self.db.query("SELECT hash FROM chain_blocks WHERE height = ?", (height,))
            if not row:
                break
            try:
                backend_hash = await self.client.getblockhash(height)
            except ChainRpcError:
                backend_hash = None  # backend is shorter than what we processed
            if backend_hash == row[0]["hash"]:
                break
            height -= 1
        if height == processed:
            return processed
        log.info("reorg: blocks above height %d disconnected", height)
        self.db.execute("DELETE FROM chain_blocks WHERE height > ?", (height,))
        for callback in self._reorg_subscribers:
            await callback(height)
        return height

    async def _connect(self, height: int, block_hash: str, raw: bytes) -> None:
        block = CBlock.deserialize(raw)
        for callback in self._block_subscribers:
            await callback(height, block_hash, block)
        with self.db.transaction():
            self.db.execute("INSERT OR REPLACE INTO chain_blocks (height, hash) VALUES (?, ?)",
                            (height, block_hash))
            self.db.execute("DELETE FROM chain_blocks WHERE height < ?", (height - REORG_MEMORY_BLOCKS,))
        log.debug("block %d %s processed", height, block_hash)
        async with self._new_tip:
            self._new_tip.notify_all()
