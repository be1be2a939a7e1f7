"""How good is a SAM? Prompt quality on held-out renders, beside the fill-the-box baseline.

:func:`evaluate_prompts` scores a SAM on every object of held-out test-split pinholes and
panoramas (:func:`gsam_lab.data.heldout_domains`) with the prompts SAM is used with:

* the ground-truth box, and noisy boxes (HQ-SAM's noise at scales 0.1, 0.2, 0.4);
* 3 random positive clicks, and 1 click decoded with SAM's three candidate masks, the one with the
  highest predicted IoU kept (``"points k=1 multimask"``);

and scores **filling the prompt box** and **GrabCut from the box** (``grabcut=True``, OpenCV) on the
very same boxes. The result keeps one row per object
and setting, so every summary carries ``n`` and a 95 % bootstrap interval over objects
(:mod:`gsam_lab.bootstrap`), and can be cut by class and object size.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from gsam_lab.bootstrap import bootstrap_ci, paired_bootstrap_ci, summarize_ci

from .baselines import BoxFillPredictor, GrabCutPredictor
from .prompts import PROMPT_KINDS
from .stability import SweepResult, _predictor, stability_sweep

__all__ = ["evaluate_prompts", "score_models", "PromptEvaluation", "TARGETS", "check_targets", "SIZE_BINS"]

#: Quality targets of the bundled ``tiny-synth`` SAM (see :func:`check_targets`).
TARGETS = {
    "gt_box": {"pinhole": 0.80, "erp": 0.75},     # mIoU with the ground-truth box
    "gt_box_over_fill": 0.05,                     # ... at least this far above filling the box
    "gt_box_over_grabcut": 0.02,                  # ... and this far above GrabCut from the box
    "outside_box": 0.05,                          # at most this share of a GT-box mask outside the box
    "points k=3": 0.70,                           # mIoU with 3 positive clicks
    "noisy_gap": 0.08,                            # GT box minus noisy box s=0.4: SAM stays unstable
    "noisy_stability": 0.80,                      # ... and its s=0.4 stability stays below this
}

#: Object-size bins in pixels (``[low, high)``), for :meth:`PromptEvaluation.by_size`.
SIZE_BINS = {"small (<2k px)": (0, 2000), "medium (2k-8k px)": (2000, 8000), "large (>=8k px)": (8000, np.inf)}

SAM_NAME, FILL_NAME, GRABCUT_NAME = "SAM", "fill box", "GrabCut"

#: A model is scored with every kind of prompt, a box baseline with the box kinds. The table lists the box
#: kinds first, so a box setting has the same position in both sweeps, and so the same prompts (a
#: sweep's prompt seeds follow a setting's position).
MODEL_KINDS = tuple(PROMPT_KINDS)
BOX_KINDS = tuple(name for name, kind in PROMPT_KINDS.items() if kind.is_box)


@dataclass
class PromptEvaluation:
    """What :func:`evaluate_prompts` returns.

    Attributes:
        objects: one row per (domain, method, setting, image, object): ``area``, ``cls`` (semantic
            class), ``iou`` and ``boundary_iou`` (means over the draws), ``stability`` and
            ``outside_box`` (share of the mask outside the object's GT box); ``method`` is ``"SAM"``
            (or a model's name), ``"fill box"`` or ``"GrabCut"``.
        params: the evaluation's arguments.
    """

    objects: pd.DataFrame
    params: Dict[str, object] = field(default_factory=dict)

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """Per domain, method and setting: the prompt ``kind``, ``noise`` and ``k``, ``n`` objects, and
        ``miou``, ``mbiou`` and ``stability`` (means over objects), each with its bootstrap interval
        over objects (``<column>_lo``, ``<column>_hi``), and ``outside_box`` (mean share of a mask
        outside its object's GT box)."""
        rows = []
        for (dom, meth, setting), g in self.objects.groupby(["domain", "method", "setting"], sort=False):
            row = dict(domain=dom, method=meth, setting=setting, n=len(g),
                       **{c: g[c].iloc[0] for c in ("kind", "noise", "k") if c in g})
            for col, name in (("iou", "miou"), ("boundary_iou", "mbiou"), ("stability", "stability")):
                m, lo, hi = bootstrap_ci(g[col], level=level)
                row.update({name: m, f"{name}_lo": lo, f"{name}_hi": hi})
            if "outside_box" in g:
                row["outside_box"] = float(g["outside_box"].mean())
            rows.append(row)
        return pd.DataFrame(rows)

    def per_object(self, method: str, setting: str, domain: Optional[str] = None, value: str = "iou") -> pd.Series:
        """``value`` per object of ``method`` under ``setting`` in ``domain`` (None: every domain), indexed
        by ``(domain, image, object)``."""
        g = self.objects[(self.objects["method"] == method) & (self.objects["setting"] == setting)]
        g = g if domain is None else g[g["domain"] == domain]
        if g.empty:
            raise ValueError(f"no rows for {(method, setting)} in " + ("any domain" if domain is None else
                                                                        f"domain {domain!r}"))
        return g.set_index(["domain", "image", "object"])[value]

    def paired(self, domain: Optional[str], a: Tuple[str, str], b: Tuple[str, str], value: str = "iou",
               level: float = 0.95) -> Tuple[float, float, float]:
        """``(mean difference, low, high)`` of ``value`` between ``a = (method, setting)`` and
        ``b = (method, setting)`` on the same objects of ``domain`` (None: of every domain), a paired
        bootstrap over objects (:func:`gsam_lab.bootstrap.paired_bootstrap_ci`)."""
        return paired_bootstrap_ci(self.per_object(*a, domain, value), self.per_object(*b, domain, value), level=level)

    def compare(self, a: str, b: str, domain: str, method: str = SAM_NAME) -> pd.DataFrame:
        """Per object of ``domain``, ``method``'s IoU under setting ``a`` and under setting ``b``, sorted
        by the drop, largest first (as :meth:`gsam_lab.sam.SweepResult.compare`)."""
        g = self.objects[(self.objects["domain"] == domain) & (self.objects["method"] == method)]
        if g.empty:
            raise ValueError(f"no rows for method {method!r} in domain {domain!r}")
        return SweepResult(pd.DataFrame(), g, {}).compare(a, b)

    def by_class(self, setting: str = "gt_box", class_names: Optional[Sequence[str]] = None) -> pd.DataFrame:
        """mIoU per domain, method and object class for one ``setting``, with ``n`` and intervals."""
        g = self.objects[self.objects["setting"] == setting].copy()
        if class_names is not None:
            g["cls"] = [class_names[c] if 0 <= c < len(class_names) else str(c) for c in g["cls"]]
        return _ci_table(g, ["domain", "method", "cls"])

    def by_size(self, setting: str = "gt_box") -> pd.DataFrame:
        """mIoU per domain, method and object-size bin (:data:`SIZE_BINS`) for one ``setting``."""
        g = self.objects[self.objects["setting"] == setting].copy()
        g["size"] = pd.Categorical([_size_bin(a) for a in g["area"]], categories=list(SIZE_BINS), ordered=True)
        return _ci_table(g, ["domain", "method", "size"])


def _size_bin(area: float) -> str:
    return next(name for name, (lo, hi) in SIZE_BINS.items() if lo <= area < hi)


def _ci_table(df: pd.DataFrame, by) -> pd.DataFrame:
    """mIoU with its bootstrap interval per group of ``by`` (columns ``miou``, ``miou_lo``, ``miou_hi``)."""
    out = summarize_ci(df, by, "iou", sort=True)
    return out.rename(columns={"iou": "miou", "iou_lo": "miou_lo", "iou_hi": "miou_hi"})


def _sweep_rows(predictor, ds, method: str, domain: str, **kw) -> pd.DataFrame:
    res = stability_sweep(predictor, ds, **kw)
    obj = res.objects.copy()
    obj.insert(0, "method", method)
    obj.insert(0, "domain", domain)
    return obj


def score_models(models: Mapping[str, object], domains: Mapping[str, object], noise: Sequence[float] = (0.1, 0.2, 0.4),
                 points: Sequence[int] = (3,), one_click_multimask: bool = True, fill_box: bool = True,
                 grabcut: Union[bool, str] = False, draws: int = 5, seed: int = 0, min_area: int = 64,
                 max_objects: Optional[int] = None, progress: bool = True) -> PromptEvaluation:
    """Score several models on the same objects with the same prompts, beside filling the box.

    Args:
        models: ``{"SAM": sam_model, "Stable-SAM": stable, ...}``: ``Sam`` models or predictors.
        domains: ``{"pinhole": dataset, "erp": dataset}`` (e.g. :func:`gsam_lab.data.heldout_domains`).
        noise, points: noisy-box scales and numbers of clicks (single-mask output).
        one_click_multimask: also score 1 click with SAM's 3 candidates, the best by predicted IoU.
        fill_box: also score "fill the box" on the same boxes (method ``"fill box"``).
        grabcut: also score OpenCV's GrabCut from the same boxes (method ``"GrabCut"``; about 0.1 s a
            box on a CPU): ``True`` every box setting, ``"gt_box"`` the ground-truth box alone (one call
            per object, no draws).
        draws, seed, min_area, max_objects: as :func:`gsam_lab.sam.stability_sweep`.
    """
    if grabcut not in (True, False, "gt_box"):
        raise ValueError(f"grabcut must be True, False or 'gt_box', got {grabcut!r}")
    common = dict(noise=tuple(noise), draws=draws, seed=seed, min_area=min_area, max_objects=max_objects,
                  progress=progress)
    frames = []
    for dom, ds in domains.items():
        for name, model in models.items():
            pred = _predictor(model, None)          # one predictor per model: its embedding cache serves both sweeps
            frames.append(_sweep_rows(pred, ds, name, dom, prompt_kinds=MODEL_KINDS,
                                      points=tuple(points), **common))
            if one_click_multimask:
                one = _sweep_rows(pred, ds, name, dom, prompt_kinds=("points",), points=(1,), multimask=True, **common)
                one["setting"] = "points k=1 multimask"
                frames.append(one)
        if fill_box:
            frames.append(_sweep_rows(BoxFillPredictor(), ds, FILL_NAME, dom, prompt_kinds=BOX_KINDS,
                                      points=tuple(points), **common))
        if grabcut:
            kinds = ("gt_box",) if grabcut == "gt_box" else BOX_KINDS
            frames.append(_sweep_rows(GrabCutPredictor(), ds, GRABCUT_NAME, dom, prompt_kinds=kinds,
                                      points=tuple(points), **common))
    return PromptEvaluation(pd.concat(frames, ignore_index=True), dict(points=tuple(points), **common))


def evaluate_prompts(model, n_pinhole: int = 16, n_erp: int = 8, pinhole_hw: Tuple[int, int] = (256, 256),
                     erp_hw: Tuple[int, int] = (256, 512), noise: Sequence[float] = (0.1, 0.2, 0.4),
                     draws: int = 5, seed: int = 0, min_area: int = 64, max_objects: Optional[int] = None,
                     split: str = "test", grabcut: bool = False, progress: bool = True) -> PromptEvaluation:
    """Score ``model`` (a ``Sam`` or a predictor) and the box baselines on held-out renders.

    Args:
        model: a ``segment_anything`` ``Sam`` or anything with the predictor interface.
        n_pinhole, n_erp: images per domain (0 leaves a domain out).
        noise: noisy-box scales; draws: random prompts per object and setting (>= 2).
        min_area, max_objects: which objects count (default: every object of at least 64 px).
        split: ``"test"`` (default) or ``"val"``.
        grabcut: score GrabCut from the box beside filling it (needs OpenCV).

    Returns:
        :class:`PromptEvaluation`; ``.summary()`` gives the table with intervals.
    """
    from gsam_lab.data import heldout_domains
    domains = heldout_domains(n_pinhole, n_erp, pinhole_hw, erp_hw, split=split, seed=seed)
    ev = score_models({SAM_NAME: model}, domains, noise=noise, points=(3,), draws=draws, seed=seed,
                      min_area=min_area, max_objects=max_objects, grabcut=grabcut, progress=progress)
    ev.params.update(n_pinhole=n_pinhole, n_erp=n_erp, pinhole_hw=pinhole_hw, erp_hw=erp_hw, split=split)
    return ev


def check_targets(ev: PromptEvaluation, targets: Dict = TARGETS) -> Dict[str, bool]:
    """Each target of ``tiny-synth`` (:data:`TARGETS`) as ``{"pinhole gt_box >= 0.8": True, ...}``."""
    s = ev.summary()
    ok: Dict[str, bool] = {}
    for dom in s["domain"].unique():
        sam = s[(s["domain"] == dom) & (s["method"] == SAM_NAME)].set_index("setting")
        fill = s[(s["domain"] == dom) & (s["method"] == FILL_NAME)].set_index("setting")
        if "gt_box" in sam.index:
            gt = sam.loc["gt_box"]
            t = targets["gt_box"].get(dom)
            if t is not None:
                ok[f"{dom} gt_box >= {t}"] = bool(gt["miou"] >= t)
            if "gt_box" in fill.index:
                d = targets["gt_box_over_fill"]
                ok[f"{dom} gt_box >= fill box + {d}"] = bool(gt["miou"] >= fill.loc["gt_box", "miou"] + d)
                ok[f"{dom} gt_box boundary IoU > fill box's"] = bool(gt["mbiou"] > fill.loc["gt_box", "mbiou"])
            grab = s[(s["domain"] == dom) & (s["method"] == GRABCUT_NAME)].set_index("setting")
            if "gt_box" in grab.index:
                d = targets["gt_box_over_grabcut"]
                ok[f"{dom} gt_box >= GrabCut + {d}"] = bool(gt["miou"] >= grab.loc["gt_box", "miou"] + d)
            if "outside_box" in gt:
                t = targets["outside_box"]
                ok[f"{dom} gt_box mask outside the box <= {t:.0%}"] = bool(gt["outside_box"] <= t)
            noisy = PROMPT_KINDS["noisy_box"].setting(0.4)
            if noisy in sam.index:
                gap = gt["miou"] - sam.loc[noisy, "miou"]
                ok[f"{dom} gt_box - {noisy} >= {targets['noisy_gap']}"] = bool(gap >= targets["noisy_gap"])
                ok[f"{dom} {noisy} stability < {targets['noisy_stability']}"] = bool(
                    sam.loc[noisy, "stability"] < targets["noisy_stability"])
        if "points k=3" in sam.index:
            t = targets["points k=3"]
            ok[f"{dom} points k=3 >= {t}"] = bool(sam.loc["points k=3", "miou"] >= t)
    return ok
