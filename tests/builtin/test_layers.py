"""The built-in node's layering: a module imports only its own layer or lower ones.

core -> wire -> keys -> tx -> net -> chain -> services -> channel -> gossip -> payments ->
rpc -> node.py (composition root). Checked here for the channel and payments layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import lnharness.node_impl.builtin as builtin

ROOT = Path(builtin.__file__).parent
ORDER = ["core", "wire", "keys", "tx", "net", "chain", "services", "channel", "gossip", "payments", "rpc",
         "node"]


def _imported_layers(path: Path) -> set[str]:
    """The top-level builtin packages/modules `path` imports (relative imports only), anywhere
    in the module (inside functions and TYPE_CHECKING blocks too)."""
    package = path.parent.relative_to(ROOT).parts
    layers = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        base = list(package[:len(package) - (node.level - 1)])
        target = base + (node.module.split(".") if node.module else [])
        if target:
            layers.add(target[0])
        else:  # "from .. import x": the names are the modules
            layers.update(alias.name for alias in node.names)
    return layers


def _higher_imports(layer: str) -> dict[str, set[str]]:
    allowed = set(ORDER[:ORDER.index(layer) + 1])
    found = {}
    for path in sorted((ROOT / layer).glob("*.py")):
        higher = {name for name in _imported_layers(path) if name in ORDER and name not in allowed}
        if higher:
            found[path.name] = higher
    return found


def test_channel_layer_imports_nothing_above_it() -> None:
    assert _higher_imports("channel") == {}


def test_payments_layer_imports_nothing_above_it() -> None:
    assert _higher_imports("payments") == {}
