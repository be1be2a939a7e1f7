"""gsam-lab site: a run's executed notebooks as a static HTML site (built from a small run made here)."""
import os
import re
import sys
import time

import nbformat
import pytest
from sitebuild import API, NB01, NB02, NB06, make_run

from gsam_lab import cli
from gsam_lab.site import MARKER, SiteError, build_site, check_out, find_run, read_run, require_extra
from gsam_lab.site.notebooks import COLAB_URL, WIDGET_MIME, prepare_notebook


# -- the run folder ---------------------------------------------------------------------------------
def test_the_latest_run_is_the_one_whose_summary_was_written_last(tmp_path):
    old, new = make_run(tmp_path / "runs" / "b_old"), make_run(tmp_path / "runs" / "a_new")
    os.utime(old / "summary.json", (time.time() - 3600, time.time() - 3600))
    (tmp_path / "runs" / "not_a_run").mkdir()
    assert find_run(runs_root=tmp_path / "runs") == new.resolve()
    assert find_run(old) == old.resolve()


def test_no_run_and_a_folder_without_notebooks_say_what_was_expected(tmp_path):
    with pytest.raises(SiteError, match=r"no run folder found under .*gsam-lab run --profile quick"):
        find_run(runs_root=tmp_path / "runs")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SiteError, match=r"holds no executed notebooks \(\*\.ipynb\); expected the --out folder"):
        find_run(tmp_path / "empty")
    with pytest.raises(SiteError, match="does not exist"):
        find_run(tmp_path / "nowhere")


def test_the_run_is_read_with_times_profiles_parameters_and_report(small_run):
    run = read_run(small_run)
    assert [nb.stem for nb in run.notebooks] == [NB01, NB02, NB06]
    first = run.notebooks[0]
    assert first.title.startswith("01 · Panorama distortion") and first.seconds == 9.1 and first.status == "ok"
    assert first.injected["seed"] == 1 and run.profile == "quick"
    assert run.report == small_run / NB06 / "report.md"


def test_a_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "myst_nb", None)          # import fails as if it were not installed
    with pytest.raises(SiteError, match=re.escape('(missing: myst_nb): pip install -e ".[site]"')):
        require_extra()


# -- the output folder ------------------------------------------------------------------------------
def test_a_folder_the_command_did_not_build_is_refused_and_left_alone(small_run, tmp_path, capsys):
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter.tex").write_text("mine")
    assert cli.main(["site", str(small_run), "--out", str(mine), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is not empty and was not built by gsam-lab site" in err and err.count("\n") == 1
    assert [p.name for p in mine.iterdir()] == ["chapter.tex"]
    for bad in (small_run, small_run.parent):                    # the site may not swallow the run
        with pytest.raises(SiteError, match="holds the run folder"):
            check_out(bad, small_run)
    (tmp_path / "file").write_text("x")
    with pytest.raises(SiteError, match="is a file"):
        check_out(tmp_path / "file", small_run)


def test_the_command_without_a_run_exits_2_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["site"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gsam-lab site: no run folder found under") and err.count("\n") == 1


def test_run_prints_the_site_command_or_builds_the_site(tmp_path, monkeypatch, capsys):
    from gsam_lab import runner, site

    result = runner.NotebookResult("01_x", "ok", 1.0, str(tmp_path / "run" / "01_x.ipynb"), profile="quick")
    monkeypatch.setattr(runner, "run_notebooks", lambda *a, **k: [result])
    assert cli.main(["run", "--out", str(tmp_path / "run")]) == 0
    assert f"gsam-lab site {tmp_path / 'run'}" in capsys.readouterr().out
    built = []
    monkeypatch.setattr(site, "build_site", lambda run_dir, progress: built.append(run_dir))
    assert cli.main(["run", "--out", str(tmp_path / "run"), "--site", "--quiet"]) == 0
    assert built == [tmp_path / "run"]


# -- the notebook pages -----------------------------------------------------------------------------
def test_a_notebook_page_gets_its_run_box_widget_note_and_alt_texts(small_run):
    run = read_run(small_run)
    item = run.notebooks[0]
    nb = nbformat.read(str(item.path), as_version=4)
    page, extra = prepare_notebook(nb, item, {"seed": {"default": "0"}, "extra_knob": {"default": "3"}}, small_run)
    assert "widgets" not in page.metadata and extra == []
    outputs = [o for c in page.cells if c.cell_type == "code" for o in c.outputs]
    assert not any(WIDGET_MIME in o.get("data", {}) for o in outputs)
    note = next(o["data"]["text/html"] for o in outputs if "gsam-widget-note" in o.get("data", {}).get("text/html", ""))
    assert "needs a running kernel" in note and "screenshot above" in note
    box = page.cells[1].source                                    # right under the title cell
    assert page.cells[0].source.startswith("# 01 · Panorama distortion")
    assert "9.1 s" in box and "<code>quick</code>" in box and f'href="{NB01}.ipynb" download' in box
    assert COLAB_URL.format(name=f"{NB01}.ipynb") in box
    assert "<code>seed</code></td><td><code>1</code></td><td>set by the run" in box
    assert "<code>extra_knob</code></td><td><code>3</code></td><td>notebook default" in box
    assert f"<code>&#x27;{NB01}&#x27;</code>" in box                # out_dir shown relative to the run folder
    figure = read_run(small_run).notebooks[1]
    page, _ = prepare_notebook(nbformat.read(str(figure.path), 4), figure, {}, small_run)
    alts = [c.metadata["mystnb"]["image"]["alt"] for c in page.cells if "mystnb" in c.metadata]
    assert alts == ["Figure of notebook 02: sweep points"]


def test_a_notebook_without_figure_outputs_shows_the_figures_it_saved(small_run, tmp_path):
    item = read_run(small_run).notebooks[1]
    nb = nbformat.read(str(item.path), as_version=4)
    for cell in nb.cells:                                         # as a run with MPLBACKEND=Agg leaves it
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if "image/png" not in o.get("data", {})]
    page, extra = prepare_notebook(nb, item, {}, small_run)
    assert [f.name for f in extra] == ["sweep_points.png"]
    assert f"]({NB02}_figures/sweep_points.png)" in page.cells[-1].source


# -- the site ---------------------------------------------------------------------------------------
def test_the_site_holds_every_part(small_site, small_run):
    out = small_site.out
    assert (out / MARKER).is_file() and small_site.index == out / "index.html"
    for page in ("index", f"notebooks/{NB01}", f"notebooks/{NB02}", f"notebooks/{NB06}", "report/report",
                 "docs/methods/index", "docs/methods/stable_sam", "api/index", f"api/{API[0]}", "search"):
        assert (out / f"{page}.html").is_file(), page
    assert (out / "notebooks" / f"{NB01}.ipynb").read_bytes() == (small_run / f"{NB01}.ipynb").read_bytes()
    assert (out / "report" / "report.html").is_file() and (out / "searchindex.js").is_file()
    front = (out / "index.html").read_text()
    words = re.sub(r"<[^>]+>", "", front)
    for text in ("What the lab teaches", "The notebooks, in order", "gsam-lab run --profile quick", "gsam-lab site"):
        assert text in words, text
    assert 'alt="Figure of notebook 02: sweep points"' in front
    assert len(re.findall(r'<img [^>]*src="_images/', front)) == 1      # one figure: only 02 has one
    api = (out / "api" / f"{API[0]}.html").read_text()
    assert "boundary_iou" in api and "miou" in api                     # generated from the docstrings
    assert small_site.bytes < 20e6


def test_every_page_is_self_contained(small_site):
    """No page loads anything from another host (scripts, styles, fonts, MathJax, widget JavaScript)."""
    for page in small_site.out.rglob("*.html"):
        text = page.read_text()
        assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', text), page
    nb01 = (small_site.out / "notebooks" / f"{NB01}.html").read_text()
    assert "_static/mathjax/tex-svg.js" in nb01 and "gsam-widget-note" in nb01
    assert "Interactive widget" in nb01 and 'alt="The distortion explorer' in nb01


def test_a_rebuild_replaces_the_site_it_built(small_run, tmp_path):
    out = tmp_path / "site"
    first = build_site(small_run, out=out, api_modules=(), repo=None, progress=False)
    (out / "stale.html").write_text("old")
    second = build_site(small_run, out=out, api_modules=(), repo=None, progress=False)
    assert first.out == second.out == out.resolve() and not (out / "stale.html").exists()
    assert not (out / "api").exists() and not (out / "docs").exists()    # without the repository's docs
    assert not list(tmp_path.glob(".site.*"))                           # nothing left beside it
