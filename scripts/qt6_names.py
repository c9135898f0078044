"""Checks every Qt name the plugin uses against the real PyQt6, as QGIS 4 (Qt6)
will see it: each ``from qgis.PyQt.QtX import Name`` must exist in ``PyQt6.QtX``,
and each dotted use of an imported Qt name (``Qt.AlignmentFlag.AlignCenter``,
``QDialogButtonBox.StandardButton.Close``) must resolve attribute by attribute, so
a Qt5-only spelling (``Qt.AlignCenter``, ``QDialogButtonBox.Close``) fails.
Also refused anywhere: ``exec_``, ``processing.gui.wrappers`` (QEP 427 removes
it) and compiled Qt resources (``resources_rc``, ``pyrcc``).

An import inside ``try:`` with an ``except ImportError`` fallback passes when one
of the alternatives exists (``QAction`` moved from QtWidgets to QtGui). A line
marked ``# qt5-only`` runs only on Qt5 builds (QGIS before 3.38) and is skipped.

Run with a Python that has PyQt6 (the test suite's ``.venv-qt6``):
    .venv-qt6/bin/python scripts/qt6_names.py [FILE_OR_FOLDER ...]
Prints one line per problem and exits 1 when there is any.
"""
from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PATHS = [REPO / "__init__.py", REPO / "ugs_plugin", REPO / "tests" / "gui"]
BANNED_TEXT = {"exec_(": "exec_() is gone in PyQt6: call exec()",
               "processing.gui.wrappers": "QEP 427 removes processing.gui.wrappers",
               "resources_rc": "compiled Qt resources do not load on Qt6: use files",
               "pyrcc": "compiled Qt resources do not load on Qt6: use files"}


def python_files(paths):
    for path in map(Path, paths):
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.py") if "core" not in
                              p.relative_to(path).parts)
        elif path.suffix == ".py":
            yield path


def _qt_module(module):
    """'QtCore' for qgis.PyQt.QtCore (or PyQt5/PyQt6.QtCore), else None."""
    parts = (module or "").split(".")
    if parts[:2] == ["qgis", "PyQt"] and len(parts) == 3:
        return parts[2]
    if parts[0] in ("PyQt5", "PyQt6") and len(parts) == 2:
        return "direct:" + parts[1]
    return None


def _resolve(module, dotted):
    """The object ``module.dotted`` in PyQt6, or None when any step is missing."""
    try:
        value = importlib.import_module(f"PyQt6.{module}")
    except ImportError:
        return None
    for part in filter(None, dotted.split(".")):
        try:
            value = getattr(value, part)
        except AttributeError:
            return None
    return value


def _chain(node):
    """'A.b.c' for an Attribute chain rooted at a Name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def _import_alternatives(tree):
    """{ImportFrom node: group id} for imports of a try body and its ImportError
    handlers: one group per try, any member may be the one that exists."""
    groups = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        catches = any(h.type is None or "ImportError" in ast.unparse(h.type)
                      for h in node.handlers)
        if not catches:
            continue
        members = [n for n in node.body if isinstance(n, ast.ImportFrom)]
        for handler in node.handlers:
            members += [n for n in handler.body if isinstance(n, ast.ImportFrom)]
        for member in members:
            groups[member] = id(node)
    return groups


def check_source(text, name="<source>"):
    """Problems (strings) found in one file's source."""
    problems = []
    lines = text.splitlines()
    skipped = {i + 1 for i, line in enumerate(lines) if "# qt5-only" in line}
    for i, line in enumerate(lines, 1):
        code = line.split("#")[0]
        for banned, why in BANNED_TEXT.items():
            if banned in code:
                problems.append(f"{name}:{i}: {banned}: {why}")
    tree = ast.parse(text, name)
    groups = _import_alternatives(tree)
    bound = {}          # local name -> (Qt module, attribute path)
    group_ok = {}       # try id -> any alternative resolves
    group_fail = {}     # try id -> problems if none resolves
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.lineno in skipped:
            continue
        if node.module == "qgis.PyQt":  # from qgis.PyQt import QtCore
            for alias in node.names:
                if _resolve(alias.name, "") is None:
                    problems.append(f"{name}:{node.lineno}: PyQt6 has no {alias.name}")
                else:
                    bound[alias.asname or alias.name] = (alias.name, "")
            continue
        module = _qt_module(node.module)
        if module is None:
            continue
        if module.startswith("direct:"):
            problems.append(f"{name}:{node.lineno}: import {node.module} directly: "
                            "use qgis.PyQt so QGIS picks Qt5 or Qt6")
            module = module.split(":")[1]
        for alias in node.names:
            found = _resolve(module, alias.name) is not None
            if found:
                bound[alias.asname or alias.name] = (module, alias.name)
            message = (f"{name}:{node.lineno}: {alias.name} is not in "
                       f"PyQt6.{module}")
            if node in groups:
                group_ok[groups[node]] = group_ok.get(groups[node], False) or found
                group_fail.setdefault(groups[node], []).append(message)
            elif not found:
                problems.append(message)
    for key, ok in group_ok.items():
        if not ok:
            problems.extend(group_fail[key])
    seen = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or node.lineno in skipped:
            continue
        dotted = _chain(node)
        if dotted is None or dotted in seen:
            continue
        root, _, rest = dotted.partition(".")
        if root not in bound:
            continue
        seen.add(dotted)
        module, attr = bound[root]
        if _resolve(module, f"{attr}.{rest}".strip(".")) is None:
            problems.append(f"{name}:{node.lineno}: {dotted} does not exist in PyQt6 "
                            "(a Qt5-only spelling? write the enum fully scoped)")
    return problems


def main(argv=None):
    paths = (argv if argv is not None else sys.argv[1:]) or DEFAULT_PATHS
    problems, files = [], 0
    for path in python_files(paths):
        files += 1
        problems += check_source(path.read_text(encoding="utf-8"), str(path))
    for problem in problems:
        print(problem)
    import PyQt6.QtCore
    print(f"{files} files checked against PyQt6 {PyQt6.QtCore.PYQT_VERSION_STR}: "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
