"""gsam_lab: a teaching lab for panoramic segmentation with the Segment Anything Model.

Submodules are imported lazily so that ``import gsam_lab`` stays fast::

    from gsam_lab import panorama, data, metrics, viz
    lab = gsam_lab.setup("01", "quick", seed=0)      # what every notebook starts with (gsam_lab.lab)
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("panorama", "data", "sam", "stable_sam", "goodsam", "metrics", "viz", "widgets", "cli", "utils",
               "report", "bundled", "profiles", "lab", "bootstrap")
_FROM_LAB = ("setup", "Lab")

__all__ = list(_SUBMODULES) + list(_FROM_LAB) + ["__version__"]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _FROM_LAB:
        return getattr(importlib.import_module(f"{__name__}.lab"), name)
    raise AttributeError(f"module 'gsam_lab' has no attribute {name!r}")
