"""Colab readiness: each notebook's install cell installs gsam_lab into an environment that lacks it,
and does nothing where it is already installed.

The slow test builds a Colab-like virtual environment: fresh, with this interpreter, and with the
heavy packages Colab preinstalls (torch, transformers, matplotlib, pandas, ipywidgets, ...) visible
through a ``.pth`` layer of links into the current environment, so no multi-GB download is needed.
The layer leaves out gsam_lab itself and the packages Colab does not have (``segment_anything``,
``ipyevents``), which pip must then install. The install cell runs with ``GSAM_LAB_PIP`` set to this
repository as a ``git+file://`` requirement, the same form as the cell's default
(``git+https://...``) that Colab users get.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from unittest import mock

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NOT_ON_COLAB = ("segment_anything", "ipyevents")      # pip must install these in the fresh environment
COLAB_URL = "https://colab.research.google.com/github/gsam-lab/gsam_lab/blob/main/notebooks/{}"


def install_cell(nb_path: Path) -> str:
    """Source of the first code cell that mentions GSAM_LAB_PIP (the Colab install cell), or ''."""
    nb = json.loads(nb_path.read_text())
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and "GSAM_LAB_PIP" in src:
            return src
    return ""


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks/NN_*.ipynb found"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_install_cell_comes_before_any_gsam_lab_import(nb_path):
    nb = json.loads(nb_path.read_text())
    code = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in nb["cells"] if c["cell_type"] == "code"]
    cell = install_cell(nb_path)
    assert cell, f"{nb_path.name} has no install cell (a code cell that reads GSAM_LAB_PIP)"
    where = code.index(cell)
    first_import = next((i for i, src in enumerate(code) if "gsam_lab" in src and "import" in src and src != cell),
                        len(code))
    assert where < first_import, f"{nb_path.name}: the install cell (code cell {where}) must run before gsam_lab is " \
                                 f"imported (code cell {first_import})"
    assert 'find_spec("gsam_lab")' in cell or "find_spec('gsam_lab')" in cell, \
        f"{nb_path.name}: the install cell must only install when gsam_lab is missing"
    assert "[notebooks]" in cell, f"{nb_path.name}: the default install must include the notebooks extra (widgets)"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_install_cell_is_a_no_op_where_gsam_lab_is_installed(nb_path):
    """Here gsam_lab is importable: the cell must not call pip (subprocess is replaced by a tripwire)."""
    cell = install_cell(nb_path)
    assert cell, f"{nb_path.name} has no install cell"
    with mock.patch("subprocess.check_call", side_effect=AssertionError("the install cell ran pip")) as call, \
            mock.patch.dict(os.environ, {"GSAM_LAB_PIP": "gsam_lab @ file:///nonexistent/gsam_lab"}):
        exec(compile(cell, f"{nb_path.name}:install-cell", "exec"), {"__name__": "__main__"})
    assert not call.called


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_readme_opens_each_notebook_in_colab(nb_path):
    readme = (REPO / "README.md").read_text()
    url = COLAB_URL.format(nb_path.name)
    assert url in readme, f"README's 'Open in Colab' section has no link for {nb_path.name}: add one to {url}"


# -- a Colab-like fresh environment -----------------------------------------------------------------
def _layer_entry_allowed(name: str) -> bool:
    low = name.lower()
    if low.endswith(".pth") or low.startswith(("__editable__", "gsam_lab", "__pycache__")):
        return False
    return not any(low.startswith(p) or low.startswith(p.replace("_", "-")) for p in NOT_ON_COLAB)


def _run(cmd, env=None, timeout=300, cwd=None) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                         cwd=cwd)
    return res


def _repo_requirement() -> str:
    """``gsam_lab[notebooks] @ git+file://REPO`` (what Colab users install, from this checkout)."""
    if (REPO / ".git").exists() and shutil.which("git"):
        return f"gsam_lab[notebooks] @ git+{REPO.as_uri()}"
    return f"gsam_lab[notebooks] @ {REPO.as_uri()}"


@pytest.fixture(scope="module")
def colab_env(tmp_path_factory):
    """(python, env): a fresh venv without gsam_lab, the current environment's packages as 'preinstalled'."""
    root = tmp_path_factory.mktemp("colab")
    venv = root / "venv"
    res = _run([sys.executable, "-m", "venv", str(venv)], timeout=180)
    assert res.returncode == 0, f"could not create a virtual environment:\n{res.stdout}{res.stderr}"
    py = venv / "bin" / "python"
    assert py.exists(), f"the new venv has no {py}"
    site_new = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    assert site_new, "cannot read the new venv's site-packages"

    layer = root / "preinstalled"
    layer.mkdir()
    here = Path(sysconfig.get_paths()["purelib"])
    for entry in here.iterdir():
        if _layer_entry_allowed(entry.name):
            (layer / entry.name).symlink_to(entry)
    (Path(site_new) / "zz_colab_preinstalled.pth").write_text(str(layer) + "\n")

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", VIRTUAL_ENV=str(venv),
               PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    # Colab's pip is recent; the venv's bundled one may be too old for `name @ git+file://...`
    res = _run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"], env=env, timeout=300)
    assert res.returncode == 0, f"could not upgrade pip in the fresh venv:\n{res.stdout}{res.stderr[-2000:]}"
    probe = _run([str(py), "-c", "import importlib.util as u, sys; import torch; "
                                 "print(u.find_spec('gsam_lab') is None, [m for m in sys.argv[1:] if u.find_spec(m)])",
                  *NOT_ON_COLAB], env=env, cwd=str(root), timeout=180)
    assert probe.returncode == 0, f"the Colab-like venv cannot import torch:\n{probe.stdout}{probe.stderr}"
    assert probe.stdout.split()[0] == "True", f"gsam_lab is importable before the install cell ran:\n{probe.stdout}"
    assert "[]" in probe.stdout, f"packages Colab lacks are importable before the install:\n{probe.stdout}"
    return py, env, root


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_install_cell_installs_the_package_in_a_fresh_environment(colab_env):
    py, env, root = colab_env
    cells = {}
    for nb in NOTEBOOKS:
        cells.setdefault(install_cell(nb), []).append(nb.name)
    assert "" not in cells, f"notebooks without an install cell: {cells.get('')}"
    spec = _repo_requirement()
    for n, (cell, names) in enumerate(cells.items()):
        if n:   # another cell text: start again without gsam_lab
            res = _run([str(py), "-m", "pip", "uninstall", "-y", "-q", "gsam_lab"], env=env)
            assert res.returncode == 0, res.stdout + res.stderr
        script = root / f"install_cell_{n}.py"
        script.write_text(cell)
        t0 = time.monotonic()
        res = _run([str(py), str(script)], env=dict(env, GSAM_LAB_PIP=spec), cwd=str(root), timeout=600)
        took = time.monotonic() - t0
        assert res.returncode == 0, (f"the install cell of {names} failed in a fresh environment with "
                                     f"GSAM_LAB_PIP={spec!r} (exit {res.returncode}, {took:.0f} s):\n"
                                     f"{res.stdout[-3000:]}{res.stderr[-3000:]}")
        check = _run([str(py), "-c",
                      "import gsam_lab, gsam_lab.widgets, ipywidgets, ipyevents, segment_anything, sys\n"
                      "from gsam_lab import sam\n"
                      "m = sam.load_sam('tiny-synth', device='cpu')\n"
                      "print(gsam_lab.__file__); print(type(m).__name__)"],
                     env=env, cwd=str(root), timeout=300)
        assert check.returncode == 0, (f"after the install cell of {names}, gsam_lab (and its widgets, the bundled "
                                       f"tiny-synth SAM) does not load:\n{check.stdout}{check.stderr[-3000:]}")
        where = Path(check.stdout.splitlines()[0]).resolve()
        assert str(where).startswith(str(Path(py).parent.parent.resolve())), \
            f"gsam_lab was imported from {where}, not from the fresh environment"
        for mod in NOT_ON_COLAB:
            loc = _run([str(py), "-c", f"import {mod}; print({mod}.__file__)"], env=env, cwd=str(root)).stdout
            assert str(Path(py).parent.parent) in loc, f"{mod} should have been installed by pip, found at {loc}"

    # run again: gsam_lab is there now, so the cell must not call pip (a bogus source would make pip fail)
    for cell, names in cells.items():
        script = root / "again.py"
        script.write_text(cell)
        t0 = time.monotonic()
        res = _run([str(py), str(script)], env=dict(env, GSAM_LAB_PIP="gsam_lab @ file:///nonexistent/gsam_lab"),
                   cwd=str(root), timeout=120)
        assert res.returncode == 0 and not res.stdout.strip(), \
            f"with gsam_lab installed, the install cell of {names} still ran something:\n{res.stdout}{res.stderr}"
        assert time.monotonic() - t0 < 60
