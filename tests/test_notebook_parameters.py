"""The notebooks' parameters cells as papermill reads them (no notebook is executed here)."""
import logging
from pathlib import Path

import nbformat
import papermill
import pytest

from gsam_lab import cli
from gsam_lab.runner import RunError, check_params, notebook_parameters, parameter_type

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0*.ipynb"))


def _assigned_names(nb_path):
    nb = nbformat.read(str(nb_path), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    return [line.split("=")[0].split(":")[0].strip() for line in cell.source.splitlines()
            if line.strip() and not line.lstrip().startswith(("#", "from ", "import "))]


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_reads_every_parameter(nb, caplog):
    with caplog.at_level(logging.WARNING, logger="papermill"):
        found = papermill.inspect_notebook(str(nb))
    assert "Unable to parse" not in caplog.text
    assert list(found) == _assigned_names(nb)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_parameter_has_a_type_annotation(nb):
    found = papermill.inspect_notebook(str(nb))
    untyped = [k for k, v in found.items() if v["inferred_type_name"] == "None" or parameter_type(v) is None]
    assert not untyped, f"{nb.stem}: give {untyped} a type annotation (e.g. \"Optional[int]\")"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_default_fits_its_annotation(nb):
    import ast

    from gsam_lab.runner import _matches

    for name, spec in papermill.inspect_notebook(str(nb)).items():
        assert _matches(ast.literal_eval(spec["default"]), spec["inferred_type_name"]), (nb.stem, name, spec)


def test_a_size_parameter_of_the_wrong_type_is_refused_before_the_run():
    by_stem = {p.stem[:2]: p for p in NOTEBOOKS}
    for stem, key in (("01", "erp_hw"), ("02", "pinhole_hw"), ("05", "steps"), ("06", "n_test")):
        with pytest.raises(RunError, match=f"-p {key}: notebook {by_stem[stem].stem} expects"):
            check_params(cli.parse_params([f"{key}=abc"]), [by_stem[stem]])
    with pytest.raises(RunError, match="-p noise: .* expects Sequence\\[float\\]"):
        check_params({"noise": ("a", "b")}, [by_stem["02"]])
    assert check_params({"noise": [0.1, 1], "sweep_students": ["b0", "b1"]}, [by_stem["02"], by_stem["05"]]) == {
        by_stem["02"]: {"noise": [0.1, 1]}, by_stem["05"]: {"sweep_students": ["b0", "b1"]}}


# -- check_claims: the teaching asserts can be switched off, the mechanical ones cannot ----------------
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_has_a_check_claims_switch(nb):
    spec = notebook_parameters(nb)["check_claims"]
    assert parameter_type(spec) == "bool" and spec["default"] == "True"
    assert "False skips the teaching asserts; mechanical checks always run" in spec["help"]


def test_gsam_lab_run_passes_check_claims_false_to_every_notebook(monkeypatch, tmp_path):
    calls = []

    def fake_execute(inp, outp, parameters=None, **kw):
        calls.append((Path(inp).stem, dict(parameters)))
        Path(outp).write_text(Path(inp).read_text())

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    nb_dir = str(NOTEBOOKS[0].parent)
    assert cli.main(["run", "--notebooks-dir", nb_dir, "--out", str(tmp_path / "o"), "--quiet",
                     "-p", "check_claims=False"]) == 0
    assert [c[0] for c in calls] == [p.stem for p in NOTEBOOKS]
    assert all(params["check_claims"] is False for _, params in calls)


def test_check_claims_must_be_a_bool():
    with pytest.raises(RunError, match="-p check_claims: notebook 01_panorama_distortion expects bool"):
        check_params({"check_claims": "no"}, NOTEBOOKS[:1])
    assert check_params(cli.parse_params(["check_claims=false"]), NOTEBOOKS[:1]) == {
        NOTEBOOKS[0]: {"check_claims": False}}
