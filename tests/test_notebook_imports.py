"""The notebooks use gsam_lab's public API only: ``import gsam_lab`` and ``from gsam_lab import sub``, then
``sub.name`` with ``name`` in ``sub.__all__`` (no ``from gsam_lab.sub.module import ...``, no
``sub.module.name``). What a notebook needs is exported by the subpackage's ``__init__``."""
import ast
import importlib
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.py"))


def private_uses(source: str) -> list:
    """Every use of gsam_lab in ``source`` that bypasses the public API, as readable lines."""
    tree = ast.parse(source)
    bound = {}                                  # local name -> imported gsam_lab module
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "gsam_lab":
                    if alias.name != "gsam_lab":
                        found.append(f"line {node.lineno}: import {alias.name}")
                    bound[alias.asname or "gsam_lab"] = importlib.import_module("gsam_lab")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "gsam_lab":
            if node.module != "gsam_lab":
                found.append(f"line {node.lineno}: from {node.module} import ...")
                continue
            pkg = importlib.import_module("gsam_lab")
            for alias in node.names:
                if alias.name not in pkg.__all__:
                    found.append(f"line {node.lineno}: gsam_lab.{alias.name} is not in gsam_lab.__all__")
                else:
                    bound[alias.asname or alias.name] = getattr(pkg, alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound:
            mod = bound[node.value.id]
            public = getattr(mod, "__all__", None)
            if public is not None and node.attr not in public:
                found.append(f"line {node.lineno}: {node.value.id}.{node.attr} is not in {mod.__name__}.__all__")
    return found


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_imports_only_the_public_api(source):
    found = private_uses(source.read_text())
    assert not found, f"{source.name} reaches past the public API:\n" + "\n".join(found)


def test_the_check_sees_each_way_around_the_api():
    code = ("import gsam_lab.goodsam\nfrom gsam_lab.goodsam.windows import window_layout\n"
            "from gsam_lab import goodsam, nonsense\ngoodsam.windows.window_layout\ngoodsam.dar\n")
    found = "\n".join(private_uses(code))
    assert "import gsam_lab.goodsam" in found
    assert "from gsam_lab.goodsam.windows import" in found
    assert "gsam_lab.nonsense is not in gsam_lab.__all__" in found
    assert "goodsam.windows is not in gsam_lab.goodsam.__all__" in found
    assert "goodsam.dar" not in found
