"""The cat shop story with real HTTP requests: a direct buyer, then one routing through him."""
import json
import urllib.error
import urllib.request

import pytest
from lnharness.examples.catshop import CatShop
from lnharness.examples.catshop.cats import cat_for
from lnharness.wait import wait_for

pytestmark = pytest.mark.impls("builtin", "cln", "lnd", "ldk")


def get(url, accept="application/json"):
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def order(shop):
    status, body = get(shop.url + "/")
    assert status == 200
    return json.loads(body)


def test_two_buyers_get_their_cats(node_factory, impl, bitcoind):
    shop_node, buyer1, buyer2 = node_factory.get_nodes(3)
    with CatShop(shop_node) as shop:
        # Buyer 1 opens a channel to the shop and pays 100 sat.
        buyer1.fund_wallet(2_000_000)
        buyer1.open_channel(shop_node, 500_000)
        offer = order(shop)
        assert offer["amount_msat"] == 100_000
        assert get(shop.url + offer["cat_url"])[0] == 402
        buyer1.pay(offer["bolt11"])
        status, cat = get(shop.url + offer["cat_url"], accept="text/plain")
        assert status == 200 and cat == cat_for(offer["order"])

        # Buyer 2's only channel goes to buyer 1: the second cat is routed through him.
        buyer2.fund_wallet(2_000_000)
        buyer2.open_channel(buyer1, 500_000)
        bitcoind.generate_block(5)
        buyer2.wait_for_route(shop_node, 100_000)
        second = order(shop)
        payment = buyer2.pay(second["bolt11"])
        assert payment.fee_msat > 0
        status, cat = get(shop.url + second["cat_url"])
        assert status == 200 and cat == cat_for(second["order"])
        assert buyer1.balance().channels_msat > 0


def test_unknown_and_expired_orders(node_factory, impl):
    node = node_factory.get_node()
    with CatShop(node, invoice_expiry_s=1) as shop:
        assert get(shop.url + "/cat/999")[0] == 404
        assert get(shop.url + "/cat/abc")[0] == 404
        assert get(shop.url + "/nowhere")[0] == 404
        offer = order(shop)
        assert get(shop.url + offer["cat_url"])[0] == 402
        # the invoice expires after 1 s; the shop must then answer 410 Gone
        wait_for(lambda: get(shop.url + offer["cat_url"])[0] == 410, timeout=10,
                 what="the unpaid order to expire")
