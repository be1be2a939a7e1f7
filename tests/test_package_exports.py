"""The subpackages export one way: explicit ``from .module import a, b`` lines and an ``__all__`` naming exactly
those names (no lazy ``__getattr__``), so ``dir()``, ``import *`` and the docs agree with what is bound."""
import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gsam_lab"
SUBPACKAGES = ["panorama", "data", "sam", "stable_sam", "goodsam", "widgets", "metrics", "viz"]


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_all_names_exactly_the_explicit_imports(name):
    tree = ast.parse((PACKAGE / name / "__init__.py").read_text())
    imported = [alias.asname or alias.name for node in tree.body
                if isinstance(node, ast.ImportFrom) and (node.level >= 1 or node.module.startswith("gsam_lab"))
                for alias in node.names]
    pkg = importlib.import_module(f"gsam_lab.{name}")
    assert "*" not in imported and "__getattr__" not in vars(pkg)
    assert len(set(pkg.__all__)) == len(pkg.__all__), "a name is listed twice"
    assert sorted(pkg.__all__) == sorted(imported)
    assert all(hasattr(pkg, n) for n in pkg.__all__)
