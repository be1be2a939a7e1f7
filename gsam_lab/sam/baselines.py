"""Baselines for a box prompt: fill the box, and GrabCut from the box.

A SAM that is handed the object's box should do better than painting that box solid: the box
already gives the object's extent, and only the shape inside it is left to find. Filling the box
scores high on boxy objects (cars, windows) and low on thin or diagonal ones (poles, people).
:class:`BoxFillPredictor` has the predictor interface (``set_image`` / ``predict``), so every sweep
that scores SAM can score the baseline on exactly the same prompts.

The classical method a student would try first is **GrabCut** (Rother et al. 2004): colour models
of the object (inside the box) and of the background (outside it), refined by graph cuts for a few
iterations, with no training at all. :class:`GrabCutPredictor` runs OpenCV's ``cv2.grabCut``
initialised from each box (``pip install opencv-python-headless``, or ``gsam_lab[eval]``).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from gsam_lab.images import as_rgb_uint8

from .predictor import Prediction

__all__ = ["BoxFillPredictor", "GrabCutPredictor", "fill_boxes"]


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

    name = "fill-the-box"

    def predict(self, boxes=None, points=None, labels=None, mask_input=None, multimask: bool = False,
                return_logits: bool = False, clip: bool = False) -> Prediction:
        if self.hw is None:
            raise RuntimeError("call set_image(image) before predict()")
        if boxes is None or points is not None:
            raise ValueError(f"the {self.name} baseline needs box prompts only (boxes=N x 4, no points)")
        masks = self.masks_for(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
        iou = torch.ones(len(masks))
        if multimask:
            masks, iou = masks[:, None], iou[:, None]
        return Prediction(masks, iou, None)

    def masks_for(self, boxes: np.ndarray) -> torch.Tensor:
        """``N x H x W`` bool masks for ``N x 4`` XYXY boxes on the current image."""
        return fill_boxes(boxes, self.hw)


def _cv2():
    try:
        import cv2
    except ImportError as e:
        raise ImportError("the GrabCut baseline needs OpenCV: pip install opencv-python-headless "
                          "(or pip install 'gsam_lab[eval]')") from e
    return cv2


class GrabCutPredictor(BoxFillPredictor):
    """OpenCV's GrabCut started from each prompt box, with :class:`gsam_lab.sam.PromptPredictor`'s interface.

    Args:
        iterations: GrabCut iterations per box (OpenCV's ``iterCount``; 5 by default).

    Pixels outside the box are background by construction; GrabCut labels those inside it. A box that
    leaves no background (it covers the whole image) or that GrabCut cannot model is filled instead.
    """

    name = "GrabCut"

    def __init__(self, iterations: int = 5):
        super().__init__()
        if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 1:
            raise ValueError(f"iterations must be an int >= 1, got {iterations!r}")
        self.iterations = int(iterations)
        self.image: Optional[np.ndarray] = None
        _cv2()

    def set_image(self, image) -> "GrabCutPredictor":
        rgb = as_rgb_uint8(image)
        self.hw = rgb.shape[:2]
        self.image = np.ascontiguousarray(rgb[..., ::-1])          # OpenCV works in BGR
        return self

    def _one(self, box: torch.Tensor) -> torch.Tensor:
        cv2 = _cv2()
        h, w = self.hw
        filled = fill_boxes(box[None].numpy(), self.hw)[0]
        x0, y0, x1, y1 = (int(round(float(v))) for v in box)
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(w - 1, x1), min(h - 1, y1)
        if x1 <= x0 or y1 <= y0 or (x0 == 0 and y0 == 0 and x1 == w - 1 and y1 == h - 1):
            return filled
        mask = np.zeros((h, w), np.uint8)
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        try:
            cv2.grabCut(self.image, mask, (x0, y0, x1 - x0 + 1, y1 - y0 + 1), bgd, fgd, self.iterations,
                        cv2.GC_INIT_WITH_RECT)
        except cv2.error:
            return filled
        return torch.from_numpy((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD))

    def masks_for(self, boxes: np.ndarray) -> torch.Tensor:
        """One GrabCut per distinct box: a box repeated (the ground-truth box of every draw) is cut once."""
        rows = [tuple(row) for row in np.asarray(boxes, np.float32)]
        cut = {row: self._one(torch.tensor(row)) for row in dict.fromkeys(rows)}
        return torch.stack([cut[row] for row in rows])
