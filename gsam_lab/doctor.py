"""``gsam-lab doctor``: what this installation has (versions, device, bundled weights, caches)."""
from __future__ import annotations

import importlib
import platform
import sys
import warnings
from pathlib import Path
from typing import Dict, List

__all__ = ["versions", "bundled_weights", "cache_usage", "registries", "listing", "named_models", "problems",
           "report"]

PACKAGES = ("gsam_lab", "torch", "torchvision", "numpy", "segment_anything", "transformers", "papermill",
            "ipywidgets", "matplotlib", "pandas")


def versions() -> Dict[str, str]:
    """Installed version of each package the lab uses (``"missing"`` when it does not import)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            mod = importlib.import_module(name)
            out[name] = getattr(mod, "__version__", "installed")
        except Exception as e:  # a broken install should be reported, not crash the doctor
            out[name] = f"missing ({type(e).__name__})"
    return out


def bundled_weights() -> List[Path]:
    """Files shipped in ``gsam_lab/assets`` (tiny SAM, teacher assistant, plugins)."""
    from gsam_lab.bundled import ASSETS_DIR

    return sorted(p for p in ASSETS_DIR.glob("*") if p.is_file() and not p.name.startswith("."))


def cache_usage() -> Dict[str, object]:
    """Where the cache lives and how much it holds (``error`` set when it cannot be made or written)."""
    from gsam_lab.utils import cache_problem, cache_root

    root = cache_root()
    problem = cache_problem(root)
    if problem:
        return {"path": str(root), "files": 0, "mb": 0.0, "error": problem}
    files = [p for p in root.rglob("*") if p.is_file()]
    return {"path": str(root), "files": len(files), "mb": sum(p.stat().st_size for p in files) / 2 ** 20}


def registries() -> Dict[str, dict]:
    """``{"SAM": ..., "TA": ..., "student": ..., "plugins": ...}``: every table of named models (each a
    :class:`gsam_lab.registry.Registry`)."""
    from gsam_lab.goodsam.student import STUDENTS
    from gsam_lab.goodsam.teacher import TEACHERS
    from gsam_lab.sam.registry import SAM_MODELS
    from gsam_lab.stable_sam.io import PLUGINS

    return {"SAM": SAM_MODELS, "TA": TEACHERS, "student": STUDENTS, "plugins": PLUGINS}


def listing() -> List[dict]:
    """One row per named model: ``kind``, ``name``, ``location`` (file, or Hugging Face id) and ``present``."""
    rows = []
    for kind, table in registries().items():
        for name, spec in table.items():
            with warnings.catch_warnings():          # an unwritable cache is reported once, under "cache"
                warnings.simplefilter("ignore", RuntimeWarning)
                try:
                    location, present = str(spec.location()), bool(spec.present())
                except OSError as e:                 # e.g. a file where the cache folder should be
                    location, present = f"(unknown: {(str(e).splitlines() or [''])[0]})", False
            rows.append({"kind": kind, "name": name, "location": location, "present": present})
    return rows


def named_models() -> List[str]:
    """Lines of the named models of each kind (SAM, TA, student, plugins): where each is read from, and
    whether it is there (:func:`listing`)."""
    from gsam_lab.bundled import asset_status, bundled_name

    assets = asset_status()
    lines = []
    kind = None
    for row in listing():
        if row["kind"] != kind:
            kind = row["kind"]
            lines.append(f"    {kind}")
        state = "present" if row["present"] else "missing"
        if row["present"] and assets.get(bundled_name(row["location"]) or "") == "SHA-256 mismatch":
            state = "damaged"                    # present, but loading it is refused
        lines.append(f"      {row['name']:<26} {state:<8} {row['location']}")
    return lines


def problems() -> List[str]:
    """One line per fault found (a bundled file missing or with another SHA-256, an unusable cache);
    ``gsam-lab doctor`` exits 1 when there is any."""
    from gsam_lab.bundled import asset_status
    from gsam_lab.utils import cache_problem

    found = [f"bundled file {name}: {state}" for name, state in asset_status().items()
             if state in ("missing", "SHA-256 mismatch")]
    problem = cache_problem()
    if problem:
        found.append(f"cache: {problem}")
    return found


def report() -> str:
    import torch

    from gsam_lab.utils import resolve_device

    lines = ["gsam_lab doctor", ""]
    lines += [f"  {k:<17} {v}" for k, v in versions().items()]
    lines += ["", f"  device (auto)     {resolve_device('auto')}",
              f"  cuda available    {torch.cuda.is_available()}"
              + (f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""),
              f"  torch threads     {torch.get_num_threads()}", f"  executable        {sys.executable}", ""]
    from gsam_lab.bundled import ASSETS_DIR, asset_status

    status = asset_status()                      # SHA-256 of each file against gsam_lab/bundled.py
    lines.append(f"  bundled weights   {len(status)} file(s), SHA-256 checked")
    for name, state in status.items():
        path = ASSETS_DIR / name
        size = f"{path.stat().st_size / 2 ** 20:6.2f} MB" if path.is_file() else "     - MB"
        lines.append(f"    {name:<30} {size}  {state}")
    lines += ["", "  named models      name, present or missing, where it is read from "
              "(a file, or a Hugging Face id: hub or its cache)"]
    lines += named_models()
    cache = cache_usage()
    if "error" in cache:
        lines += ["", f"  cache             unusable: {cache['error']}"]
    else:
        lines += ["", f"  cache             {cache['path']}  ({cache['files']} files, {cache['mb']:.1f} MB)"]
    faults = problems()
    lines += ["", f"  problems          {len(faults) or 'none'}"] + [f"    {f}" for f in faults]
    return "\n".join(lines)
