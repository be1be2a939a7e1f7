"""Metrics of label maps: confusion matrix, mIoU, pixel accuracy, boundary mIoU, mIoU per latitude band.

Conventions in :mod:`gsam_lab.metrics`.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import torch

from .masks import ArrayLike, mask_to_boundary, to_tensor

__all__ = ["confusion_matrix", "iou_from_confusion", "miou", "per_class_iou", "pixel_accuracy", "ConfusionMeter",
           "semantic_boundary_miou", "latitude_band_edges", "latitude_miou"]


# ----------------------------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------------------------

def _label_pair(pred: ArrayLike, gt: ArrayLike) -> Tuple[torch.Tensor, torch.Tensor]:
    """Convert, check dtypes and shapes, and put ``gt`` on ``pred``'s device."""
    pred = to_tensor(pred, "pred")
    gt = to_tensor(gt, "gt")
    for name, t in (("pred", pred), ("gt", gt)):
        if t.is_floating_point() or t.is_complex():
            raise ValueError(f"{name} must be an integer label map (class ids), got dtype {t.dtype}; "
                             f"take argmax over the class dimension of logits first")
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt must have the same shape, got pred {tuple(pred.shape)} "
                         f"and gt {tuple(gt.shape)}")
    return pred.long(), gt.to(pred.device).long()


def _check_num_classes(num_classes: int) -> int:
    if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    return int(num_classes)


def _valid_pairs(pred: torch.Tensor, gt: torch.Tensor, num_classes: int, ignore_index: Optional[int]):
    """Flattened (gt, pred) of the pixels that count, after range checks. Also returns the mask."""
    valid = torch.ones_like(gt, dtype=torch.bool) if ignore_index is None else gt != ignore_index
    g, p = gt[valid], pred[valid]
    if g.numel():
        gmin, gmax, pmin, pmax = (int(v) for v in torch.stack((g.min(), g.max(), p.min(), p.max())).tolist())
        if gmin < 0 or gmax >= num_classes:
            bad = gmin if gmin < 0 else gmax
            raise ValueError(f"gt holds class id {bad}, outside 0..{num_classes - 1} "
                             f"(and not the ignore_index {ignore_index})")
        if pmin < 0 or pmax >= num_classes:
            bad = pmin if pmin < 0 else pmax
            raise ValueError(f"pred holds class id {bad} at a labelled pixel, outside 0..{num_classes - 1}; "
                             f"predictions must be valid class ids wherever gt is not ignore_index")
    return g, p, valid


# ----------------------------------------------------------------------------------------------
# confusion matrix and mIoU
# ----------------------------------------------------------------------------------------------

def confusion_matrix(pred: ArrayLike, gt: ArrayLike, num_classes: int,
                     ignore_index: Optional[int] = 255) -> torch.Tensor:
    """Confusion matrix of two label maps.

    Args:
        pred: predicted class ids, ``H x W`` or ``B x H x W`` (any shape equal to ``gt``'s).
        gt: ground-truth class ids, same shape; pixels equal to ``ignore_index`` are skipped.
        num_classes: ``K``.
        ignore_index: ground-truth value to skip (``None``: skip nothing).

    Returns:
        ``K x K`` int64 tensor on ``pred``'s device; entry ``[i, j]`` counts pixels of ground-truth
        class ``i`` predicted as class ``j`` (rows = ground truth, columns = prediction).

    Raises:
        ValueError: shapes differ, a float map, or a class id outside ``0 .. K-1`` at a counted pixel
            (predictions under ignored ground-truth pixels are not checked).
    """
    k = _check_num_classes(num_classes)
    pred, gt = _label_pair(pred, gt)
    g, p, _ = _valid_pairs(pred, gt, k, ignore_index)
    return torch.bincount(g * k + p, minlength=k * k).reshape(k, k)


def iou_from_confusion(cm: ArrayLike) -> torch.Tensor:
    """Per-class IoU ``TP / (TP + FP + FN)`` from a ``K x K`` confusion matrix (rows = gt).

    Returns a float64 tensor of shape ``K``; ``NaN`` for classes absent from both gt and prediction.
    """
    cm = to_tensor(cm, "cm")
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"a confusion matrix must be square K x K, got shape {tuple(cm.shape)}")
    cm = cm.double()
    tp = cm.diagonal()
    union = cm.sum(0) + cm.sum(1) - tp
    return torch.where(union > 0, tp / union.clamp_min(1), torch.full_like(tp, float("nan")))


def _nanmean(x: torch.Tensor) -> float:
    keep = ~torch.isnan(x)
    return float(x[keep].mean()) if bool(keep.any()) else float("nan")


def per_class_iou(pred: ArrayLike, gt: ArrayLike, num_classes: int,
                  ignore_index: Optional[int] = 255) -> torch.Tensor:
    """Per-class IoU (float64 tensor of shape ``K``, ``NaN`` where the class is absent from both)."""
    return iou_from_confusion(confusion_matrix(pred, gt, num_classes, ignore_index))


def miou(pred: ArrayLike, gt: ArrayLike, num_classes: int, ignore_index: Optional[int] = 255) -> float:
    """Mean IoU over the classes present in the prediction or the ground truth (a Python float).

    For a batch ``B x H x W`` the confusion matrix is summed over the batch first (dataset-level
    mIoU), not averaged per image. ``NaN`` when no pixel counts.
    """
    return _nanmean(per_class_iou(pred, gt, num_classes, ignore_index))


def pixel_accuracy(pred: ArrayLike, gt: ArrayLike, num_classes: int, ignore_index: Optional[int] = 255) -> float:
    """Fraction of labelled pixels predicted correctly (``NaN`` when no pixel counts)."""
    cm = confusion_matrix(pred, gt, num_classes, ignore_index)
    total = int(cm.sum())
    return float(cm.diagonal().sum()) / total if total else float("nan")


class ConfusionMeter:
    """Accumulates a confusion matrix over a dataset.

    Example::

        meter = ConfusionMeter(len(data.CLASSES))
        for pred, gt in loader_outputs:
            meter.update(pred, gt)
        print(meter.miou(), meter.per_class_iou())

    The matrix lives on the device of the first ``update`` (``meter.cm``, ``K x K`` int64).
    """

    def __init__(self, num_classes: int, ignore_index: Optional[int] = 255):
        self.num_classes = _check_num_classes(num_classes)
        self.ignore_index = ignore_index
        self.cm: Optional[torch.Tensor] = None

    def reset(self) -> "ConfusionMeter":
        """Forget everything accumulated so far."""
        self.cm = None
        return self

    def update(self, pred: ArrayLike, gt: ArrayLike) -> "ConfusionMeter":
        """Add the pixels of one label map or one batch (same rules as :func:`confusion_matrix`)."""
        cm = confusion_matrix(pred, gt, self.num_classes, self.ignore_index)
        self.cm = cm if self.cm is None else self.cm + cm.to(self.cm.device)
        return self

    @property
    def confusion(self) -> torch.Tensor:
        """The accumulated ``K x K`` matrix (zeros before the first update)."""
        if self.cm is None:
            return torch.zeros(self.num_classes, self.num_classes, dtype=torch.long)
        return self.cm

    def per_class_iou(self) -> torch.Tensor:
        """Per-class IoU of everything seen (``NaN`` for classes never seen nor predicted)."""
        return iou_from_confusion(self.confusion)

    def miou(self) -> float:
        """Mean IoU of everything seen (``NaN`` before any labelled pixel)."""
        return _nanmean(self.per_class_iou())

    def pixel_accuracy(self) -> float:
        """Fraction of labelled pixels predicted correctly (``NaN`` before any labelled pixel)."""
        cm = self.confusion
        total = int(cm.sum())
        return float(cm.diagonal().sum()) / total if total else float("nan")

    def __repr__(self) -> str:
        n = int(self.confusion.sum())
        return f"ConfusionMeter(num_classes={self.num_classes}, pixels={n}, miou={self.miou():.4f})"


def semantic_boundary_miou(pred: ArrayLike, gt: ArrayLike, num_classes: int, dilation_ratio: float = 0.02,
                           ignore_index: Optional[int] = 255, wrap_lon: bool = False,
                           return_per_class: bool = False):
    """Mean over classes of the boundary IoU of the per-class masks ``pred == c`` and ``gt == c``.

    Boundary regions are computed on the full masks; then only pixels whose ground truth is not
    ``ignore_index`` are counted. For a batch ``B x H x W`` intersections and unions are summed over
    the batch per class (like the confusion matrix). A class absent from both maps (no boundary
    pixel in either) is ``NaN`` and left out of the mean.

    Returns:
        the mean as a float, or ``(mean, per_class)`` with a float64 tensor ``K`` when
        ``return_per_class``.
    """
    k = _check_num_classes(num_classes)
    pred, gt = _label_pair(pred, gt)
    if gt.ndim not in (2, 3):
        raise ValueError(f"label maps must be H x W or B x H x W, got shape {tuple(gt.shape)}")
    _valid_pairs(pred, gt, k, ignore_index)  # range checks only
    valid = torch.ones_like(gt, dtype=torch.bool) if ignore_index is None else gt != ignore_index
    if gt.ndim == 2:
        pred, gt, valid = pred[None], gt[None], valid[None]
    inters, unions = [], []
    for c in range(k):  # one class at a time keeps memory at B x H x W
        bp = mask_to_boundary(pred == c, dilation_ratio, wrap_lon) & valid
        bg = mask_to_boundary(gt == c, dilation_ratio, wrap_lon) & valid
        inters.append((bp & bg).sum())
        unions.append((bp | bg).sum())
    inter, union = torch.stack(inters).double(), torch.stack(unions).double()
    per_class = torch.where(union > 0, inter / union.clamp_min(1), torch.full_like(union, float("nan")))
    mean = _nanmean(per_class)
    return (mean, per_class) if return_per_class else mean


# ----------------------------------------------------------------------------------------------
# latitude bands of equirectangular label maps
# ----------------------------------------------------------------------------------------------

def latitude_band_edges(h: int, bands: int,
                        lat_range: Tuple[float, float] = (90.0, -90.0)) -> Tuple[List[int], List[float]]:
    """Split the ``h`` rows of an ERP into ``bands`` bands of equal latitude extent.

    Row ``i`` has its centre at latitude ``lat_top + (i + 0.5) / h * (lat_bottom - lat_top)``
    (``lat_range = (lat_top, lat_bottom)`` in degrees; the default is a full-sphere ERP, row 0 at the
    north pole, as in :mod:`gsam_lab.panorama.sphere`). A row belongs to the band that holds its
    centre, so when ``bands`` does not divide ``h`` the bands differ by at most one row.

    Returns:
        ``(row_edges, lat_edges)``, two lists of length ``bands + 1``: band ``k`` is rows
        ``row_edges[k] : row_edges[k+1]`` and latitudes from ``lat_edges[k]`` (top) down to
        ``lat_edges[k+1]`` (bottom), in degrees.
    """
    if not isinstance(h, (int, np.integer)) or h < 1:
        raise ValueError(f"h must be a positive number of rows, got {h!r}")
    if not isinstance(bands, (int, np.integer)) or not 1 <= bands <= h:
        raise ValueError(f"bands must be an int in 1..h={h}, got {bands!r}")
    top, bottom = float(lat_range[0]), float(lat_range[1])
    if not top > bottom:
        raise ValueError(f"lat_range must be (top, bottom) with top > bottom in degrees, got {lat_range!r}")
    h, bands = int(h), int(bands)
    # first row of band k: smallest i with (i + 0.5) / h >= k / bands, in integers
    row_edges = [min(h, max(0, -(-(2 * k * h - bands) // (2 * bands)))) for k in range(bands + 1)]
    lat_edges = [top + (bottom - top) * k / bands for k in range(bands + 1)]
    return row_edges, lat_edges


def latitude_miou(pred: ArrayLike, gt: ArrayLike, num_classes: int, bands: int = 6,
                  ignore_index: Optional[int] = 255, lat_range: Tuple[float, float] = (90.0, -90.0)):
    """mIoU of ERP label maps per latitude band (how accuracy changes from the poles to the equator).

    Args:
        pred, gt: ERP label maps ``H x W`` or ``B x H x W`` (row 0 = top = ``lat_range[0]``).
        num_classes, ignore_index: as in :func:`miou`.
        bands: number of equal-latitude bands (see :func:`latitude_band_edges`).
        lat_range: latitudes of the top and bottom image edges in degrees; ``(90, -90)`` for a full
            panorama, e.g. about ``(35, -35)`` for a DensePASS-style crop.

    Returns:
        a pandas DataFrame with one row per band, top to bottom, and columns ``band``,
        ``row_start``, ``row_stop``, ``lat_min``, ``lat_max`` (degrees), ``miou`` (NaN for a band with no
        labelled pixel), ``pixel_acc`` (the fraction of the band's labelled pixels labelled right) and
        ``pixel_share`` (the band's fraction of all labelled pixels). Read ``miou`` beside ``pixel_acc``:
        a band that holds one or two classes (sky at the top, road at the bottom) can score a low mIoU
        from a few stray pixels of other classes while nearly every pixel is right.
    """
    import pandas as pd

    k = _check_num_classes(num_classes)
    pred, gt = _label_pair(pred, gt)
    if gt.ndim not in (2, 3):
        raise ValueError(f"ERP label maps must be H x W or B x H x W, got shape {tuple(gt.shape)}")
    h = gt.shape[-2]
    row_edges, lat_edges = latitude_band_edges(h, bands, lat_range)
    g, p, valid = _valid_pairs(pred, gt, k, ignore_index)
    band_of_row = torch.zeros(h, dtype=torch.long)
    for b in range(bands):
        band_of_row[row_edges[b]:row_edges[b + 1]] = b
    band_map = band_of_row.to(gt.device).view(h, 1).expand(gt.shape[-2:]).expand(gt.shape)
    idx = band_map[valid] * (k * k) + g * k + p
    cms = torch.bincount(idx, minlength=bands * k * k).reshape(bands, k, k)
    counts = cms.sum((1, 2)).double()
    total = float(counts.sum())
    rows = []
    for b in range(bands):
        rows.append({
            "band": b,
            "row_start": row_edges[b],
            "row_stop": row_edges[b + 1],
            "lat_min": min(lat_edges[b], lat_edges[b + 1]),
            "lat_max": max(lat_edges[b], lat_edges[b + 1]),
            "miou": _nanmean(iou_from_confusion(cms[b])),
            "pixel_acc": float(cms[b].diagonal().sum()) / float(counts[b]) if counts[b] else float("nan"),
            "pixel_share": float(counts[b]) / total if total else float("nan"),
        })
    return pd.DataFrame(rows)
