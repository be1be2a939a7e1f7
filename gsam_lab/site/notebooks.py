"""Turn an executed notebook into the page the site shows, without executing anything.

* a box under the title: status, run time, profile, the parameters it ran with, a link to download the
  executed ``.ipynb`` and an "open in Colab" link;
* widgets (which need a running kernel) become a line saying so; the screenshot the notebook shows above the
  widget stays where it is;
* every figure output gets an alt text (the file the cell saved it to, or the cell's first comment);
* a notebook whose figures are not in its outputs (a run with a non-inline matplotlib backend) gets the
  figures it saved, from its figures folder.
"""
from __future__ import annotations

import base64
import copy
import html
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .runs import RunNotebook

__all__ = ["COLAB_URL", "WIDGET_MIME", "prepare_notebook", "first_figure", "figure_alt", "has_figures",
           "parameter_rows", "info_box", "short_stem"]

#: where Colab opens a notebook of the repository (``{name}``: the notebook's file name)
COLAB_URL = "https://colab.research.google.com/github/gsam-lab/gsam_lab/blob/main/notebooks/{name}"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml")
_SAVED = re.compile(r"""["'/]([\w.-]+)\.(?:png|jpg|jpeg|svg|pdf)["']""")


def short_stem(stem: str) -> str:
    """``02_sam_prompt_stability`` -> ``02`` (a name without a number stays whole)."""
    return stem.split("_", 1)[0] if stem[:2].isdigit() else stem


def figure_alt(cell, stem: str, index: int) -> str:
    """An alt text for the figure output of ``cell`` (code cell number ``index`` of notebook ``stem``)."""
    source = cell.get("source", "")
    saved = _SAVED.findall(source)
    if saved:
        what = saved[-1].replace("_", " ")
    else:
        comments = [line.lstrip("# ").strip() for line in source.splitlines() if line.lstrip().startswith("#")]
        what = next((c for c in comments if c and not c.startswith("%")), f"cell {index}")
    return f"Figure of notebook {short_stem(stem)}: {what}"


def _is_image_output(output) -> bool:
    return output.get("output_type") in ("display_data", "execute_result") and \
        any(m in output.get("data", {}) for m in IMAGE_MIMES)


def has_figures(nb) -> bool:
    """Whether any output of ``nb`` is an image."""
    return any(_is_image_output(o) for c in nb.cells for o in c.get("outputs", ()))


def first_figure(nb, stem: str) -> Optional[Tuple[bytes, str, str]]:
    """``(bytes, suffix, alt)`` of the first PNG or JPEG figure in ``nb``'s outputs, or None."""
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        for output in cell.get("outputs", ()):
            for mime, suffix in (("image/png", ".png"), ("image/jpeg", ".jpg")):
                data = output.get("data", {}).get(mime) if _is_image_output(output) else None
                if data:
                    text = "".join(data) if isinstance(data, list) else data
                    return base64.b64decode(text), suffix, figure_alt(cell, stem, i + 1)
    return None


def _widget_note(screenshot_above: bool) -> dict:
    """The output that stands for a widget on the static page."""
    import nbformat

    tail = (" The screenshot above shows what it looks like." if screenshot_above else "")
    text = ("<p class=\"gsam-widget-note\"><strong>Interactive widget:</strong> it needs a running kernel, "
            "so this page cannot show it live. Download the notebook or open it in Colab (links at the top) "
            f"to use it.{tail}</p>")
    return nbformat.v4.new_output("display_data", data={"text/html": text})


def _markdown_has_image(cells) -> bool:
    return any(c.cell_type == "markdown" and ("![" in c.source or "<img" in c.source) for c in cells)


def _replace_widgets(nb) -> None:
    """Widget outputs become a line saying they need a kernel; the widget state is dropped (no widget JS)."""
    nb.metadata.pop("widgets", None)
    since_code: List = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            since_code.append(cell)
            continue
        outputs = cell.get("outputs", [])
        if any(WIDGET_MIME in o.get("data", {}) for o in outputs):
            note = _widget_note(_markdown_has_image(since_code))
            kept = [o for o in outputs if WIDGET_MIME not in o.get("data", {})]
            cell["outputs"] = kept + [note]
        since_code = []


def _add_alt_texts(nb, stem: str) -> None:
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        if any(_is_image_output(o) for o in cell.get("outputs", ())):
            options = cell.metadata.setdefault("mystnb", {}).setdefault("image", {})
            options.setdefault("alt", figure_alt(cell, stem, i + 1))


def _value(value, run_folder: Path) -> str:
    """A parameter value as shown in the box (a path inside the run folder relative to it)."""
    text = repr(value)
    if isinstance(value, str):
        try:
            text = repr(Path(value).resolve().relative_to(run_folder.resolve()).as_posix())
        except (ValueError, OSError):
            pass
    return text if len(text) <= 80 else text[:77] + "..."


def parameter_rows(item: RunNotebook, defaults: Dict[str, dict], run_folder: Path) -> List[Tuple[str, str, str]]:
    """``(name, value, where it came from)`` for every parameter: the run's, then the notebook's defaults."""
    rows = [(k, _value(v, run_folder), "set by the run") for k, v in item.injected.items()]
    rows += [(k, str(spec.get("default", "")), "notebook default") for k, spec in defaults.items()
             if k not in item.injected]
    return rows


def info_box(item: RunNotebook, rows: List[Tuple[str, str, str]], download: str, colab: Optional[str]) -> str:
    """The HTML of the box under a notebook's title."""
    e = html.escape
    took = f"{item.seconds:.1f} s" if item.seconds is not None else "time not recorded"
    status = {"ok": "ran without error"}.get(item.status, f"status <strong>{e(item.status)}</strong>")
    links = [f'<a href="{e(download)}" download>download the executed notebook (.ipynb)</a>']
    if colab:
        links.append(f'<a href="{e(colab)}">open in Colab</a>')
    table = "".join(f"<tr><td><code>{e(k)}</code></td><td><code>{e(v)}</code></td><td>{e(w)}</td></tr>"
                    for k, v, w in rows)
    parts = [
        '<div class="gsam-run-info">',
        f"<p><strong>This run:</strong> {status} in {took}, profile <code>{e(item.profile or 'unknown')}</code>. "
        + " · ".join(links) + "</p>",
    ]
    if item.error:
        parts.append(f'<p class="gsam-run-error">It stopped: {e(item.error)}</p>')
    if rows:
        parts.append(f"<details><summary>The parameters it ran with ({len(rows)})</summary>"
                     '<div class="gsam-scroll"><table class="gsam-params"><thead><tr><th>parameter</th>'
                     f"<th>value</th><th>from</th></tr></thead><tbody>{table}</tbody></table></div></details>")
    parts.append("</div>")
    return "\n".join(parts)


def _title_index(nb) -> int:
    """Index after which the info box goes: the first Markdown cell that starts with a heading (else -1)."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("#"):
            return i
        if cell.cell_type == "code":
            break
    return -1


def _gallery(item: RunNotebook, folder_name: str) -> Tuple[List, List[Path]]:
    """Markdown cells showing the figures the notebook saved, and the image files they need."""
    import nbformat

    files = sorted(item.figures_dir.glob("*.png")) if item.figures_dir else []
    if not files:
        return [], []
    lines = ["## Figures this notebook saved", "",
             "The run kept its figures out of the notebook's outputs (a non-inline matplotlib backend, e.g. "
             "`MPLBACKEND=Agg`), so here they are from its figures folder.", ""]
    lines += [f"![Figure of notebook {short_stem(item.stem)}: {f.stem.replace('_', ' ')}]({folder_name}/{f.name})"
              for f in files]
    return [nbformat.v4.new_markdown_cell("\n".join(lines))], files


def prepare_notebook(nb, item: RunNotebook, defaults: Dict[str, dict], run_folder: Path,
                     colab: bool = True) -> Tuple[object, List[Path]]:
    """The site's copy of executed notebook ``nb`` and the extra image files its page needs.

    ``defaults``: the notebook's parameters cell (``papermill.inspect_notebook``). The page links to
    ``<stem>.ipynb`` beside it for the download, and to the repository's notebook on Colab when ``colab``.
    """
    import nbformat

    nb = copy.deepcopy(nb)
    _replace_widgets(nb)
    _add_alt_texts(nb, item.stem)
    name = item.path.name
    box = info_box(item, parameter_rows(item, defaults, run_folder), name,
                   COLAB_URL.format(name=name) if colab else None)
    at = _title_index(nb)
    if at < 0:                                      # no title: the page needs one
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(f"# {item.title}"))
        at = 0
    nb.cells.insert(at + 1, nbformat.v4.new_markdown_cell(box))
    extra: List[Path] = []
    if not has_figures(nb):
        cells, extra = _gallery(item, f"{item.stem}_figures")
        nb.cells.extend(cells)
    return nb, extra
