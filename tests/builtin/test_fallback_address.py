"""BOLT 11 fallbacks as Core Lightning's `decode` shows them: type, address, scriptPubKey (the
addresses of BOLT 11's test vectors)."""

from __future__ import annotations

import pytest
from lnharness.node_impl.builtin.wire.bolt11 import Fallback
from lnharness.node_impl.builtin.wire.fallback_address import describe_fallback


@pytest.mark.parametrize("fallback, network, kind, address", [
    (Fallback(17, bytes.fromhex("3172b5654f6683c8fb146959d347ce303cae4ca7")), "testnet",
     "P2PKH", "mk2QpYatsKicvFVuTAQLBryyccRXMUaGHP"),
    (Fallback(17, bytes.fromhex("04b61f7dc1ea0dc99424464cc4064dc564d91e89")), "bitcoin",
     "P2PKH", "1RustyRX2oai4EYYDpQGWvEL62BBGqN9T"),
    (Fallback(18, bytes.fromhex("8f55563b9a19f321c211e9b9f38cdf686ea07845")), "bitcoin",
     "P2SH", "3EktnHQD7RiAE6uzMj2ZifT9YgRrkSgzQX"),
    (Fallback(0, bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6")), "bitcoin",
     "P2WPKH", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
    (Fallback(0, bytes.fromhex("1863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262")),
     "bitcoin", "P2WSH", "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3"),
])
def test_bolt11_vector_fallbacks_get_their_addresses(fallback, network, kind, address):
    shown = describe_fallback(fallback, network)
    assert shown["type"] == kind and shown["addr"] == address


def test_scripts_and_a_later_witness_version_without_address():
    assert describe_fallback(Fallback(17, bytes(20)), "regtest")["hex"] == "76a914" + "00" * 20 + "88ac"
    assert describe_fallback(Fallback(18, bytes(20)), "regtest")["hex"] == "a914" + "00" * 20 + "87"
    assert describe_fallback(Fallback(0, bytes(20)), "regtest")["addr"].startswith("bcrt1q")
    assert describe_fallback(Fallback(1, bytes(32)), "bitcoin") == {"type": "witness v1",
                                                                   "hex": "5120" + "00" * 32}
