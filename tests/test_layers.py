"""The layers import one way: catalog <- migrator <- live, and no module import cycle exists.

The graph is read from the source (every import statement, including those inside functions),
so a lazy import that would close a cycle counts too.
"""

import ast

import pytest

from tests.conftest import ROOT

PACKAGES = ("catalog", "migrator", "live", "config", "operations")
# What each layer may import from the project (besides itself).
ALLOWED = {
    "catalog": set(),
    "migrator": {"catalog", "config"},
    "live": {"catalog", "migrator", "config"},
    "config": set(),
    # Schema changes logged and checked, operational endpoints: nothing imports it.
    "operations": {"catalog", "migrator", "config"},
}


def _module_name(path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path, module: str) -> set[str]:
    """Project modules that ``module`` imports (``from a import b`` names ``a.b`` if a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in PACKAGES}


def _graph() -> dict[str, set[str]]:
    paths = {
        _module_name(path): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }
    return {
        module: {name for name in _imports(path, module) if name in paths and name != module}
        for module, path in paths.items()
    }


GRAPH = _graph()


@pytest.mark.parametrize("layer", PACKAGES)
def test_layers__import_only_the_layers_below(layer):
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.split(".")[0] == layer
        for target in targets
        if target.split(".")[0] not in ALLOWED[layer] | {layer}
    )
    assert wrong == []


def test_layers__no_module_import_cycle():
    # Tarjan's strongly connected components: any component of two or more modules is a cycle.
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    assert cycles == []


def test_layers__the_graph_sees_real_imports():
    # A check that finds nothing because it reads nothing would pass too: it must see these.
    assert "catalog.models" in GRAPH["catalog.selectors"]
    assert "migrator.pipeline" in GRAPH["live.json_backend"]
    assert "migrator.runs" in GRAPH["operations.migration_log"]
