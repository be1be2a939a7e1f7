"""The gsam-lab command: parameter parsing, notebook resolution, headless runs and their summary."""
import json

import nbformat
import pytest

from gsam_lab import cli
from gsam_lab.runner import RunError, resolve_notebooks, run_notebooks


def _write_notebook(path, body):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "quick"\nout_dir = "outputs"\nx = 1')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# test"), params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def nb_dir(tmp_path):
    d = tmp_path / "notebooks"
    d.mkdir()
    _write_notebook(d / "01_good.ipynb", "assert x >= 1, 'x too small'\nprint(profile)")
    _write_notebook(d / "02_bad.ipynb", "assert x >= 2, 'x must be at least 2'")
    return d


def test_parse_params_types():
    p = cli.parse_params(["a=1", "b=2.5", "c=true", "d=hello", "e=[1, 2]", "f=None"])
    assert p == {"a": 1, "b": 2.5, "c": True, "d": "hello", "e": [1, 2], "f": None}
    with pytest.raises(SystemExit, match="key=value"):
        cli.parse_params(["novalue"])


def test_resolve_by_prefix_and_errors(nb_dir):
    assert [p.name for p in resolve_notebooks(["01"], nb_dir)] == ["01_good.ipynb"]
    assert [p.name for p in resolve_notebooks([], nb_dir)] == ["01_good.ipynb", "02_bad.ipynb"]
    with pytest.raises(RunError, match="matches no notebook.*01_good"):
        resolve_notebooks(["99"], nb_dir)
    with pytest.raises(RunError, match="matches several"):
        resolve_notebooks(["0"], nb_dir)


def test_unknown_profile_is_rejected(nb_dir, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--profile", "huge", "--notebooks-dir", str(nb_dir), "--out", str(tmp_path / "o")])
    assert "invalid choice" in capsys.readouterr().err


def test_refuses_to_write_into_notebook_folder(nb_dir):
    before = (nb_dir / "01_good.ipynb").read_text()
    with pytest.raises(RunError, match="own folder"):
        run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=nb_dir)
    assert (nb_dir / "01_good.ipynb").read_text() == before


def test_refuses_to_overwrite_a_foreign_file(nb_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "01_good.ipynb").write_text("my own notes")
    with pytest.raises(RunError, match="refusing to overwrite"):
        run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=out)
    assert (out / "01_good.ipynb").read_text() == "my own notes"


@pytest.mark.slow
def test_run_writes_copies_summary_and_names_failing_cell(nb_dir, tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(["run", "--notebooks-dir", str(nb_dir), "--out", str(out), "--quiet", "-p", "x=1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "FAILED 02_bad" in err and "cell 3 of the executed copy" in err and "x must be at least 2" in err
    summary = json.loads((out / "summary.json").read_text())
    assert [(r["notebook"], r["status"]) for r in summary] == [("01_good", "ok"), ("02_bad", "failed")]
    executed = nbformat.read(str(out / "01_good.ipynb"), as_version=4)
    assert any("quick" in o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    # parameters override the defaults and the source stays untouched
    code = cli.main(["run", "02", "--notebooks-dir", str(nb_dir), "--out", str(out), "--quiet", "-p", "x=3"])
    assert code == 0
    assert "papermill" not in json.loads((nb_dir / "02_bad.ipynb").read_text())["metadata"]


def test_doctor_prints_versions(capsys):
    assert cli.main(["doctor"]) == 0
    text = capsys.readouterr().out
    assert "torch" in text and "device (auto)" in text and "bundled weights" in text
