"""Read a ``gsam-lab run`` folder: its executed notebooks, their status, run time, profile and parameters.

Nothing here executes a notebook; it only reads what a run left behind (the executed ``.ipynb`` copies,
``summary.json`` and the figures folders).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Union

__all__ = ["SiteError", "RunNotebook", "Run", "find_run", "read_run"]


class SiteError(Exception):
    """The site cannot be built: no run folder, a folder without notebooks, a missing extra, an unsafe ``--out``."""


@dataclass
class RunNotebook:
    """One executed notebook of a run, as the site shows it."""

    path: Path                      # the executed copy, ``<run>/<stem>.ipynb``
    stem: str                       # ``02_sam_prompt_stability``
    title: str                      # the notebook's first heading
    status: str = "unknown"         # "ok" | "failed" | "interrupted" | "running" | "unknown" (no summary row)
    seconds: Optional[float] = None
    profile: str = ""
    error: str = ""
    injected: Dict[str, object] = field(default_factory=dict)   # parameters the run set (papermill metadata)
    figures_dir: Optional[Path] = None                          # where the notebook saved its figures


@dataclass
class Run:
    """A run folder and its notebooks, in order."""

    folder: Path
    notebooks: List[RunNotebook]
    report: Optional[Path] = None   # the results report (``report.md``) a notebook wrote, if any

    @property
    def profile(self) -> str:
        """The profile the notebooks ran with (``"quick"``, ``"full"``, or several joined by ``/``)."""
        return "/".join(sorted({nb.profile for nb in self.notebooks if nb.profile})) or "unknown"

    @property
    def seconds(self) -> float:
        """The notebooks' run times added up."""
        return sum(nb.seconds or 0.0 for nb in self.notebooks)


def _is_run(folder: Path) -> bool:
    return folder.is_dir() and any(p.suffix == ".ipynb" for p in folder.iterdir())


def find_run(run_dir: Union[str, Path, None] = None, runs_root: Union[str, Path] = "runs") -> Path:
    """The run folder to build a site from: ``run_dir`` itself, or the latest run under ``runs_root``.

    "Latest" is the folder whose summary (or, without one, whose newest notebook) was written last.

    Raises:
        SiteError: ``run_dir`` is missing or holds no executed notebooks, or ``runs_root`` holds no run.
    """
    if run_dir is not None:
        folder = Path(run_dir).expanduser()
        if not folder.is_dir():
            raise SiteError(f"run folder {folder} does not exist; expected the --out folder of a `gsam-lab run`")
        if not _is_run(folder):
            raise SiteError(f"{folder} holds no executed notebooks (*.ipynb); expected the --out folder of a "
                            "`gsam-lab run` (e.g. runs/20261206-101500)")
        return folder.resolve()
    root = Path(runs_root).expanduser()
    runs = [p for p in root.iterdir() if _is_run(p)] if root.is_dir() else []
    if not runs:
        raise SiteError(f"no run folder found under {root.resolve()} (a folder with the executed notebooks of "
                        "`gsam-lab run`); run `gsam-lab run --profile quick` first, or name the folder: "
                        "`gsam-lab site RUN_DIR`")

    def written(p: Path) -> float:
        summary = p / "summary.json"
        return summary.stat().st_mtime if summary.is_file() else max(n.stat().st_mtime for n in p.glob("*.ipynb"))

    return max(runs, key=written).resolve()


def _summary(folder: Path) -> Dict[str, dict]:
    """``stem -> row`` of the run's ``summary.json`` (empty when it is missing or unreadable)."""
    try:
        rows = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
    return {r["notebook"]: r for r in rows if isinstance(r, dict) and "notebook" in r} if isinstance(rows, list) \
        else {}


def notebook_title(nb, default: str) -> str:
    """The text of the notebook's first Markdown heading (``default`` when it has none)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                m = re.match(r"#+\s+(.*\S)", line)
                if m:
                    return m.group(1).strip()
    return default


def _figures_dir(folder: Path, stem: str, injected: dict) -> Optional[Path]:
    given = injected.get("out_dir")
    for candidate in ([Path(str(given))] if given else []) + [folder / stem]:
        if candidate.is_dir():
            return candidate
    return None


def read_run(folder: Union[str, Path]) -> Run:
    """Read the executed notebooks of a run folder (sorted by name) with what ``summary.json`` says of each.

    Raises:
        SiteError: the folder holds no notebooks, or a notebook is not a readable ``.ipynb``.
    """
    import nbformat

    folder = Path(folder)
    summary = _summary(folder)
    notebooks = []
    for path in sorted(folder.glob("*.ipynb")):
        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception as e:  # noqa: BLE001 - JSON, nbformat and OS errors vary: one line naming the file
            raise SiteError(f"{path} is not a readable Jupyter notebook: {type(e).__name__}: {e}") from None
        meta = nb.metadata.get("papermill", {})
        injected = dict(meta.get("parameters") or {})
        row = summary.get(path.stem, {})
        seconds = row.get("seconds", meta.get("duration"))
        notebooks.append(RunNotebook(
            path=path, stem=path.stem, title=notebook_title(nb, path.stem), status=row.get("status", "unknown"),
            seconds=float(seconds) if isinstance(seconds, (int, float)) else None,
            profile=str(row.get("profile") or injected.get("profile") or ""), error=row.get("error", ""),
            injected=injected, figures_dir=_figures_dir(folder, path.stem, injected)))
    if not notebooks:
        raise SiteError(f"{folder} holds no executed notebooks (*.ipynb)")
    return Run(folder=folder, notebooks=notebooks, report=_find_report(notebooks))


def _find_report(notebooks: List[RunNotebook]) -> Optional[Path]:
    """The ``report.md`` a notebook wrote into its figures folder (the report notebook's first)."""
    ordered = sorted(notebooks, key=lambda nb: "report" not in nb.stem)
    for nb in ordered:
        if nb.figures_dir is not None and (nb.figures_dir / "report.md").is_file():
            return nb.figures_dir / "report.md"
    return None
