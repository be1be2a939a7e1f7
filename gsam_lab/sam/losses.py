"""SAM's promptable-segmentation losses: focal + dice on mask logits, MSE on the IoU head."""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["sigmoid_focal_loss", "dice_loss", "mask_iou_from_logits", "sam_loss"]


def sigmoid_focal_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor = None,
                       alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    """Per-mask focal loss (Lin et al. 2017), mean over valid pixels.

    Args:
        logits, target: ``N x H x W`` (target in {0, 1}); weight: ``N x H x W`` or ``H x W`` 0/1
            (pixels that count, e.g. not padding) or None.

    Returns:
        ``N`` losses.
    """
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * target + (1 - alpha) * (1 - target)) * loss
    if weight is None:
        return loss.flatten(1).mean(1)
    weight = weight.expand_as(loss)
    return (loss * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp_min(1)


def dice_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor = None,
              eps: float = 1.0) -> torch.Tensor:
    """Per-mask soft dice loss ``1 - (2 |P T| + eps) / (|P| + |T| + eps)``; shapes as :func:`sigmoid_focal_loss`."""
    p = torch.sigmoid(logits)
    if weight is not None:
        p = p * weight
        target = target * weight
    inter = (p * target).flatten(1).sum(1)
    return 1 - (2 * inter + eps) / (p.flatten(1).sum(1) + target.flatten(1).sum(1) + eps)


@torch.no_grad()
def mask_iou_from_logits(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor = None) -> torch.Tensor:
    """IoU of ``logits > 0`` against ``target`` per mask (``N``), the IoU head's regression target."""
    pred = logits > 0
    tgt = target > 0.5
    if weight is not None:
        w = weight.expand_as(pred) > 0
        pred, tgt = pred & w, tgt & w
    inter = (pred & tgt).flatten(1).sum(1).float()
    union = (pred | tgt).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def sam_loss(logits: torch.Tensor, iou_pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor = None,
             focal_weight: float = 20.0, dice_weight: float = 1.0, iou_weight: float = 1.0, bce_weight: float = 0.0):
    """SAM's loss for ``N`` prompts with ``C`` candidate masks each.

    Args:
        logits: ``N x C x H x W`` mask logits; iou_pred: ``N x C``; target: ``N x H x W``;
            weight: ``H x W`` or ``N x H x W`` valid-pixel weights, or None.

    The mask loss per candidate is ``focal_weight * focal + bce_weight * BCE + dice_weight * dice``
    (SAM: 20 : 0 : 1; the bundled tiny SAM trains with 0 : 1 : 1, plain BCE learning faster from scratch).

    Returns:
        ``(loss, parts)``: the scalar loss (only the best of the ``C`` candidates per prompt is
        back-propagated for the mask terms, as in SAM; the IoU head regresses every candidate's IoU)
        and a dict of detached scalar parts.
    """
    n, c = logits.shape[:2]
    tgt = target[:, None].expand(-1, c, -1, -1).reshape(n * c, *target.shape[-2:])
    w = None
    if weight is not None:
        w = weight if weight.ndim == 2 else weight[:, None].expand(-1, c, -1, -1).reshape(n * c, *weight.shape[-2:])
    flat = logits.reshape(n * c, *logits.shape[-2:])
    focal = sigmoid_focal_loss(flat, tgt, w).view(n, c)
    dice = dice_loss(flat, tgt, w).view(n, c)
    mask_l = dice_weight * dice
    if focal_weight:
        mask_l = mask_l + focal_weight * focal
    if bce_weight:
        bce = F.binary_cross_entropy_with_logits(flat, tgt, reduction="none")
        bce = (bce.flatten(1).mean(1) if w is None else
               (bce * w.expand_as(bce)).flatten(1).sum(1) / w.expand_as(bce).flatten(1).sum(1).clamp_min(1))
        mask_l = mask_l + bce_weight * bce.view(n, c)
    best = mask_l.argmin(1)
    idx = torch.arange(n, device=logits.device)
    true_iou = mask_iou_from_logits(flat, tgt, w).view(n, c)
    iou_l = F.mse_loss(iou_pred, true_iou)
    loss = mask_l[idx, best].mean() + iou_weight * iou_l
    parts = dict(focal=focal[idx, best].mean().item(), dice=dice[idx, best].mean().item(), iou_mse=iou_l.item(),
                 iou=true_iou[idx, best].mean().item())
    return loss, parts
