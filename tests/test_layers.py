"""The library's architecture, checked: packages in layers, imports only downward, no circles, no
private name taken across modules. The order is written once, here (and in landscape/__init__.py's
docstring, which says what belongs where)."""
import ast
from pathlib import Path

import pytest

import landscape

ROOT = Path(landscape.__file__).resolve().parent
# bottom up; a module may import from its own layer and the ones before it
LAYERS = ["base", ("models", "data"), "plot", "storage", "core", "training", "analysis", "studies",
          "commands", "cli"]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in ((layer,) if isinstance(layer, str) else layer)}


def _modules():
    """dotted name -> file, for every module of the library (the linked models/ and data/ too)."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = ["landscape", *rel.parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path):
    """(target module, imported name or None, line) of every import of a landscape module, also those
    inside functions (a lazy import is still a dependency)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in typing_only:  # `if TYPE_CHECKING:` imports are annotations, not dependencies
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:
                    yield sub, None, node.lineno
                elif target in MODULES:
                    yield target, alias.name, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    yield alias.name, None, node.lineno


def _layer(module: str):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


EDGES = {m: sorted({t for t, _, _ in _imports(m, p) if t != "landscape"}) for m, p in MODULES.items()}


def test_every_package_has_a_layer():
    assert {_layer(m) for m in MODULES} - {None, "__main__"} <= set(RANK)
    # at most ten entries in landscape/ besides __init__.py, __main__.py and the three links
    entries = {p.name for p in ROOT.iterdir() if p.name not in ("__init__.py", "__main__.py", "__pycache__")}
    assert len(entries - {"models", "data", "cli.py"}) <= 10, sorted(entries)


def test_no_import_points_up():
    upward = []
    for module, path in MODULES.items():
        here = _layer(module)
        if here not in RANK:
            continue
        for target, _, line in _imports(module, path):
            there = _layer(target)
            if there in RANK and RANK[there] > RANK[here]:
                upward.append(f"{path.relative_to(ROOT.parent)}:{line} imports {target} ({here} < {there})")
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


def test_no_import_cycle():
    """Tarjan's strongly connected components of the module graph: each must be one module."""
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in EDGES.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(EDGES):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_no_private_name_across_packages():
    """A private name (``_x``) is imported only inside the package that owns it."""
    bad = []
    for module, path in MODULES.items():
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for target, name, line in _imports(module, path):
            owner = target if MODULES[target].name == "__init__.py" else target.rsplit(".", 1)[0]
            private = (name or target.rsplit(".", 1)[-1]).startswith("_") and not (name or "").startswith("__")
            if private and owner != package:
                bad.append(f"{path.relative_to(ROOT.parent)}:{line} takes {target}{'.' + name if name else ''}")
    assert not bad, "private names imported across packages:\n" + "\n".join(bad)


def test_no_module_too_long():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 650}
    assert not long, f"modules over ~600 lines (split them by concept): {long}"


@pytest.mark.parametrize("old, new", sorted(landscape.ALIASES.items()))
def test_old_names_are_the_same_modules(old, new):
    import importlib

    assert importlib.import_module(f"landscape.{old}") is importlib.import_module(f"landscape.{new}")
    assert getattr(landscape, old) is importlib.import_module(f"landscape.{new}")
