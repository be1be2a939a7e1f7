"""The tensors of SAM's interactive training simulation (the tiny-SAM recipe, :mod:`gsam_lab.recipes.tiny_sam`).

Every round of the simulation compares the model's mask with the object in SAM's padded input frame:
:func:`targets_in_input_frame` puts the object there, :func:`outside_box_weight` weighs the pixels of a
box-prompted round, :func:`draw_training_prompt` gives the first round's prompts and :func:`error_clicks`
draws the next round's corrective click from the error region.
:func:`mask_input_adapter` readies a trained model for learning refinement alone.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from gsam_lab.sam.prompts import PromptSampler

__all__ = ["draw_training_prompt", "targets_in_input_frame", "outside_box_weight", "error_clicks", "mask_input_adapter"]


def targets_in_input_frame(masks: np.ndarray, input_size, img_size: int, device) -> Tuple[torch.Tensor, torch.Tensor]:
    """``N x img x img`` targets (resized to the input frame, zero-padded) and the ``img x img`` valid-pixel mask."""
    t = torch.as_tensor(masks, device=device, dtype=torch.float32)[:, None]
    t = F.interpolate(t, size=input_size, mode="bilinear", align_corners=False)[:, 0] > 0.5
    h, w = input_size
    out = F.pad(t, (0, img_size - w, 0, img_size - h))
    valid = torch.zeros(img_size, img_size, dtype=torch.bool, device=device)
    valid[:h, :w] = True
    return out, valid


def draw_training_prompt(rng: np.random.Generator, sampler, masks: List[np.ndarray], cfg) -> Dict[str, np.ndarray]:
    """First-round prompts for ``masks`` (one kind for all), by a :class:`~gsam_lab.recipes.tiny_sam.TrainConfig`:
    with probability ``cfg.box_fraction`` ``{"boxes": N x 4}`` with SAM's box noise
    (:meth:`gsam_lab.sam.PromptSampler.sam_box`, its draws from ``rng``), else ``k`` positive clicks each,
    ``{"points": N x k x 2, "labels": N x k}``, with ``k`` drawn from ``cfg.first_clicks`` (lo, hi), both ends
    included. ``sampler`` (a ``PromptSampler``) places the clicks."""
    if rng.random() < cfg.box_fraction:
        noisy = PromptSampler(rng)
        return {"boxes": np.stack([noisy.sam_box(m) for m in masks]).astype(np.float64)}
    lo, hi = cfg.first_clicks
    if not 1 <= lo <= hi:
        raise ValueError(f"first_clicks must be (lo, hi) with 1 <= lo <= hi, got {cfg.first_clicks!r}")
    k = int(rng.integers(lo, hi + 1))
    pts, labs = zip(*(sampler.points(m, k) for m in masks))
    return {"points": np.stack(pts).astype(np.float64), "labels": np.stack(labs)}


def outside_box_weight(boxes: torch.Tensor, valid: torch.Tensor, extra: float) -> torch.Tensor:
    """``N x S x S`` pixel weights: 1 inside each box, ``1 + extra`` outside it, 0 on padding."""
    s = valid.shape[-1]
    ar = torch.arange(s, device=valid.device, dtype=torch.float32) + 0.5
    inside_x = (ar[None] >= boxes[:, 0:1]) & (ar[None] <= boxes[:, 2:3] + 1)
    inside_y = (ar[None] >= boxes[:, 1:2]) & (ar[None] <= boxes[:, 3:4] + 1)
    inside = inside_y[:, :, None] & inside_x[:, None, :]
    return valid.float() * (1.0 + extra * (~inside).float())


@torch.no_grad()
def error_clicks(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor,
                 generator: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
    """One corrective click per mask, drawn uniformly from the error region of ``pred``.

    Args:
        pred, target: ``N x H x W`` bool (the previous mask, the object); valid: ``H x W`` bool.

    Returns:
        ``(points N x 1 x 2 (x, y), labels N x 1)``: label 1 where the object was missed, 0 where the
        mask spilled over it; -1 (SAM's "not a point") where the mask has no error.
    """
    n, h, w = pred.shape
    err = (pred ^ target) & valid
    flat = err.flatten(1).float()
    has = flat.sum(1) > 0
    idx = torch.multinomial(torch.where(has[:, None], flat, torch.ones_like(flat)), 1, generator=generator)[:, 0]
    ys, xs = idx // w, idx % w
    labels = target.flatten(1).gather(1, idx[:, None])[:, 0].long()
    labels = torch.where(has, labels, torch.full_like(labels, -1))
    points = torch.stack([xs, ys], 1).float() + 0.5
    return points[:, None], labels[:, None]


def mask_input_adapter(model, reset: bool = True) -> torch.nn.Module:
    """Make the prompt encoder's mask path answer any ``mask_input`` exactly as "no mask", and freeze the rest.

    SAM adds ``mask_downscaling(mask_input)`` to the image embedding where a mask is given and the learned
    ``no_mask_embed`` where none is. Zeroing the path's last 1 x 1 convolution and setting its bias to
    ``no_mask_embed`` makes both the same, so the model's answers do not change; training the path from
    there teaches refinement without touching what a first prompt gives. ``reset=False`` keeps the path as it
    is (to continue training one). Returns the path (trainable).
    """
    path = model.prompt_encoder.mask_downscaling
    if reset:
        last = path[-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.copy_(model.prompt_encoder.no_mask_embed.weight[0])
    model.requires_grad_(False)
    return path.requires_grad_(True)
