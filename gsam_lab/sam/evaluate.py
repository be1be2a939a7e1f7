"""Prompt-quality evaluation of a SAM on held-out synthetic images (the test split).

:func:`evaluate_prompts` runs :func:`gsam_lab.sam.stability_sweep` on ``SyntheticPinholes("test")``
and ``SyntheticPanoramas("test")`` renders with the ground-truth box, 3 positive points and noisy
boxes, and returns one summary row per (domain, setting). ``data_scripts/eval_tiny_sam.py`` prints
it and checks the targets of ``tiny-synth`` (:data:`TARGETS`).
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import pandas as pd

from .stability import stability_sweep

__all__ = ["evaluate_prompts", "TARGETS", "check_targets"]

#: Issue 3's quality targets for ``tiny-synth`` (mIoU on held-out pinhole and ERP images).
TARGETS = {"gt_box": 0.80, "points k=3": 0.70}


def evaluate_prompts(model, n_pinhole: int = 8, n_erp: int = 4, pinhole_hw: Tuple[int, int] = (256, 256),
                     erp_hw: Tuple[int, int] = (256, 512), noise: Sequence[float] = (0.1, 0.2, 0.4),
                     draws: int = 5, seed: int = 0, min_area: int = 64, max_objects: Optional[int] = 12,
                     progress: bool = True) -> pd.DataFrame:
    """mIoU / mBIoU / stability per domain (``pinhole``, ``erp``) and prompt setting, on the test split.

    Returns:
        DataFrame with columns ``domain, setting, kind, noise, k, miou, mbiou, stability, n_objects, draws``.
    """
    from gsam_lab import data
    domains = {}
    if n_pinhole:
        domains["pinhole"] = data.SyntheticPinholes("test", n_pinhole, pinhole_hw, seed=seed, fov_deg=(50.0, 110.0))
    if n_erp:
        domains["erp"] = data.SyntheticPanoramas("test", n_erp, erp_hw, seed=seed)
    out = []
    for name, ds in domains.items():
        res = stability_sweep(model, ds, prompt_kinds=("gt_box", "points", "noisy_box"), noise=noise, points=(3,),
                              draws=draws, seed=seed, min_area=min_area, max_objects=max_objects, progress=progress)
        s = res.summary()
        s.insert(0, "domain", name)
        out.append(s)
    return pd.concat(out, ignore_index=True)


def check_targets(summary: pd.DataFrame, targets: Dict[str, float] = TARGETS) -> Dict[str, bool]:
    """``{"pinhole gt_box >= 0.8": True, ...}`` and whether noisy boxes score below the GT box."""
    ok = {}
    for dom, g in summary.groupby("domain", sort=False):
        by = dict(zip(g["setting"], g["miou"]))
        for setting, t in targets.items():
            if setting in by:
                ok[f"{dom} {setting} >= {t}"] = bool(by[setting] >= t)
        noisy = [v for k, v in by.items() if k.startswith("noisy_box")]
        if noisy and "gt_box" in by:
            ok[f"{dom} noisy boxes below gt_box"] = bool(max(noisy) < by["gt_box"])
    return ok
