"""How good is a segmentation on labelled images? The dataset mIoU, and one confusion matrix per image.

Every mIoU of the lab is scored here, one way: the confusion matrices of all images are summed, then
each class's IoU is read from the sum (a dataset mIoU, not a mean over images). Each image's own
matrix is kept too, so that :func:`gsam_lab.bootstrap.miou_bootstrap_ci` can give the mIoU an
interval over images, or pair two methods on the same images.

- :func:`evaluate_miou` scores a model with ``predict(images) -> B x K x H x W`` logits (the TA, a
  student), a batch of whole images at a time;
- :func:`evaluate_labels` scores any function ``predict(image) -> H x W labels``, one image at a
  time, or several label maps that one call returns together (``{name: labels}``);
- :func:`dar_labels` is such a function for DAR: the ensemble's label map of each fusion, from one set
  of SAM masks per panorama;
- :func:`confidence_curve` asks what a pseudo-label's confidence threshold buys: at each threshold, the
  share of labelled pixels kept and how often the kept ones are right (choose it on held-out data).

::

    e = goodsam.evaluate_miou(teacher, data.SyntheticPanoramas("test", 8, (128, 256)))
    e["miou"], e["per_class"]                        # dataset mIoU, IoU per class (nan: class absent)
    bootstrap.miou_bootstrap_ci(e["confusions"])     # (mIoU, low, high) over the images
    d = goodsam.evaluate_labels(goodsam.dar_labels(teacher, sam_model), panoramas)
    d["DAR vote"]["miou"], d["DAR ctcf"]["miou"]
"""
from __future__ import annotations

from typing import Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from gsam_lab.metrics import ConfusionMeter, confusion_matrix
from gsam_lab.utils import progress_bar, resolve_device

from .fusion import sam_masks
from .mka_data import as_item_tensor
from .rectification import dar

__all__ = ["evaluate_miou", "evaluate_labels", "dar_labels", "confidence_curve"]

Labels = Union[torch.Tensor, Mapping[str, torch.Tensor]]


def _score(pairs: Iterable[Tuple[torch.Tensor, torch.Tensor]], K: int, ignore_index: int,
           keep: int) -> Dict[str, object]:
    """The one scorer: ``(prediction, ground truth)`` label maps -> dataset mIoU, IoU per class, the
    per-image confusion matrices and the first ``keep`` predictions."""
    meter = ConfusionMeter(K, ignore_index=ignore_index)
    cms, kept = [], []
    for pred, gt in pairs:
        if pred.shape != gt.shape:
            raise ValueError(f"a prediction of shape {tuple(pred.shape)} for labels of shape {tuple(gt.shape)}")
        meter.update(pred[None], gt[None])
        cms.append(confusion_matrix(pred, gt, K, ignore_index=ignore_index).numpy())
        if len(kept) < keep:
            kept.append(pred)
    return {"miou": meter.miou(), "per_class": [float(x) for x in meter.per_class_iou()],
            "confusions": np.stack(cms) if cms else np.zeros((0, K, K), np.int64), "predictions": kept}


def _labels_of(item, label_key: str) -> torch.Tensor:
    return as_item_tensor(item[label_key], label_key).long()


@torch.no_grad()
def evaluate_miou(model: nn.Module, dataset, num_classes: Optional[int] = None, batch_size: int = 4,
                  device="auto", ignore_index: int = 255, label_key: str = "semantic",
                  progress: bool = False, keep: int = 0) -> Dict[str, object]:
    """mIoU of ``model.predict(images)`` (B x K x H x W logits, argmax) against ``dataset`` items' ``label_key``.

    Every item is run whole (an ERP at once: the "TA alone" baseline of DAR), ``batch_size`` items at a
    time, on ``device`` (the model is moved there; its train/eval mode is restored afterwards).

    Returns:
        ``{"miou": float, "per_class": list of K floats (nan = absent), "confusions": N x K x K numpy
        array, "predictions": the first keep label maps (H x W, CPU)}``: one confusion matrix per image,
        for :func:`gsam_lab.bootstrap.miou_bootstrap_ci` (an interval over images, or a paired
        difference of two models on the same images).
    """
    dev = resolve_device(device)
    K = int(num_classes if num_classes is not None else model.num_classes)
    was_training = model.training
    model.to(dev).eval()

    def pairs():
        for s in progress_bar(range(0, len(dataset), batch_size), desc="evaluate mIoU", disable=not progress):
            items = [dataset[i] for i in range(s, min(len(dataset), s + batch_size))]
            images = torch.stack([as_item_tensor(it["image"], "image").float() for it in items]).to(dev)
            gt = torch.stack([_labels_of(it, label_key) for it in items])
            logits = model.predict(images)
            if logits.shape[1] != K or logits.shape[-2:] != gt.shape[-2:]:
                raise ValueError(f"predict returned {tuple(logits.shape)}; expected B x {K} x {tuple(gt.shape[-2:])}")
            yield from zip(logits.argmax(1).cpu(), gt)

    try:
        return _score(pairs(), K, ignore_index, keep)
    finally:
        model.train(was_training)


@torch.no_grad()
def evaluate_labels(predict: Callable[[torch.Tensor], Labels], dataset, num_classes: int, ignore_index: int = 255,
                    label_key: str = "semantic", progress: bool = False,
                    keep: int = 0) -> Dict[str, object]:
    """mIoU of any ``predict(image) -> H x W labels`` against ``dataset`` items' ``label_key``, as
    :func:`evaluate_miou` scores a model (the same sums, the same per-image matrices).

    Args:
        predict: called once per item with its ``image`` (``3 x H x W`` float); returns an ``H x W``
            label map, or ``{name: H x W labels}`` for several methods that share one call's work
            (:func:`dar_labels`: every fusion from the same SAM masks).
        keep: how many of the first label maps to return (for a figure).

    Returns:
        :func:`evaluate_miou`'s dict; for a ``predict`` that returns ``{name: labels}``, ``{name: that dict}``.
    """
    K = int(num_classes)
    outputs, gts = [], []
    for i in progress_bar(range(len(dataset)), desc="evaluate mIoU", disable=not progress):
        item = dataset[i]
        out = predict(as_item_tensor(item["image"], "image").float())
        outputs.append({k: torch.as_tensor(v).long().cpu() for k, v in out.items()} if isinstance(out, Mapping)
                       else torch.as_tensor(out).long().cpu())
        gts.append(_labels_of(item, label_key))
    if outputs and isinstance(outputs[0], dict):
        return {name: _score(zip((o[name] for o in outputs), gts), K, ignore_index, keep) for name in outputs[0]}
    return _score(zip(outputs, gts), K, ignore_index, keep)


def dar_labels(teacher, model, fusions: Sequence[str] = ("vote", "ctcf"), prefix: str = "DAR ",
               points_per_side: int = 6, sam_kwargs: Optional[dict] = None,
               **dar_kwargs) -> Callable[[torch.Tensor], Dict[str, torch.Tensor]]:
    """DAR as a ``predict(erp) -> {prefix + fusion: H x W labels}`` for :func:`evaluate_labels`.

    For each panorama SAM's "everything" masks (:func:`~gsam_lab.goodsam.sam_masks` on a
    ``points_per_side`` x ``points_per_side`` grid, with ``sam_kwargs``) are computed once and every
    fusion of ``fusions`` is run on them (:func:`~gsam_lab.goodsam.dar`, with ``windows="h"`` and
    ``boundary=True`` unless ``dar_kwargs`` say otherwise); a label map is the argmax of the ensemble
    logits (no confidence threshold: every pixel is scored).
    """
    settings = dict(dict(windows="h", boundary=True), **dar_kwargs)

    def predict(erp: torch.Tensor) -> Dict[str, torch.Tensor]:
        image = erp.to(next(teacher.parameters()).device)
        masks = sam_masks(model, image, points_per_side=points_per_side, **(sam_kwargs or {}))
        return {f"{prefix}{f}": dar(teacher, None, image, fusion=f, masks=masks, **settings).ensemble_logits.argmax(0)
                for f in fusions}

    return predict


def confidence_curve(predictions: Sequence[torch.Tensor], confidences: Sequence[torch.Tensor],
                     labels: Sequence[torch.Tensor], num_classes: int,
                     thresholds: Sequence[float] = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
                     ignore_index: int = 255):
    """Coverage and accuracy of pseudo-labels kept above each confidence threshold.

    Args:
        predictions, confidences, labels: one ``H x W`` tensor each per image: the predicted classes (a
            DAR ensemble's argmax), their confidence in [0, 1] (``DarResult.parts["confidence"]``) and the
            ground truth (``ignore_index`` pixels left out).
        thresholds: confidence thresholds; a pixel is kept where its confidence is at least the threshold.

    Returns:
        a pandas DataFrame, one row per threshold: ``coverage`` (kept share of the labelled pixels),
        ``accuracy`` (share of kept pixels that are right), ``miou`` (dataset mIoU on the kept pixels),
        ``n_images``.
    """
    import pandas as pd

    if not (len(predictions) == len(confidences) == len(labels)) or not len(labels):
        raise ValueError(f"need as many predictions, confidences and labels (at least one each), got "
                         f"{len(predictions)}, {len(confidences)} and {len(labels)}")
    rows = []
    for t in thresholds:
        meter = ConfusionMeter(num_classes, ignore_index=ignore_index)
        kept = right = total = 0
        for pred, conf, gt in zip(predictions, confidences, labels):
            if not (pred.shape == conf.shape == gt.shape):
                raise ValueError(f"prediction {tuple(pred.shape)}, confidence {tuple(conf.shape)} and labels "
                                 f"{tuple(gt.shape)} must have one H x W")
            valid = gt != ignore_index
            keep = valid & (conf >= t)
            total += int(valid.sum())
            kept += int(keep.sum())
            right += int((keep & (pred == gt)).sum())
            meter.update(torch.where(keep, pred, torch.full_like(pred, ignore_index))[None],
                         torch.where(keep, gt, torch.full_like(gt, ignore_index))[None])
        rows.append(dict(threshold=float(t), coverage=kept / max(1, total),
                         accuracy=right / kept if kept else float("nan"), miou=meter.miou() if kept else float("nan"),
                         n_images=len(labels)))
    return pd.DataFrame(rows)
