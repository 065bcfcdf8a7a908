"""The cat shop: a web shop selling ASCII cats for 100 satoshi over Lightning.

It replays the first end-to-end Lightning micropayment (testnet, October 2016): the shop
creates an invoice per order, answers `402 Payment Required` until it is paid, then serves
the cat. It talks to its node only through the `LightningNode` interface, so it runs on
every implementation lnharness supports.
"""
from lnharness.examples.catshop.shop import CatShop, Order

__all__ = ["CatShop", "Order"]
