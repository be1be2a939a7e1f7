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

from gsam_lab.bootstrap import miou_bootstrap_ci
from gsam_lab.metrics import ConfusionMeter, confusion_matrix, latitude_miou
from gsam_lab.utils import progress_bar

from .fusion import sam_masks
from .rectification import dar

__all__ = ["ABLATION_VARIANTS", "AblationResult", "run_ablation"]

#: name -> dar() keyword arguments, in reading order (each adds one step to the previous ones).
ABLATION_VARIANTS: Dict[str, dict] = {
    "TA alone (whole ERP)": dict(windows="none", boundary=False, fusion="none"),
    "+ windows h": dict(windows="h", boundary=False, fusion="none"),
    "+ windows hv": dict(windows="hv", boundary=False, fusion="none"),
    "+ windows h + boundary": dict(windows="h", boundary=True, fusion="none"),
    "+ windows h + boundary + vote": dict(windows="h", boundary=True, fusion="vote"),
    "+ windows h + boundary + ctcf (full DAR)": dict(windows="h", boundary=True, fusion="ctcf"),
    "+ windows h + boundary + vote, mixed masks left to the TA": dict(windows="h", boundary=True, fusion="vote",
                                                                      fusion_kwargs=dict(min_share=0.6)),
    "+ windows h + boundary + vote, the TA's sure pixels kept": dict(windows="h", boundary=True, fusion="vote",
                                                                     fusion_kwargs=dict(keep_confident=0.9)),
    "+ windows h + boundary + vote, both guards": dict(windows="h", boundary=True, fusion="vote",
                                                       fusion_kwargs=dict(min_share=0.6, keep_confident=0.9)),
    "+ windows hv + boundary + ctcf": dict(windows="hv", boundary=True, fusion="ctcf"),
    "windows none + ctcf": dict(windows="none", boundary=False, fusion="ctcf"),
    "tangent": dict(windows="tangent", boundary=False, fusion="none"),
    "tangent + boundary + ctcf": dict(windows="tangent", boundary=True, fusion="ctcf"),
    "TA alone, ERP x2": dict(windows="none", boundary=False, fusion="none", scale=2.0),
    "windows h x2 + boundary + ctcf": dict(windows="h", boundary=True, fusion="ctcf", scale=2.0),
}


class AblationResult(NamedTuple):
    """``table``, ``per_class``, ``latitude`` (band mIoU) and ``latitude_acc`` (band pixel accuracy)
    (pandas DataFrames, one row per variant) and ``examples`` (variant -> DarResult of the first
    panorama, for plots)."""

    table: "object"
    per_class: "object"
    latitude: "object"
    examples: dict
    latitude_acc: "object" = None


class _Tally:
    """What :func:`run_ablation` measures of one variant, panorama after panorama."""

    def __init__(self, num_classes: int):
        self.meter = ConfusionMeter(num_classes)          # the ensemble's argmax, every labelled pixel
        self.cms: List[torch.Tensor] = []                 # ... per panorama, for the bootstrap intervals
        self.pseudo = ConfusionMeter(num_classes)         # the pseudo-labels, where they are not ignored
        self.kept, self.labelled = 0, 0
        self.preds: List[torch.Tensor] = []
        self.seconds = 0.0

    def add(self, res, gt: torch.Tensor, seconds: float) -> None:
        pred = res.ensemble_logits.argmax(0)
        self.meter.update(pred, gt)
        self.cms.append(confusion_matrix(pred, gt, self.meter.num_classes).cpu())
        self.preds.append(pred)
        lab = gt != 255
        ok = lab & (res.pseudo_label != 255)
        self.kept += int(ok.sum())
        self.labelled += int(lab.sum())
        self.pseudo.update(torch.where(ok, res.pseudo_label, gt), torch.where(ok, gt, torch.full_like(gt, 255)))
        self.seconds += seconds


def _uses_masks(kw: dict) -> bool:
    """Whether a ``dar`` variant needs SAM masks (fusion, or the boundary step)."""
    return kw.get("fusion", "ctcf") != "none" or kw.get("boundary", True)


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
        :class:`AblationResult`. ``table`` columns: ``variant``, ``n`` (panoramas), ``miou`` (argmax of
        the ensemble, every labelled pixel) with its 95 % bootstrap interval over panoramas
        (``miou_lo``, ``miou_hi``), ``delta_vs_ta`` (mIoU points vs the first variant) with its paired
        interval (``delta_lo``, ``delta_hi``), ``pixel_acc``,
        ``pseudo_coverage`` (labelled pixels not ignored), ``pseudo_miou`` (mIoU over those),
        ``seconds`` (per panorama, SAM excluded), plus the settings.
    """
    variants = dict(ABLATION_VARIANTS if variants is None else variants)
    common = dict(common or {})
    tallies = {name: _Tally(teacher.num_classes) for name in variants}
    gts, examples, sam_s = [], {}, 0.0
    for i in progress_bar(range(len(panoramas)), desc="DAR ablation", disable=not progress):
        item = panoramas[i]
        gts.append(item["semantic"])
        ms = masks[i] if masks is not None else None
        if masks is None and any(_uses_masks({**common, **kw}) for kw in variants.values()):
            t0 = time.perf_counter()           # SAM's masks, once per panorama: they do not depend on the TA
            ms = sam_masks(model, item["image"].to(next(teacher.parameters()).device), **(sam_kwargs or {}))
            sam_s += time.perf_counter() - t0
        for name, kw in variants.items():
            kw = {**common, **kw}
            t0 = time.perf_counter()
            res = dar(teacher, None, item["image"], masks=ms if _uses_masks(kw) else None, **kw)
            tallies[name].add(res, item["semantic"], time.perf_counter() - t0)
            if i == 0:
                examples[name] = res
    return _tables(teacher.classes, variants, tallies, torch.stack(gts), bands, sam_s, examples)


def _tables(classes, variants: Dict[str, dict], tallies: Dict[str, _Tally], gt_all: torch.Tensor, bands: int,
            sam_s: float, examples: dict) -> AblationResult:
    """The three tables of :class:`AblationResult`, one row per variant (settings: the variant's own)."""
    import pandas as pd

    n = len(gt_all)
    cms = {name: torch.stack(t.cms).numpy() for name, t in tallies.items()}
    base = next(iter(cms.values()))
    rows, pcs, lats, accs = [], [], [], []
    for name, kw in variants.items():
        t = tallies[name]
        m = t.meter.miou()
        _, lo, hi = miou_bootstrap_ci(cms[name])
        d, dlo, dhi = (0.0, 0.0, 0.0) if cms[name] is base else miou_bootstrap_ci(cms[name], base=base)
        rows.append({"variant": name, "n": n, "miou": round(m, 4), "miou_lo": round(lo, 4), "miou_hi": round(hi, 4),
                     "delta_vs_ta": round(100 * d, 2), "delta_lo": round(100 * dlo, 2), "delta_hi": round(100 * dhi, 2),
                     "pixel_acc": round(t.meter.pixel_accuracy(), 4),
                     "pseudo_coverage": round(t.kept / max(1, t.labelled), 4),
                     "pseudo_miou": round(t.pseudo.miou(), 4),
                     "seconds": round(t.seconds / max(1, n), 3), **{k: str(v) for k, v in kw.items()}})
        pcs.append({"variant": name, **{c: round(float(x), 4) for c, x in zip(classes, t.meter.per_class_iou())}})
        lat = latitude_miou(torch.stack(t.preds), gt_all, len(classes), bands=bands)
        band = [f"{r.lat_max:+.0f}..{r.lat_min:+.0f}" for r in lat.itertuples()]
        lats.append({"variant": name, **{b: round(float(v), 4) for b, v in zip(band, lat["miou"])}})
        accs.append({"variant": name, **{b: round(float(v), 4) for b, v in zip(band, lat["pixel_acc"])}})
    table = pd.DataFrame(rows)
    table.attrs["sam_seconds_per_panorama"] = round(sam_s / max(1, n), 2)
    return AblationResult(table, pd.DataFrame(pcs), pd.DataFrame(lats), examples, pd.DataFrame(accs))
