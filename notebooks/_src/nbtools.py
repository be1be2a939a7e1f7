"""Tiny helpers to build the lab's notebooks from a Python script (``python notebooks/_src/build_NN.py``).

Notebooks are stored without outputs. Each builder lists cells in reading order::

    from nbtools import md, code, params, write
    cells = [md("# 02 · ..."), COLAB, md("## Parameters"), params('profile: str = "quick"'), code("...")]
    write("02_sam_prompt_stability", cells)
"""
from __future__ import annotations

from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1]

COLAB_SOURCE = '''# Colab or a fresh kernel: install gsam_lab only when it is missing
# (set GSAM_LAB_PIP to install another source)
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("gsam_lab") is None:
    spec = os.environ.get("GSAM_LAB_PIP", "gsam_lab[notebooks] @ git+https://github.com/gsam-lab/gsam_lab")
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", spec])'''


def md(text: str):
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(text: str, tags=()):
    cell = nbformat.v4.new_code_cell(text.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def params(text: str):
    """The ``parameters`` cell: one ``name: type = value  # help`` per line (``"Optional[int]"`` as a string
    annotation for ``None`` defaults). papermill skips a line with a second ``=`` (e.g. in the help), so
    such lines are refused here."""
    bad = [line for line in text.splitlines() if line.count("=") > 1]
    if bad:
        raise ValueError(f"papermill cannot read parameter lines with more than one '=': {bad}")
    return code(text, tags=("parameters",))


def parameters_heading():
    """The markdown cell that introduces a notebook's ``parameters`` cell."""
    return md("## Parameters\nPapermill and `gsam-lab run -p key=value` override this cell. "
              "Sizes left at `None` come from the profile.")


def colab():
    return code(COLAB_SOURCE)


def write(name: str, cells) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    nb.cells = list(cells)
    for i, c in enumerate(nb.cells):
        c["id"] = f"{name[:2]}-{i:03d}"
    path = NOTEBOOKS / f"{name}.ipynb"
    nbformat.validate(nb)
    nbformat.write(nb, str(path))
    return path
