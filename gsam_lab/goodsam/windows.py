"""DAR step 1, prediction-level consistency: the TA run on windows of the ERP, merged into one ERP logit map.

Readings (``windows=`` of :func:`gsam_lab.goodsam.dar`):

``"none"``
    the whole ERP in one TA pass (the "TA alone" baseline).
``"h"`` (GoodSAM v1)
    full-height windows ``H x window_w`` sliding horizontally with ``stride_w``; columns are taken
    modulo ``W``, so windows wrap across the ±180° seam and an object cut by the seam is seen whole.
``"hv"`` (GoodSAM v2)
    ``window_h x window_w`` windows sliding horizontally (wrapping) and vertically (not wrapping: the
    last row of windows is aligned to the bottom edge).
``"tangent"`` (our extension)
    gnomonic (distortion-free) views on rings of latitude, re-projected to the ERP with
    :func:`gsam_lab.panorama.perspective_to_erp`.

Each window can be resized by ``scale`` before the TA (match the object size the TA was trained
on). Its logits are resized back and added to the ERP with per-pixel weights: uniform, or - with
boundary enhancement - a ramp that falls toward the window's borders (a pixel near a border saw
less context). The merged map is the weighted mean of the windows' logits.
"""
from __future__ import annotations

import math
from typing import List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from gsam_lab.panorama import erp_to_perspective, perspective_to_erp

__all__ = ["WINDOW_MODES", "Window", "window_layout", "border_ramp", "sliding_window_logits",
           "tangent_views", "tangent_logits", "whole_logits"]

WINDOW_MODES = ("none", "h", "hv", "tangent")


class Window(NamedTuple):
    """One sliding window: rows ``top : top + h`` and columns ``left : left + w`` (modulo W)."""

    top: int
    left: int
    h: int
    w: int


def _positions(size: int, win: int, stride: int, wrap: bool) -> List[int]:
    if wrap:
        n = max(1, math.ceil(size / stride))
        return [i * stride % size for i in range(n)]
    if win >= size:
        return [0]
    pos = list(range(0, size - win + 1, stride))
    if pos[-1] != size - win:
        pos.append(size - win)
    return pos


def window_layout(erp_hw: Tuple[int, int], mode: str, window_hw: Optional[Sequence[int]] = None,
                  stride_hw: Optional[Sequence[int]] = None) -> List[Window]:
    """The windows of ``mode`` ("h" or "hv") over an ``H x W`` ERP.

    Defaults: ``"h"``: ``H x W/2`` windows (180° of longitude), stride ``W/4`` (50 % overlap), 4 windows;
    ``"hv"``: ``H/2 x W/2`` windows, strides ``(H/4, W/4)``, 12 windows.

    Raises:
        ValueError: unknown mode, a window larger than the ERP, or a non-positive size / stride.
    """
    h, w = int(erp_hw[0]), int(erp_hw[1])
    if mode not in ("h", "hv"):
        raise ValueError(f"window_layout needs mode 'h' or 'hv', got {mode!r}")
    if window_hw is None:
        window_hw = (h, w // 2) if mode == "h" else (h // 2, w // 2)
    wh, ww = (int(v) for v in window_hw)
    if mode == "h" and wh != h:
        raise ValueError(f"'h' windows span the full ERP height {h}; got window height {wh} (use windows='hv')")
    if wh < 1 or ww < 1:
        raise ValueError(f"window size must be positive, got {(wh, ww)}")
    if wh > h or ww > w:
        raise ValueError(f"window {wh}x{ww} is larger than the ERP {h}x{w}; expected window_hw <= ({h}, {w})")
    if stride_hw is None:
        stride_hw = (max(1, wh // 2), max(1, ww // 2))
    sh, sw = (int(v) for v in stride_hw)
    if sh < 1 or sw < 1:
        raise ValueError(f"strides must be positive, got {(sh, sw)}")
    if sw > ww or (mode == "hv" and sh > wh):
        raise ValueError(f"stride {(sh, sw)} larger than the window {(wh, ww)} leaves gaps; expected stride <= window")
    tops = [0] if mode == "h" else _positions(h, wh, sh, wrap=False)
    lefts = _positions(w, ww, sw, wrap=True)
    return [Window(t, l, wh, ww) for t in tops for l in lefts]


def border_ramp(h: int, w: int, frac: float = 0.25, floor: float = 0.05, edges=(True, True, True, True),
                device=None) -> torch.Tensor:
    """``h x w`` weights: 1 inside, falling linearly to ``floor`` over the ``frac`` of the size nearest
    each border listed in ``edges`` (top, bottom, left, right)."""
    def ramp(n: int, lo: bool, hi: bool) -> torch.Tensor:
        i = torch.arange(n, dtype=torch.float32, device=device) + 0.5
        width = max(1.0, frac * n)
        r = torch.ones(n, dtype=torch.float32, device=device)
        if lo:
            r = torch.minimum(r, i / width)
        if hi:
            r = torch.minimum(r, (n - i) / width)
        return r.clamp(0.0, 1.0)

    top, bottom, left, right = edges
    return (ramp(h, top, bottom)[:, None] * ramp(w, left, right)[None, :]).clamp(floor, 1.0)


def _run_teacher(teacher, crops: torch.Tensor, scale: float, batch_size: int) -> torch.Tensor:
    """TA logits at crop size for ``N x 3 x h x w`` crops, each resized by ``scale`` first."""
    outs = []
    h, w = crops.shape[-2:]
    for s in range(0, crops.shape[0], batch_size):
        x = crops[s:s + batch_size]
        if scale != 1.0:
            x = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False, antialias=scale < 1)
        lg = teacher(x).logits
        outs.append(F.interpolate(lg, size=(h, w), mode="bilinear", align_corners=False))
    return torch.cat(outs)


def whole_logits(teacher, erp: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """TA logits of the whole ERP ``3 x H x W`` in one pass -> ``K x H x W``."""
    return _run_teacher(teacher, erp[None], scale, 1)[0]


def sliding_window_logits(teacher, erp: torch.Tensor, windows: Sequence[Window], boundary: bool = True,
                          scale: float = 1.0, ramp_frac: float = 0.25, batch_size: int = 4):
    """Merge the TA's logits over ``windows`` of ``erp`` (``3 x H x W``).

    Returns ``(logits K x H x W, weight H x W)``: the weighted mean of the windows' logits and the summed
    weights. With ``boundary`` every window's logits are weighted by :func:`border_ramp` (borders that
    are ERP edges - top / bottom rows - are not down-weighted: no other window sees past them).
    """
    _, h, w = erp.shape
    acc, wsum = None, torch.zeros(h, w, device=erp.device)
    for s in range(0, len(windows), batch_size):
        chunk = windows[s:s + batch_size]
        crops = torch.stack([erp[:, t:t + wh].index_select(2, (torch.arange(ww, device=erp.device) + l) % w)
                             for t, l, wh, ww in chunk])
        logits = _run_teacher(teacher, crops, scale, batch_size)
        if acc is None:
            acc = torch.zeros(logits.shape[1], h, w, device=erp.device, dtype=logits.dtype)
        for (t, l, wh, ww), lg in zip(chunk, logits):
            full_w = ww >= w
            wt = (border_ramp(wh, ww, ramp_frac, edges=(t > 0, t + wh < h, not full_w, not full_w), device=erp.device)
                  if boundary else torch.ones(wh, ww, device=erp.device))
            cols = (torch.arange(ww, device=erp.device) + l) % w
            acc[:, t:t + wh].index_add_(2, cols, lg * wt)
            wsum[t:t + wh].index_add_(1, cols, wt)
    return acc / wsum.clamp_min(1e-8), wsum


def tangent_views(fov_deg: float = 90.0) -> Tuple[List[float], List[float]]:
    """(yaws, pitches) of tangent views covering the sphere: 8 on the equator, 6 at ±55°, 1 per pole."""
    yaws, pitches = [], []
    for pitch, n, off in ((0.0, 8, 0.0), (55.0, 6, 30.0), (-55.0, 6, 0.0), (90.0, 1, 0.0), (-90.0, 1, 0.0)):
        for i in range(n):
            yaws.append(-180.0 + off + i * 360.0 / n)
            pitches.append(pitch)
    return yaws, pitches


def tangent_logits(teacher, erp: torch.Tensor, fov_deg: float = 90.0, view_size: Optional[int] = None,
                   boundary: bool = True, ramp_frac: float = 0.25, batch_size: int = 4):
    """TA on gnomonic views (:func:`tangent_views`), re-projected and merged: ``(K x H x W, weight H x W)``.

    ``view_size`` (square views) defaults to the ERP's own resolution at the view centre
    (``fov / 360 * W``, rounded to a multiple of 32). ERP pixels no view covers get weight 0.
    """
    _, h, w = erp.shape
    if view_size is None:
        view_size = max(64, int(round(fov_deg / 360.0 * w / 32.0)) * 32)
    yaws, pitches = tangent_views(fov_deg)
    views = erp_to_perspective(erp, fov_deg, yaws, pitches, (view_size, view_size))      # V x 3 x s x s
    logits = _run_teacher(teacher, views, 1.0, batch_size)                               # V x K x s x s
    vw = border_ramp(view_size, view_size, ramp_frac, device=erp.device) if boundary else None
    merged, weight = perspective_to_erp(logits, fov_deg, yaws, pitches, (h, w), view_weight=vw)
    return merged, weight
