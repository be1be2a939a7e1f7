"""Each notebook has one source of truth: ``notebooks/NN_name.py`` (jupytext percent format) and its paired
``NN_name.ipynb`` hold the same cells, and the ``.ipynb`` is stored without outputs.

After editing either file: ``jupytext --sync notebooks/NN_name.py`` (see ``notebooks/README.md``).
"""
from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
IPYNB = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
SOURCES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
PAIRING = "ipynb,py:percent"


def cell_view(nb) -> list:
    """What must agree between the two files: per cell its type, source and tags."""
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in nb.cells]


def differences(ipynb: Path, source: Path) -> list:
    """Human-readable differences between a notebook and its percent-format source (empty: in sync)."""
    a, b = cell_view(nbformat.read(str(ipynb), as_version=4)), cell_view(jupytext.read(source))
    found = []
    if len(a) != len(b):
        found.append(f"{len(a)} cells in {ipynb.name}, {len(b)} in {source.name}")
    for i, (x, y) in enumerate(zip(a, b)):
        for what, u, v in zip(("type", "source", "tags"), x, y):
            if u != v:
                first = (u.splitlines() or [""])[0][:60] if what == "source" else u
                found.append(f"cell {i} ({first!r}): the {what} differs")
    return found


def test_every_notebook_has_its_source_and_back():
    assert IPYNB, "no notebooks/NN_*.ipynb found"
    assert [p.stem for p in IPYNB] == [p.stem for p in SOURCES], \
        "each notebooks/NN_name.ipynb needs notebooks/NN_name.py and the other way round"


@pytest.mark.parametrize("ipynb", IPYNB, ids=lambda p: p.stem)
def test_ipynb_matches_its_py_source(ipynb):
    source = ipynb.with_suffix(".py")
    found = differences(ipynb, source)
    assert not found, (f"{ipynb.name} and {source.name} differ; run `jupytext --sync {source}` after editing "
                       "one of them:\n" + "\n".join(found[:10]))


@pytest.mark.parametrize("ipynb", IPYNB, ids=lambda p: p.stem)
def test_both_files_are_paired_through_jupytext_metadata(ipynb):
    nb = nbformat.read(str(ipynb), as_version=4)
    assert nb.metadata.get("jupytext", {}).get("formats") == PAIRING, f"{ipynb.name}: pair it with `jupytext " \
        f"--set-formats {PAIRING} {ipynb}`"
    text = jupytext.read(ipynb.with_suffix(".py"))
    assert text.metadata.get("jupytext", {}).get("formats") == PAIRING


@pytest.mark.parametrize("ipynb", IPYNB, ids=lambda p: p.stem)
def test_ipynb_is_stored_without_outputs(ipynb):
    nb = nbformat.read(str(ipynb), as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, (f"{ipynb.name}: cells {dirty} carry outputs or execution counts; clear them "
                       "(`jupyter nbconvert --clear-output --inplace`) before committing")


def test_the_check_catches_a_changed_cell(tmp_path):
    """The comparison itself: one edited source line, one dropped tag and an extra cell are all reported."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# title"), nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("y = 2")]
    nb.cells[1].metadata["tags"] = ["parameters"]
    ipynb, source = tmp_path / "nb.ipynb", tmp_path / "nb.py"
    nbformat.write(nb, str(ipynb))
    jupytext.write(nb, source, fmt="py:percent")
    assert differences(ipynb, source) == []
    nb.cells[2].source = "y = 3"
    del nb.cells[1].metadata["tags"]
    nb.cells.append(nbformat.v4.new_code_cell("z = 4"))
    jupytext.write(nb, source, fmt="py:percent")
    found = "\n".join(differences(ipynb, source))
    assert "3 cells in nb.ipynb, 4 in nb.py" in found
    assert "cell 1 (['parameters']): the tags differ" in found
    assert "cell 2 ('y = 2'): the source differs" in found


def test_runner_and_nbval_take_only_the_ipynb():
    import subprocess
    import sys

    from gsam_lab.runner import resolve_notebooks

    assert resolve_notebooks((), NOTEBOOKS) == IPYNB
    res = subprocess.run([sys.executable, "-m", "pytest", str(NOTEBOOKS), "--nbval-lax", "--collect-only", "-q",
                          "-p", "no:cacheprovider"], capture_output=True, text=True, timeout=300,
                         cwd=NOTEBOOKS.parent)
    collected = {line.split("::")[0] for line in res.stdout.splitlines() if "::" in line}
    assert collected == {f"notebooks/{p.name}" for p in IPYNB}, res.stdout[-2000:] + res.stderr[-2000:]
