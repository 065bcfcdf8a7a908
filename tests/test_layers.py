"""The daemons' import structure, read from their source: layers in order, no cycle.

The built-in node (node_impl/builtin) and the embedded chain (node_impl/bitcoin/regtestd)
are layered: a module imports only from its own layer or a lower one. Every import counts,
wherever it stands (inside a function, under `if TYPE_CHECKING:`), so a cycle cannot hide.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUILTIN = REPO / "node_impl" / "builtin"
REGTESTD = REPO / "node_impl" / "bitcoin" / "regtestd"
BUILTIN_PACKAGE = "lnharness.node_impl.builtin"
REGTESTD_PACKAGE = "lnharness.node_impl.bitcoin.regtestd"
DAEMONS = [(BUILTIN, BUILTIN_PACKAGE), (REGTESTD, REGTESTD_PACKAGE)]

# lowest first; a folder of builtin/ (or a top-level module) is one layer
BUILTIN_LAYERS = [
    "core", "wire", "keys", "tx", "net", "chain", "services",
    "channel", "gossip", "payments", "rpc", "node", "__main__", "adapter",
]
# the embedded chain's modules, lowest first
REGTESTD_LAYERS = [
    # primitives: data types, encodings, scripts, keys, the consensus engine, configuration
    {"rpc_errors", "amounts", "primitives", "descriptor", "address", "script", "keys", "sighash",
     "signer", "scriptcheck", "kernel", "miner", "config", "dialect"},
    # chain state: indexes, relay policy, mempool
    {"index", "policy", "mempool"},
    # the wallet, which sees the chain through wallet.ChainView only
    {"wallet_store", "wallet"},
    # the node: kernel, indexes, mempool and wallets together
    {"node", "wallet_history"},
    # the JSON-RPC server and its method groups
    {"rpc_args", "rpc_json", "rpc_registry", "rpc_server", "rpc_chain", "rpc_mining",
     "rpc_control", "rpc_rawtx", "rpc_wallet", "rpc_wallet_send"},
    {"__main__"},
]
MAX_LINES = 600
# modules over MAX_LINES that are declarative tables (one dataclass per BOLT message)
DECLARATIVE_TABLES = {"wire/messages.py"}


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(root: Path, package_name: str, path: Path) -> set[str]:
    """Modules of the package at `root` (named `package_name`) that `path` imports, relative
    to root; relative, absolute, in-function and TYPE_CHECKING imports alike."""
    name = _module_name(root, path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    package = [p for p in package if p]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            found.update([base] + [f"{base}.{a.name}".strip(".") for a in node.names])
            continue
        elif isinstance(node, ast.ImportFrom):
            targets = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found.update(t[len(package_name) + 1:] for t in targets if t.startswith(package_name + "."))
    modules = {_module_name(root, p) for p in root.rglob("*.py")}
    return {t for t in found if t in modules and t != name}


def _graph(root: Path, package_name: str) -> dict[str, set[str]]:
    return {_module_name(root, p): _imports(root, package_name, p) for p in sorted(root.rglob("*.py"))}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def _builtin_layer(module: str) -> int:
    top = module.split(".")[0] or "__init__"
    if top in ("", "__init__"):
        return -1  # the package's own __init__ imports nothing
    return BUILTIN_LAYERS.index(top)


def _regtestd_layer(module: str) -> int:
    for level, names in enumerate(REGTESTD_LAYERS):
        if module in names:
            return level
    return -1 if module == "" else len(REGTESTD_LAYERS)


@pytest.mark.parametrize("root, package_name", DAEMONS, ids=["builtin", "regtestd"])
def test_no_import_cycle(root: Path, package_name: str) -> None:
    assert _cycles(_graph(root, package_name)) == []


def test_every_builtin_module_is_in_a_known_layer() -> None:
    unknown = {m for m in _graph(BUILTIN, BUILTIN_PACKAGE) if m and m.split(".")[0] not in BUILTIN_LAYERS}
    assert unknown == set(), f"add these to BUILTIN_LAYERS (and the README's layer table): {unknown}"


def test_every_regtestd_module_is_in_a_known_layer() -> None:
    unknown = {m for m in _graph(REGTESTD, REGTESTD_PACKAGE) if m and _regtestd_layer(m) == len(REGTESTD_LAYERS)}
    assert unknown == set(), f"add these to REGTESTD_LAYERS: {unknown}"


@pytest.mark.parametrize("root, package_name, layer_of",
                         [(BUILTIN, BUILTIN_PACKAGE, _builtin_layer),
                          (REGTESTD, REGTESTD_PACKAGE, _regtestd_layer)], ids=["builtin", "regtestd"])
def test_imports_run_down_the_layers_only(root: Path, package_name: str,
                                          layer_of: Callable[[str], int]) -> None:
    upward = sorted(f"{m} -> {dep}" for m, deps in _graph(root, package_name).items() for dep in deps
                    if layer_of(dep) > layer_of(m))
    assert upward == []


def test_daemons_do_not_import_the_harness() -> None:
    """The daemons are standalone programs: only the adapter imports lnharness's engine."""
    offenders = []
    for root, package_name in DAEMONS:
        for path in root.rglob("*.py"):
            if path.name == "adapter.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                offenders += [f"{path.relative_to(REPO)}: {n}" for n in names
                              if n.startswith("lnharness") and not n.startswith(package_name)]
    assert offenders == []


@pytest.mark.parametrize("root", [BUILTIN, REGTESTD], ids=["builtin", "regtestd"])
def test_modules_stay_small(root: Path) -> None:
    big = {p.relative_to(root).as_posix(): n for p in root.rglob("*.py")
           if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert {k: v for k, v in big.items() if k not in DECLARATIVE_TABLES} == {}


def test_every_builtin_module_says_its_layer() -> None:
    missing = [p.relative_to(BUILTIN).as_posix() for p in BUILTIN.rglob("*.py")
               if p.name not in ("__init__.py", "__main__.py")
               and "Layer:" not in (ast.get_docstring(ast.parse(p.read_text())) or "")]
    assert missing == []


def test_the_checker_sees_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    """The reading of imports itself: relative, absolute and in-function imports all count."""
    (tmp_path / "core").mkdir()
    (tmp_path / "rpc").mkdir()
    for package in ("", "core/", "rpc/"):
        (tmp_path / f"{package}__init__.py").write_text("")
    (tmp_path / "core" / "low.py").write_text("def f():\n    from ..rpc import high\n")
    (tmp_path / "rpc" / "high.py").write_text("from pkg.core.low import f\n")
    graph = _graph(tmp_path, "pkg")
    assert graph["core.low"] == {"rpc", "rpc.high"}
    assert graph["rpc.high"] == {"core.low"}
    assert _cycles(graph) == [["core.low", "rpc.high"]]
    assert _builtin_layer("rpc.high") > _builtin_layer("core.low")


def _absolute_imports(folder: Path) -> list[tuple[str, str]]:
    """(file, imported module) for every absolute import under `folder`."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found += [(path.relative_to(REPO).as_posix(), a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found.append((path.relative_to(REPO).as_posix(), node.module))
    return found


def test_the_engine_imports_no_implementation_no_plugin_and_no_pytest() -> None:
    """harness/ (`lnharness`) is the ground floor: it finds implementations through entry
    points and knows nothing of pytest."""
    bad = [(f, m) for f, m in _absolute_imports(REPO / "harness")
           if m.split(".")[0] in ("pytest", "_pytest")
           or m.startswith(("lnharness.node_impl", "lnharness.fixtures", "lnharness.examples",
                            "lnharness.pyln"))]
    assert bad == []


def test_the_plugin_reaches_implementations_only_through_the_registry() -> None:
    bad = [(f, m) for f, m in _absolute_imports(REPO / "fixtures")
           if m.startswith("lnharness.node_impl")]
    assert bad == []


def test_nothing_below_the_pyln_surface_imports_it() -> None:
    """lnharness.pyln (pyln_compat/) sits above the plugin and the engine: they never import it."""
    bad = [(f, m) for folder in ("harness", "fixtures", "node_impl")
           for f, m in _absolute_imports(REPO / folder) if m.startswith("lnharness.pyln")]
    assert bad == []


def test_the_pyln_surface_reaches_implementations_only_through_the_engine() -> None:
    """No node_impl import; of Core Lightning's packages only pyln.client, optionally, in
    pyln_compat/client.py (never pyln-proto: see DESIGN.md's traps)."""
    bad = [(f, m) for f, m in _absolute_imports(REPO / "pyln_compat")
           if m.startswith("lnharness.node_impl")
           or (m.split(".")[0] == "pyln" and (f, m) != ("pyln_compat/client.py", "pyln.client"))]
    assert bad == []
