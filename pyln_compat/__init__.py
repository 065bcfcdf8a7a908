"""`lnharness.pyln`: Core Lightning's pyln-testing surface on lnharness's engine.

A suite written for pyln-testing migrates by replacing `pyln.testing` with `lnharness.pyln`
in its imports: `lnharness.pyln.fixtures` holds the pytest fixtures (`node_factory`,
`bitcoind`, ...), `lnharness.pyln.utils` the helpers and flags. The nodes are lnharness
nodes (`--lnh-impl`, default the built-in node) behind pyln's `LightningNode` API.

This package sits above the plugin (fixtures/) and the engine (harness/): it imports them,
and nothing of theirs imports it.
"""
