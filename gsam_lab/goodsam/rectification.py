"""Distortion-Aware Rectification (DAR): TA + SAM on one panorama -> ensemble logits and pseudo-labels.

::

    res = dar(teacher, sam_model, erp, windows="h", boundary=True, fusion="ctcf")
    res.ensemble_logits      # K x H x W (log of the fused class distribution)
    res.pseudo_label         # H x W int64, 255 where the fused confidence < conf_thresh
    res.parts                # intermediates for plots (see DarResult)

The three steps, each switchable (the notebook and ``data_scripts/eval_dar.py`` compare them):

1. prediction-level consistency, ``windows``: ``"none"`` | ``"h"`` | ``"hv"`` | ``"tangent"``
   (:mod:`gsam_lab.goodsam.windows`);
2. boundary enhancement, ``boundary``: window-border down-weighting in the merge, SAM masks joined
   across the ±180° seam, and border pixels inside a SAM mask decided by the mask's interior
   (:func:`~gsam_lab.goodsam.fusion.pair_seam_masks`, :func:`~gsam_lab.goodsam.fusion.interior_vote`);
3. cross-task complementary fusion, ``fusion``: a rule of :data:`~gsam_lab.goodsam.fusion.FUSION_RULES`
   (``"none"`` | ``"vote"`` | ``"ctcf"``), or a rule of your own (a function; :mod:`gsam_lab.goodsam.fusion`
   says what it is given and returns), with its settings in ``fusion_kwargs``.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from gsam_lab.data.classes import IGNORE_INDEX

from .fusion import FUSION_RULES, MaskSet, as_mask_set, fusion_rule, interior_vote, pair_seam_masks, sam_masks
from .windows import (
    WINDOW_MODES,
    border_ramp,
    sliding_window_logits,
    tangent_logits,
    tangent_views,
    whole_logits,
    window_layout,
)

__all__ = ["dar", "DarResult", "as_erp_tensor", "pad_band_to_erp", "WINDOW_MODES", "FUSION_RULES"]


class DarResult(NamedTuple):
    """What :func:`dar` returns.

    Attributes:
        ensemble_logits: ``K x H x W`` float, ``log`` of the fused class distribution (softmax of it
            gives the distribution back).
        pseudo_label: ``H x W`` int64, argmax of the ensemble, ``ignore_index`` where its probability
            is below ``conf_thresh``.
        parts: intermediates, on the CPU: ``ta_logits`` (``K x H x W``, whole ERP in one pass),
            ``window_logits`` (``K x H x W``, after step 1), ``context`` (``H x W`` in [0, 1], how far
            inside its best window each pixel is), ``boundary_probs`` (``K x H x W``, after step 2),
            ``masks`` (a :class:`~gsam_lab.goodsam.fusion.MaskSet` or None), ``fusion_info`` (per-mask
            class / purity / alpha, pixel ``pull``), ``confidence`` (``H x W``), ``windows`` (the
            window list or tangent angles), ``settings`` (the arguments).
    """

    ensemble_logits: torch.Tensor
    pseudo_label: torch.Tensor
    parts: Dict[str, Any]


#: float ERPs may leave [0, 1] by this much (float rounding of resampled images); they are clamped back.
_RANGE_TOLERANCE = 1e-3


def as_erp_tensor(erp, device=None) -> torch.Tensor:
    """An ERP as ``3 x H x W`` float in [0, 1] on ``device``; accepts ``3 x H x W`` / ``1 x 3 x H x W``
    tensors (float in [0, 1] or uint8) and ``H x W x 3`` numpy arrays (uint8 or float in [0, 1]).

    The checks follow :func:`gsam_lab.images.as_rgb_uint8`: a float image of 0..255 values would otherwise
    saturate every pixel (one class everywhere), and NaN pixels would spread NaN through the teacher.

    Raises:
        TypeError: another dtype than uint8 or float.
        ValueError: not an RGB image, an empty one, NaN or infinite pixels, float values outside [0, 1], or not 2:1
            (``W == 2 H``).
    """
    if isinstance(erp, np.ndarray):
        if erp.ndim != 3 or erp.shape[2] != 3:
            raise ValueError(f"a numpy ERP must be H x W x 3, got shape {erp.shape}")
        x = torch.from_numpy(np.ascontiguousarray(erp)).permute(2, 0, 1)
    elif isinstance(erp, torch.Tensor):
        x = erp[0] if erp.dim() == 4 and erp.shape[0] == 1 else erp
        if x.dim() != 3 or x.shape[0] != 3:
            raise ValueError(f"an ERP tensor must be 3 x H x W (or 1 x 3 x H x W), got shape {tuple(erp.shape)}")
    else:
        raise ValueError(f"erp must be a torch tensor 3 x H x W or a numpy H x W x 3 array, got {type(erp).__name__}")
    if x.numel() == 0:
        raise ValueError(f"the ERP is empty (shape {tuple(erp.shape)}); expected 3 x H x W with W == 2 H and H >= 32")
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    elif x.is_floating_point():
        x = x.float()
        if not bool(torch.isfinite(x).all()):
            raise ValueError("the ERP has NaN or infinite pixels")
        lo, hi = float(x.min()), float(x.max())
        if lo < -_RANGE_TOLERANCE or hi > 1 + _RANGE_TOLERANCE:
            raise ValueError(f"a float ERP must hold values in [0, 1], got [{lo:.3g}, {hi:.3g}]; "
                             "for 0..255 values pass a uint8 image (or divide by 255)")
        x = x.clamp(0, 1)
    else:
        raise TypeError(f"the ERP must be uint8 (0..255) or float in [0, 1], got dtype {x.dtype}")
    h, w = x.shape[-2:]
    if w != 2 * h:
        raise ValueError(f"an equirectangular panorama must be 2:1 (W == 2 H); got H x W = {h} x {w}")
    if h < 32:
        raise ValueError(f"the ERP is too small for the teacher: H = {h}, expected at least 32")
    return x.to(device) if device is not None else x


def _check_choice(value, options, name):
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")


@torch.no_grad()
def dar(teacher, model, erp, windows: str = "h", boundary: bool = True, fusion: Union[str, Callable] = "ctcf", *,
        fusion_kwargs: Optional[dict] = None, window_hw: Optional[Sequence[int]] = None,
        stride_hw: Optional[Sequence[int]] = None, scale: float = 1.0, tangent_fov: float = 90.0,
        ramp_frac: float = 0.25, masks: Union[None, MaskSet, Tuple[torch.Tensor, torch.Tensor]] = None,
        sam_kwargs: Optional[dict] = None, seam_overlap: float = 0.5, conf_thresh: float = 0.5,
        ignore_index: int = IGNORE_INDEX) -> DarResult:
    """Run DAR on one panorama.

    Args:
        teacher: a :class:`~gsam_lab.goodsam.Teacher` (its device is used).
        model: a SAM (``sam.load_sam``) for the "everything" masks, or None when ``masks`` is given or
            no step needs masks (``fusion="none"``; boundary then only down-weights window borders).
        erp: ``3 x H x W`` float in [0, 1] (or uint8, or numpy ``H x W x 3``), ``W == 2 H``.
        windows: ``"none"`` | ``"h"`` | ``"hv"`` | ``"tangent"`` (:mod:`gsam_lab.goodsam.windows`).
        boundary: boundary enhancement on / off.
        fusion: a name of :data:`~gsam_lab.goodsam.fusion.FUSION_RULES` (``"none"`` | ``"vote"`` |
            ``"ctcf"``) or a rule of your own, ``rule(probs, masks, weight=None, **kwargs) -> (fused, info)``
            (:mod:`gsam_lab.goodsam.fusion`).
        fusion_kwargs: the rule's own settings, e.g. ``dict(purity_thresh=0.5, strength=2.0, gamma=1.0)`` for
            ``"ctcf"`` (:func:`~gsam_lab.goodsam.fusion.fuse_ctcf`); default: the rule's defaults.
        window_hw, stride_hw: sliding window size / stride (defaults in
            :func:`~gsam_lab.goodsam.windows.window_layout`).
        scale: resize factor of each window before the TA (``"none"``, ``"h"``, ``"hv"``).
        tangent_fov: FoV of the tangent views (``"tangent"``).
        ramp_frac: fraction of a window's size over which its border weights fall.
        masks: precomputed SAM masks of this ERP (``sam.automatic_masks`` output or a MaskSet), to
            reuse them across settings; None runs SAM with ``sam_kwargs``.
        seam_overlap: edge-row overlap for joining masks across the seam.
        conf_thresh: pseudo-label pixels whose fused probability is below this get ``ignore_index``.

    Raises:
        ValueError: an ERP that is not 2:1, has NaN pixels or float values outside [0, 1]
            (:func:`as_erp_tensor`), a window larger than the ERP, unknown options, ``conf_thresh``
            outside [0, 1], or SAM needed but neither ``model`` nor ``masks`` given.
    """
    _check_choice(windows, WINDOW_MODES, "windows")
    rule = fusion_rule(fusion)
    if isinstance(conf_thresh, bool) or not isinstance(conf_thresh, (int, float)) or not 0.0 <= conf_thresh <= 1.0:
        raise ValueError(f"conf_thresh is a probability in [0, 1], got {conf_thresh!r}")
    if not isinstance(teacher, torch.nn.Module):
        raise TypeError(f"teacher must be a teacher model (goodsam.load_teacher(...)), got {type(teacher).__name__}")
    dev = next(teacher.parameters()).device
    x = as_erp_tensor(erp, dev)
    h, w = x.shape[-2:]
    settings = dict(windows=windows, boundary=boundary, fusion=rule.name, fusion_kwargs=dict(fusion_kwargs or {}),
                    window_hw=window_hw, stride_hw=stride_hw, scale=scale, tangent_fov=tangent_fov,
                    ramp_frac=ramp_frac, conf_thresh=conf_thresh)
    layout = None
    if windows in ("h", "hv"):
        layout = window_layout((h, w), windows, window_hw, stride_hw)      # validates sizes before any work
    if rule.needs_masks and masks is None and model is None:
        raise ValueError(f"fusion={rule.name!r} needs SAM masks: pass model=sam.load_sam(...) or masks=...")

    # step 1: prediction-level consistency
    ta, merged, context, win_info = _consistency_step(teacher, x, windows, layout, boundary, scale, tangent_fov,
                                                      ramp_frac)
    # step 2: boundary enhancement with SAM masks (joined across the seam; border pixels follow the interior)
    ms: Optional[MaskSet] = None
    if rule.needs_masks or (boundary and (masks is not None or model is not None)):
        ms = as_mask_set(masks, (h, w), dev) if masks is not None else sam_masks(model, x, **(sam_kwargs or {}))
        if boundary:
            ms = pair_seam_masks(ms, seam_overlap)
    probs = merged.softmax(0)
    bprobs = interior_vote(probs, context, ms) if (boundary and ms is not None) else probs
    # step 3: cross-task complementary fusion (the context weighs each mask's mean toward its interior)
    weight = context.clamp_min(0.05) if boundary else None
    fused, info = rule.fuse(bprobs, ms, weight=weight, **(fusion_kwargs or {}))

    conf, label = fused.max(0)
    pseudo = torch.where(conf >= conf_thresh, label, torch.full_like(label, ignore_index))
    cpu = lambda t: t.detach().cpu() if isinstance(t, torch.Tensor) else t  # noqa: E731
    parts = {"ta_logits": cpu(ta), "window_logits": cpu(merged), "context": cpu(context),
             "boundary_probs": cpu(bprobs), "masks": MaskSet(*(cpu(t) for t in ms)) if ms is not None else None,
             "fusion_info": {k: cpu(v) for k, v in info.items()}, "confidence": cpu(conf), "windows": win_info,
             "settings": settings}
    return DarResult(cpu(fused.clamp_min(1e-6).log()), cpu(pseudo), parts)


def _consistency_step(teacher, x: torch.Tensor, windows: str, layout, boundary: bool, scale: float,
                      tangent_fov: float, ramp_frac: float):
    """DAR step 1, prediction-level consistency: the TA on the whole ERP and on its windows (or tangent views).

    Returns ``(ta, merged, context, win_info)``: the whole-ERP logits and the merged window logits
    (``K x H x W``), the context (``H x W``: how far inside its best window each pixel is; all ones
    without ``boundary``) and the windows (``(top, left, h, w)``) or tangent angles used.
    """
    h, w = x.shape[-2:]
    dev = x.device
    ta = whole_logits(teacher, x, scale)
    if windows == "none":
        context = (border_ramp(h, w, ramp_frac / 4, floor=0.0, edges=(False, False, True, True), device=dev)
                   if boundary else torch.ones(h, w, device=dev))
        return ta, ta, context, [(0, 0, h, w)]
    if windows in ("h", "hv"):
        merged, _ = sliding_window_logits(teacher, x, layout, boundary, scale, ramp_frac)
        context = _window_context(layout, h, w, ramp_frac, dev) if boundary else torch.ones(h, w, device=dev)
        return ta, merged, context, [tuple(wi) for wi in layout]
    merged, wsum = tangent_logits(teacher, x, tangent_fov, boundary=boundary, ramp_frac=ramp_frac)
    merged = torch.where((wsum <= 0)[None], ta, merged)                 # pixels no view covers keep the TA
    context = wsum.clamp(0, 1) if boundary else torch.ones(h, w, device=dev)
    return ta, merged, context, list(zip(*tangent_views(tangent_fov)))


def _window_context(layout, h: int, w: int, ramp_frac: float, device) -> torch.Tensor:
    """``H x W``: for each pixel, the largest border-ramp value over the windows that contain it."""
    ctx = torch.zeros(h, w, device=device)
    for t, l, wh, ww in layout:
        full_w = ww >= w
        r = border_ramp(wh, ww, ramp_frac, floor=0.0, edges=(t > 0, t + wh < h, not full_w, not full_w), device=device)
        cols = (torch.arange(ww, device=device) + l) % w
        cur = ctx[t:t + wh][:, cols]
        ctx[t:t + wh, cols] = torch.maximum(cur, r)
    return ctx


def pad_band_to_erp(image: torch.Tensor, semantic: Optional[torch.Tensor] = None, fill: float = 0.0,
                    ignore_index: int = IGNORE_INDEX):
    """Centre a latitude band (``3 x h x W`` with ``h < W / 2``, e.g. DensePASS' 400 x 2048, about ±35°)
    in a full ``3 x W/2 x W`` ERP, so that :func:`dar` sees the geometry it expects.

    Returns ``(erp, semantic_or_None, rows)``: rows outside the band hold ``fill`` (labels
    ``ignore_index``); ``rows`` is the ``slice`` of the band in the ERP (crop results back with it).
    A 2:1 input is returned unchanged. Assumes the band is centred on the equator.
    """
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"image must be 3 x h x W, got shape {tuple(image.shape)}")
    h, w = image.shape[-2:]
    if w % 2:
        raise ValueError(f"width must be even to make a 2:1 ERP, got {w}")
    eh = w // 2
    if h > eh:
        raise ValueError(f"a band of {h} rows does not fit a {eh} x {w} ERP (expected h <= W / 2)")
    top = (eh - h) // 2
    rows = slice(top, top + h)
    erp = torch.full((3, eh, w), fill, dtype=image.dtype, device=image.device)
    erp[:, rows] = image
    sem = None
    if semantic is not None:
        sem = torch.full((eh, w), ignore_index, dtype=semantic.dtype, device=semantic.device)
        sem[rows] = semantic
    return erp, sem, rows
