"""Progress bars stay out of executed notebooks: ``gsam-lab run`` (and nbval, through notebooks/conftest.py)
sets ``GSAM_LAB_PROGRESS=0`` for the kernel, and ``utils.progress_bar`` is then disabled."""
import os

import nbformat
import papermill

from gsam_lab import utils
from gsam_lab.runner import run_notebooks


def test_progress_bar_is_disabled_by_the_environment(monkeypatch):
    monkeypatch.setenv(utils.PROGRESS_ENV, "0")
    assert utils.progress_bar(range(3)).disable
    assert utils.progress_bar(range(3), disable=False).disable, "the environment wins over the caller"
    monkeypatch.setenv(utils.PROGRESS_ENV, "1")
    assert not utils.progress_bar(range(3)).disable


def test_gsam_lab_run_switches_bars_off_for_the_kernel_only(monkeypatch, tmp_path):
    seen = []

    def fake_execute(inp, outp, parameters=None, **kw):
        seen.append(os.environ.get(utils.PROGRESS_ENV))
        with open(inp) as src, open(outp, "w") as dst:
            dst.write(src.read())

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    monkeypatch.delenv(utils.PROGRESS_ENV, raising=False)
    d = tmp_path / "notebooks"
    d.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('profile = "quick"\nout_dir = "o"')]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(d / "01_a.ipynb"))
    run_notebooks(notebooks_dir=d, out_dir=tmp_path / "o", progress=False)
    assert seen == ["0"]
    assert utils.PROGRESS_ENV not in os.environ, "the caller's environment is left as it was"
