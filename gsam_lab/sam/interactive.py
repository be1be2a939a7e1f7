"""Interactive refinement: does a SAM use its previous mask (``mask_input``) when the user clicks again?

SAM is meant to be used in rounds: a first prompt, then a click where the mask is wrong, with the
previous round's low-res logits passed back as ``mask_input`` so that the model refines its mask
instead of starting over. :func:`refinement_sweep` simulates a user on every object of held-out
images, as the standard interactive-segmentation protocol does: each corrective click goes to the
pixel of the error region farthest from that region's border (positive where the object was
missed, negative where the mask spilled), and compares

* ``clicks + mask``: the corrective clicks added to the earlier ones, with the previous logits as
  ``mask_input`` (SAM's workflow);
* ``clicks only``: the same clicks, no ``mask_input`` (every round starts from the clicks alone);
* ``box``, ``box + own logits``: one GT box, then the same box again fed its own logits, a pass that
  should change little (a model that never learnt ``mask_input`` can fall apart here).
"""
from __future__ import annotations

from typing import Iterable, Mapping, Optional

import numpy as np
import pandas as pd
import torch
from scipy.ndimage import distance_transform_edt

from gsam_lab import metrics
from gsam_lab.bootstrap import bootstrap_ci
from gsam_lab.images import as_rgb_uint8
from gsam_lab.utils import progress_bar

from .predictor import PromptPredictor
from .prompts import PromptSampler

__all__ = ["refinement_sweep", "refinement_summary", "corrective_click"]


def corrective_click(pred: np.ndarray, target: np.ndarray):
    """The next click of a simulated user: ``((x, y), label)`` at the error pixel farthest from the
    error region's border, label 1 if the object was missed there, 0 if the mask spilled; ``None`` if
    the mask has no error."""
    missed, spilled = target & ~pred, pred & ~target
    best = None
    for region, label in ((missed, 1), (spilled, 0)):
        if region.any():
            dist = distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
            y, x = np.unravel_index(int(dist.argmax()), dist.shape)
            if best is None or dist[y, x] > best[2]:
                best = ((float(x), float(y)), label, dist[y, x])
    return None if best is None else best[:2]


def refinement_sweep(model, samples: Iterable[Mapping], corrections: int = 2, seed: int = 0, min_area: int = 64,
                     progress: bool = True) -> pd.DataFrame:
    """Score interactive refinement on every object (of at least ``min_area`` px) of ``samples``.

    Args:
        model: a ``Sam`` or a :class:`PromptPredictor`.
        samples: dicts with ``image`` and ``instance`` (e.g. a :func:`gsam_lab.data.heldout_domains` dataset).
        corrections: corrective clicks after the first (random positive) click.

    Returns:
        one row per object: ``image``, ``object``, ``area``, and the IoU of ``1 click`` (SAM's three
        candidates, the one with the highest predicted IoU), ``1 click oracle`` (the best of the three),
        ``clicks + mask`` and ``clicks only`` (after the corrections), ``box`` and ``box + own logits``.
    """
    pred = model if isinstance(model, PromptPredictor) else PromptPredictor(model)
    it = samples
    if progress:
        it = progress_bar(samples, desc="refinement sweep")
    rows = []
    for i, s in enumerate(it):
        img = as_rgb_uint8(s["image"])
        inst = np.asarray(s["instance"])
        pred.set_image(img)
        ids, areas = np.unique(inst[inst > 0], return_counts=True)
        for o, area in zip(ids[areas >= min_area], areas[areas >= min_area]):
            gt = inst == o
            rows.append(dict(image=i, object=int(o), area=int(area), **_one_object(pred, gt, corrections,
                                                                                    (seed, i, int(o)))))
    return pd.DataFrame(rows)


def _iou(mask: torch.Tensor, gt: np.ndarray) -> float:
    return float(metrics.mask_iou(mask.cpu(), torch.as_tensor(gt)))


def _one_object(pred: PromptPredictor, gt: np.ndarray, corrections: int, where) -> dict:
    pts, labs = PromptSampler(list(where)).points(gt, 1)
    pts, labs = [tuple(pts[0])], [int(labs[0])]
    first = pred.predict(points=np.array([pts]), labels=np.array([labs]), multimask=True)
    best = int(first.iou_predictions[0].argmax())            # SAM's choice for an ambiguous click
    out = {"1 click": _iou(first.masks[0, best], gt),
           "1 click oracle": max(_iou(first.masks[0, c], gt) for c in range(first.masks.shape[1]))}
    for use_mask in (True, False):
        p, lab = list(pts), list(labs)
        mask, logits = first.masks[0, best].cpu().numpy(), first.low_res_logits[:, best:best + 1]
        for _ in range(corrections):
            click = corrective_click(mask, gt)
            if click is None:
                break
            p.append(click[0])
            lab.append(click[1])
            res = pred.predict(points=np.array([p]), labels=np.array([lab]),
                               mask_input=logits if use_mask else None)
            mask, logits = res.masks[0].cpu().numpy(), res.low_res_logits
        out["clicks + mask" if use_mask else "clicks only"] = _iou(torch.as_tensor(mask), gt)
    box = PromptSampler(0).gt_box(gt)[None]
    once = pred.predict(boxes=box)
    twice = pred.predict(boxes=box, mask_input=once.low_res_logits)
    out.update({"box": _iou(once.masks[0], gt), "box + own logits": _iou(twice.masks[0], gt)})
    return out


def refinement_summary(table: pd.DataFrame, domain: Optional[str] = None) -> pd.DataFrame:
    """Mean IoU with a 95 % bootstrap interval over objects for each column of :func:`refinement_sweep`."""
    cols = ["1 click", "1 click oracle", "clicks + mask", "clicks only", "box", "box + own logits"]
    rows = []
    for c in cols:
        m, lo, hi = bootstrap_ci(table[c])
        rows.append(dict(setting=c, n=len(table), miou=m, miou_lo=lo, miou_hi=hi))
    out = pd.DataFrame(rows)
    if domain is not None:
        out.insert(0, "domain", domain)
    return out
