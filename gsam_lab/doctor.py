"""``gsam-lab doctor``: what this installation has (versions, device, bundled weights, caches)."""
from __future__ import annotations

import importlib
import platform
import sys
from pathlib import Path
from typing import Dict, List

__all__ = ["versions", "bundled_weights", "cache_usage", "report"]

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
    assets = Path(__file__).resolve().parent / "assets"
    return sorted(p for p in assets.glob("*") if p.is_file() and not p.name.startswith("."))


def cache_usage() -> Dict[str, object]:
    """Where the render cache lives and how much it holds."""
    from gsam_lab.utils import cache_dir

    root = cache_dir()
    files = [p for p in root.rglob("*") if p.is_file()]
    return {"path": str(root), "files": len(files), "mb": sum(p.stat().st_size for p in files) / 2 ** 20}


def report() -> str:
    import torch
    from gsam_lab.utils import resolve_device

    lines = ["gsam_lab doctor", ""]
    lines += [f"  {k:<17} {v}" for k, v in versions().items()]
    lines += ["", f"  device (auto)     {resolve_device('auto')}",
              f"  cuda available    {torch.cuda.is_available()}"
              + (f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""),
              f"  torch threads     {torch.get_num_threads()}", f"  executable        {sys.executable}", ""]
    weights = bundled_weights()
    lines.append(f"  bundled weights   {len(weights)} file(s)")
    lines += [f"    {p.name:<30} {p.stat().st_size / 2 ** 20:6.2f} MB" for p in weights]
    cache = cache_usage()
    lines += ["", f"  cache             {cache['path']}  ({cache['files']} files, {cache['mb']:.1f} MB)"]
    return "\n".join(lines)
