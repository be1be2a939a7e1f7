"""The tiny-SAM recipe's auxiliary loss: every pixel's class and boundary, predicted from the image embedding.

SAM's promptable loss reaches the image encoder only through the few objects prompted per image.
A 1 x 1 convolution on the embedding that predicts each pixel's semantic class and whether it lies
on an object/region boundary gives the encoder a gradient at every pixel; only the ``Sam`` weights
are shipped, the head is thrown away.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["DenseAuxHead", "dense_aux_loss", "boundary_map"]


# ----------------------------------------------------------------------------------------------

class DenseAuxHead(torch.nn.Module):
    """1 x 1 convolution: image embedding -> ``num_classes`` semantic logits + 1 boundary logit."""

    def __init__(self, in_dim: int = 256, num_classes: int = 9):
        super().__init__()
        self.num_classes = num_classes
        self.conv = torch.nn.Conv2d(in_dim, num_classes + 1, 1)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return self.conv(emb)


def boundary_map(label: torch.Tensor) -> torch.Tensor:
    """``B x H x W`` bool: pixels whose 4-neighbourhood holds another label."""
    b = torch.zeros_like(label, dtype=torch.bool)
    dx = label[:, :, 1:] != label[:, :, :-1]
    dy = label[:, 1:, :] != label[:, :-1, :]
    b[:, :, 1:] |= dx
    b[:, :, :-1] |= dx
    b[:, 1:, :] |= dy
    b[:, :-1, :] |= dy
    return b


def dense_aux_loss(logits: torch.Tensor, views, sizes, img_size: int, num_classes: int, res: int = 128,
                   semantic_weight: float = 1.0):
    """Semantic cross-entropy + boundary BCE of a :class:`DenseAuxHead`'s ``B x (num_classes + 1) x h x w``
    ``logits`` at ``res x res`` against each view's ``semantic`` / ``instance`` maps (padding ignored);
    the cross-entropy is scaled by ``semantic_weight``."""
    sem_t, edge_t, valid = [], [], []
    scale = res / img_size
    for v, (h, w) in zip(views, sizes):
        hh, ww = max(1, round(h * scale)), max(1, round(w * scale))
        sem = torch.as_tensor(v["semantic"], dtype=torch.long, device=logits.device)
        inst = torch.as_tensor(v["instance"], dtype=torch.long, device=logits.device)
        key = (sem.clamp(min=0) * 100003 + inst)[None, None].float()
        key = F.interpolate(key, size=(hh, ww), mode="nearest")[0, 0].long()
        s_ = F.interpolate(sem[None, None].float(), size=(hh, ww), mode="nearest")[0, 0].long()
        s_ = torch.where((s_ >= 0) & (s_ < num_classes), s_, torch.full_like(s_, -100))
        pad = (0, res - ww, 0, res - hh)
        sem_t.append(F.pad(s_, pad, value=-100))
        edge_t.append(F.pad(boundary_map(key[None])[0].float(), pad))
        valid.append(F.pad(torch.ones(hh, ww, device=logits.device), pad))
    sem_t, edge_t, valid = torch.stack(sem_t), torch.stack(edge_t), torch.stack(valid)
    out = F.interpolate(logits, size=(res, res), mode="bilinear", align_corners=False)
    ce = F.cross_entropy(out[:, :-1], sem_t, ignore_index=-100)
    pos = (edge_t * valid).sum().clamp_min(1)
    neg = ((1 - edge_t) * valid).sum().clamp_min(1)
    wts = valid * torch.where(edge_t > 0, 0.5 / pos, 0.5 / neg)
    bce = (F.binary_cross_entropy_with_logits(out[:, -1], edge_t, reduction="none") * wts).sum()
    return semantic_weight * ce + bce, {"aux_ce": ce.item(), "aux_edge": bce.item()}
