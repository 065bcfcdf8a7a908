"""The built-in Lightning node: pure Python, real BOLT protocol.

`python -m lnharness.node_impl.builtin --lightning-dir DIR` runs it; adapter.py is the
harness's `LightningNode` over it. Layers, lowest first (a module imports only its own layer
or lower ones; tests/test_layers.py checks it): core, wire, keys, tx, net, chain, services.py,
channel, gossip, payments, rpc, then node.py, the composition root.
"""
