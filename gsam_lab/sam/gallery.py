"""One object, several prompts: predict, score and keep everything needed to draw them side by side.

::

    ps = PromptSampler(0)
    prompts = {"GT box": dict(boxes=ps.gt_box(gt)), "noisy s=0.4": dict(boxes=ps.noisy_box(gt, 0.4))}
    outs = prompt_outcomes(predictor.set_image(img), gt, prompts)
    viz.show_outcomes(img, outs)            # one panel per prompt: mask, prompt, IoU in the title
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, NamedTuple, Optional

import numpy as np

from gsam_lab import metrics

from .prompts import PromptSampler, as_binary_mask

__all__ = ["PromptOutcome", "prompt_outcomes", "casual_prompts"]


class PromptOutcome(NamedTuple):
    """The result of one prompt on one object.

    Attributes:
        name: the prompt's label. mask: ``H x W`` bool prediction. gt: ``H x W`` bool ground truth.
        iou, boundary_iou: against ``gt``. predicted_iou: SAM's own estimate.
        boxes: ``4`` XYXY or None. points: ``K x 2`` or None. labels: ``K`` or None.
    """

    name: str
    mask: np.ndarray
    gt: np.ndarray
    iou: float
    boundary_iou: float
    predicted_iou: float
    boxes: Optional[np.ndarray]
    points: Optional[np.ndarray]
    labels: Optional[np.ndarray]


def casual_prompts(gt, seed: Any = 0, noise=(0.2, 0.4), points=(1, 3)) -> Dict[str, Dict[str, np.ndarray]]:
    """The usual line-up for one object: the ground-truth box, one noisy box per noise scale and
    ``k`` random positive points per entry of ``points``; ``{name: predict kwargs}``."""
    ps = PromptSampler(seed)
    out: Dict[str, Dict[str, np.ndarray]] = {"GT box": dict(boxes=ps.gt_box(gt))}
    for s in noise:
        out[f"noisy box s={s:g}"] = dict(boxes=ps.noisy_box(gt, s))
    for k in points:
        p, lab = ps.points(gt, k)
        out[f"{k} point{'s' if k > 1 else ''}"] = dict(points=p, labels=lab)
    return out


def prompt_outcomes(predictor, gt, prompts: Mapping[str, Mapping[str, Any]],
                    dilation_ratio: float = 0.02) -> List[PromptOutcome]:
    """Predict one mask per prompt (the predictor's image must be set) and score it against ``gt``.

    Args:
        predictor: a :class:`PromptPredictor` (or a Stable-SAM predictor) with an image set.
        gt: ``H x W`` ground-truth mask of the object.
        prompts: ``{name: dict(boxes=(4,), points=(K, 2), labels=(K,))}``, any of the keys.
    """
    gt = as_binary_mask(gt, "gt")
    if predictor.original_size is not None and tuple(gt.shape) != tuple(predictor.original_size):
        raise ValueError(f"gt must be {tuple(predictor.original_size)} like the predictor's image, got {gt.shape}")
    outs = []
    for name, kw in prompts.items():
        unknown = set(kw) - {"boxes", "points", "labels"}
        if unknown:
            raise ValueError(f"prompt {name!r}: unknown keys {sorted(unknown)}; expected boxes, points, labels")
        box = None if kw.get("boxes") is None else np.asarray(kw["boxes"], np.float32).reshape(4)
        pts = None if kw.get("points") is None else np.asarray(kw["points"], np.float32).reshape(-1, 2)
        lab = None if pts is None else np.asarray(kw.get("labels", np.ones(len(pts))), np.int64).reshape(-1)
        out = predictor.predict(boxes=None if box is None else box[None],
                                points=None if pts is None else pts[None],
                                labels=None if lab is None else lab[None])
        mask = np.asarray(out.masks[0].cpu()).astype(bool)
        iou = float(metrics.mask_iou(mask, gt))
        biou = float(metrics.boundary_iou(mask, gt, dilation_ratio=dilation_ratio))
        outs.append(PromptOutcome(name, mask, gt, iou, biou, float(out.iou_predictions[0]), box, pts, lab))
    return outs
