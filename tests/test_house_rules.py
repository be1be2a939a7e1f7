"""House rules of the library: small files and short functions, so a student can read each one through.

A library file (``gsam_lab/**.py``) has at most 450 lines and a function (or method) at most 80, counted
from its ``def`` line to its last line, docstring included. The exceptions are listed below, each with its
reason.
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gsam_lab"
MAX_FILE_LINES = 450
MAX_FUNCTION_LINES = 80

#: files allowed over MAX_FILE_LINES: path relative to the repository -> why
LONG_FILES: dict = {}
#: functions allowed over MAX_FUNCTION_LINES: "path::name" -> why
LONG_FUNCTIONS = {
    "gsam_lab/stable_sam/decoder.py::plugin_predict_masks":
        "mirrors segment_anything's MaskDecoder.predict_masks step by step",
}


def _library_files():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50, f"expected the library's modules under {PACKAGE}"
    return files


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix()


def _function_lengths(path: Path):
    """``(name, first line, number of lines)`` of every function and method in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1


def test_no_library_file_over_450_lines():
    too_long = [f"{_rel(p)}: {n} lines" for p in _library_files()
                if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES and _rel(p) not in LONG_FILES]
    assert not too_long, (f"library files over {MAX_FILE_LINES} lines (split them by what they hold): "
                          + "; ".join(too_long))


def test_no_function_over_80_lines():
    too_long = [f"{_rel(p)}:{line} {name} ({n} lines)" for p in _library_files() if _rel(p) not in LONG_FILES
                for name, line, n in _function_lengths(p)
                if n > MAX_FUNCTION_LINES and f"{_rel(p)}::{name}" not in LONG_FUNCTIONS]
    assert not too_long, (f"functions over {MAX_FUNCTION_LINES} lines (split them into named steps): "
                          + "; ".join(too_long))


def test_the_function_exceptions_exist():
    """An exception names a function that is there (a renamed one must not hide behind a stale entry)."""
    for key in LONG_FUNCTIONS:
        path, name = key.split("::")
        names = {n for n, _, _ in _function_lengths(PACKAGE.parent / path)}
        assert name in names, f"{key} is listed in LONG_FUNCTIONS but {path} has no function {name}"


def test_the_checker_counts_lines_from_def_to_end(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    '''doc'''\n    return 1\n\n\nclass C:\n    def g(self):\n        pass\n")
    assert sorted(_function_lengths(f)) == [("f", 1, 3), ("g", 7, 2)]
