"""No import cycles between the library's modules, and one way to write an import.

A cycle (``a`` imports ``b`` imports ... imports ``a``) hides which module is the lower layer, and at import
time it makes the result depend on which module a program happens to import first. The test reads every
``gsam_lab/**.py`` with ``ast``, keeps every import (at module level and inside functions, which are the same
dependency run later; ``if TYPE_CHECKING:`` blocks left out), and looks for strongly connected components of
more than one module, or a module that imports itself.

Importing ``gsam_lab.sam.registry`` first runs ``gsam_lab/sam/__init__.py``, so an import of a submodule is
also an edge to every package on its way, except the packages the importing module is itself inside (Python
has already started those when the module runs), unless it reads a name from one (``from . import name``:
the package's ``__init__`` must have defined it by then).
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gsam_lab"


def _module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(package: Path):
    """``{dotted name: path}`` of every module under ``package`` (a package's name maps to its ``__init__.py``)."""
    return {_module_name(p, package): p for p in sorted(package.rglob("*.py"))}


def _imports(tree: ast.Module):
    """Every ``Import`` / ``ImportFrom`` node of a module, except those under ``if TYPE_CHECKING:``."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo += node.orelse
        else:
            todo += list(ast.iter_child_nodes(node))


def _imported_names(name: str, path: Path, modules):
    """The dotted names of the package's modules that module ``name`` imports (directly)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in _imports(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [(alias.name, False) for alias in node.names]
        else:
            base = node.module
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
            # ``from base import x``: x is a submodule of base, or a name that base's own code defines
            targets = [(f"{base}.{a.name}", False) if f"{base}.{a.name}" in modules else (base, True)
                       for a in node.names]
        for target, reads_its_names in targets:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):       # the packages on the way, then the module itself
                step = ".".join(parts[:i])
                if step == name or step not in modules:
                    continue
                started = name.startswith(step + ".")      # a package the importing module is inside
                if not started or (step == target and reads_its_names):
                    yield step


def import_graph(package: Path = PACKAGE):
    """``{module: set of the package's modules it imports}``."""
    modules = _modules(package)
    return {name: set(_imported_names(name, path, modules)) for name, path in modules.items()}


def import_cycles(graph):
    """The strongly connected components with more than one module, and modules that import themselves
    (Tarjan's algorithm, written with an explicit stack so a deep chain cannot overflow Python's)."""
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
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
                if len(component) > 1 or node in graph.get(node, ()):
                    cycles.append(sorted(component))
    return cycles


def test_the_library_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 50 and "gsam_lab.sam.loading" in graph["gsam_lab.sam"], "the graph is not the library's"
    cycles = import_cycles(graph)
    assert not cycles, "import cycles between library modules (move the shared code down a layer): " + "; ".join(
        " <-> ".join(c) for c in cycles)


def import_style_problems(package: Path = PACKAGE):
    """The imports at the top of the package's modules that break the one style: a module reaches the modules
    of its own package relatively (``from .sibling import x``) and every other part of the library by its
    full name (``from gsam_lab.data.classes import CLASSES``), never through a parent (``from ..data``). The
    top-level modules (``gsam_lab/utils.py``, ...), whose package is the library itself, name everything in full.
    Imports inside functions are left to their authors (an optional dependency, a fenced module)."""
    problems = []
    for name, path in _modules(package).items():
        own = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.parse(path.read_text(), filename=str(path)).body:
            if not isinstance(node, ast.ImportFrom):
                continue
            where = f"{path.relative_to(package.parent).as_posix()}:{node.lineno} {ast.unparse(node)}"
            if node.level > 1 or (node.level == 1 and own == package.name):
                problems.append(f"{where} (write the full gsam_lab. name)")
            elif node.level == 0 and own != package.name and (node.module or "").startswith(own + "."):
                problems.append(f"{where} (a module of its own package: import it relatively)")
    return problems


def test_one_import_style():
    problems = import_style_problems()
    assert not problems, "imports of another style: " + "; ".join(problems)


def test_the_style_check_reads_parent_and_own_package_imports(tmp_path):
    pkg = _write(tmp_path, {
        "gsam_lab/__init__.py": "",
        "gsam_lab/top.py": "from gsam_lab.sub import a\nfrom .sub import b\n",
        "gsam_lab/sub/__init__.py": "from .a import f\n",
        "gsam_lab/sub/a.py": "from ..top import x\nfrom gsam_lab.sub.b import y\nfrom gsam_lab.top import z\n",
        "gsam_lab/sub/b.py": "def g():\n    from ..top import x\n",
    })
    problems = import_style_problems(pkg)
    assert [p.split(" ")[0] for p in problems] == ["gsam_lab/sub/a.py:1", "gsam_lab/sub/a.py:2", "gsam_lab/top.py:2"]


def _write(root: Path, files: dict) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root / "gsam_lab"


def test_the_graph_reads_relative_absolute_function_and_package_imports(tmp_path):
    pkg = _write(tmp_path, {
        "gsam_lab/__init__.py": "",
        "gsam_lab/low.py": "import gsam_lab.sub.b\n",
        "gsam_lab/sub/__init__.py": "from .a import f\n",
        "gsam_lab/sub/a.py": "def f():\n    from ..low import g\n",
        "gsam_lab/sub/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import f\n",
        "gsam_lab/sub/c.py": "from . import b\nfrom . import f\n",
    })
    graph = import_graph(pkg)
    assert graph["gsam_lab.sub"] == {"gsam_lab.sub.a"}
    assert graph["gsam_lab.sub.a"] == {"gsam_lab.low"}                    # an import inside a function counts
    assert graph["gsam_lab.sub.b"] == set()                               # under TYPE_CHECKING it does not
    assert graph["gsam_lab.sub.c"] == {"gsam_lab.sub.b", "gsam_lab.sub"}  # a submodule; a name of sub/__init__
    assert graph["gsam_lab.low"] == {"gsam_lab.sub", "gsam_lab.sub.b"}    # gsam_lab itself: already started
    # low -> sub (its __init__ runs first) -> a -> low: a cycle through a package's __init__
    assert import_cycles(graph) == [["gsam_lab.low", "gsam_lab.sub", "gsam_lab.sub.a"]]


def test_a_module_importing_itself_is_a_cycle():
    assert import_cycles({"a": {"a"}, "b": set()}) == [["a"]]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
