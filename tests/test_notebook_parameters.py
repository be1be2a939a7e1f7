"""The notebooks' parameters cells as papermill reads them (no notebook is executed here)."""
import logging
from pathlib import Path

import nbformat
import papermill
import pytest

from gsam_lab.runner import parameter_type

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0*.ipynb"))


def _assigned_names(nb_path):
    nb = nbformat.read(str(nb_path), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    return [line.split("=")[0].split(":")[0].strip() for line in cell.source.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_reads_every_parameter(nb, caplog):
    with caplog.at_level(logging.WARNING, logger="papermill"):
        found = papermill.inspect_notebook(str(nb))
    assert "Unable to parse" not in caplog.text
    assert list(found) == _assigned_names(nb)


@pytest.mark.parametrize("stem", ["03_stable_sam_plugins", "04_goodsam_dar_fusion"])
def test_every_parameter_has_a_type(stem):
    found = papermill.inspect_notebook(str(next(p for p in NOTEBOOKS if p.stem == stem)))
    untyped = [k for k, v in found.items() if parameter_type(v) is None]
    assert not untyped, f"{stem}: give {untyped} a type annotation (e.g. \"Optional[int]\")"
