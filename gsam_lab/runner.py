"""Run the lab's notebooks headless with papermill and summarise the outcome.

Each notebook is executed in a fresh ``python3`` kernel with its ``parameters`` cell overridden by
``profile``, ``out_dir`` (a sub-folder of the run folder) and any user parameters. Executed copies
go to the run folder with a ``summary.csv``/``summary.json``; the source notebooks are never
written to.
"""
from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Union

__all__ = ["PROFILES", "RunError", "NotebookResult", "find_notebooks_dir", "resolve_notebooks", "run_notebooks"]

PROFILES = ("quick", "full")
KERNEL = "python3"


class RunError(Exception):
    """A run that cannot start: unknown notebook or profile, unsafe output folder."""


@dataclass
class NotebookResult:
    notebook: str
    status: str          # "ok" | "failed"
    seconds: float
    output: str
    error: str = ""


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


def _default_out_dir() -> Path:
    return Path("runs") / time.strftime("%Y%m%d-%H%M%S")


def _check_out_dir(out_dir: Path, notebooks: Iterable[Path]) -> None:
    sources = {nb.resolve() for nb in notebooks}
    if any(out_dir.resolve() == nb.parent for nb in sources):
        raise RunError(f"--out {out_dir} is the notebooks' own folder; choose another so the sources are never overwritten")
    for nb in sources:
        target = out_dir / nb.name
        if target.exists() and not _is_executed_copy(target):
            raise RunError(f"{target} exists and is not an executed copy written by gsam-lab run; refusing to overwrite it")


def _is_executed_copy(path: Path) -> bool:
    try:
        meta = json.loads(path.read_text()).get("metadata", {})
    except (OSError, ValueError):
        return False
    return "papermill" in meta


def _describe_failure(exc: Exception) -> str:
    cell = getattr(exc, "cell_index", None)
    count = getattr(exc, "exec_count", None)
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    where = f"cell {cell} of the executed copy" if cell is not None else "before execution"
    if count is not None:
        where += f" (In [{count}])"
    source = (getattr(exc, "source", "") or "").strip().splitlines()
    first = f" | {source[0][:60]}" if source else ""
    return f"{where}{first}: {ename}: {evalue}".strip()


def run_notebooks(names: Sequence[str] = (), profile: str = "quick", params: Optional[dict] = None,
                  out_dir: Union[str, Path, None] = None, notebooks_dir: Union[str, Path, None] = None,
                  timeout: Optional[float] = None, fail_fast: bool = False, progress: bool = True
                  ) -> List[NotebookResult]:
    """Execute notebooks and write executed copies and a summary under ``out_dir``.

    Returns one :class:`NotebookResult` per notebook; raises :class:`RunError` before running
    anything when a name, the profile or the output folder is wrong.
    """
    import papermill as pm

    if profile not in PROFILES:
        raise RunError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    nb_dir = find_notebooks_dir(notebooks_dir)
    notebooks = resolve_notebooks(names, nb_dir)
    out = Path(out_dir) if out_dir else _default_out_dir()
    _check_out_dir(out, notebooks)
    out.mkdir(parents=True, exist_ok=True)

    results: List[NotebookResult] = []
    for nb in notebooks:
        target = out / nb.name
        parameters = {"profile": profile, "out_dir": str((out / nb.stem).resolve()), **(params or {})}
        print(f"[gsam-lab] {nb.stem}  profile={profile}", flush=True)
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(str(nb), str(target), parameters=parameters, kernel_name=KERNEL,
                                cwd=str(nb.parent), progress_bar=progress, execution_timeout=timeout,
                                report_mode=False)
            res = NotebookResult(nb.stem, "ok", time.perf_counter() - t0, str(target))
        except Exception as exc:  # papermill raises PapermillExecutionError for a failing cell
            res = NotebookResult(nb.stem, "failed", time.perf_counter() - t0, str(target), _describe_failure(exc))
        results.append(res)
        print(f"[gsam-lab] {res.notebook}: {res.status} in {res.seconds:.1f} s" +
              (f"  ({res.error})" if res.error else ""), flush=True)
        if fail_fast and res.status != "ok":
            break
    _write_summary(out, results)
    _print_summary(results)
    return results


def _write_summary(out: Path, results: List[NotebookResult]) -> None:
    rows = [asdict(r) for r in results]
    (out / "summary.json").write_text(json.dumps(rows, indent=2))
    with open(out / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["notebook"])
        writer.writeheader()
        writer.writerows(rows)


def _print_summary(results: List[NotebookResult]) -> None:
    width = max([len(r.notebook) for r in results] + [8])
    print(f"\n{'notebook':<{width}}  status  seconds")
    for r in results:
        print(f"{r.notebook:<{width}}  {r.status:<6}  {r.seconds:7.1f}")
    print(f"{'total':<{width}}          {sum(r.seconds for r in results):7.1f}")
