"""DAR steps 2 and 3: boundary enhancement with SAM masks, and cross-task complementary fusion.

Everything here works on one ERP: ``probs`` is the TA's class distribution ``K x H x W`` (softmax of
the merged window logits), ``masks`` SAM's class-agnostic "everything" masks ``N x H x W`` (bool) with
their predicted IoU ``N``.

Readings (docs/methods/goodsam.md, DAR steps 2 and 3):

- :func:`pair_seam_masks`: SAM sees the ERP as a flat image, so an object on the ±180° seam comes
  back as two masks, one at each edge. Masks touching the left and the right edge whose edge rows
  overlap are joined into one seam-crossing mask, decided as a whole afterwards.
- :func:`interior_vote`: a pixel near a window border (low ``context``) saw little context; inside a
  SAM mask it takes, in proportion to how much of a border pixel it is, the class distribution of the
  mask's interior (its pixels with good context).
- :func:`fuse_vote`: the simple baseline: every mask is painted with the majority TA class inside it
  (optionally only masks whose majority is clear, and only the pixels the TA is unsure of).
- :func:`fuse_ctcf`: cross-task complementary fusion: each mask's mean TA distribution ``q_m`` gives a
  class ``c_m = argmax q_m`` and a purity ``pi_m = max q_m``; masks with ``pi_m >= purity_thresh`` pull
  their pixels toward ``c_m`` with weight ``alpha_m = pi_m ** gamma * iou_m``:
  ``p = (p_TA + s * sum_m alpha_m onehot(c_m)) / (1 + s * sum_m alpha_m)`` over the masks covering
  the pixel (``s = strength``); pixels no mask covers keep the TA.

The fusion rules, one table (:data:`FUSION_RULES`): ``dar(..., fusion=name)`` looks a rule up by name, and
``dar(..., fusion=my_rule, fusion_kwargs={...})`` runs a rule of your own. A rule is a function
``rule(probs, masks, weight=None, **kwargs) -> (fused, info)``: ``probs`` the TA's ``K x H x W``
distribution, ``masks`` a :class:`MaskSet`, ``weight`` an optional ``H x W`` pixel weight for per-mask
means (DAR passes the context map when ``boundary=True``), ``kwargs`` the rule's own settings; it returns
the fused ``K x H x W`` distribution and a dict of whatever it wants to show (per-mask classes, ...).
"""
from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Optional, Tuple, Union

import torch

from gsam_lab.sam.automatic import automatic_masks, greedy_mask_nms

from .windows import window_layout

__all__ = ["MaskSet", "as_mask_set", "sam_masks", "window_masks", "pair_seam_masks", "interior_vote",
           "mask_stats", "keep_ta", "fuse_vote", "fuse_ctcf", "FusionRule", "FUSION_RULES", "fusion_rule"]


class MaskSet(NamedTuple):
    """SAM masks of one image: ``masks`` ``N x H x W`` bool, ``iou`` ``N`` float (predicted IoU),
    ``seam`` ``N`` bool (True for masks joined across the ±180° seam)."""

    masks: torch.Tensor
    iou: torch.Tensor
    seam: torch.Tensor


def as_mask_set(masks: Union[MaskSet, Tuple[torch.Tensor, torch.Tensor]], hw: Tuple[int, int], device=None) -> MaskSet:
    """A :class:`MaskSet` from a MaskSet, or from a ``(masks, iou)`` pair such as ``sam.automatic_masks`` output."""
    if isinstance(masks, MaskSet):
        m, iou, seam = masks
    elif isinstance(masks, tuple) and len(masks) == 2 and isinstance(masks[0], torch.Tensor):
        m, iou = masks
        seam = torch.zeros(len(m), dtype=torch.bool)
    else:
        raise ValueError(f"masks must be a MaskSet or a (masks N x H x W, iou N) pair of tensors such as "
                         f"sam.automatic_masks output, got {type(masks).__name__}")
    m = torch.as_tensor(m).to(device=device, dtype=torch.bool)
    if m.dim() != 3 or tuple(m.shape[1:]) != tuple(hw):
        raise ValueError(f"SAM masks must be N x {hw[0]} x {hw[1]} (the ERP's size), got {tuple(m.shape)}")
    iou = torch.as_tensor(iou, dtype=torch.float32, device=device).reshape(-1)
    if len(iou) != len(m):
        raise ValueError(f"got {len(m)} masks but {len(iou)} predicted IoUs")
    return MaskSet(m, iou.clamp(0, 1), torch.as_tensor(seam, dtype=torch.bool, device=device).reshape(-1))


def sam_masks(model, erp_image: torch.Tensor, method: str = "grid", **kw) -> MaskSet:
    """SAM "everything" masks of an ERP (``3 x H x W`` float in [0, 1]) as a :class:`MaskSet`.

    ``method="grid"`` (default): :func:`gsam_lab.sam.automatic_masks` on the whole ERP;
    ``method="windows"``: :func:`window_masks`, the same on each ``"h"`` window (finer masks, 4x the cost).
    ``kw`` go to ``automatic_masks`` (``points_per_side``, thresholds; for windows also ``window_hw``, ...).
    """
    if method == "grid":
        masks, iou = automatic_masks(model, erp_image.detach().clamp(0, 1), **kw)
        return MaskSet(masks.to(erp_image.device), iou.to(erp_image.device),
                       torch.zeros(len(masks), dtype=torch.bool, device=erp_image.device))
    if method == "windows":
        return window_masks(model, erp_image, **kw)
    raise ValueError(f"method must be 'grid' or 'windows', got {method!r}")


@torch.no_grad()
def window_masks(model, erp_image: torch.Tensor, window_hw=None, stride_hw=None, nms_iou: float = 0.6,
                 **auto_kw) -> MaskSet:
    """SAM masks from :func:`gsam_lab.sam.automatic_masks` on each ``"h"`` window of the ERP (columns wrap
    across the seam), mapped back to ``H x W`` and de-duplicated by greedy NMS on mask IoU (``nms_iou``, by
    predicted IoU).

    A window is half the ERP's width, so SAM's fixed input size sees it at twice the resolution of
    the whole ERP: smaller objects get masks. Masks of a window that cross the seam come back whole.
    """
    hh, ww = erp_image.shape[-2:]
    dev = erp_image.device
    parts, ious = [], []
    for t, l, wh, wwid in window_layout((hh, ww), "h", window_hw, stride_hw):
        cols = (torch.arange(wwid, device=dev) + l) % ww
        crop = erp_image[:, t:t + wh].index_select(2, cols)
        found = automatic_masks(model, crop.detach().clamp(0, 1), **auto_kw)
        for m, iou in zip(found.masks.to(dev), found.iou.to(dev)):
            full = torch.zeros(hh, ww, dtype=torch.bool, device=dev)
            full[t:t + wh, cols] = m
            parts.append(full)
            ious.append(iou)
    if not parts:
        return MaskSet(torch.zeros(0, hh, ww, dtype=torch.bool, device=dev), torch.zeros(0, device=dev),
                       torch.zeros(0, dtype=torch.bool, device=dev))
    m = torch.stack(parts)
    iou = torch.stack(ious).float()
    order = torch.argsort(iou, descending=True)
    sel = order[greedy_mask_nms(m[order], nms_iou)]
    sel = sel[torch.argsort(m[sel].flatten(1).sum(1), descending=True)]
    return MaskSet(m[sel], iou[sel].clamp(0, 1), torch.zeros(len(sel), dtype=torch.bool, device=dev))


def pair_seam_masks(ms: MaskSet, min_overlap: float = 0.5) -> MaskSet:
    """Join masks that touch the left edge with masks that touch the right edge where their edge rows
    overlap (``|rows_l & rows_r| / min(|rows_l|, |rows_r|) >= min_overlap``), greedily by overlap.

    Joined masks are appended (union, IoU = the smaller of the two, ``seam`` True); the two halves are
    removed. Masks touching both edges already (e.g. the sky) are left alone.
    """
    m = ms.masks
    if len(m) == 0:
        return ms
    left, right = m[:, :, 0], m[:, :, -1]                      # N x H
    nl, nr = left.sum(1), right.sum(1)
    cand_l = torch.nonzero((nl > 0) & (nr == 0)).flatten().tolist()
    cand_r = torch.nonzero((nr > 0) & (nl == 0)).flatten().tolist()
    pairs = []
    for i in cand_l:
        for j in cand_r:
            ov = float((left[i] & right[j]).sum()) / float(min(nl[i], nr[j]))
            if ov >= min_overlap:
                pairs.append((ov, i, j))
    used, joined, iou_j = set(), [], []
    for ov, i, j in sorted(pairs, reverse=True):
        if i in used or j in used:
            continue
        used.update((i, j))
        joined.append(m[i] | m[j])
        iou_j.append(torch.minimum(ms.iou[i], ms.iou[j]))
    if not joined:
        return ms
    keep = [k for k in range(len(m)) if k not in used]
    masks = torch.cat([m[keep], torch.stack(joined)])
    iou = torch.cat([ms.iou[keep], torch.stack(iou_j)])
    seam = torch.cat([ms.seam[keep], torch.ones(len(joined), dtype=torch.bool, device=m.device)])
    return MaskSet(masks, iou, seam)


def mask_stats(probs: torch.Tensor, masks: torch.Tensor, weight: Optional[torch.Tensor] = None):
    """Per-mask mean class distribution ``q`` (``N x K``), class (``N``), purity (``N``), area (``N``).

    ``weight`` (``H x W``, optional) weights the pixels in the mean (e.g. the context map, so a mask is
    decided by its interior)."""
    k = probs.shape[0]
    n = masks.shape[0]
    if n == 0:
        z = torch.zeros(0, device=probs.device)
        return torch.zeros(0, k, device=probs.device), z.long(), z, z
    mf = masks.reshape(n, -1).to(probs.dtype)
    if weight is not None:
        mf = mf * weight.reshape(1, -1).to(probs.dtype)
    area = mf.sum(1)
    q = mf @ probs.reshape(k, -1).T / area.clamp_min(1e-8)[:, None]
    purity, cls = q.max(1)
    return q, cls, purity, masks.reshape(n, -1).sum(1).to(probs.dtype)


def interior_vote(probs: torch.Tensor, context: torch.Tensor, ms: MaskSet, interior: float = 0.5,
                  min_pixels: int = 8) -> torch.Tensor:
    """Boundary enhancement inside SAM masks: border pixels (``context < 1``) of a mask move toward the
    distribution of the mask's interior (pixels with ``context >= interior``):
    ``p <- context * p + (1 - context) * q_interior``. Masks with fewer than ``min_pixels`` interior
    pixels, and pixels outside every mask, are unchanged. Smaller masks are applied last (they win).

    Args: ``probs`` ``K x H x W``, ``context`` ``H x W`` in [0, 1]. Returns ``K x H x W``.
    """
    out = probs.clone()
    if len(ms.masks) == 0:
        return out
    inner = context >= interior
    order = torch.argsort(ms.masks.reshape(len(ms.masks), -1).sum(1), descending=True)
    c = context.clamp(0, 1)
    for i in order.tolist():
        m = ms.masks[i]
        mi = m & inner
        border = m & (c < 1)
        if int(mi.sum()) < min_pixels or not bool(border.any()):
            continue
        q = probs[:, mi].mean(1)                                    # K
        cb = c[border]
        out[:, border] = cb * probs[:, border] + (1 - cb) * q[:, None]
    return out


def keep_ta(probs: torch.Tensor, ms: Optional[MaskSet] = None,
            weight: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, dict]:
    """No fusion: the TA's distribution unchanged (DAR without step 3); ``ms`` and ``weight`` are unused."""
    return probs, {}


def fuse_vote(probs: torch.Tensor, ms: MaskSet, smooth: float = 0.05, min_share: float = 0.0,
              keep_confident: Optional[float] = None,
              weight: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, dict]:
    """Majority vote per mask: each mask's pixels take the TA's most frequent argmax class inside it
    (masks painted largest first, so nested smaller masks win); ``smooth`` of the probability is spread
    over all classes. ``weight`` is unused: every pixel's vote counts the same.

    Two guards against a mask that crosses two classes (a sky mask that runs over a roof line), both off
    by default:

    - ``min_share``: the class-consistency test; a mask votes only when its majority class holds at
      least this share of its pixels (0.6: a mask split 50 / 50 between sky and building is left to the TA);
    - ``keep_confident``: pixels where the TA's largest probability reaches this value keep the TA's
      distribution; the mask only decides the pixels the TA is unsure of.

    Returns (``K x H x W`` probabilities, info: ``mask_class`` (-1: did not vote), ``mask_share`` (the
    majority class's share of each mask), ``covered`` ``H x W``)."""
    k = probs.shape[0]
    out = probs.clone()
    covered = torch.zeros(probs.shape[1:], dtype=torch.bool, device=probs.device)
    cls_of = torch.full((len(ms.masks),), -1, dtype=torch.long, device=probs.device)
    share_of = torch.zeros(len(ms.masks), device=probs.device)
    if len(ms.masks):
        top, arg = probs.max(0)
        free = torch.ones_like(covered) if keep_confident is None else top < keep_confident
        order = torch.argsort(ms.masks.reshape(len(ms.masks), -1).sum(1), descending=True)
        for i in order.tolist():
            m = ms.masks[i]
            if not bool(m.any()):
                continue
            counts = torch.bincount(arg[m], minlength=k)
            c = int(counts.argmax())
            share_of[i] = counts[c].float() / counts.sum()
            if share_of[i] < min_share:
                continue
            cls_of[i] = c
            onehot = torch.full((k,), smooth / k, device=probs.device)
            onehot[c] += 1 - smooth
            painted = m & free
            out[:, painted] = onehot[:, None]
            covered |= painted
    return out, {"mask_class": cls_of, "mask_share": share_of, "covered": covered}


def fuse_ctcf(probs: torch.Tensor, ms: MaskSet, purity_thresh: float = 0.5, strength: float = 2.0,
              gamma: float = 1.0, weight: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, dict]:
    """Cross-task complementary fusion (see the module docstring).

    Args:
        probs: TA distribution ``K x H x W``.
        ms: SAM masks.
        purity_thresh: masks less pure than this do not vote.
        strength: ``s``, how hard a fully pure, fully confident mask pulls (``s = 2``: at least 2/3 of
            the pixel's probability goes to the mask's class).
        gamma: purity exponent in ``alpha = purity ** gamma * iou``.
        weight: optional ``H x W`` pixel weights for the per-mask means (boundary: the context map).

    Returns:
        (``K x H x W`` fused probabilities, info with ``mask_class``, ``mask_purity``, ``mask_alpha``
        (``N`` each) and ``pull`` (``H x W``, the summed alpha of the masks over each pixel)).
    """
    k = probs.shape[0]
    n = len(ms.masks)
    q, cls, purity, _ = mask_stats(probs, ms.masks, weight)
    alpha = torch.where(purity >= purity_thresh, purity.pow(gamma) * ms.iou, torch.zeros_like(purity))
    if n == 0:
        pull = torch.zeros(probs.shape[1:], device=probs.device)
        return probs.clone(), {"mask_class": cls, "mask_purity": purity, "mask_alpha": alpha, "pull": pull}
    mf = ms.masks.reshape(n, -1).to(probs.dtype)                           # N x P
    onehot = torch.nn.functional.one_hot(cls, k).to(probs.dtype) * alpha[:, None]   # N x K
    acc = (onehot.T @ mf).reshape(probs.shape)                             # K x H x W
    pull = (alpha[None, :] @ mf).reshape(probs.shape[1:])                  # H x W
    fused = (probs + strength * acc) / (1 + strength * pull)[None]
    return fused, {"mask_class": cls, "mask_purity": purity, "mask_alpha": alpha, "pull": pull}


class FusionRule(NamedTuple):
    """One row of :data:`FUSION_RULES`.

    Attributes:
        name: the table's key; for a rule of your own, its module and name (``"__main__.my_rule"``).
        fuse: ``fuse(probs, masks, weight=None, **kwargs) -> (fused, info)`` (module docstring).
        needs_masks: whether the rule reads SAM's masks (``dar`` then needs ``model=`` or ``masks=``).
        description: one line for listings.
    """

    name: str
    fuse: Callable[..., Tuple[torch.Tensor, dict]]
    needs_masks: bool
    description: str = ""


#: name -> :class:`FusionRule`: the fusion rules ``dar(..., fusion=name)`` knows
FUSION_RULES: Dict[str, FusionRule] = {
    rule.name: rule for rule in (
        FusionRule("none", keep_ta, False, "no fusion: the TA's windows (and the boundary step) alone"),
        FusionRule("vote", fuse_vote, True, "each SAM mask painted with the TA's majority class inside it"),
        FusionRule("ctcf", fuse_ctcf, True, "cross-task complementary fusion: pure, confident masks pull their pixels"),
    )
}


def fusion_rule(fusion: Union[str, Callable[..., Tuple[torch.Tensor, dict]]]) -> FusionRule:
    """The :class:`FusionRule` of a name of :data:`FUSION_RULES`, or of a rule of your own (a function with
    the signature in the module docstring; it is given SAM's masks).

    Raises:
        ValueError: an unknown name (the message lists the known ones) or something else than a name or
            a function.
    """
    if isinstance(fusion, str):
        if fusion not in FUSION_RULES:
            raise ValueError(f"fusion must be one of {tuple(FUSION_RULES)} or a function, got {fusion!r}")
        return FUSION_RULES[fusion]
    if callable(fusion):
        name = getattr(fusion, "__qualname__", type(fusion).__name__)
        return FusionRule(f"{getattr(fusion, '__module__', '')}.{name}".lstrip("."), fusion, True,
                          "a fusion rule passed to dar")
    raise ValueError(f"fusion must be one of {tuple(FUSION_RULES)} or a function, got {type(fusion).__name__}")
