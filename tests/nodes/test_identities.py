"""Deterministic identities: a built-in node's keys and invoices derive from the test id and
its name, so a rerun of the same test shows the same node ids, addresses and payment hashes."""
import hashlib

from lnharness.network import NodeFactory
from lnharness.node_impl.builtin.keys.derivation import node_id


def seed_of(identity: str) -> bytes:
    return hashlib.sha256(f"lnharness:{identity}".encode()).digest()


def test_the_fixture_s_nodes_derive_from_the_test_id_and_their_name(request, node_factory):
    l1 = node_factory.get_node()
    expected = node_id(seed_of(f"{request.node.nodeid}/l1")).hex()
    assert l1.node_id == expected
    assert l1.node_id != node_id(seed_of("l1")).hex()  # not from the name alone


def test_same_test_id_same_ids_other_test_id_other_ids(directory, bitcoind, executor):
    def factory(sub: str, test_id: str) -> NodeFactory:
        return NodeFactory(directory / sub, bitcoind, executor=executor, test_id=test_id)

    first, rerun = factory("first", "tests/t.py::test_a"), factory("rerun", "tests/t.py::test_a")
    other = factory("other", "tests/t.py::test_b")
    try:
        a1, a2 = first.get_nodes(2)
        b1, b2 = rerun.get_nodes(2)
        c1 = other.get_node()
        assert (a1.node_id, a2.node_id) == (b1.node_id, b2.node_id)  # the rerun's ids
        assert a1.node_id != a2.node_id                              # one per node name
        assert c1.node_id not in (a1.node_id, a2.node_id)            # another test's ids
        assert a1.new_address() == b1.new_address()                  # wallets too
        assert a1.new_address() != c1.new_address()
        # invoices: the n-th invoice of a node has the same payment hash in a rerun
        assert a1.invoice(1000, label="x").payment_hash == b1.invoice(1000, label="x").payment_hash
        second = a1.invoice(1000, label="y").payment_hash
        assert second == b1.invoice(1000, label="y").payment_hash
        assert second != a1.lookup_invoice("x").payment_hash         # never reused
        assert c1.invoice(1000, label="x").payment_hash != a1.lookup_invoice("x").payment_hash
    finally:
        problems = [*first.teardown(), *rerun.teardown(), *other.teardown()]
    assert not problems, problems


def test_an_explicit_seed_wins_over_the_test_id(node_factory):
    seed = "11" * 32
    node = node_factory.get_node(options={"seed": seed})
    assert node.node_id == node_id(bytes.fromhex(seed)).hex()
