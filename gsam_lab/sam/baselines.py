"""The simplest baseline for a box prompt: fill the box.

A SAM that is handed the object's box should do better than painting that box solid: the box
already gives the object's extent, and only the shape inside it is left to find. Filling the box
scores high on boxy objects (cars, windows) and low on thin or diagonal ones (poles, people).
:class:`BoxFillPredictor` has the predictor interface (``set_image`` / ``predict``), so every sweep
that scores SAM can score the baseline on exactly the same prompts.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from gsam_lab.images import as_rgb_uint8

from .predictor import Prediction

__all__ = ["BoxFillPredictor", "fill_boxes"]


def fill_boxes(boxes, hw) -> torch.Tensor:
    """``N x H x W`` bool masks, True inside each XYXY pixel box (corners included, clipped to the image)."""
    b = torch.as_tensor(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    h, w = int(hw[0]), int(hw[1])
    ys = torch.arange(h, dtype=torch.float64)[None, :, None]
    xs = torch.arange(w, dtype=torch.float64)[None, None, :]
    x0, y0, x1, y1 = (b[:, i, None, None] for i in range(4))
    return (xs >= x0.round()) & (xs <= x1.round()) & (ys >= y0.round()) & (ys <= y1.round())


class BoxFillPredictor:
    """"Fill the prompt box" with :class:`gsam_lab.sam.PromptPredictor`'s interface (boxes only)."""

    device = torch.device("cpu")

    def __init__(self):
        self.hw: Optional[tuple] = None

    def set_image(self, image) -> "BoxFillPredictor":
        self.hw = as_rgb_uint8(image).shape[:2]
        return self

    def predict(self, boxes=None, points=None, labels=None, mask_input=None, multimask: bool = False,
                return_logits: bool = False, clip: bool = False) -> Prediction:
        if self.hw is None:
            raise RuntimeError("call set_image(image) before predict()")
        if boxes is None or points is not None:
            raise ValueError("the fill-the-box baseline needs box prompts only (boxes=N x 4, no points)")
        masks = fill_boxes(boxes, self.hw)
        iou = torch.ones(len(masks))
        if multimask:
            masks, iou = masks[:, None], iou[:, None]
        return Prediction(masks, iou, None)
