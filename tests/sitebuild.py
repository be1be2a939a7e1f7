"""A small run folder made in the test, and its site, built once per test session (tests/test_site*.py and
tests/browser/test_site*.py).

The run holds three executed notebooks written directly with nbformat (nothing is executed): 01 with a
widget output under its screenshot, some TeX and a parameters cell; 02 with a figure (a PNG output) and a
table wider than a phone; 06 with the report it wrote (Markdown, a figure, the one-file HTML). The site
shows the repository's real ``docs/methods`` and an API reference of one module.
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
NB01, NB02, NB06 = "01_panorama_distortion", "02_sam_prompt_stability", "06_results_report"
API = ("gsam_lab.metrics",)


def png_bytes(w: int = 320, h: int = 160, seed: int = 0) -> bytes:
    """A small colourful PNG (a gradient with a dark square), so a screenshot of it is not blank."""
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 120 + seed * 40)], -1).astype(np.uint8)
    rgb[h // 4:h // 2, w // 4:w // 3] = 20
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def _notebook(cells, injected: dict, widgets: bool = False):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["papermill"] = {"parameters": injected, "duration": 4.2}
    if widgets:
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2,
                                                                                "version_minor": 0}}
    return nb


def _params(source: str):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["parameters"]
    return cell


def _code(source: str, *outputs):
    cell = nbformat.v4.new_code_cell(source, execution_count=1)
    cell.outputs = list(outputs)
    return cell


def make_run(folder: Path) -> Path:
    """Write the small run folder; return it."""
    md, out = nbformat.v4.new_markdown_cell, nbformat.v4.new_output
    folder.mkdir(parents=True)
    nb01 = _notebook([
        md("# 01 · Panorama distortion: a tiny stand-in\n\nLongitude $\\lambda$ and latitude $\\varphi$:\n\n"
           "$$u = \\frac{\\lambda + \\pi}{2\\pi} W$$"),
        _params('profile: str = "quick"\nseed: int = 0\nout_dir: str = "outputs/01"'),
        _code("print('hello from 01')", out("stream", name="stdout", text="hello from 01\n")),
        md("## Explore it yourself\n\n![The distortion explorer: sliders, the view's footprint, the tangent view]"
           "(../docs/img/distortion_explorer.png)"),
        _code("explorer = widgets.DistortionExplorer(image)\nexplorer", out(
            "display_data", data={"text/plain": "DistortionExplorer(...)", "application/vnd.jupyter.widget-view+json":
                                  {"model_id": "abc", "version_major": 2, "version_minor": 0}})),
    ], {"profile": "quick", "out_dir": str(folder / NB01), "seed": 1}, widgets=True)
    wide = "<table><tr>" + "".join(f"<th>column_{i}</th>" for i in range(40)) + "</tr><tr>" + \
        "".join(f"<td>{i * 1.5:.2f}</td>" for i in range(40)) + "</tr></table>"
    nb02 = _notebook([
        md("# 02 · SAM and its prompts: a tiny stand-in\n\nHow stable is a mask when the box is casual?"),
        _params('profile: str = "quick"\nout_dir: str = "outputs/02"'),
        _code("fig = viz.show_grid(images)\nviz.savefig(fig, out / \"sweep_points.png\")\nplt.show()", out(
            "display_data", data={"image/png": base64.b64encode(png_bytes()).decode(), "text/plain": "<Figure>"})),
        _code("table", out("execute_result", execution_count=1, data={"text/html": wide, "text/plain": "table"})),
    ], {"profile": "quick", "out_dir": str(folder / NB02)})
    nb06 = _notebook([md("# 06 · Results report: a tiny stand-in\n\nThe claims beside our numbers.")],
                     {"profile": "quick", "out_dir": str(folder / NB06)})
    for stem, nb in ((NB01, nb01), (NB02, nb02), (NB06, nb06)):
        nbformat.write(nb, str(folder / f"{stem}.ipynb"))
        (folder / stem).mkdir()
    (folder / NB02 / "sweep_points.png").write_bytes(png_bytes(seed=1))
    (folder / NB06 / "figures").mkdir()
    (folder / NB06 / "figures" / "claims.png").write_bytes(png_bytes(seed=2))
    (folder / NB06 / "report.md").write_text("# gsam_lab results report\n\n> **Caveat.** A stand-in.\n\n"
                                             "## Claims\n\n![The claims, as intervals](figures/claims.png)\n")
    (folder / NB06 / "report.html").write_text("<html><body><h1>gsam_lab results report</h1></body></html>")
    rows = [{"notebook": s, "status": "ok", "seconds": t, "output": str(folder / f"{s}.ipynb"), "error": "",
             "profile": "quick"} for s, t in ((NB01, 9.1), (NB02, 29.1), (NB06, 72.1))]
    (folder / "summary.json").write_text(json.dumps(rows))
    return folder


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> Path:
    """The small run folder (shared: treat it as read-only)."""
    return make_run(tmp_path_factory.mktemp("site") / "run")


@pytest.fixture(scope="session")
def small_site(small_run):
    """The site of the small run (a :class:`gsam_lab.site.SiteResult`), built once; shared, so read-only."""
    from gsam_lab.site import build_site

    return build_site(small_run, out=small_run.parent / "site", api_modules=API, repo=REPO, progress=False)
