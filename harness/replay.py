"""`lnharness replay BUNDLE`: restart a saved network (a repro bundle or a snapshot) on fresh
ports from copies of its directories, print every endpoint as `lnharness up` does, and keep
it running until Ctrl-C or `lnharness down --dir DIR`. The bundle itself is only read."""
from __future__ import annotations

from pathlib import Path
from typing import TextIO

from lnharness import bundle_manifest
from lnharness.chain import Chain
from lnharness.network import NodeFactory
from lnharness.node import LightningNode
from lnharness.restore import copy_saved_nodes, restore_chain, start_saved_nodes
from lnharness.session import print_endpoints, refuse_if_up, serve_until_signalled


def restore_network(saved: Path, directory: Path, *, timeout: float | None = None,
                    ) -> tuple[Chain, NodeFactory, list[LightningNode]]:
    """Restart the whole saved network `saved` (a directory with `manifest.json`) in the
    working directory `directory` on fresh ports; `saved` is only read. Channels the saved
    state no longer has active are left as they are (see `restore.bring_up`)."""
    saved = Path(saved)
    manifest = bundle_manifest.read(saved)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for entry in [manifest.chain.directory, *(node.directory for node in manifest.nodes)]:
        if not (saved / entry).is_dir():
            raise bundle_manifest.ManifestError(f"{saved}: the manifest names {entry}/, which "
                                                "is not a directory of the bundle")
    copy_saved_nodes(saved, manifest, directory)
    chain = restore_chain(saved, manifest, directory, timeout=timeout)
    factory = NodeFactory(directory, chain)
    try:
        nodes = start_saved_nodes(factory, manifest, timeout=timeout, only_open=True)
    except BaseException:
        factory.teardown()
        chain.close()
        raise
    return chain, factory, nodes


def replay(bundle: Path, directory: Path, out: TextIO) -> int:
    """`lnharness replay`: restore `bundle` in `directory`, print the endpoints, serve."""
    refuse_if_up(directory)
    manifest = bundle_manifest.read(bundle)
    print(f"replaying {bundle}" + (f" ({manifest.test_id})" if manifest.test_id else "")
          + f" in {directory}", file=out, flush=True)
    chain, factory, nodes = restore_network(bundle, directory)
    print_endpoints(chain, nodes, out)
    return serve_until_signalled(directory, chain, factory, out)
