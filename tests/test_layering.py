"""The core's shape, read from its source: no QGIS anywhere in it, no import cycle
between its modules, and the arrows one way: workflows use the subpackages, the
subpackages use the shared modules at the top, nothing below imports a workflow."""
import ast

from conftest import REPO

CORE = REPO / "ugs_plugin" / "core"
SHARED = {"config", "errors", "feedback", "fields", "outputs", "vectors"}
SUBPACKAGES = {"model", "mapping", "learning", "accuracy", "planning"}


def module_of(path):
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path):
    """Every module this file imports (top level or inside functions), absolute."""
    package = module_of(path) if path.name == "__init__.py" else \
        module_of(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)
    return found


def core_graph():
    modules = {module_of(p): p for p in CORE.rglob("*.py")}
    return {name: {m for m in imports(path) if m in modules and m != name}
            for name, path in modules.items()}, modules


def place(module):
    """'shared', a subpackage's name, 'workflows' or 'top'."""
    parts = module.split(".")[2:]
    if not parts:
        return "top"
    if parts[0] in SHARED:
        return "shared"
    return parts[0]


def test_core_imports_no_qgis():
    for path in CORE.rglob("*.py"):
        assert not any(m == "qgis" or m.startswith(("qgis.", "PyQt"))
                       for m in imports(path)), path


def test_core_has_no_import_cycle():
    graph, _ = core_graph()
    done, stack = set(), []

    def visit(node):
        if node in stack:
            cycle = stack[stack.index(node):] + [node]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if node in done:
            return
        stack.append(node)
        for nxt in graph[node]:
            if not nxt.endswith("__init__"):
                visit(nxt)
        stack.pop()
        done.add(node)

    for node in graph:
        visit(node)


def test_arrows_run_one_way():
    graph, _ = core_graph()
    rank = {"shared": 0, **{s: 1 for s in SUBPACKAGES}, "workflows": 2, "top": 3}
    wrong = []
    for module, targets in graph.items():
        for target in targets:
            if place(target) == "top":
                continue  # a package's own __init__ (its docstring)
            if rank[place(target)] > rank[place(module)]:
                wrong.append(f"{module} -> {target}")
    assert wrong == []
    assert {p.name for p in CORE.iterdir() if p.is_dir() and p.name != "__pycache__"} \
        == SUBPACKAGES | {"workflows"}
