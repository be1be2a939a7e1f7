"""Lay out the site's sources in a folder for Sphinx: pages, prepared notebooks, method readings, the report.

::

    src/index.md                       the front page
    src/notebooks/<stem>.ipynb          the executed notebooks, prepared (gsam_lab.site.notebooks)
    src/docs/methods/*.md, docs/img/    the method readings and the images the notebooks link (../docs/img/)
    src/report/report.md                the run's results report and its figures
    src/api/*.md                        the API reference (autodoc)
    extra/notebooks/<stem>.ipynb        the executed notebooks as the run wrote them, for download
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .notebooks import first_figure, prepare_notebook, short_stem
from .pages import api_pages, first_paragraph, front_page, methods_index, readme_parts
from .runs import Run

__all__ = ["repo_root", "stage"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".gif")


def repo_root() -> Optional[Path]:
    """The repository holding ``docs/methods`` (the installed package's, else the working folder), or None."""
    for candidate in (Path(__file__).resolve().parents[2], Path.cwd()):
        if (candidate / "docs" / "methods").is_dir():
            return candidate
    return None


def _defaults(path: Path) -> Dict[str, dict]:
    """The notebook's ``parameters`` cell (papermill reads it); empty when there is none."""
    import papermill as pm

    try:
        return {k: dict(v) for k, v in pm.inspect_notebook(str(path)).items()}
    except Exception:  # noqa: BLE001 - a notebook without a readable parameters cell simply shows none
        return {}


def _notebooks(run: Run, src: Path, extra: Path, table: Dict[str, str], log):
    """Write the prepared notebooks and their downloads; return the front page's ``stem -> (figure, alt)``
    and ``stem -> summary`` (the README's line, else the notebook's first paragraph)."""
    import nbformat

    (src / "notebooks").mkdir(parents=True)
    (extra / "notebooks").mkdir(parents=True)
    (src / "_front").mkdir()
    figures, summaries = {}, {}
    for item in run.notebooks:
        log(f"preparing {item.stem}")
        nb = nbformat.read(str(item.path), as_version=4)
        summaries[item.stem] = table.get(item.stem) or first_paragraph(nb)
        page, files = prepare_notebook(nb, item, _defaults(item.path), run.folder)
        nbformat.write(page, str(src / "notebooks" / item.path.name))
        shutil.copy2(item.path, extra / "notebooks" / item.path.name)
        if files:
            gallery = src / "notebooks" / f"{item.stem}_figures"
            gallery.mkdir()
            for f in files:
                shutil.copy2(f, gallery / f.name)
        found = first_figure(nb, item.stem)
        if found is not None:
            data, suffix, alt = found
            (src / "_front" / f"{item.stem}{suffix}").write_bytes(data)
            figures[item.stem] = (f"_front/{item.stem}{suffix}", alt)
        elif files:
            shutil.copy2(files[0], src / "_front" / files[0].name)
            figures[item.stem] = (f"_front/{files[0].name}",
                                  f"Figure of notebook {short_stem(item.stem)}: {files[0].stem.replace('_', ' ')}")
    return figures, summaries


def _report(run: Run, src: Path, extra: Path) -> bool:
    """Copy the run's report (Markdown and its images; the one-file HTML for download)."""
    if run.report is None:
        return False
    folder = run.report.parent
    (src / "report").mkdir()
    shutil.copy2(run.report, src / "report" / "report.md")
    for f in folder.rglob("*"):
        if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file():
            target = src / "report" / f.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)
    if (folder / "report.html").is_file():
        (extra / "report").mkdir(parents=True)
        shutil.copy2(folder / "report.html", extra / "report" / "report.html")
        with open(src / "report" / "report.md", "a", encoding="utf-8") as fh:
            fh.write("\n\n---\n\nThe same report as one HTML file with its images inside: "
                     '<a href="report.html" download>report.html</a>.\n')
    return True


def _methods(root: Optional[Path], src: Path) -> bool:
    """Copy ``docs/methods/*.md`` and ``docs/img`` and write the readings' index."""
    if root is None:
        return False
    if (root / "docs" / "img").is_dir():
        shutil.copytree(root / "docs" / "img", src / "docs" / "img")
    readings = sorted((root / "docs" / "methods").glob("*.md"))
    if not readings:
        return False
    (src / "docs" / "methods").mkdir(parents=True)
    for page in readings:
        shutil.copy2(page, src / "docs" / "methods" / page.name)
    (src / "docs" / "methods" / "index.md").write_text(methods_index(readings), encoding="utf-8")
    return True


def stage(run: Run, src: Path, extra: Path, root: Optional[Path], api_modules: Sequence[str], built: str,
          log=print) -> List[str]:
    """Write the site's sources into ``src`` (and the downloads into ``extra``); return the pages' sections."""
    src.mkdir(parents=True)
    extra.mkdir(parents=True)
    parts = readme_parts(root / "README.md" if root is not None else None)
    figures, summaries = _notebooks(run, src, extra, parts["table"], log)
    sections = []
    if _report(run, src, extra):
        sections.append("report")
    if _methods(root, src):
        sections.append("methods")
    if api_modules:
        (src / "api").mkdir()
        for name, text in api_pages(api_modules).items():
            (src / "api" / name).write_text(text, encoding="utf-8")
        sections.append("api")
    (src / "index.md").write_text(front_page(run, parts, summaries, figures, sections, built),
                                  encoding="utf-8")
    return sections
