"""Prompt sampling from ground-truth masks: boxes, noisy boxes (HQ-SAM's and SAM's noise) and random points,
and the table of prompt kinds (:data:`PROMPT_KINDS`) that sweeps, evaluations, plots and training read.

Coordinate conventions (the same as ``segment_anything``):

* a **box** is ``x0, y0, x1, y1`` (XYXY) in pixel coordinates of the image, ``x`` = column,
  ``y`` = row. A ground-truth box spans the extreme mask pixels *inclusively*: ``x1`` is the index
  of the last mask column (as ``torchvision.ops.masks_to_boxes`` and SAM's ``batched_mask_to_box``).
* a **point** is ``(x, y)`` = (column, row) of a pixel; labels are 1 (positive) / 0 (negative).

All draws come from one ``numpy.random.Generator`` seeded at construction, so the same seed and the
same sequence of calls give the same prompts.

A prompt *kind* (``"gt_box"``, ``"noisy_box"``, ``"points"``) names a :class:`PromptSampler` method, the
name of its one parameter, how its settings are labelled and whether it is a box: one
:class:`PromptKind` row of :data:`PROMPT_KINDS`. :func:`prompt_kind` looks a kind up and names the
known ones when it is not there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch

__all__ = ["PromptSampler", "as_binary_mask", "PromptKind", "PROMPT_KINDS", "prompt_kind"]

ArrayLike = Union[np.ndarray, torch.Tensor]
Seed = Union[int, Sequence[int], np.random.SeedSequence, np.random.Generator, None]


def as_binary_mask(mask: ArrayLike, name: str = "mask") -> np.ndarray:
    """``H x W`` bool numpy array from a bool or 0/1 integer array/tensor; clear errors otherwise."""
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"{name} must be a single H x W mask, got shape {mask.shape}")
    if mask.dtype == bool:
        return mask
    if np.issubdtype(mask.dtype, np.integer):
        if mask.size and (mask.min() < 0 or mask.max() > 1):
            raise ValueError(f"{name} must be binary (0/1 or bool); got integer values in "
                             f"[{mask.min()}, {mask.max()}] - pass e.g. instance == object_id")
        return mask.astype(bool)
    raise TypeError(f"{name} must be a bool (or 0/1 integer) H x W array, got dtype {mask.dtype}; "
                    f"threshold soft masks first (mask > 0.5)")


def _nonempty(mask: ArrayLike) -> np.ndarray:
    m = as_binary_mask(mask)
    if not m.any():
        raise ValueError("mask is empty: no prompt can be drawn for an object with no pixels")
    return m


def _box_of(m: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(m.any(1))
    cols = np.flatnonzero(m.any(0))
    return np.array([cols[0], rows[0], cols[-1], rows[-1]], dtype=np.float32)


class PromptSampler:
    """Seeded source of prompts drawn from binary object masks.

    Args:
        seed: anything ``numpy.random.default_rng`` accepts (an int, a list of ints, a
            ``SeedSequence``). ``[seed, image, object]`` gives independent reproducible streams; a
            ``Generator`` is used as it is, so the sampler draws from (and advances) that stream.

    Every method takes ``mask``: ``H x W`` bool (or 0/1 integer) array or tensor, not empty.
    With ``n=None`` one prompt is returned; with ``n`` an int, ``n`` independent draws stacked
    along a new first axis.
    """

    def __init__(self, seed: Seed = 0):
        self.rng = np.random.default_rng(seed)

    # -- boxes --------------------------------------------------------------------------------
    def gt_box(self, mask: ArrayLike, n: Optional[int] = None) -> np.ndarray:
        """Tight ground-truth box ``(4,)`` float32 XYXY; contains every mask pixel (inclusive). With ``n``,
        the same box ``n`` times (``n x 4``): no randomness, every draw is the box."""
        box = _box_of(_nonempty(mask))
        return box if n is None else np.repeat(box[None], self._check_n(n), 0)

    def noisy_box(self, mask: ArrayLike, scale: float, n: Optional[int] = None) -> np.ndarray:
        """HQ-SAM-style noisy box(es): ``(4,)``, or ``n x 4`` float32 XYXY.

        With the tight box's centre ``(cx, cy)`` and size ``(w, h)`` (``w = x1 - x0 + 1``, pixels
        covered) and ``s = scale``::

            cx' = cx + U(-1, 1) * w/2 * s        w' = max(1, w + U(-1, 1) * w * s)
            cy' = cy + U(-1, 1) * h/2 * s        h' = max(1, h + U(-1, 1) * h * s)

        (four independent uniforms). Clipping rule: the box ``[cx' - w'/2, cx' + w'/2 - 1]`` (and the
        same in y) is clipped to the image, ``0 <= x <= W-1`` and ``0 <= y <= H-1``; if clipping leaves
        it thinner than one pixel (a box pushed off the image), it is set to the one-pixel line at
        the image border it left through, so every box is valid and inside the image.
        ``scale = 0`` returns the ground-truth box.
        """
        if not np.isfinite(scale) or scale < 0:
            raise ValueError(f"scale must be a finite number >= 0, got {scale!r}")
        m = _nonempty(mask)
        H, W = m.shape
        x0, y0, x1, y1 = _box_of(m).astype(np.float64)
        w, h = x1 - x0 + 1, y1 - y0 + 1
        cx, cy = (x0 + x1 + 1) / 2, (y0 + y1 + 1) / 2
        num = 1 if n is None else self._check_n(n)
        u = self.rng.uniform(-1.0, 1.0, size=(num, 4))
        ncx = cx + u[:, 0] * w / 2 * scale
        ncy = cy + u[:, 1] * h / 2 * scale
        nw = np.maximum(1.0, w + u[:, 2] * w * scale)
        nh = np.maximum(1.0, h + u[:, 3] * h * scale)
        bx0, bx1 = self._clip_span(ncx - nw / 2, ncx + nw / 2 - 1, W)
        by0, by1 = self._clip_span(ncy - nh / 2, ncy + nh / 2 - 1, H)
        out = np.stack([bx0, by0, bx1, by1], axis=1).astype(np.float32)
        return out[0] if n is None else out

    def sam_box(self, mask: ArrayLike, n: Optional[int] = None) -> np.ndarray:
        """SAM's training box noise (Kirillov et al. 2023, appendix A): ``(4,)``, or ``n x 4`` float32 XYXY.

        Each coordinate of the tight box moves by a normal draw with a standard deviation of 10 % of the
        box's side along it, at most 8 px. The corners are then clipped to the image, and ``x1`` (``y1``)
        kept at least one pixel right of (below) ``x0`` (``y0``).
        """
        m = _nonempty(mask)
        H, W = m.shape
        box = _box_of(m).astype(np.float64)
        side = np.array([box[2] - box[0] + 1, box[3] - box[1] + 1])
        std = np.minimum(0.1 * np.concatenate([side, side]), 8.0)
        num = 1 if n is None else self._check_n(n)
        boxes = box + self.rng.normal(size=(num, 4)) * std
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, W - 1)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, H - 1)
        boxes[:, 2] = np.maximum(boxes[:, 2], boxes[:, 0] + 1)
        boxes[:, 3] = np.maximum(boxes[:, 3], boxes[:, 1] + 1)
        out = boxes.astype(np.float32)
        return out[0] if n is None else out

    @staticmethod
    def _clip_span(lo: np.ndarray, hi: np.ndarray, size: int) -> Tuple[np.ndarray, np.ndarray]:
        lo_c = np.clip(lo, 0, size - 1)
        hi_c = np.clip(hi, 0, size - 1)
        thin = hi_c - lo_c < 1
        # off the low side -> [0, 1]; off the high side -> [size-2, size-1]
        low_side = lo < (size - 1) / 2
        lo_c = np.where(thin, np.where(low_side, 0.0, max(size - 2, 0)), lo_c)
        hi_c = np.where(thin, np.minimum(lo_c + 1, size - 1), hi_c)
        return lo_c, hi_c

    # -- points ---------------------------------------------------------------------------------
    def points(self, mask: ArrayLike, k: int, negatives: int = 0,
               n: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
        """``k`` random positive points inside the mask, then ``negatives`` outside it.

        Positives are distinct mask pixels (drawn with replacement only when the mask has fewer
        than ``k`` pixels). Negatives are pixels outside the mask within the ground-truth box grown
        by 25% of its size on each side (clipped to the image), or anywhere outside the mask if
        that region is empty; near-miss clicks, as a user would make.

        Returns:
            ``(coords, labels)``: ``(k + negatives) x 2`` float32 ``(x, y)`` pixel coordinates and
            ``(k + negatives,)`` int64 labels (1 positive, 0 negative); with ``n``:
            ``n x (k + negatives) x 2`` and ``n x (k + negatives)``.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k (number of positive points) must be an int >= 1, got {k!r}")
        if isinstance(negatives, bool) or not isinstance(negatives, (int, np.integer)) or negatives < 0:
            raise ValueError(f"negatives must be an int >= 0, got {negatives!r}")
        m = _nonempty(mask)
        num = 1 if n is None else self._check_n(n)
        pos = np.flatnonzero(m)
        neg = np.empty(0, dtype=np.int64)
        if negatives:
            H, W = m.shape
            x0, y0, x1, y1 = _box_of(m).astype(int)
            gx, gy = int(np.ceil(0.25 * (x1 - x0 + 1))), int(np.ceil(0.25 * (y1 - y0 + 1)))
            near = np.zeros_like(m)
            near[max(0, y0 - gy):min(H, y1 + gy + 1), max(0, x0 - gx):min(W, x1 + gx + 1)] = True
            neg = np.flatnonzero(near & ~m)
            if neg.size == 0:
                neg = np.flatnonzero(~m)
            if neg.size == 0:
                raise ValueError("the mask covers the whole image: no negative point can be drawn")
        coords = np.empty((num, k + negatives, 2), dtype=np.float32)
        for i in range(num):
            idx = self.rng.choice(pos, size=k, replace=pos.size < k)
            if negatives:
                idx = np.concatenate([idx, self.rng.choice(neg, size=negatives, replace=neg.size < negatives)])
            rows, cols = np.divmod(idx, m.shape[1])
            coords[i, :, 0], coords[i, :, 1] = cols, rows
        labels = np.concatenate([np.ones(k, np.int64), np.zeros(negatives, np.int64)])
        labels = np.broadcast_to(labels, (num, k + negatives)).copy()
        return (coords[0], labels[0]) if n is None else (coords, labels)

    @staticmethod
    def _check_n(n) -> int:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n (number of draws) must be an int >= 1, got {n!r}")
        return int(n)


@dataclass(frozen=True)
class PromptKind:
    """One kind of prompt: which sampler draws it, its parameter, its settings' label, box or clicks.

    Attributes:
        name: the kind (the ``kind`` column of a sweep's tables).
        sampler: the :class:`PromptSampler` method that draws it.
        param: the name of its one parameter, also the sweep table's column of it: ``"noise"`` (a noise
            scale) or ``"k"`` (a number of positive clicks); None for a kind without one.
        label: a setting's name, with ``{}`` where the parameter's value goes (``"noisy_box s={:g}"``).
        is_box: a box (``predict(boxes=...)``); else clicks (``predict(points=..., labels=...)``).
    """

    name: str
    sampler: str
    param: Optional[str]
    label: str
    is_box: bool

    def setting(self, value=None) -> str:
        """The name of this kind's setting with parameter ``value``: ``"noisy_box s=0.4"``, ``"points k=3"``."""
        return self.label if self.param is None else self.label.format(value)

    def draw(self, sampler: PromptSampler, mask: ArrayLike, value=None, n: Optional[int] = None):
        """Prompts of this kind for ``mask``, drawn by ``sampler`` with parameter ``value`` (``n`` as the
        sampler's methods): boxes ``(4,)`` / ``n x 4``, or ``(coords, labels)`` for clicks."""
        method = getattr(sampler, self.sampler)
        if self.param is None:
            return method(mask, n=n)
        return method(mask, value, n=n)


#: Every prompt kind the lab knows, by name, box kinds first.
PROMPT_KINDS: Dict[str, PromptKind] = {kind.name: kind for kind in (
    PromptKind("gt_box", sampler="gt_box", param=None, label="gt_box", is_box=True),
    PromptKind("noisy_box", sampler="noisy_box", param="noise", label="noisy_box s={:g}", is_box=True),
    PromptKind("points", sampler="points", param="k", label="points k={}", is_box=False),
)}


def prompt_kind(name: str) -> PromptKind:
    """The row of :data:`PROMPT_KINDS` for ``name``; a ``ValueError`` naming the known kinds otherwise."""
    if isinstance(name, str) and name in PROMPT_KINDS:
        return PROMPT_KINDS[name]
    raise ValueError(f"unknown prompt kind {name!r}; known: {', '.join(PROMPT_KINDS)}")
