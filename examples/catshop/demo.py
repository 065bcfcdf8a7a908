"""`lnharness demo`: the cat shop story, narrated, on a fresh regtest network.

A shop sells ASCII cats for 100 sat. Buyer 1 opens a channel to the shop's node, pays an
invoice and gets a cat. Buyer 2 opens a channel to buyer 1 only and buys a second cat by
routing through buyer 1's node. Everything runs on regtest in a temporary directory that
is removed at the end (kept on failure).
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TextIO, TypeVar

from lnharness.backend import select_chain_backend
from lnharness.chain import Chain
from lnharness.examples.catshop.shop import CatShop
from lnharness.network import NodeFactory
from lnharness.node import LightningNode
from lnharness.topology import NodeSpec

T = TypeVar("T")
CHANNEL_SAT = 500_000
ANNOUNCE_BLOCKS = 5  # on top of the confirming block: 6 deep, so channels are announced


class Narrator:
    """Prints each step as it starts and how long it took."""

    def __init__(self, out: TextIO):
        self.out = out
        self.start = time.monotonic()

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def step(self, text: str, action: Callable[[], T]) -> T:
        print(f"[{time.monotonic() - self.start:6.2f}s] {text} ...", end=" ", file=self.out, flush=True)
        began = time.monotonic()
        result = action()
        print(f"done ({(time.monotonic() - began) * 1000:.0f} ms)", file=self.out, flush=True)
        return result


def fetch(url: str) -> tuple[int, str]:
    """GET `url`: (status, body), also for 4xx answers."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def buy_cat(n: Narrator, shop: CatShop, buyer: LightningNode) -> str:
    """One purchase over HTTP: order, pay, fetch the cat."""
    _, body = n.step(f"{buyer.name} asks {shop.url}/ for a cat", lambda: fetch(shop.url + "/"))
    offer = json.loads(body)
    n.say(f"         invoice for order {offer['order']}: {offer['bolt11'][:60]}...")
    status, _ = fetch(shop.url + offer["cat_url"])
    n.say(f"         before paying, {offer['cat_url']} answers {status} Payment Required")
    payment = n.step(f"{buyer.name} pays {offer['amount_msat'] // 1000} sat",
                     lambda: buyer.pay(offer["bolt11"]))
    n.say(f"         preimage {payment.preimage}, routing fee {payment.fee_msat} msat")
    status, cat = fetch(shop.url + offer["cat_url"])
    if status != 200:
        raise RuntimeError(f"the shop answered {status} for a paid order: {cat}")
    return cat


def run(out: TextIO, *, chain_name: str = "auto", impl: str = "builtin",
        workdir: Path | None = None) -> None:
    """Run the whole story; raises on any failure."""
    n = Narrator(out)
    directory = Path(workdir or tempfile.mkdtemp(prefix="lnharness-demo-"))
    n.say(f"The cat shop on regtest (working directory {directory})\n")
    backend_cls = select_chain_backend(chain_name)
    chain = Chain(backend_cls(directory))
    factory: NodeFactory | None = None
    try:
        n.step(f"starting the chain ({backend_cls.name})", chain.start)
        n.step("mining 101 blocks so the faucet has coins", chain.fund_wallet)
        factory = NodeFactory(directory, chain, default_impl=impl)
        shop_node, buyer1, buyer2 = n.step(
            f"starting three {impl} Lightning nodes: shop, buyer1, buyer2",
            lambda: factory.start_nodes([NodeSpec(name) for name in ("shop", "buyer1", "buyer2")]))
        for node in (shop_node, buyer1, buyer2):
            n.say(f"         {node.name}: {node.node_id} at {node.host}:{node.port}")
        with CatShop(shop_node) as shop:
            n.say(f"         the shop is open at {shop.url}\n")
            n.step("funding buyer1's wallet with 0.01 BTC", lambda: buyer1.fund_wallet(1_000_000))
            channel = n.step(f"buyer1 opens a {CHANNEL_SAT} sat channel to the shop",
                             lambda: buyer1.open_channel(shop_node, CHANNEL_SAT))
            n.say(f"         channel {channel.short_channel_id}, funding tx {channel.funding_txid}")
            n.say("\n" + buy_cat(n, shop, buyer1))

            n.say("A second customer, whose only channel goes to buyer1:")
            n.step("funding buyer2's wallet with 0.01 BTC", lambda: buyer2.fund_wallet(1_000_000))
            channel = n.step(f"buyer2 opens a {CHANNEL_SAT} sat channel to buyer1",
                             lambda: buyer2.open_channel(buyer1, CHANNEL_SAT))
            n.say(f"         channel {channel.short_channel_id}, funding tx {channel.funding_txid}")
            n.step(f"mining {ANNOUNCE_BLOCKS} blocks so both channels are announced",
                   lambda: chain.generate_block(ANNOUNCE_BLOCKS))
            n.step("buyer2 waits until gossip shows a route to the shop",
                   lambda: buyer2.wait_for_route(shop_node, 100_000))
            n.say("\n" + buy_cat(n, shop, buyer2))
        n.say(f"Both cats delivered in {time.monotonic() - n.start:.1f} s. Cleaning up.")
    except BaseException:
        n.say(f"\nThe demo failed; its files are kept in {directory}")
        raise
    finally:
        problems = factory.teardown() if factory is not None else []
        chain.close()
        for problem in problems:
            n.say(problem)
    shutil.rmtree(directory, ignore_errors=True)


def main(out: TextIO = sys.stdout, **kwargs: object) -> int:
    """Entry of `lnharness demo`; 0 on success."""
    run(out, **kwargs)  # type: ignore[arg-type]
    return 0
