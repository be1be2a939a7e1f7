"""Metrics of binary masks: mask IoU, boundaries and boundary IoU, stability across prompt draws.

Conventions in :mod:`gsam_lab.metrics`.
"""
from __future__ import annotations

import math
import numbers
from typing import Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

ArrayLike = Union[torch.Tensor, np.ndarray]

__all__ = ["mask_iou", "mask_to_boundary", "boundary_iou", "mean_pairwise_iou"]


def to_tensor(x: ArrayLike, name: str) -> torch.Tensor:
    """A tensor from a tensor, a numpy array, a list or a scalar (label maps use it too)."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (np.ndarray, list, tuple)) or np.isscalar(x):
        return torch.as_tensor(np.asarray(x))
    raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}")


# ----------------------------------------------------------------------------------------------
# binary masks
# ----------------------------------------------------------------------------------------------

def _as_mask(x: ArrayLike, name: str) -> torch.Tensor:
    t = to_tensor(x, name)
    if t.dtype != torch.bool:
        if t.numel() and not bool(((t == 0) | (t == 1)).all()):
            raise ValueError(f"{name} must be a binary mask (bool, or values 0/1); got dtype {t.dtype} "
                             f"with other values: threshold probabilities or logits first")
        t = t != 0
    if t.ndim < 2:
        raise ValueError(f"{name} must be a mask of shape H x W or N x H x W, got shape {tuple(t.shape)}")
    return t


def _mask_pair(a: ArrayLike, b: ArrayLike, expand: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
    """Two masks checked to broadcast, ``b`` on ``a``'s device; expanded to one shape unless ``expand=False``."""
    a, b = _as_mask(a, "a"), _as_mask(b, "b")
    if a.shape[-2:] != b.shape[-2:]:
        raise ValueError(f"masks must have the same H x W, got a {tuple(a.shape)} and b {tuple(b.shape)}")
    try:
        shape = torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError as e:
        raise ValueError(f"mask batches do not broadcast: a {tuple(a.shape)} and b {tuple(b.shape)}") from e
    b = b.to(a.device)
    return (a.expand(shape), b.expand(shape)) if expand else (a, b)


def _iou_counts(inter: torch.Tensor, union: torch.Tensor) -> torch.Tensor:
    """``inter / union`` with the empty-vs-empty convention (union 0 -> 1.0)."""
    inter, union = inter.double(), union.double()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def _scalar_or_batch(x: torch.Tensor, batched: bool):
    return x if batched else float(x)


def mask_iou(a: ArrayLike, b: ArrayLike) -> Union[float, torch.Tensor]:
    """IoU of binary masks.

    Args:
        a, b: ``H x W`` or ``... x H x W`` binary masks; leading dimensions broadcast
            (e.g. ``N x H x W`` predictions against one ``H x W`` ground truth).

    Returns:
        a Python float for two ``H x W`` masks, else a float64 tensor of the broadcast leading
        shape (``N``). **Two empty masks have IoU 1.0** (perfect agreement on "nothing").
    """
    a, b = _mask_pair(a, b)
    inter = (a & b).flatten(-2).sum(-1)
    union = (a | b).flatten(-2).sum(-1)
    return _scalar_or_batch(_iou_counts(inter, union), a.ndim > 2)


def _dilation_pixels(h: int, w: int, dilation_ratio: float) -> int:
    ok = isinstance(dilation_ratio, numbers.Real) and not isinstance(dilation_ratio, bool)
    ratio = float(dilation_ratio) if ok else math.nan
    if not (math.isfinite(ratio) and ratio >= 0):
        raise ValueError(f"dilation_ratio must be a number >= 0 (the boundary width as a fraction of the image "
                         f"diagonal, e.g. 0.02), got {dilation_ratio!r}")
    return max(1, int(round(ratio * math.sqrt(h * h + w * w))))


def _box_sum(x: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Sums over sliding windows of length ``k`` along ``dim`` (valid part only), via a cumulative sum.

    O(1) per pixel whatever ``k``; a (2d+1)-square max-pool costs O(d^2) per pixel on CPU.
    """
    c = x.cumsum(dim, dtype=torch.int32)  # counts stay far below 2**31
    c = torch.cat([torch.zeros_like(c.narrow(dim, 0, 1)), c], dim)
    n = c.shape[dim]
    return c.narrow(dim, k, n - k) - c.narrow(dim, 0, n - k)


def mask_to_boundary(mask: ArrayLike, dilation_ratio: float = 0.02, wrap_lon: bool = False) -> torch.Tensor:
    """Inner boundary region of binary masks: mask pixels within distance ``d`` of the contour.

    ``d = max(1, round(dilation_ratio * sqrt(H^2 + W^2)))``. The boundary is ``mask & ~erode(mask)``
    where the erosion uses a **square** structuring element of side ``2d + 1`` (Chebyshev distance
    ``<= d``): a pixel is eroded when the ``(2d+1) x (2d+1)`` window around it holds a background
    pixel, i.e. a max-pool of the inverted mask, computed here as a separable box count. This is
    exactly what the reference code of Cheng et al. does (``cv2.erode`` with a 3x3 kernel iterated
    ``d`` times: ``d`` erosions by a 3x3 square equal one erosion by a ``(2d+1)`` square). As in the
    reference, everything outside the image counts as background, so a mask touching the image
    border has a boundary there.

    Args:
        mask: ``H x W`` or ``N x H x W`` binary masks.
        dilation_ratio: boundary width as a fraction of the image diagonal.
        wrap_lon: for ERP images, treat the left and right edges as adjacent (the ±180° seam is not
            a border): columns wrap around instead of being padded with background.

    Returns:
        a bool tensor of the input's shape.
    """
    m = _as_mask(mask, "mask")
    h, w = m.shape[-2:]
    d = _dilation_pixels(h, w, dilation_ratio)
    lead = m.shape[:-2]
    x = (~m).reshape(-1, h, w).to(torch.int32)
    if wrap_lon:
        reps = -(-d // w)  # the seam may need more than one full copy when d > W
        x = torch.cat([x] * (2 * reps + 1), dim=-1)[..., reps * w - d: reps * w + w + d]
        x = F.pad(x, (0, 0, d, d), value=1)
    else:
        x = F.pad(x, (d, d, d, d), value=1)
    near_background = _box_sum(_box_sum(x, 2 * d + 1, -1), 2 * d + 1, -2) > 0
    return m & near_background.reshape(*lead, h, w)


def boundary_iou(a: ArrayLike, b: ArrayLike, dilation_ratio: float = 0.02,
                 wrap_lon: bool = False) -> Union[float, torch.Tensor]:
    """Boundary IoU (Cheng et al. 2021) of binary masks: the IoU of their :func:`mask_to_boundary` regions.

    Shapes and return type as :func:`mask_iou` (float for ``H x W``, tensor ``N`` for batches);
    two masks with empty boundaries (both empty) give 1.0. ``d`` is computed from ``H x W``.
    """
    a, b = _mask_pair(a, b, expand=False)      # each boundary once, then broadcast (one GT against N draws)
    ba, bb = torch.broadcast_tensors(mask_to_boundary(a, dilation_ratio, wrap_lon),
                                     mask_to_boundary(b, dilation_ratio, wrap_lon))
    inter = (ba & bb).flatten(-2).sum(-1)
    union = (ba | bb).flatten(-2).sum(-1)
    return _scalar_or_batch(_iou_counts(inter, union), ba.ndim > 2)


def mean_pairwise_iou(masks: ArrayLike) -> Union[float, torch.Tensor]:
    """Stability of one object's masks across prompt draws: mean IoU over all pairs.

    Args:
        masks: ``N x H x W`` binary masks of one object from ``N >= 2`` prompt draws, or
            ``B x N x H x W`` for ``B`` objects at once.

    Returns:
        the mean of the ``N (N-1) / 2`` pairwise IoUs (float, or a float64 tensor ``B``). Empty vs
        empty counts as IoU 1.0 (see :func:`mask_iou`).

    All pairwise intersections come from a matrix product of the flattened masks (``M @ M.T``,
    taken over chunks of pixels to bound memory), instead of ``N^2`` passes over the masks.
    """
    m = _as_mask(masks, "masks")
    if m.ndim not in (3, 4):
        raise ValueError(f"masks must be N x H x W (or B x N x H x W), got shape {tuple(m.shape)}")
    batched = m.ndim == 4
    if not batched:
        m = m[None]
    n = m.shape[1]
    if n < 2:
        raise ValueError(f"mean_pairwise_iou needs at least 2 masks per object, got N={n}")
    # float64 keeps the counts exact (float32 would be exact only below 2**24 pixels, and TF32
    # matmuls on GPUs are not exact at all); MPS has no float64.
    dtype = torch.float32 if m.device.type == "mps" else torch.float64
    flat = m.flatten(2)                                 # B x N x P (bool)
    b, p = flat.shape[0], flat.shape[2]
    chunk = max(1, (1 << 24) // (b * n))                # at most ~128 MB of float64 at a time
    inter = torch.zeros(b, n, n, dtype=dtype, device=m.device)
    for s in range(0, p, chunk):
        f = flat[:, :, s:s + chunk].to(dtype)
        inter += f @ f.transpose(1, 2)                  # B x N x N
    area = inter.diagonal(dim1=1, dim2=2)               # B x N
    union = area[:, :, None] + area[:, None, :] - inter
    iou = _iou_counts(inter, union)
    iu = torch.triu_indices(n, n, offset=1, device=m.device)
    result = iou[:, iu[0], iu[1]].mean(-1)
    return result if batched else float(result[0])
