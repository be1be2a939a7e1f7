"""How good is a segmentation model on labelled images? The dataset mIoU, and one confusion matrix per image.

:func:`evaluate_miou` scores any model with ``predict(images) -> B x K x H x W`` logits (the TA, the
student) the same way: the confusion matrices of all images are summed, then each class's IoU is read
from the sum (a dataset mIoU, not a mean over images). It also keeps each image's own matrix, so that
:func:`gsam_lab.bootstrap.miou_bootstrap_ci` can give the mIoU an interval over images, or pair two
models on the same images.

::

    e = goodsam.evaluate_miou(teacher, data.SyntheticPanoramas("test", 8, (128, 256)))
    e["miou"], e["per_class"]                        # dataset mIoU, IoU per class (nan: class absent)
    bootstrap.miou_bootstrap_ci(e["confusions"])     # (mIoU, low, high) over the images
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import torch
from torch import nn

from gsam_lab.metrics import ConfusionMeter, confusion_matrix
from gsam_lab.utils import progress_bar, resolve_device

from .mka_data import as_item_tensor

__all__ = ["evaluate_miou"]


@torch.no_grad()
def evaluate_miou(model: nn.Module, dataset, num_classes: Optional[int] = None, batch_size: int = 4,
                  device="auto", ignore_index: int = 255, label_key: str = "semantic",
                  progress: bool = False) -> Dict[str, object]:
    """mIoU of ``model.predict(images)`` (B x K x H x W logits, argmax) against ``dataset`` items' ``label_key``.

    Every item is run whole (an ERP at once: the "TA alone" baseline of DAR), ``batch_size`` items at a
    time, on ``device`` (the model is moved there; its train/eval mode is restored afterwards).

    Returns:
        ``{"miou": float, "per_class": list of K floats (nan = absent), "confusions": N x K x K numpy
        array}``: one confusion matrix per image, for :func:`gsam_lab.bootstrap.miou_bootstrap_ci` (an
        interval over images, or a paired difference of two models on the same images).
    """
    dev = resolve_device(device)
    K = int(num_classes if num_classes is not None else model.num_classes)
    was_training = model.training
    model.to(dev).eval()
    meter = ConfusionMeter(K, ignore_index=ignore_index)
    cms = []
    for s in progress_bar(range(0, len(dataset), batch_size), desc="evaluate mIoU", disable=not progress):
        items = [dataset[i] for i in range(s, min(len(dataset), s + batch_size))]
        images = torch.stack([as_item_tensor(it["image"], "image").float() for it in items]).to(dev)
        gt = torch.stack([as_item_tensor(it[label_key], label_key).long() for it in items])
        logits = model.predict(images)
        if logits.shape[1] != K or logits.shape[-2:] != gt.shape[-2:]:
            raise ValueError(f"predict returned {tuple(logits.shape)}; expected B x {K} x {tuple(gt.shape[-2:])}")
        pred = logits.argmax(1).cpu()
        meter.update(pred, gt)
        cms += [confusion_matrix(p, g, K, ignore_index=ignore_index).numpy() for p, g in zip(pred, gt)]
    model.train(was_training)
    return {"miou": meter.miou(), "per_class": [float(x) for x in meter.per_class_iou()],
            "confusions": np.stack(cms) if cms else np.zeros((0, K, K), np.int64)}
