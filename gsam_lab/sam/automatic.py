"""``automatic_masks``: SAM's "segment everything" masks, through ``SamAutomaticMaskGenerator``.

A grid of ``points_per_side x points_per_side`` single-point prompts is decoded in batches; masks
are kept when the predicted IoU and the stability score (IoU of the mask thresholded at
``+offset`` and ``-offset``) pass their thresholds, then de-duplicated by box NMS.
"""
from __future__ import annotations

import importlib.util
from typing import Any, Dict, List, Union

import numpy as np
import torch
from segment_anything import SamAutomaticMaskGenerator
from segment_anything.modeling import Sam

from .images import as_rgb_uint8

__all__ = ["automatic_masks"]


def automatic_masks(model: Sam, img: Union[np.ndarray, torch.Tensor], points_per_side: int = 16,
                    pred_iou_thresh: float = 0.88, stability_score_thresh: float = 0.95,
                    min_mask_region_area: int = 0, points_per_batch: int = 64,
                    box_nms_thresh: float = 0.7, stability_score_offset: float = 1.0,
                    **kw: Any) -> List[Dict[str, Any]]:
    """All masks SAM finds in ``img``, largest first.

    Args:
        model: a ``Sam`` (:func:`gsam_lab.sam.load_sam`).
        img: ``H x W x 3`` uint8 (float in [0, 1] and ``3 x H x W`` torch tensors accepted, see
            :func:`gsam_lab.sam.images.as_rgb_uint8`).
        points_per_side: the prompt grid is ``points_per_side ** 2`` points (SAM's default is 32).
        pred_iou_thresh: keep masks whose predicted IoU is at least this (SAM: 0.88).
        stability_score_thresh: keep masks whose stability score is at least this (SAM: 0.95).
        min_mask_region_area: if > 0, remove holes and islands smaller than this many pixels
            (needs OpenCV, ``pip install opencv-python-headless``).
        points_per_batch: grid points decoded per batch.
        box_nms_thresh: box IoU above which duplicates are suppressed.
        stability_score_offset: logit offset of the stability score.
        **kw: any other ``SamAutomaticMaskGenerator`` argument (``crop_n_layers``, ``point_grids``, ...).

    Returns:
        list of dicts sorted by ``area`` (descending), each with ``segmentation`` (``H x W`` bool),
        ``area`` (pixels), ``bbox`` (``x, y, w, h``, XYWH as in SAM), ``predicted_iou``,
        ``stability_score``, ``point_coords`` and ``crop_box``.
    """
    if min_mask_region_area > 0 and importlib.util.find_spec("cv2") is None:
        raise ImportError("min_mask_region_area > 0 needs OpenCV: pip install opencv-python-headless "
                          "(or leave min_mask_region_area=0)")
    if kw.get("output_mode", "binary_mask") != "binary_mask":
        raise ValueError("automatic_masks returns binary masks; use SamAutomaticMaskGenerator directly for RLE")
    image = as_rgb_uint8(img, "img")
    gen = SamAutomaticMaskGenerator(
        model.eval(), points_per_side=points_per_side, points_per_batch=points_per_batch,
        pred_iou_thresh=pred_iou_thresh, stability_score_thresh=stability_score_thresh,
        stability_score_offset=stability_score_offset, box_nms_thresh=box_nms_thresh,
        min_mask_region_area=min_mask_region_area, **kw)
    with torch.no_grad():
        masks = gen.generate(image)
    return sorted(masks, key=lambda m: m["area"], reverse=True)
