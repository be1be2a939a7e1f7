"""The gsam-lab command: parameter parsing, notebook resolution, headless runs and their summary."""
import csv
import json
import os
from pathlib import Path

import nbformat
import papermill
import pytest

from gsam_lab import cli, runner
from gsam_lab.run_folder import RunFolder
from gsam_lab.runner import MARKER, RunError, check_params, resolve_notebooks, run_notebooks

PARAMS = 'profile = "quick"\nout_dir = "outputs"\nx = 1'


def _write_notebook(path, body, params=PARAMS):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(params)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# test"), params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def nb_dir(tmp_path):
    d = tmp_path / "notebooks"
    d.mkdir()
    _write_notebook(d / "01_good.ipynb", "assert x >= 1, 'x too small'\nprint(profile)\n"
                    "import matplotlib.pyplot as plt\nplt.plot([0, 1])\nplt.show()")
    _write_notebook(d / "02_bad.ipynb", "assert x >= 2, 'x must be at least 2'")
    return d


def test_parse_params_types():
    p = cli.parse_params(["a=1", "b=2.5", "c=true", "d=hello", "e=[1, 2]", "f=None"])
    assert p == {"a": 1, "b": 2.5, "c": True, "d": "hello", "e": [1, 2], "f": None}
    with pytest.raises(RunError, match="key=value"):
        cli.parse_params(["novalue"])


def test_resolve_by_prefix_and_errors(nb_dir):
    assert [p.name for p in resolve_notebooks(["01"], nb_dir)] == ["01_good.ipynb"]
    assert [p.name for p in resolve_notebooks([], nb_dir)] == ["01_good.ipynb", "02_bad.ipynb"]
    with pytest.raises(RunError, match="matches no notebook.*01_good"):
        resolve_notebooks(["99"], nb_dir)
    with pytest.raises(RunError, match="matches several"):
        resolve_notebooks(["0"], nb_dir)


def test_a_notebook_that_is_not_json_is_named(nb_dir, tmp_path, fake_pm, capsys):
    (nb_dir / "03_broken.ipynb").write_text("{ not json")
    assert cli.main(["run", "--notebooks-dir", str(nb_dir), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "03_broken.ipynb cannot be read as a Jupyter notebook" in err
    assert not fake_pm.calls


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


# ----------------------------------------------------------------------------------------------
# runs with papermill replaced by a stand-in (no kernel): folders, summaries, interruptions
# ----------------------------------------------------------------------------------------------

class FakePapermill:
    """``papermill.execute_notebook`` as far as the runner sees it: it writes the executed copy (every cell
    marked completed, as papermill does even when stopped early) and a figure into ``out_dir``; with
    ``stop_at=(cell, exc)`` it starts that cell and raises ``exc`` there."""

    def __init__(self):
        self.calls, self.stop_at, self.on_start = [], None, lambda: None

    def __call__(self, inp, outp, parameters=None, **kw):
        self.on_start()
        self.calls.append((Path(inp).stem, dict(parameters), kw))
        nb = nbformat.read(inp, as_version=4)
        nb.metadata["papermill"] = {"parameters": parameters}
        last = len(nb.cells) if self.stop_at is None else self.stop_at[0]
        for i, c in enumerate(nb.cells):
            started = "2024-01-01T00:00:00" if i <= last else None
            c.metadata["papermill"] = {"status": "completed", "start_time": started, "end_time": started}
        nbformat.write(nb, outp)
        fig = Path(parameters["out_dir"])
        fig.mkdir(parents=True, exist_ok=True)
        (fig / f"fig_{len(self.calls)}.png").write_text("new")
        if self.stop_at is not None:
            raise self.stop_at[1]


@pytest.fixture
def fake_pm(monkeypatch):
    fake = FakePapermill()
    monkeypatch.setattr(papermill, "execute_notebook", fake)
    return fake


def _summary(out):
    with open(out / "summary.csv", newline="") as f:
        return [(r["notebook"], r["status"]) for r in csv.DictReader(f)]


def test_a_folder_with_files_of_its_own_is_refused_whatever_their_names(nb_dir, tmp_path, fake_pm, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    for name in ("summary.csv", "summary.json"):
        (out / name).write_text("my data")
    (out / "01_good").mkdir()
    (out / "01_good" / "plot.png").write_text("my plot")
    assert cli.main(["run", "01", "--notebooks-dir", str(nb_dir), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not written by gsam-lab run" in err and "Traceback" not in err
    assert (out / "summary.csv").read_text() == "my data" and (out / "01_good" / "plot.png").read_text() == "my plot"
    assert not fake_pm.calls


def test_a_run_folder_is_marked_and_may_be_reused(nb_dir, tmp_path, fake_pm):
    out = tmp_path / "run"
    run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=out, progress=False)
    assert (out / MARKER).is_file() and _summary(out) == [("01_good", "ok")]
    run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=out, progress=False)         # no error: ours
    assert len(fake_pm.calls) == 2


def test_a_rerun_keeps_the_files_the_lab_did_not_write(nb_dir, tmp_path, fake_pm, capsys):
    out = tmp_path / "run"
    run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=out, progress=False)
    (out / "01_good" / "my_notes.txt").write_text("notes")
    assert cli.main(["run", "01", "--notebooks-dir", str(nb_dir), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "my_notes.txt" in err and "not written by gsam-lab run" in err
    assert (out / "01_good" / "my_notes.txt").read_text() == "notes" and (out / "01_good" / "fig_1.png").is_file()
    (out / "01_good" / "my_notes.txt").unlink()
    (out / "01_good" / "fig_1.png").write_text("my edit of the figure")          # changed since the lab wrote it
    with pytest.raises(RunError, match="fig_1.png .*changed since"):
        run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=out, progress=False)
    assert (out / "01_good" / "fig_1.png").read_text() == "my edit of the figure" and len(fake_pm.calls) == 1


def test_a_copied_run_folder_is_not_the_labs(nb_dir, tmp_path, fake_pm):
    import shutil

    out = tmp_path / "run"
    run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=out, progress=False)
    shutil.copytree(out, tmp_path / "thesis", copy_function=shutil.copy2)     # marker and file times travel too
    with pytest.raises(RunError, match="copy"):
        run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=tmp_path / "thesis", progress=False)
    assert (tmp_path / "thesis" / "01_good" / "fig_1.png").is_file()


def test_the_files_of_a_killed_run_are_the_labs(nb_dir, tmp_path, fake_pm, monkeypatch):
    out = tmp_path / "run"
    fake_pm.stop_at = (1, SystemExit("killed"))             # a stand-in for SIGKILL: nothing is recorded after it
    with monkeypatch.context() as m:
        m.setattr(RunFolder, "finish", lambda *args: None)
        with pytest.raises(SystemExit):
            run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=out, progress=False)
    assert json.loads((out / MARKER).read_text())["running"]["paths"] == ["01_good.ipynb", "01_good"]
    fake_pm.stop_at = None
    run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=out, progress=False)
    assert [p.name for p in (out / "01_good").iterdir()] == ["fig_2.png"]


def test_a_second_run_into_the_same_folder_is_refused_naming_the_first(nb_dir, tmp_path, fake_pm):
    out = tmp_path / "run"
    refused = []

    def second_run():
        fake_pm.on_start = lambda: None
        with pytest.raises(RunError) as e:
            run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=out, progress=False)
        refused.append(str(e.value))

    fake_pm.on_start = second_run
    run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=out, progress=False)
    assert len(refused) == 1 and f"in use by another gsam-lab run (pid {os.getpid()})" in refused[0]
    assert len(fake_pm.calls) == 1 and (out / "01_good" / "fig_1.png").is_file()
    run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=out, progress=False)      # the folder is free again
    assert len(fake_pm.calls) == 2


def test_a_profile_parameter_may_not_contradict_the_profile_option(nb_dir, tmp_path, fake_pm, capsys):
    base = ["run", "01", "--notebooks-dir", str(nb_dir), "--out", str(tmp_path / "o"), "--quiet"]
    assert cli.main(base + ["--profile", "quick", "-p", "profile=full"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "-p profile=full contradicts --profile quick" in err and not fake_pm.calls
    assert cli.main(base + ["--profile", "full"]) == 0
    assert fake_pm.calls[0][1]["profile"] == "full"
    rows = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert rows[0]["profile"] == "full" and "profile" in (tmp_path / "o" / "summary.csv").read_text().splitlines()[0]


def test_out_pointing_at_a_file_is_one_line(nb_dir, tmp_path, fake_pm, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert cli.main(["run", "01", "--notebooks-dir", str(nb_dir), "--out", str(f), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a file, not a folder" in err
    assert cli.main(["run", "01", "--notebooks-dir", str(nb_dir), "--out", str(f / "sub"), "--quiet"]) == 2
    assert capsys.readouterr().err.count("\n") == 1 and f.read_text() == "x"


def test_old_figures_are_cleared_before_a_notebook_runs_again(nb_dir, tmp_path, fake_pm):
    out = tmp_path / "run"
    run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=out, progress=False)
    run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=out, progress=False)
    assert [p.name for p in (out / "01_good").iterdir()] == ["fig_2.png"]


def test_a_relative_out_dir_parameter_goes_inside_the_run_folder(nb_dir, tmp_path, fake_pm, monkeypatch):
    monkeypatch.chdir(nb_dir)
    out = tmp_path / "run"
    run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=out, params={"out_dir": "figs"}, progress=False)
    assert fake_pm.calls[0][1]["out_dir"] == str((out / "figs").resolve())
    assert (out / "figs" / "fig_1.png").is_file() and not (nb_dir / "figs").exists()
    with pytest.raises(RunError, match="may not leave it"):
        run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=out, params={"out_dir": "../../notebooks/x"})


def test_ctrl_c_is_recorded_as_interrupted_and_unrun_cells_stay_pending(nb_dir, tmp_path, fake_pm, capsys):
    out = tmp_path / "run"
    assert cli.main(["run", "--notebooks-dir", str(nb_dir), "--out", str(out), "--quiet", "-p", "x=2"]) == 0
    assert _summary(out) == [("01_good", "ok"), ("02_bad", "ok")]
    fake_pm.stop_at = (1, KeyboardInterrupt())
    assert cli.main(["run", "--notebooks-dir", str(nb_dir), "--out", str(out), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "gsam-lab run: interrupted"
    assert _summary(out) == [("01_good", "interrupted")]                 # the earlier "ok" rows are gone
    row = json.loads((out / "summary.json").read_text())[0]
    assert "interrupted" in row["error"] and "cell 2 of the executed copy" in row["error"]
    copy = nbformat.read(str(out / "01_good.ipynb"), as_version=4)
    status = [c.metadata.get("papermill", {}).get("status") for c in copy.cells]
    assert "interrupted" in copy.cells[0].source and status[1:] == ["completed", "failed", "pending"]


def test_a_kill_leaves_a_running_row_not_an_old_ok(nb_dir, tmp_path, fake_pm):
    out = tmp_path / "run"
    run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=out, progress=False)
    seen = []
    fake_pm.on_start = lambda: seen.append(_summary(out))     # what the folder says while the notebook runs
    fake_pm.stop_at = (1, SystemExit("killed"))             # a stand-in for SIGKILL: nothing after it runs
    with pytest.raises(SystemExit):
        run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=out, progress=False)
    assert seen == [[("01_good", "running")]] and _summary(out) == [("01_good", "running")]


def test_kernels_get_the_cache_folder_as_an_absolute_path(nb_dir, tmp_path, fake_pm, monkeypatch):
    seen = []
    fake_pm.on_start = lambda: seen.append(os.environ.get("GSAM_LAB_CACHE"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GSAM_LAB_CACHE", f"rel-cache-{tmp_path.name}")       # the kernel starts in nb_dir
    run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=tmp_path / "o", progress=False)
    monkeypatch.setenv("GSAM_LAB_CACHE", "")
    run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=tmp_path / "o", progress=False)
    assert seen == [str(tmp_path / f"rel-cache-{tmp_path.name}"), None]
    assert os.environ["GSAM_LAB_CACHE"] == ""                                 # restored after the run


def test_sigterm_is_handled_as_an_interruption():
    with pytest.raises(KeyboardInterrupt):
        cli._interrupt(15, None)


# ----------------------------------------------------------------------------------------------
# -p parameters: known keys, types, tuples, --timeout
# ----------------------------------------------------------------------------------------------

def test_unknown_keys_and_wrong_types_are_refused_before_anything_runs(nb_dir, tmp_path, fake_pm, capsys):
    base = ["run", "01", "--notebooks-dir", str(nb_dir), "--out", str(tmp_path / "o"), "--quiet"]
    assert cli.main(base + ["-p", "erp_hw=(512,1024)"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "-p erp_hw: not a parameter of notebook 01_good; valid keys: out_dir, profile, x" in err
    assert cli.main(base + ["-p", "x=abc"]) == 2
    assert "-p x: notebook 01_good expects int (default 1), got the text 'abc'" in capsys.readouterr().err
    assert cli.main(base + ["-p", "x=1.5"]) == 2
    assert "expects int" in capsys.readouterr().err
    assert not fake_pm.calls and not (tmp_path / "o").exists()


def test_a_key_goes_only_to_the_notebooks_that_define_it(tmp_path):
    d = tmp_path / "nbs"
    d.mkdir()
    a = _write_notebook(d / "01_a.ipynb", "pass")
    b = _write_notebook(d / "02_b.ipynb", "pass", PARAMS + '\nsam_checkpoint: str = "tiny-synth"')
    assert check_params({"sam_checkpoint": "vit_b", "x": 2}, [a, b]) == {
        a: {"x": 2}, b: {"sam_checkpoint": "vit_b", "x": 2}}
    with pytest.raises(RunError, match="not a parameter of any of the notebooks 01_a, 02_b"):
        check_params({"bogus": 1}, [a, b])


def test_annotated_types(tmp_path):
    nb = _write_notebook(tmp_path / "t.ipynb", "pass",
                         'hw: "Optional[Tuple[int, int]]" = None\nk: "Optional[int]" = None\n'
                         'conf: float = 0.5\nname = "a"\nnoise = (0.1, 0.2)')
    ok = dict(hw=(512, 1024), k=None, conf=1, name="b", noise=[0.3])
    assert check_params(ok, [nb])[nb] == ok
    for bad, want in ((dict(hw=(512,)), "Tuple"), (dict(hw="512"), "Tuple"), (dict(k=2.5), "Optional\\[int\\]"),
                      (dict(conf=True), "float"), (dict(name=3), "str"), (dict(noise=0.1), "tuple")):
        with pytest.raises(RunError, match=want):
            check_params(bad, [nb])


def test_tuples_reach_papermill_as_lists(nb_dir, tmp_path, fake_pm):
    nb = _write_notebook(nb_dir / "03_hw.ipynb", "pass", PARAMS + "\nerp_hw = None")
    run_notebooks([str(nb)], notebooks_dir=nb_dir, out_dir=tmp_path / "o", params={"erp_hw": (512, 1024)},
                  progress=False)
    assert fake_pm.calls[0][1]["erp_hw"] == [512, 1024]


def test_values_that_do_not_parse_name_the_parameter():
    with pytest.raises(RunError, match=r"-p erp_hw=\(512,1024 does not parse"):
        cli.parse_params(["erp_hw=(512,1024"])
    assert cli.parse_params(["erp_hw=(512,1024)", "name=a(b"]) == {"erp_hw": (512, 1024), "name": "a(b"}


def test_every_p_error_exits_2_in_one_short_line(nb_dir, tmp_path, fake_pm, capsys):
    base = ["run", "01", "--notebooks-dir", str(nb_dir), "--out", str(tmp_path / "o"), "--quiet"]
    for bad in ("novalue", "erp_hw=(512,1024", "x=abc", "x=" + "7" * 5000, "x=(" + "7" * 5000):
        assert cli.main(base + ["-p", bad]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and len(err) < 300, err[:300]
    assert not fake_pm.calls


def test_a_timeout_message_gives_the_seconds_that_were_allowed(tmp_path):
    why = runner._describe_failure(TimeoutError(), tmp_path / "none.ipynb", 0.5)
    assert "timed out after 1 s (--timeout 0.5, rounded up to whole seconds)" in why
    assert "timed out after 2 s (--timeout)" in runner._describe_failure(TimeoutError(), tmp_path / "none.ipynb", 2)


def test_timeout_accepts_what_its_help_says(nb_dir, tmp_path, fake_pm, capsys):
    parser = cli.build_parser()
    assert parser.parse_args(["run", "--timeout", "2.5"]).timeout == 2.5
    assert parser.parse_args(["run", "--timeout", "600"]).timeout == 600
    assert parser.parse_args(["run", "--timeout", "none"]).timeout is None
    for bad in ("0", "-3", "soon", "nan"):
        with pytest.raises(SystemExit):
            parser.parse_args(["run", "--timeout", bad])
        assert "number of seconds > 0" in capsys.readouterr().err
    run_notebooks(["01"], notebooks_dir=nb_dir, out_dir=tmp_path / "o", timeout=2.5, progress=False)
    assert fake_pm.calls[0][2]["execution_timeout"] == 3                  # nbclient takes whole seconds


def test_profile_settings_turn_lists_back_into_tuples():
    from gsam_lab.profiles import settings

    cfg = settings("03", "quick", erp_hw=[512, 1024], pinhole_hw=None)
    assert cfg.erp_hw == (512, 1024) and cfg.pinhole_hw == (256, 256)


@pytest.mark.slow
def test_a_cell_timeout_names_the_cell_in_one_line(tmp_path, capsys):
    d = tmp_path / "nbs"
    d.mkdir()
    _write_notebook(d / "01_slow.ipynb", "import time\ntime.sleep(60)")
    out = tmp_path / "run"
    assert cli.main(["run", "--notebooks-dir", str(d), "--out", str(out), "--quiet", "--timeout", "1"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("FAILED")]
    assert len(err) == 1 and "cell 4 of the executed copy (In [3]) | import time" in err[0]    # after the banner
    assert "timed out after 1 s (--timeout)" in err[0]
    copy = nbformat.read(str(out / "01_slow.ipynb"), as_version=4)
    assert "timed out" in copy.cells[0].source and copy.cells[4].metadata["papermill"]["status"] == "failed"
    assert _summary(out) == [("01_slow", "failed")]


@pytest.mark.slow
def test_run_writes_copies_summary_and_names_failing_cell(nb_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")          # as in CI: the kernel must still draw its figures inline
    out = tmp_path / "run"
    code = cli.main(["run", "--notebooks-dir", str(nb_dir), "--out", str(out), "--quiet", "-p", "x=1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "FAILED 02_bad" in err and "cell 3 of the executed copy" in err and "x must be at least 2" in err
    summary = json.loads((out / "summary.json").read_text())
    assert [(r["notebook"], r["status"]) for r in summary] == [("01_good", "ok"), ("02_bad", "failed")]
    executed = nbformat.read(str(out / "01_good.ipynb"), as_version=4)
    assert any("quick" in o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert any("image/png" in o.get("data", {}) for c in executed.cells for o in c.get("outputs", []))
    # parameters override the defaults and the source stays untouched; a tuple arrives as a list
    _write_notebook(nb_dir / "02_bad.ipynb", "assert x >= 2 and hw == [2, 3], (x, hw)", PARAMS + "\nhw = None")
    code = cli.main(["run", "02", "--notebooks-dir", str(nb_dir), "--out", str(out), "--quiet", "-p", "x=3",
                     "-p", "hw=(2,3)"])
    assert code == 0
    assert "papermill" not in json.loads((nb_dir / "02_bad.ipynb").read_text())["metadata"]


def test_doctor_prints_versions(capsys):
    assert cli.main(["doctor"]) == 0
    text = capsys.readouterr().out
    assert "torch" in text and "device (auto)" in text and "bundled weights" in text


@pytest.mark.slow
def test_a_kill_of_the_command_is_recorded_as_interrupted(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    d = tmp_path / "nbs"
    d.mkdir()
    _write_notebook(d / "01_slow.ipynb", "import time\ntime.sleep(60)")
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "gsam_lab.cli", "run", "--notebooks-dir", str(d), "--out", str(out),
                             "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[1])})
    try:
        deadline = time.time() + 60
        while time.time() < deadline and "time.sleep" not in _started_source(out / "01_slow.ipynb"):
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=30)[1]
    finally:
        proc.kill()
    assert proc.returncode == 130 and "gsam-lab run: interrupted" in err
    assert _summary(out) == [("01_slow", "interrupted")]


def _started_source(copy):
    """The source of the last cell papermill has started in ``copy`` ("" while there is none)."""
    try:
        nb = nbformat.read(str(copy), as_version=4)
    except Exception:  # noqa: BLE001 - not written yet, or being written
        return ""
    started = [c.source for c in nb.cells if c.metadata.get("papermill", {}).get("start_time")]
    return started[-1] if started else ""
