"""The data of MKA distillation: checks of a dataset item, the seeded order of the items, augmentation, batches.

The global batch of step ``s`` is a fixed function of ``(seed, s)``: position ``p`` of the endless
sequence is item ``randperm(n)[p % n]`` of a permutation seeded by the epoch ``p // n``, and its
augmentation (a yaw roll and a horizontal flip, both exact symmetries of an ERP) is seeded by ``p``.
So a resumed run sees the same data as an uninterrupted one.
"""
from __future__ import annotations

import numpy as np
import torch

from .distributed import DistInfo

__all__ = ["as_item_tensor", "check_item", "mka_batch"]


def as_item_tensor(x, name: str) -> torch.Tensor:
    """A dataset item's array as a tensor (numpy arrays converted), or a TypeError naming the key."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"dataset item {name!r} must be a tensor or array, got {type(x).__name__}")
    return x


def check_item(item, num_classes: int, index=0):
    """Validate one dataset item; return (image 3xHxW float, pseudo_label HxW int64, ensemble KxhXw float)."""
    if not isinstance(item, dict):
        raise TypeError(f"dataset item {index} must be a dict with 'image', 'pseudo_label', 'ensemble_logits'; "
                        f"got {type(item).__name__}")
    missing = [k for k in ("image", "pseudo_label", "ensemble_logits") if k not in item]
    if missing:
        raise KeyError(f"dataset item {index} lacks {missing}; train_mka needs 'image' (3xHxW in [0,1]), "
                       "'pseudo_label' (HxW int64, 255 = ignore) and 'ensemble_logits' (KxHxW) from DAR")
    img = as_item_tensor(item["image"], "image").float()
    lab = as_item_tensor(item["pseudo_label"], "pseudo_label").long()
    ens = as_item_tensor(item["ensemble_logits"], "ensemble_logits").float()
    if img.ndim != 3 or img.shape[0] != 3:
        raise ValueError(f"item {index}: image must be 3 x H x W, got {tuple(img.shape)}")
    H, W = img.shape[-2:]
    if tuple(lab.shape) != (H, W):
        raise ValueError(f"item {index}: pseudo_label is {tuple(lab.shape)} but the image is {H} x {W}")
    if ens.ndim != 3:
        raise ValueError(f"item {index}: ensemble_logits must be K x H x W, got {tuple(ens.shape)}")
    if ens.shape[0] != num_classes:
        raise ValueError(f"item {index}: cached ensemble_logits have {ens.shape[0]} classes but the student predicts "
                         f"{num_classes}; build the student with num_classes={ens.shape[0]} "
                         "or re-run DAR for its classes")
    h, w = ens.shape[-2:]
    if H % h or W % w or H // h != W // w:
        raise ValueError(f"item {index}: cached ensemble_logits are {h} x {w}, which is not the image size {H} x {W} "
                         "divided by one integer factor; they do not belong to this image size")
    return img, lab, ens


def _global_positions(step: int, batch: int) -> range:
    return range(step * batch, (step + 1) * batch)


def _index_at(position: int, n: int, seed: int) -> int:
    """Dataset index at ``position`` of the endless seeded sequence (one permutation per epoch)."""
    epoch, k = divmod(position, n)
    g = torch.Generator().manual_seed(int(seed) * 100_003 + epoch)
    return int(torch.randperm(n, generator=g)[k])


def _augment(img, lab, ens, seed: int, position: int):
    """A random yaw roll (by whole logit cells, so the three stay aligned) and a horizontal flip, seeded by position."""
    rng = np.random.default_rng([int(seed), 17, int(position)])
    W, w = img.shape[-1], ens.shape[-1]
    f = W // w
    shift = int(rng.integers(0, w)) * f             # roll by whole logit cells: all three stay aligned
    img, lab, ens = img.roll(shift, -1), lab.roll(shift, -1), ens.roll(shift // f, -1)
    if rng.random() < 0.5:
        img, lab, ens = img.flip(-1), lab.flip(-1), ens.flip(-1)
    return img, lab, ens


def mka_batch(dataset, step: int, cfg, info: DistInfo, num_classes: int):
    """This rank's share of the global batch of ``step`` (``cfg``: an ``MKAConfig``, for ``batch_size``,
    ``seed`` and ``augment``): checked items, augmented when asked, stacked to ``B x ...`` tensors."""
    per_rank = cfg.batch_size // info.world_size
    positions = list(_global_positions(step, cfg.batch_size))[info.rank * per_rank:(info.rank + 1) * per_rank]
    imgs, labs, enss = [], [], []
    n = len(dataset)
    for p in positions:
        i = _index_at(p, n, cfg.seed)
        img, lab, ens = check_item(dataset[i], num_classes, i)
        if cfg.augment:
            img, lab, ens = _augment(img, lab, ens, cfg.seed, p)
        imgs.append(img), labs.append(lab), enss.append(ens)
    try:
        return torch.stack(imgs), torch.stack(labs), torch.stack(enss)
    except RuntimeError as e:
        raise ValueError(f"items of one batch differ in size ({[tuple(x.shape) for x in imgs]}); "
                         "train_mka needs panoramas of one size") from e
