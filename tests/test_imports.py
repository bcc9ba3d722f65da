"""The library's dependency direction: no import cycles, and ``import nnkit`` stays light.

The import graph is read from the source with ``ast``: every ``import`` and
``from ... import`` statement counts, at module level or inside a function
(a lazy import is still a dependency), and so does ``importlib.import_module``
with a literal name.  An edge goes to the module the statement names; the
packages above it are not counted (Python runs their ``__init__`` once, and a
submodule importing a sibling through its package is how packages work).
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nnkit

PACKAGE_ROOT = Path(nnkit.__file__).parent


def module_files(root: Path, package: str) -> dict:
    """{dotted module name: path} for every ``.py`` file below ``root``."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: dict) -> str | None:
    """The deepest module of ``modules`` that ``name`` (a module or ``module.attribute``) lies in."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imported_names(tree: ast.AST, module: str, is_package: bool) -> set:
    """Every dotted name an import statement in ``tree`` refers to (``pkg.mod`` or ``pkg.mod.attr``)."""
    here = module if is_package else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x, from ..a import b
                base = here.split(".")[: len(here.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            names.update(f"{source}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ast.unparse(node.func) in ("importlib.import_module", "import_module", "__import__")):
            names.add(node.args[0].value)
    return names


def import_graph(root: Path, package: str) -> dict:
    """{module: set of modules of the same package it imports}."""
    modules = module_files(root, package)
    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets = set()
        for name in imported_names(tree, module, path.name == "__init__.py"):
            if name == package or name.startswith(package + "."):
                # ``from pkg import sub``: the submodule if it is one, else the package itself
                targets.add(_resolve(name, modules))
        targets.discard(module)
        targets.discard(None)
        graph[module] = targets
    return graph


def cycles(graph: dict) -> list:
    """Each group of modules that import one another (directly or around a loop), as one path.

    Tarjan's strongly connected components, iteratively; a component of two or
    more modules is a cycle, reported as ``a -> b -> ... -> a``.
    """
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(_loop_through(sorted(component), graph))
    return found


def _loop_through(component: list, graph: dict) -> str:
    """A shortest import loop from the first module of ``component`` back to itself."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & members):
            if child == start:
                return " -> ".join(paths[node] + [start])
            if child not in paths:
                paths[child] = paths[node] + [child]
                queue.append(child)
    return " <-> ".join(component)  # not reached: a component of two or more has a loop


# ------------------------------------------------------------------ the rules
def test_no_import_cycles_in_nnkit():
    found = cycles(import_graph(PACKAGE_ROOT, "nnkit"))
    assert not found, "import cycles in nnkit:\n  " + "\n  ".join(found)


def test_import_nnkit_loads_no_grading_code_and_check_still_works():
    code = (
        "import sys, nnkit\n"
        "print(sorted(m for m in sys.modules if m.startswith('nnkit.grading')))\n"
        "check = nnkit.check\n"
        "print(check.__module__, 'nnkit.grading.selfcheck' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    before, after = result.stdout.splitlines()
    assert before == "[]"
    assert after.startswith("nnkit.grading") and after.endswith("True")


def test_only_the_tests_helpers_import_nnkit_testing():
    graph = import_graph(PACKAGE_ROOT, "nnkit")
    users = sorted(m for m, targets in graph.items()
                   if not m.startswith("nnkit.testing") and any(t.startswith("nnkit.testing") for t in targets))
    assert users == [], f"library modules importing the test helpers: {users}"


def test_tensor_operators_are_defined_in_the_class_body():
    """A reader of ``class Tensor`` finds ``__add__``, ``__matmul__``, ``sum`` ... there."""
    path = PACKAGE_ROOT / "autodiff" / "tensor.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    (cls,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Tensor"]
    defined = {node.name for node in cls.body if isinstance(node, ast.FunctionDef)}
    wanted = {"__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
              "__rtruediv__", "__neg__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__getitem__",
              "__lt__", "__le__", "__gt__", "__ge__", "exp", "log", "sum", "mean", "reshape", "transpose", "T"}
    assert wanted <= defined, f"missing from class Tensor: {sorted(wanted - defined)}"
    # and nothing in the library attaches attributes to Tensor from outside the class
    for module, file in module_files(PACKAGE_ROOT, "nnkit").items():
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                assert not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                            and target.value.id == "Tensor"), f"{module} sets Tensor.{target.attr}"


def test_state_is_not_kept_in_one_element_lists():
    """The backend and the tape keep their state in objects, not in ``NAME = [value]`` globals."""
    for path in [PACKAGE_ROOT / "backend.py", *sorted((PACKAGE_ROOT / "autodiff").glob("*.py"))]:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.List) and len(node.value.elts) == 1:
                names = [ast.unparse(t) for t in node.targets]
                assert names == ["__all__"], f"{path.name}: {names} = [...] is module-level state in a list"


# ---------------------------------------------------- the checker, on known input
def _write_package(root: Path, files: dict) -> Path:
    package = root / "pkg"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


def test_the_checker_finds_lazy_relative_and_importlib_cycles(tmp_path):
    package = _write_package(tmp_path, {
        "__init__.py": "from pkg import a\n",
        "a.py": "from pkg.b import f\n",
        "b.py": "def f():\n    from . import a\n",                       # lazy and relative: still an edge
        "c.py": "import pkg.d\n",
        "d.py": "import importlib\nimportlib.import_module('pkg.c')\n",
        "e.py": "from pkg import a\n",                                     # imports a cycle member, is not in one
        "sub/__init__.py": "",
        "sub/x.py": "from ..sub import y\n",
        "sub/y.py": "from pkg.sub.x import thing\n",
    })
    graph = import_graph(package, "pkg")
    assert graph["pkg.b"] == {"pkg.a"} and graph["pkg.d"] == {"pkg.c"} and graph["pkg.sub.x"] == {"pkg.sub.y"}
    assert sorted(cycles(graph)) == ["pkg.a -> pkg.b -> pkg.a", "pkg.c -> pkg.d -> pkg.c",
                                     "pkg.sub.x -> pkg.sub.y -> pkg.sub.x"]


def test_the_checker_accepts_a_package_whose_modules_import_siblings_one_way(tmp_path):
    package = _write_package(tmp_path, {
        "__init__.py": "from pkg.top import run\n",
        "top.py": "from pkg import low\nfrom pkg.mid import g\n",
        "mid.py": "from pkg.low import h\n",
        "low.py": "import numpy\n",
    })
    graph = import_graph(package, "pkg")
    assert graph["pkg"] == {"pkg.top"} and graph["pkg.top"] == {"pkg.low", "pkg.mid"}
    assert cycles(graph) == []
