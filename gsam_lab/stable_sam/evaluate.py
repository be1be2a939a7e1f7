"""SAM against Stable-SAM on held-out renders, with intervals, and the plugins' targets.

:func:`compare` scores every model on the same objects of held-out test-split images
(:func:`gsam_lab.data.heldout_domains`) with the same prompts (ground-truth box, noisy boxes,
1 / 3 / 5 clicks) beside "fill the box" (:func:`gsam_lab.sam.evaluate.score_models`).
:func:`check_targets` reads the plugins' targets off the per-object table, each difference with a
paired bootstrap interval over objects.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import pandas as pd

from gsam_lab import sam
from gsam_lab.data import heldout_domains
from gsam_lab.sam.evaluate import PromptEvaluation, score_models

from .model import StableSam
from .predictor import StableSamPredictor

__all__ = ["compare", "check_targets", "TARGETS"]

#: Targets of the plugins, against SAM with the same prompts (differences of mIoU; 0.04 = 4 points).
#: ``gap_ratio``: the robustness gap (GT box minus noisy box s=0.4) at most this share of SAM's.
TARGETS = {"noisy_box s=0.4": 0.04, "points k=1": 0.05, "gt_box": -0.01, "gap_ratio": 0.5}


def _predictor(m):
    if isinstance(m, StableSam):
        return StableSamPredictor(m)
    if hasattr(m, "set_image") and hasattr(m, "predict"):
        return m
    return sam.PromptPredictor(m)


def compare(models: Mapping[str, object], domains: Optional[Mapping[str, object]] = None,
            noise: Sequence[float] = (0.2, 0.4), points: Sequence[int] = (1, 3, 5), draws: int = 5, seed: int = 0,
            max_objects: Optional[int] = None, min_area: int = 64, fill_box: bool = True,
            progress: bool = True) -> PromptEvaluation:
    """Every model on the same objects and prompts (and "fill the box" on the same boxes).

    Args:
        models: ``{"SAM": sam_model, "Stable-SAM": stable, ...}``: a ``Sam``, a :class:`StableSam`
            or any predictor (``set_image`` / ``predict``).
        domains: ``{"pinhole": dataset, "erp": dataset}``; default
            :func:`gsam_lab.data.heldout_domains` ``(n_pinhole=8, n_erp=4)``.
        noise, points, draws, seed, max_objects, min_area: as :func:`gsam_lab.sam.stability_sweep`.

    Returns:
        :class:`gsam_lab.sam.evaluate.PromptEvaluation`: ``.summary()`` has one row per domain,
        model and setting with ``n``, mIoU and mBIoU with 95 % intervals, and stability.
    """
    domains = heldout_domains(n_pinhole=8, n_erp=4) if domains is None else domains
    preds = {name: _predictor(m) for name, m in models.items()}
    return score_models(preds, domains, noise=noise, points=points, one_click_multimask=False, fill_box=fill_box,
                        draws=draws, seed=seed, min_area=min_area, max_objects=max_objects, progress=progress)


def check_targets(ev: PromptEvaluation, model: str, baseline: str = "SAM",
                  targets: Mapping[str, float] = TARGETS) -> pd.DataFrame:
    """The plugins' targets for ``model`` against ``baseline``, per domain.

    Returns:
        one row per (domain, check): ``domain, check, value, low, high, target, ok``: ``value`` is
        the mIoU difference ``model - baseline`` on the same objects with its paired 95 % interval
        (``low``, ``high``); for ``"robustness gap"`` it is the model's gap (GT box minus noisy box
        s=0.4) and the target is a share of the baseline's gap; for ``"stability, noisy s=0.4"``
        the difference of stability (target > 0).
    """
    s = ev.summary()
    noisy = "noisy_box s=0.4"
    out = []
    for dom in s["domain"].unique():
        a = s[(s["domain"] == dom) & (s["method"] == model)].set_index("setting")
        b = s[(s["domain"] == dom) & (s["method"] == baseline)].set_index("setting")
        for setting in (noisy, "points k=1", "gt_box"):
            if setting in a.index and setting in b.index:
                d, lo, hi = ev.paired(dom, (model, setting), (baseline, setting))
                t = targets[setting]
                out.append(dict(domain=dom, check=f"{setting} vs {baseline}", value=d, low=lo, high=hi,
                                target=f">= {t:+.2f}", ok=bool(d >= t)))
        if {"gt_box", noisy} <= set(a.index) & set(b.index):
            gap_a = a.loc["gt_box", "miou"] - a.loc[noisy, "miou"]
            gap_b = b.loc["gt_box", "miou"] - b.loc[noisy, "miou"]
            limit = targets["gap_ratio"] * gap_b
            out.append(dict(domain=dom, check="robustness gap (GT box - noisy s=0.4)", value=gap_a, low=float("nan"),
                            high=float("nan"), target=f"<= {limit:.3f} ({targets['gap_ratio']:g} x {baseline}'s "
                                                      f"{gap_b:.3f})", ok=bool(gap_a <= limit)))
            dst = a.loc[noisy, "stability"] - b.loc[noisy, "stability"]
            out.append(dict(domain=dom, check=f"stability, {noisy}", value=dst, low=float("nan"), high=float("nan"),
                            target="> 0", ok=bool(dst > 0)))
    return pd.DataFrame(out, columns=["domain", "check", "value", "low", "high", "target", "ok"])
