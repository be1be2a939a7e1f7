"""``automatic_masks``: SAM's "segment everything" masks of one image, from a grid of point prompts.

The recipe of SAM's automatic mask generator, kept lean enough to step through:

1. :func:`point_grid`: a regular grid of single-point prompts over the image;
2. decode every point once, keeping all 3 of SAM's candidate masks per point (low-resolution logits);
3. keep the candidates whose predicted IoU, stability and area pass their thresholds; the
   stability of a mask is its area at logit ``> +offset`` over its area at logit ``> -offset``
   (1 for a mask with sharp edges);
4. :func:`greedy_mask_nms`: drop the candidates that overlap a better one (by IoU x stability);
5. upsample the kept masks to the image's size, largest first.

Steps 3 and 4 run on the decoder's low-resolution logits, so only the kept masks are upsampled:
on a CPU this is about ten times faster than ``segment_anything``'s ``SamAutomaticMaskGenerator``,
which upsamples every candidate and de-duplicates by box NMS.
"""
from __future__ import annotations

from typing import List, NamedTuple, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything.modeling import Sam

from .predictor import PromptPredictor

__all__ = ["AutoMasks", "automatic_masks", "point_grid", "greedy_mask_nms"]


class AutoMasks(NamedTuple):
    """Output of :func:`automatic_masks` (on the model's device): ``masks`` ``N x H x W`` bool, largest
    first, and ``iou`` ``N`` float, SAM's predicted IoU of each mask."""

    masks: torch.Tensor
    iou: torch.Tensor


def point_grid(hw: Tuple[int, int], points_per_side: int) -> np.ndarray:
    """``N x 1 x 2`` pixel points ``(x, y)`` at the centres of a grid over an ``H x W`` image:
    ``points_per_side`` rows and ``points_per_side * W / H`` columns (twice as many on a 2:1 ERP)."""
    hh, ww = hw
    n = int(points_per_side)
    if n < 1:
        raise ValueError(f"points_per_side must be a positive int, got {points_per_side!r}")
    ys = (torch.arange(n, dtype=torch.float64) + 0.5) / n * hh
    ncol = max(1, round(n * ww / hh))
    xs = (torch.arange(ncol, dtype=torch.float64) + 0.5) / ncol * ww
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return np.stack([gx.flatten().numpy(), gy.flatten().numpy()], -1)[:, None]


def greedy_mask_nms(masks: torch.Tensor, nms_iou: float) -> List[int]:
    """Positions of the masks kept by greedy non-maximum suppression on mask IoU.

    ``masks`` (``N x ...``, bool or 0/1) come best first; a mask is kept unless its IoU with an
    already kept one reaches ``nms_iou``.
    """
    flat = masks.flatten(1).float()
    inter = flat @ flat.T
    union = flat.sum(1)[:, None] + flat.sum(1)[None, :] - inter
    miou = inter / union.clamp_min(1)
    chosen: List[int] = []
    for i in range(len(flat)):
        if all(float(miou[i, j]) < nms_iou for j in chosen):
            chosen.append(i)
    return chosen


def _decode_grid(pred: PromptPredictor, points: np.ndarray, points_per_batch: int):
    """All 3 candidate masks of each point: low-res logits ``M x h x w`` (the padding cropped off) and IoU ``M``."""
    dev = pred.device
    pts = torch.as_tensor(pred.transform.apply_coords(points, pred.original_size), dtype=torch.float32, device=dev)
    lab = torch.ones(len(points), 1, dtype=torch.int, device=dev)
    lows, ious = [], []
    for s in range(0, len(points), points_per_batch):
        low, iou = pred.decode(pts[s:s + points_per_batch], lab[s:s + points_per_batch], None, None, True)
        lows.append(low.flatten(0, 1))
        ious.append(iou.flatten())
    low, iou = torch.cat(lows), torch.cat(ious)
    size = pred.model.image_encoder.img_size
    lh, lw = low.shape[-2:]
    vh = max(1, round(pred.input_size[0] * lh / size))
    vw = max(1, round(pred.input_size[1] * lw / size))
    return low[:, :vh, :vw], iou                                        # the image part (no padding)


@torch.no_grad()
def automatic_masks(model: Sam, image: Union[np.ndarray, torch.Tensor], points_per_side: int = 8,
                    pred_iou_thresh: float = 0.6, stability_thresh: float = 0.7, nms_iou: float = 0.7,
                    min_area: float = 1e-3, stability_offset: float = 0.25, points_per_batch: int = 64) -> AutoMasks:
    """All masks SAM finds in ``image`` (the recipe in the module docstring).

    Args:
        model: a ``Sam`` (:func:`gsam_lab.sam.load_sam`).
        image: ``H x W x 3`` uint8 (float in [0, 1] and ``3 x H x W`` torch tensors accepted, see
            :func:`gsam_lab.images.as_rgb_uint8`).
        points_per_side: grid rows (see :func:`point_grid`; SAM's generator uses 32 x 32 points).
        pred_iou_thresh: keep candidates whose predicted IoU is at least this.
        stability_thresh: keep candidates whose stability is at least this.
        nms_iou: mask IoU at which a candidate is a duplicate of a better one.
        min_area: keep candidates covering at least this fraction of the image.
        stability_offset: the logit offset of the stability (0.25: the tiny SAM's logits are flatter
            than Meta's, whose generator uses 1.0).
        points_per_batch: points decoded per decoder call.

    Returns:
        :class:`AutoMasks` ``(masks N x H x W bool, iou N)``, largest mask first.
    """
    pred = PromptPredictor(model).set_image(image)
    hh, ww = pred.original_size
    low, iou = _decode_grid(pred, point_grid((hh, ww), points_per_side), int(points_per_batch))
    hi, lo = (low > stability_offset).flatten(1), (low > -stability_offset).flatten(1)
    area = (low > 0).flatten(1).sum(1).float()
    stab = hi.sum(1).float() / lo.sum(1).float().clamp_min(1)
    keep = (iou >= pred_iou_thresh) & (stab >= stability_thresh) & (area >= min_area * low.shape[-2] * low.shape[-1])
    idx = torch.nonzero(keep).flatten()
    idx = idx[torch.argsort((iou * stab)[idx], descending=True)]       # best first
    sel = idx[greedy_mask_nms(low[idx] > 0, nms_iou)]
    if len(sel) == 0:
        dev = pred.device
        return AutoMasks(torch.zeros(0, hh, ww, dtype=torch.bool, device=dev), torch.zeros(0, device=dev))
    up = F.interpolate(low[sel][:, None], size=(hh, ww), mode="bilinear", align_corners=False)[:, 0] > 0
    order = torch.argsort(up.flatten(1).sum(1), descending=True)
    return AutoMasks(up[order], iou[sel][order].clamp(0, 1).float())
