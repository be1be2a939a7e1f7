"""Segmentation metrics: confusion matrix, mIoU, mask IoU, boundary IoU, stability, latitude bands.

Label maps in ``labels.py``, binary masks in ``masks.py``; every name is imported here, so
``metrics.miou`` and ``from gsam_lab.metrics import ConfusionMeter`` work.

Everything is torch-based and runs on the device of its inputs (CPU, CUDA or MPS); numpy arrays
are accepted wherever tensors are and are converted with :func:`torch.as_tensor`.

Two kinds of input:

* **label maps**: integer tensors of shape ``H x W`` or ``B x H x W`` holding class ids
  ``0 .. K-1``, with ``ignore_index`` (default 255) marking unlabelled ground-truth pixels;
* **binary masks**: ``bool`` tensors, or numeric tensors whose values are all 0 or 1, of shape
  ``H x W`` or ``N x H x W`` (leading dimensions broadcast against each other).

Conventions (stated once, used everywhere):

* the confusion matrix has **rows = ground truth, columns = prediction**;
* a class whose union is empty (absent from both prediction and ground truth) has IoU ``NaN`` and is
  left out of every mean (``nanmean``); a mean over no class at all is ``NaN``;
* the IoU of two **empty** binary masks is **1.0** (they agree perfectly); the same holds for
  boundary IoU. This keeps stability scores of a prompt that always yields "nothing" at 1.

Reference for boundary IoU: B. Cheng, R. Girshick, P. Dollar, A. C. Berg, A. Kirillov,
"Boundary IoU: Improving Object-Centric Image Segmentation Evaluation", CVPR 2021.
"""
from .labels import (
    ConfusionMeter,
    confusion_matrix,
    iou_from_confusion,
    latitude_band_edges,
    latitude_miou,
    miou,
    per_class_iou,
    pixel_accuracy,
    semantic_boundary_miou,
)
from .masks import boundary_iou, mask_iou, mask_to_boundary, mean_pairwise_iou

__all__ = [
    # labels.py
    "ConfusionMeter", "confusion_matrix", "iou_from_confusion", "latitude_band_edges", "latitude_miou", "miou",
    "per_class_iou", "pixel_accuracy", "semantic_boundary_miou",
    # masks.py
    "boundary_iou", "mask_iou", "mask_to_boundary", "mean_pairwise_iou",
]
