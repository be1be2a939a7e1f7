"""Measure each DAR step on labelled panoramas: the ablation table of notebook 04 and ``data_scripts/eval_dar.py``.

::

    res = run_ablation(teacher, sam_model, data.SyntheticPanoramas("test", 8, (256, 512)))
    res.table          # one row per variant: miou, pixel accuracy, pseudo-label coverage / mIoU, seconds
    res.per_class      # variant x class IoU
    res.latitude       # variant x latitude band mIoU

SAM masks are computed once per panorama and shared by every variant (they do not depend on the TA).
"""
from __future__ import annotations

import time
from typing import Dict, List, NamedTuple, Optional, Sequence

import torch

from ..metrics import ConfusionMeter, latitude_miou

__all__ = ["ABLATION_VARIANTS", "AblationResult", "run_ablation"]

#: name -> dar() keyword arguments, in reading order (each adds one step to the previous ones).
ABLATION_VARIANTS: Dict[str, dict] = {
    "TA alone (whole ERP)": dict(windows="none", boundary=False, fusion="none"),
    "+ windows h": dict(windows="h", boundary=False, fusion="none"),
    "+ windows hv": dict(windows="hv", boundary=False, fusion="none"),
    "+ windows h + boundary": dict(windows="h", boundary=True, fusion="none"),
    "+ windows h + boundary + vote": dict(windows="h", boundary=True, fusion="vote"),
    "+ windows h + boundary + ctcf (full DAR)": dict(windows="h", boundary=True, fusion="ctcf"),
    "+ windows hv + boundary + ctcf": dict(windows="hv", boundary=True, fusion="ctcf"),
    "windows none + ctcf": dict(windows="none", boundary=False, fusion="ctcf"),
    "tangent": dict(windows="tangent", boundary=False, fusion="none"),
    "tangent + boundary + ctcf": dict(windows="tangent", boundary=True, fusion="ctcf"),
    "TA alone, ERP x2": dict(windows="none", boundary=False, fusion="none", scale=2.0),
    "windows h x2 + boundary + ctcf": dict(windows="h", boundary=True, fusion="ctcf", scale=2.0),
}


class AblationResult(NamedTuple):
    """``table``, ``per_class``, ``latitude`` (pandas DataFrames, one row per variant) and ``examples``
    (variant -> DarResult of the first panorama, for plots)."""

    table: "object"
    per_class: "object"
    latitude: "object"
    examples: dict


@torch.no_grad()
def run_ablation(teacher, model, panoramas, variants: Optional[Dict[str, dict]] = None,
                 sam_kwargs: Optional[dict] = None, bands: int = 6, progress: bool = True,
                 common: Optional[dict] = None, masks: Optional[Sequence] = None) -> AblationResult:
    """Run every variant of :data:`ABLATION_VARIANTS` (or ``variants``) on ``panoramas``.

    Args:
        teacher, model: TA and SAM.
        panoramas: items with ``image`` (``3 x H x W``) and ``semantic`` (``H x W``, 255 = ignore).
        sam_kwargs: for :func:`~gsam_lab.goodsam.fusion.sam_masks`.
        bands: latitude bands for :func:`gsam_lab.metrics.latitude_miou`.
        common: extra ``dar`` keyword arguments for every variant (e.g. ``conf_thresh``).
        masks: precomputed MaskSets, one per panorama (default: computed here once each).

    Returns:
        :class:`AblationResult`. ``table`` columns: ``variant``, ``miou`` (argmax of the ensemble,
        every labelled pixel), ``delta_vs_ta`` (mIoU points vs the first variant), ``pixel_acc``,
        ``pseudo_coverage`` (labelled pixels not ignored), ``pseudo_miou`` (mIoU over those),
        ``seconds`` (per panorama, SAM excluded), plus the settings.
    """
    import pandas as pd

    from ..utils import progress_bar
    from .fusion import sam_masks
    from .rectification import dar

    variants = dict(ABLATION_VARIANTS if variants is None else variants)
    common = dict(common or {})
    k = teacher.num_classes
    meters = {v: ConfusionMeter(k) for v in variants}
    pmeters = {v: ConfusionMeter(k) for v in variants}
    covered = {v: [0, 0] for v in variants}
    preds: Dict[str, List[torch.Tensor]] = {v: [] for v in variants}
    secs = {v: 0.0 for v in variants}
    gts, examples, sam_s = [], {}, 0.0
    n = len(panoramas)
    for i in progress_bar(range(n), desc="DAR ablation", disable=not progress):
        item = panoramas[i]
        gt = item["semantic"]
        gts.append(gt)
        if masks is not None:
            ms = masks[i]
        elif any(v.get("fusion", "ctcf") != "none" or v.get("boundary", True) for v in variants.values()):
            t0 = time.perf_counter()
            ms = sam_masks(model, item["image"].to(next(teacher.parameters()).device), **(sam_kwargs or {}))
            sam_s += time.perf_counter() - t0
        else:
            ms = None
        for name, kw in variants.items():
            kw = {**common, **kw}
            use = ms if (kw.get("fusion", "ctcf") != "none" or kw.get("boundary", True)) else None
            t0 = time.perf_counter()
            res = dar(teacher, None, item["image"], masks=use, **kw)
            secs[name] += time.perf_counter() - t0
            pred = res.ensemble_logits.argmax(0)
            meters[name].update(pred, gt)
            preds[name].append(pred)
            lab = gt != 255
            ok = lab & (res.pseudo_label != 255)
            covered[name][0] += int(ok.sum())
            covered[name][1] += int(lab.sum())
            pmeters[name].update(torch.where(ok, res.pseudo_label, gt), torch.where(ok, gt, torch.full_like(gt, 255)))
            if i == 0:
                examples[name] = res
    gt_all = torch.stack(gts)
    base = None
    rows, pcs, lats = [], [], []
    for name, kw in variants.items():
        m = meters[name].miou()
        base = m if base is None else base
        rows.append({"variant": name, "miou": round(m, 4), "delta_vs_ta": round(100 * (m - base), 2),
                     "pixel_acc": round(meters[name].pixel_accuracy(), 4),
                     "pseudo_coverage": round(covered[name][0] / max(1, covered[name][1]), 4),
                     "pseudo_miou": round(pmeters[name].miou(), 4),
                     "seconds": round(secs[name] / max(1, n), 3), **{k2: str(v) for k2, v in kw.items()}})
        class_iou = zip(teacher.classes, meters[name].per_class_iou())
        pcs.append({"variant": name, **{c: round(float(x), 4) for c, x in class_iou}})
        lat = latitude_miou(torch.stack(preds[name]), gt_all, k, bands=bands)
        lats.append({"variant": name, **{f"{r.lat_max:+.0f}..{r.lat_min:+.0f}": round(float(r.miou), 4)
                                         for r in lat.itertuples()}})
    table = pd.DataFrame(rows)
    table.attrs["sam_seconds_per_panorama"] = round(sam_s / max(1, n), 2)
    return AblationResult(table, pd.DataFrame(pcs), pd.DataFrame(lats), examples)
