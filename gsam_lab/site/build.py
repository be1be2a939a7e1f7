"""Build the static site of a run with Sphinx, into a folder this command owns.

The output folder holds a marker file (:data:`MARKER`). A later build replaces a folder that has it, and
refuses any other non-empty folder, so a user's files are never overwritten. The new site is built beside
the old one and swapped in at the end: a failed build leaves the previous site as it was.
"""
from __future__ import annotations

import datetime
import io
import os
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

from .config import STATIC, mathjax_file, sphinx_config
from .pages import API_MODULES
from .runs import SiteError, find_run, read_run
from .stage import repo_root, stage

__all__ = ["MARKER", "SiteResult", "require_extra", "check_out", "build_site"]

#: the file that says "this folder was built by gsam-lab site"
MARKER = ".gsam-lab-site"
#: the Sphinx warnings of the last build, kept beside the marker
WARNINGS_LOG = ".gsam-lab-site-warnings.log"
_EXTRA_MODULES = ("sphinx", "myst_nb", "sphinx_book_theme")


@dataclass
class SiteResult:
    """What a build made: the folder, its ``index.html``, the build time, the size and the page count."""

    out: Path
    index: Path
    seconds: float
    bytes: int
    pages: int
    warnings: int


def require_extra() -> Path:
    """Check that the ``site`` extra is installed; return MathJax's file.

    Raises:
        SiteError: naming the missing package and the install command.
    """
    import importlib

    missing = []
    for name in _EXTRA_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    mathjax = mathjax_file()
    if mathjax is None:
        missing.append("django-static-mathjax")
    if missing:
        raise SiteError(f"building the site needs the site extra (missing: {', '.join(missing)}): "
                        'pip install -e ".[site]"')
    return mathjax


def check_out(out: Path, run_folder: Path) -> None:
    """Refuse an ``out`` that is a file, holds the run folder, or is a non-empty folder this command did not build.

    Raises:
        SiteError: saying which, and to choose a new or empty folder.
    """
    out, run_folder = out.resolve(), run_folder.resolve()
    if out.exists() and not out.is_dir():
        raise SiteError(f"--out {out} is a file, not a folder; choose a new or empty folder")
    if out == run_folder or out in run_folder.parents:
        raise SiteError(f"--out {out} holds the run folder {run_folder}; choose a folder for the site alone "
                        "(the default is RUN_DIR/site)")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise SiteError(f"--out {out} is not empty and was not built by gsam-lab site (no {MARKER} in it); "
                        "refusing to overwrite its files: choose a new or empty folder")


class _Status(io.TextIOBase):
    """Sphinx's progress lines on stdout, less the one naming the temporary folder it builds into."""

    def write(self, text: str) -> int:
        if "The HTML pages are in" not in text:
            sys.stdout.write(text)
        return len(text)

    def flush(self) -> None:
        sys.stdout.flush()


def _unlink_problems(app, doctree, docname) -> None:
    """A docstring Sphinx cannot parse stays as its text, without a link to the (hidden) error message;
    the warning stays in the log."""
    from docutils import nodes

    for node in list(doctree.findall(nodes.problematic)):
        node.replace_self(nodes.inline(node.astext(), node.astext(), ids=node["ids"]))


def _sphinx(src: Path, outdir: Path, doctrees: Path, config: dict, progress: bool) -> str:
    """Run Sphinx's HTML builder; return its warnings (raise SiteError when the build fails)."""
    from sphinx.application import Sphinx
    from sphinx.errors import SphinxError
    from sphinx.util import console
    from sphinx.util.docutils import docutils_namespace, patch_docutils

    if not sys.stdout.isatty():
        console.nocolor()
    messages = io.StringIO()
    try:
        with patch_docutils(None), docutils_namespace(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)     # the extensions' notes to their own authors
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            app = Sphinx(str(src), None, str(outdir), str(doctrees), "html", confoverrides=config,
                         status=_Status() if progress else None, warning=messages, freshenv=True,
                         verbosity=0)
            app.connect("doctree-resolved", _unlink_problems)
            app.build()
    except SphinxError as e:
        raise SiteError(f"Sphinx could not build the site: {e}") from None
    if app.statuscode:
        raise SiteError(f"Sphinx could not build the site (status {app.statuscode}):\n{messages.getvalue()[-2000:]}")
    return messages.getvalue()


def _swap(new: Path, out: Path) -> None:
    """Put the freshly built ``new`` at ``out``, removing the previous site there (only a marked one)."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    new.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def build_site(run_dir: Union[str, Path, None] = None, out: Union[str, Path, None] = None,
               runs_root: Union[str, Path] = "runs", api_modules: Sequence[str] = API_MODULES,
               repo: Union[str, Path, None] = "auto", progress: bool = True) -> SiteResult:
    """Build the static HTML site of a run's executed notebooks; nothing is executed again.

    ``run_dir``: a ``gsam-lab run`` folder (default: the latest under ``runs_root``); ``out``: where the site
    goes (default ``RUN_DIR/site``); ``api_modules``: the modules of the API reference (empty: none);
    ``repo``: the repository whose README and ``docs/methods`` the site shows (``"auto"``: the installed
    package's, else the working folder's; None: neither). ``progress`` prints each step and Sphinx's own.

    Raises:
        SiteError: no run folder, a folder without notebooks, the site extra missing, an unsafe ``out``, or a
            failed Sphinx build (the previous site at ``out`` then stays as it was).
    """
    t0 = time.perf_counter()
    log = (lambda text: print(f"[gsam-lab site] {text}", flush=True)) if progress else (lambda text: None)
    mathjax = require_extra()
    run = read_run(find_run(run_dir, runs_root))
    target = (Path(out).expanduser() if out is not None else run.folder / "site").resolve()
    check_out(target, run.folder)
    root = repo_root() if repo == "auto" else (Path(repo) if repo is not None else None)
    log(f"run folder {run.folder} ({len(run.notebooks)} notebooks, profile {run.profile}) -> {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gsam-lab-site-") as tmp:
        tmp = Path(tmp)
        today = datetime.date.today().isoformat()
        stage(run, tmp / "src", tmp / "extra", root, api_modules, today, log)
        (tmp / "static" / "mathjax").mkdir(parents=True)
        shutil.copy2(mathjax, tmp / "static" / "mathjax" / mathjax.name)
        config = sphinx_config([str(STATIC), str(tmp / "static")], [str(tmp / "extra")], "gsam_lab")
        log("building the HTML pages with Sphinx")
        building = target.with_name(f".{target.name}.building-{os.getpid()}")
        shutil.rmtree(building, ignore_errors=True)
        try:
            log_text = _sphinx(tmp / "src", building, tmp / "doctrees", config, progress)
            (building / MARKER).write_text(f"Built by `gsam-lab site` from {run.folder} on {today}. A later "
                                           "`gsam-lab site` may replace this whole folder.\n", encoding="utf-8")
            (building / WARNINGS_LOG).write_text(log_text, encoding="utf-8")
            for source_map in building.joinpath("_static").rglob("*.map"):     # only a debugger reads them
                source_map.unlink()
            _swap(building, target)
        finally:
            shutil.rmtree(building, ignore_errors=True)
    n_warnings = sum(1 for line in log_text.splitlines() if "WARNING" in line)
    result = SiteResult(out=target, index=target / "index.html", seconds=time.perf_counter() - t0,
                        bytes=_size(target), pages=sum(1 for _ in target.rglob("*.html")), warnings=n_warnings)
    log(f"{result.pages} pages, {result.bytes / 1e6:.1f} MB, {result.seconds:.0f} s"
        + (f", {n_warnings} Sphinx warnings in {target / WARNINGS_LOG}" if n_warnings else ""))
    log(f"open {result.index} in a browser, or serve it: python -m http.server -b 127.0.0.1 -d {target} 8000")
    return result
