"""The site's own pages, as MyST Markdown: the front page, the method readings' index and the API reference.

The words come from the repository where they already exist (the README's introduction, "What the lab
teaches" and notebook table), so the site and the README cannot drift apart.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .runs import Run

__all__ = ["API_MODULES", "readme_parts", "first_paragraph", "front_page", "methods_index", "api_pages"]

#: the modules the API reference documents, in order (each gets a page)
API_MODULES = ("gsam_lab.panorama", "gsam_lab.data", "gsam_lab.metrics", "gsam_lab.sam", "gsam_lab.stable_sam",
               "gsam_lab.goodsam", "gsam_lab.viz", "gsam_lab.widgets", "gsam_lab.report", "gsam_lab.lab",
               "gsam_lab.site")

_LINK = re.compile(r"\[([^\]]+)\]\((?!https?://)([^)]*)\)")
#: repository files whose place a page of the site takes: link -> (the site's page, the link's words)
_SITE_PAGES = {"docs/README.md": ("docs/methods/index.md", "method readings")}


def _plain_links(text: str) -> str:
    """Markdown links to repository files become their text (the site does not hold them), except those
    the site has a page for."""
    def replace(m):
        page = _SITE_PAGES.get(m.group(2))
        return f"[{page[1]}]({page[0]})" if page else m.group(1)

    return _LINK.sub(replace, text)


def _section(text: str, heading: str) -> str:
    m = re.search(rf"^## {re.escape(heading)}\s*\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    return m.group(1).strip() if m else ""


def readme_parts(readme: Optional[Path]) -> Dict[str, object]:
    """``intro`` (the first paragraph), ``teaches`` (the "What the lab teaches" section) and ``table``
    (``stem -> what it teaches``) from the README; empty when there is none."""
    text = readme.read_text(encoding="utf-8") if readme is not None and readme.is_file() else ""
    body = text.split("\n", 1)[1] if text.startswith("# ") else text
    intro = next((p.strip() for p in body.split("\n\n") if p.strip() and not p.lstrip().startswith(("#", "*"))), "")
    table = {}
    for line in _section(text, "Notebooks").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("`"):
            table[cells[0].strip("`")] = cells[1]
    return {"intro": _plain_links(intro), "teaches": _plain_links(_section(text, "What the lab teaches")),
            "table": table}


def first_paragraph(nb) -> str:
    """The notebook's first paragraph of prose (after its title), cut to about 300 characters."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            paragraphs = [p for p in cell.source.split("\n\n") if p.strip() and not p.lstrip().startswith("#")]
            if paragraphs:
                text = " ".join(paragraphs[0].split())
                return text if len(text) <= 300 else text[:297].rsplit(" ", 1)[0] + " ..."
    return ""


def _toctree(caption: str, entries: Sequence[str], hidden: bool = True) -> str:
    options = [f":caption: {caption}", ":maxdepth: 1"] + ([":hidden:"] if hidden else [])
    return "\n".join(["```{toctree}", *options, "", *entries, "```", ""])


def _card(item, summary: str, figure: Optional[str], figure_alt: str) -> List[str]:
    took = f"{item.seconds:.1f} s" if item.seconds is not None else "time not recorded"
    lines = [f"### [{item.title}](notebooks/{item.stem}.ipynb)", ""]
    if summary:
        lines += [_plain_links(summary), ""]
    if figure:
        lines += ["```{image} " + figure, f":alt: {figure_alt}", ":class: gsam-front-figure", "```", ""]
    status = "ran without error" if item.status == "ok" else f"status {item.status}"
    lines += [f"*{status} in {took}, profile `{item.profile or 'unknown'}`*", ""]
    return lines


def front_page(run: Run, parts: Dict[str, object], summaries: Dict[str, str], figures: Dict[str, tuple],
               sections: Sequence[str], built: str) -> str:
    """The front page: what the lab teaches, the notebooks in order with one figure each, the two commands.

    ``figures``: ``stem -> (path relative to the page, alt text)``; ``sections``: the other parts of the
    site that exist (``"report"``, ``"methods"``, ``"api"``); ``built``: the date shown.
    """
    lines = ["# gsam_lab, the lab in a browser", ""]
    lines += [parts.get("intro") or "A Jupyter-first teaching lab for panoramic segmentation with the "
              "Segment Anything Model.", ""]
    lines += [f"This site shows one run of the lab, read as it ran: the folder `{run.folder.name}`, profile "
              f"`{run.profile}`, {len(run.notebooks)} notebooks in {run.seconds:.0f} s, built on {built}. "
              "Nothing was executed again to build it; the widgets need a running kernel, so their pages show "
              "screenshots.", ""]
    if parts.get("teaches"):
        lines += ["## What the lab teaches", "", str(parts["teaches"]), ""]
    lines += ["## The notebooks, in order", ""]
    for item in run.notebooks:
        figure, alt = figures.get(item.stem, (None, ""))
        lines += _card(item, summaries.get(item.stem, ""), figure, alt)
    lines += ["## The two commands", "", "Run every notebook headless (quick profile, CPU), then build this site "
              "from that run:", "", "```bash", "gsam-lab run --profile quick", "gsam-lab site", "```", "",
              "`gsam-lab site RUN_DIR --out DIR` builds the site of another run, into another folder; "
              "`gsam-lab run --site` builds it right after the run.", ""]
    more = {"report": "[the results report](report/report.md): the papers' claims beside this run's numbers",
            "methods": "[the method readings](docs/methods/index.md): what the papers say, what they leave "
                       "open, and the reading implemented here",
            "api": "[the API reference](api/index.md), generated from the docstrings"}
    if sections:
        lines += ["## Also here", ""] + [f"- {more[s]}" for s in sections] + [""]
    lines.append(_toctree("Notebooks", [f"notebooks/{nb.stem}" for nb in run.notebooks]))
    entries = {"report": "report/report", "methods": "docs/methods/index", "api": "api/index"}
    if sections:
        lines.append(_toctree("Reference", [entries[s] for s in sections]))
    return "\n".join(lines)


def methods_index(pages: Sequence[Path]) -> str:
    """The index of the method readings: each page's title and first paragraph."""
    lines = ["# Method readings", "", "Neither Stable-SAM nor GoodSAM released code, and the papers leave many "
             "details open. These pages say, component by component, what the paper says, what it leaves out, "
             "the reading implemented here and the function argument that selects another reading.", ""]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        title = next((m.group(1) for m in [re.search(r"^#\s+(.*\S)", text, re.M)] if m), page.stem)
        lines += [f"- [{title}]({page.name})"]
    lines += ["", _toctree("Method readings", [p.stem for p in pages])]
    return "\n".join(lines)


def api_pages(modules: Sequence[str]) -> Dict[str, str]:
    """``file name -> MyST text`` of the API reference: an index and one page per module (autodoc)."""
    pages = {}
    for name in modules:
        pages[f"{name}.md"] = "\n".join([
            f"# `{name}`", "", "```{eval-rst}", f".. automodule:: {name}", "   :members:", "```", ""])
    pages["index.md"] = "\n".join([
        "# API reference", "", "Generated from the docstrings of the installed `gsam_lab`. Each module's own "
        "docstring comes first, with a short example; then its public names.", "",
        *[f"- [`{name}`]({name}.md)" for name in modules], "",
        _toctree("Modules", list(modules))])
    return pages
