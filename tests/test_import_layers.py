"""The package's imports flow one way (DESIGN.md, "Layout"): no circle, no arrow upward.

Walks every module's imports with `ast` (module level and inside functions, so a
lazy import cannot hide an arrow) and fails naming the file and line.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_bert_impl"

# part -> the parts it may import (besides itself). `utils` imports none.
ALLOWED = {
    "utils": set(),
    "layers": {"utils"},
    "optimizers": {"utils"},
    "tokenizers": {"utils"},
    "models": {"utils", "layers"},
    "data": {"utils", "tokenizers"},
    "training": {"utils"},
    "convert": {"utils", "layers", "models", "tokenizers"},
    "presets": {"utils", "models", "tokenizers"},
    "export": {"utils", "layers", "models", "tokenizers"},
    "recipes": {
        "utils",
        "layers",
        "models",
        "tokenizers",
        "optimizers",
        "data",
        "training",
        "convert",
        "presets",
        "export",
    },
    # create-pretraining-data is the data package's own job: no recipe wraps it.
    "cli": {"recipes", "utils", "presets", "data"},
    # The package root only re-exports the public names.
    "__init__": {
        "utils",
        "models",
        "tokenizers",
        "optimizers",
        "convert",
        "data",
        "export",
        "training",
    },
}


def _module_name(path):
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def _part(module):
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def _imports(path):
    """(line, imported module) for every import of our package in `path`."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield node.lineno, target
            # `from keras_bert_impl import training` imports a module too.
            for alias in node.names:
                yield node.lineno, f"{target}.{alias.name}"


def _edges():
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = {m.removesuffix(".__init__"): p for m, p in modules.items()}
    edges = {}
    for module, path in modules.items():
        for line, target in _imports(path):
            if target in modules and target != module:
                edges.setdefault(module, []).append((target, path, line))
    return modules, edges


def test_no_import_against_the_arrows():
    _, edges = _edges()
    wrong = []
    for module, targets in edges.items():
        source_part = _part(module)
        if module.endswith("utils.moved_modules"):
            continue
        for target, path, line in targets:
            target_part = _part(target)
            if target_part == source_part or target == "keras_bert_impl":
                if target == "keras_bert_impl" and source_part != "__init__":
                    wrong.append(f"{path}:{line}: {module} imports the package root")
                continue
            if target_part not in ALLOWED[source_part]:
                wrong.append(
                    f"{path.relative_to(PACKAGE.parent)}:{line}: {source_part} -> "
                    f"{target_part} ({target}) is not allowed; {source_part} may "
                    f"import {sorted(ALLOWED[source_part]) or 'nothing of ours'}"
                )
    assert not wrong, "\n".join(wrong)


def test_no_import_circle():
    _, edges = _edges()
    graph = {m: sorted({t for t, _, _ in ts}) for m, ts in edges.items()}
    # Package __init__ files re-export their children; a child importing a
    # sibling through its package is not a circle of logic.
    state, stack, circles = {}, [], []

    def visit(node):
        state[node] = "active"
        stack.append(node)
        for nxt in graph.get(node, []):
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue
            if state.get(nxt) == "active":
                circles.append(" -> ".join(stack[stack.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not circles, "import circles:\n" + "\n".join(circles)


@pytest.mark.parametrize("part", sorted(set(ALLOWED) - {"cli", "__init__"}))
def test_every_part_is_a_package(part):
    assert (PACKAGE / part / "__init__.py").is_file()
