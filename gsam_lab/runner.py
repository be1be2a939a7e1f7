"""Run the lab's notebooks headless with papermill and summarise the outcome.

Each notebook is executed in a fresh ``python3`` kernel with its ``parameters`` cell overridden by
``profile``, ``out_dir`` (a sub-folder of the run folder) and any user parameters. Executed copies
go to the run folder with a ``summary.csv``/``summary.json``; the source notebooks are never
written to.

The run folder (:mod:`gsam_lab.run_folder`) records the files the lab wrote in it: a re-run replaces
those and nothing else, a copied or foreign folder is refused, and one run at a time may use a folder.

The summary is rewritten as the run goes (the notebook being executed says ``running``), so a killed
run never leaves an older summary claiming ``ok``; Ctrl-C (or a ``kill`` of ``gsam-lab run``) records
``interrupted`` and marks the cells that did not run.
"""
from __future__ import annotations

import ast
import csv
import io
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from gsam_lab.run_folder import LOCK, MARKER, RunError, RunFolder
from gsam_lab.utils import CACHE_ENV, PROGRESS_ENV, atomic_write_bytes, cache_root

__all__ = ["PROFILES", "MARKER", "LOCK", "RunError", "NotebookResult", "find_notebooks_dir", "resolve_notebooks",
           "notebook_parameters", "parameter_type", "check_params", "run_notebooks"]

PROFILES = ("quick", "full")
KERNEL = "python3"
#: the kernel logs only what is critical: a timeout, Ctrl-C or a kill shuts it down in the middle of a cell,
#: and it would print a traceback of its closed sockets above the run's own one-line message
KERNEL_ARGS = ["--IPKernelApp.log_level=CRITICAL"]


@dataclass
class NotebookResult:
    notebook: str
    status: str          # "ok" | "failed" | "interrupted" | "running" (only in the summary of a run in progress)
    seconds: float
    output: str
    error: str = ""
    profile: str = ""    # the profile the notebook ran with


def find_notebooks_dir(notebooks_dir: Union[str, Path, None] = None) -> Path:
    """The folder holding the lab notebooks: the one given, ``./notebooks``, or the repository's."""
    candidates = [Path(notebooks_dir)] if notebooks_dir else [
        Path.cwd() / "notebooks", Path(__file__).resolve().parent.parent / "notebooks"]
    for c in candidates:
        if c.is_dir() and any(c.glob("*.ipynb")):
            return c.resolve()
    raise RunError("no notebooks found in " + " or ".join(str(c) for c in candidates)
                   + "; run from the repository root or pass --notebooks-dir")


def resolve_notebooks(names: Sequence[str], notebooks_dir: Path) -> List[Path]:
    """Names like ``01``, ``01_panorama_distortion`` or paths -> notebook paths (sorted if none given)."""
    available = sorted(p for p in notebooks_dir.glob("*.ipynb") if not p.name.startswith("."))
    if not names:
        return available
    out = []
    for name in names:
        p = Path(name)
        if p.suffix == ".ipynb" and p.is_file():
            out.append(p.resolve())
            continue
        stem = p.stem if p.suffix == ".ipynb" else name
        hits = [a for a in available if a.stem == stem] or [a for a in available if a.stem.startswith(stem)]
        if len(hits) != 1:
            listing = ", ".join(a.stem for a in available)
            why = "matches several" if hits else "matches no notebook"
            raise RunError(f"{name!r} {why}; expected one of: {listing}")
        out.append(hits[0])
    return out


# ----------------------------------------------------------------------------------------------
# parameters: known keys and their types, as papermill reads the parameters cell
# ----------------------------------------------------------------------------------------------

def notebook_parameters(notebook: Path) -> Dict[str, dict]:
    """``name -> {"inferred_type_name", "default", "help"}`` of ``notebook``'s ``parameters`` cell
    (``papermill.inspect_notebook``; a parameter without annotation has type ``"None"``)."""
    import papermill as pm

    try:
        found = pm.inspect_notebook(str(notebook))
    except Exception as e:  # noqa: BLE001 - JSON, nbformat and OS errors vary: one line naming the notebook
        raise RunError(f"notebook {notebook} cannot be read as a Jupyter notebook (.ipynb JSON): {type(e).__name__}: "
                       f"{_first_line(e)}") from None
    return {k: dict(v) for k, v in found.items()}


def parameter_type(spec: dict) -> Optional[str]:
    """The parameter's type: its annotation, else the type of its default (None: unknown, anything goes)."""
    if spec.get("inferred_type_name", "None") != "None":
        return spec["inferred_type_name"]
    try:
        default = ast.literal_eval(spec.get("default", "None"))
    except (ValueError, SyntaxError):
        return None
    if default is None:
        return None
    return "tuple" if isinstance(default, (tuple, list)) else type(default).__name__


def _split_args(text: str) -> List[str]:
    """``"int,Tuple[int,int]"`` -> ``["int", "Tuple[int,int]"]`` (commas at bracket depth 0)."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            parts, cur = parts + [cur], ""
        else:
            cur += ch
    return parts + [cur]


def _matches(value, type_text: str) -> bool:
    """Whether a ``-p`` value fits a type such as ``int``, ``Optional[str]`` or ``Optional[Tuple[int, int]]``.

    Types this does not know are accepted (the notebook has the last word).
    """
    t = type_text.replace(" ", "")
    if t.startswith("Optional[") and t.endswith("]"):
        return value is None or _matches(value, t[len("Optional["):-1])
    head, _, inner = t.partition("[")
    if head.lower() in ("tuple", "list", "sequence"):
        if not isinstance(value, (tuple, list)):
            return False
        args = _split_args(inner[:-1]) if inner else []
        if head.lower() != "tuple" or not args or args[-1] == "...":     # any length: List[int], Tuple[int, ...]
            return all(_matches(v, args[0]) for v in value) if args else True
        return len(args) == len(value) and all(_matches(v, a) for v, a in zip(value, args))
    if t in ("int", "float") and isinstance(value, bool):
        return False
    simple = {"str": str, "int": int, "float": (int, float), "bool": bool, "dict": dict}
    return isinstance(value, simple[t]) if t in simple else True


def _short(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters (a 5000-digit value is not echoed in full)."""
    return text if len(text) <= limit else f"{text[:limit - 20]}... ({len(text)} characters)"


def check_params(params: dict, notebooks: Sequence[Path]) -> Dict[Path, dict]:
    """The user's ``-p`` parameters each notebook defines, checked against its ``parameters`` cell.

    A key is passed to the notebooks whose parameters cell defines it (so ``-p sam_checkpoint=...``
    skips notebook 01, which has no SAM).

    Raises:
        RunError: a key that none of ``notebooks`` defines (naming the key and the notebooks, listing
            the valid keys), or a value whose type does not fit the parameter's (its annotation, else
            the type of its default).
    """
    defined = {nb: notebook_parameters(nb) for nb in notebooks}
    for key in params:
        if not any(key in d for d in defined.values()):
            which = (f"notebook {notebooks[0].stem}" if len(notebooks) == 1
                     else "any of the notebooks " + ", ".join(nb.stem for nb in notebooks))
            valid = sorted(set().union(*defined.values()))
            raise RunError(f"-p {key}: not a parameter of {which}; valid keys: {', '.join(valid)}")
    for nb, specs in defined.items():
        for key, value in params.items():
            want = parameter_type(specs[key]) if key in specs else None
            if want is not None and not _matches(value, want):
                shown = _short(repr(value))
                got = (f"the text {shown}, which is not a Python literal of that type" if isinstance(value, str)
                       else f"{shown} ({type(value).__name__})")
                raise RunError(f"-p {key}: notebook {nb.stem} expects {want} (default {specs[key]['default']}), "
                               f"got {got}")
    return {nb: {k: v for k, v in params.items() if k in specs} for nb, specs in defined.items()}


def _for_papermill(value):
    """Tuples become lists: papermill writes a tuple into the notebook as a string, a list as a list."""
    if isinstance(value, (tuple, list)):
        return [_for_papermill(v) for v in value]
    if isinstance(value, dict):
        return {k: _for_papermill(v) for k, v in value.items()}
    return value


# ----------------------------------------------------------------------------------------------
# the output folder
# ----------------------------------------------------------------------------------------------

def _default_out_dir() -> Path:
    return Path("runs") / time.strftime("%Y%m%d-%H%M%S")


def _notebook_out_dir(out: Path, nb: Path, given) -> Path:
    """Where the notebook writes its figures: ``out/<notebook>``, or the user's ``out_dir``
    (relative: under ``out``)."""
    if given is None:
        return (out / nb.stem).resolve()
    path = Path(str(given)).expanduser()
    if path.is_absolute():
        return path
    inside = (out / path).resolve()
    if inside != out.resolve() and out.resolve() not in inside.parents:
        raise RunError(f"-p out_dir={given}: a relative out_dir is taken inside the run folder {out} and may not "
                       "leave it; give an absolute path to write elsewhere")
    return inside


# ----------------------------------------------------------------------------------------------
# failures, interruptions and the summary
# ----------------------------------------------------------------------------------------------

def _first_line(text) -> str:
    return (str(text).strip().splitlines() or [""])[0]


def _mark_stopped(copy: Path, why: str) -> str:
    """Make the executed copy say where execution stopped, and describe that cell.

    papermill marks every cell ``completed`` when execution ends early; here the cell that was running
    is ``failed``, the cells after it ``pending``, and a banner at the top says ``why``.
    """
    import nbformat

    try:
        nb = nbformat.read(str(copy), as_version=4)
    except Exception:  # noqa: BLE001 - no copy was written (e.g. stopped before the first cell)
        return f"before execution: {why}"
    started = [i for i, c in enumerate(nb.cells) if c.get("metadata", {}).get("papermill", {}).get("start_time")]
    if not started:
        return f"before execution: {why}"
    stop = started[-1]
    for i, cell in enumerate(nb.cells):
        pm_meta = cell.setdefault("metadata", {}).setdefault("papermill", {})
        if i == stop:
            pm_meta.update(status="failed", exception=True)
        elif i > stop:
            pm_meta.update(status="pending", start_time=None, end_time=None, duration=None)
    nb.metadata.setdefault("papermill", {})["exception"] = True
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(
        f'<span style="color:red; font-size:1.2em">**gsam-lab run: {why} in cell {stop + 1}; '
        "the cells after it did not run.**</span>"))
    atomic_write_bytes(copy, nbformat.writes(nb).encode())
    cell = nb.cells[stop + 1]
    count = cell.get("execution_count")
    first = _first_line(cell.get("source", ""))[:60]
    return (f"cell {stop + 1} of the executed copy" + (f" (In [{count}])" if count is not None else "")
            + (f" | {first}" if first else "") + f": {why}")


def _describe_failure(exc: Exception, copy: Path, timeout: Optional[float]) -> str:
    cell = getattr(exc, "cell_index", None)
    if cell is None:                                # not a cell's own error: a timeout, a dead kernel ...
        if isinstance(exc, TimeoutError) and timeout:
            limit = math.ceil(timeout)              # nbclient counts whole seconds
            why = f"timed out after {limit} s (--timeout" + (
                ")" if limit == timeout else f" {timeout:g}, rounded up to whole seconds)")
        elif isinstance(exc, TimeoutError):
            why = "timed out"
        else:
            why = f"{type(exc).__name__}: {_first_line(exc)}"
        return _mark_stopped(copy, why)
    count = getattr(exc, "exec_count", None)
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    where = f"cell {cell} of the executed copy"
    if count is not None:
        where += f" (In [{count}])"
    source = (getattr(exc, "source", "") or "").strip().splitlines()
    first = f" | {source[0][:60]}" if source else ""
    return f"{where}{first}: {ename}: {_first_line(evalue)}".strip()


class _SaidByTheRun(logging.Filter):
    """Drops papermill's "Timeout waiting for execute reply" line: the run's summary line says it, naming the cell."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Timeout waiting for execute reply")


def _restore_env(name: str, value: Optional[str]) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _write_summary(out: Path, results: List[NotebookResult]) -> None:
    """``summary.json`` and ``summary.csv``, each written atomically (a kill never leaves half a summary)."""
    rows = [asdict(r) for r in results]
    atomic_write_bytes(out / "summary.json", json.dumps(rows, indent=2).encode())
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(asdict(NotebookResult("", "", 0.0, ""))))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(out / "summary.csv", text.getvalue().encode())


def _print_summary(results: List[NotebookResult]) -> None:
    width = max([len(r.notebook) for r in results] + [8])
    print(f"\n{'notebook':<{width}}  status       seconds")
    for r in results:
        print(f"{r.notebook:<{width}}  {r.status:<11}  {r.seconds:7.1f}")
    print(f"{'total':<{width}}               {sum(r.seconds for r in results):7.1f}")


# ----------------------------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------------------------

def run_notebooks(names: Sequence[str] = (), profile: str = "quick", params: Optional[dict] = None,
                  out_dir: Union[str, Path, None] = None, notebooks_dir: Union[str, Path, None] = None,
                  timeout: Optional[float] = None, fail_fast: bool = False, progress: bool = True
                  ) -> List[NotebookResult]:
    """Execute notebooks and write executed copies and a summary under ``out_dir``.

    ``params`` are checked against each notebook's parameters cell (:func:`check_params`); a relative
    ``out_dir`` parameter is taken inside the run folder. Before a notebook runs again, its executed copy
    and the files of its figures folder inside the run folder are deleted; each must be one the lab wrote
    (see the module doc). ``timeout``: seconds per cell (rounded up).

    Returns one :class:`NotebookResult` per notebook; raises :class:`RunError` before running
    anything when a name, the profile, a parameter or the output folder is wrong (or another run holds
    it). On Ctrl-C the summary records the notebook as ``interrupted`` and ``KeyboardInterrupt`` propagates.
    """
    import papermill as pm

    if profile not in PROFILES:
        raise RunError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0 and math.isfinite(timeout)):
        raise RunError(f"the timeout must be a number of seconds > 0 (or None for no limit), got {timeout!r}")
    nb_dir = find_notebooks_dir(notebooks_dir)
    notebooks = resolve_notebooks(names, nb_dir)
    per_notebook = check_params(dict(params or {}), notebooks)
    if (params or {}).get("profile", profile) != profile:
        raise RunError(f"-p profile={params['profile']} contradicts --profile {profile}; "
                       "choose the profile with --profile alone")
    out = (Path(out_dir).expanduser() if out_dir else _default_out_dir()).resolve()
    figures_of = {nb: _notebook_out_dir(out, nb, per_notebook[nb].get("out_dir")) for nb in notebooks}
    replaced = {nb: [out / nb.name] + ([figures_of[nb]] if out in figures_of[nb].parents else [])
                for nb in notebooks}      # what each notebook's run replaces inside the run folder
    RunFolder.check(out, notebooks)
    with RunFolder(out) as folder:
        for nb in notebooks:                        # every file to be replaced is the lab's, before anything runs
            folder.check_replaceable(replaced[nb])
        folder.save()
        quiet = _SaidByTheRun()
        logging.getLogger("papermill").addFilter(quiet)
        try:
            return _run(pm, notebooks, folder, replaced, profile, per_notebook, figures_of, timeout, fail_fast,
                        progress)
        finally:
            logging.getLogger("papermill").removeFilter(quiet)


def _run(pm, notebooks, folder: RunFolder, replaced, profile, per_notebook, figures_of, timeout, fail_fast,
         progress):
    out = folder.out
    results: List[NotebookResult] = []
    cleared = set()
    progress_before, cache_before = os.environ.get(PROGRESS_ENV), os.environ.get(CACHE_ENV)
    backend_before = os.environ.get("MPLBACKEND")
    for nb in notebooks:
        target, figures = out / nb.name, figures_of[nb]
        paths = [p for p in replaced[nb] if p not in cleared]
        folder.clear(paths)     # an earlier run's copy must not pass for this one's, nor its figures stand beside
        cleared.update(paths)
        folder.start(replaced[nb])
        parameters = _for_papermill({"profile": profile, **per_notebook[nb], "out_dir": str(figures)})
        print(f"[gsam-lab] {nb.stem}  profile={profile}", flush=True)
        _write_summary(out, results + [NotebookResult(nb.stem, "running", 0.0, str(target), profile=profile)])
        t0 = time.perf_counter()
        try:
            os.environ[PROGRESS_ENV] = "0"          # the kernel inherits it: no bar widgets in the saved copy
            os.environ.pop("MPLBACKEND", None)      # e.g. Agg in CI: the kernel's inline backend keeps the figures
            if (cache_before or "").strip():         # the kernel starts in the notebooks' folder: an absolute cache
                os.environ[CACHE_ENV] = str(cache_root())
            else:
                os.environ.pop(CACHE_ENV, None)     # empty means unset
            pm.execute_notebook(str(nb), str(target), parameters=parameters, kernel_name=KERNEL,
                                cwd=str(nb.parent), progress_bar=progress, extra_arguments=KERNEL_ARGS,
                                execution_timeout=math.ceil(timeout) if timeout else None, report_mode=False)
            res = NotebookResult(nb.stem, "ok", time.perf_counter() - t0, str(target), profile=profile)
        except KeyboardInterrupt:
            where = _mark_stopped(target, "interrupted (Ctrl-C or a kill)")
            results.append(NotebookResult(nb.stem, "interrupted", time.perf_counter() - t0, str(target), where,
                                          profile))
            _write_summary(out, results)
            print(f"[gsam-lab] {nb.stem}: interrupted ({where}); summary in {out / 'summary.csv'}", flush=True)
            raise
        except Exception as exc:  # papermill raises PapermillExecutionError for a failing cell
            res = NotebookResult(nb.stem, "failed", time.perf_counter() - t0, str(target),
                                 _describe_failure(exc, target, timeout), profile)
        finally:
            _restore_env(PROGRESS_ENV, progress_before)
            _restore_env(CACHE_ENV, cache_before)
            _restore_env("MPLBACKEND", backend_before)
            folder.finish(replaced[nb])
        results.append(res)
        _write_summary(out, results)
        print(f"[gsam-lab] {res.notebook}: {res.status} in {res.seconds:.1f} s" +
              (f"  ({res.error})" if res.error else ""), flush=True)
        if fail_fast and res.status != "ok":
            break
    _print_summary(results)
    return results
