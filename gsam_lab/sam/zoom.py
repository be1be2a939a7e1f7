"""Crop-and-zoom: look at a small object through a window around its box.

SAM resizes the whole image to its encoder's input (256 px for ``tiny-synth``, 1024 for Meta's
models). A 40 x 30 px person in a 256 x 512 panorama then covers a few image tokens, too few for the
decoder to draw its outline. Cropping a window around the prompt box and resizing that window to
the encoder's input gives the same object many tokens, as a person zooms in before tracing a small
object. :func:`zoom_window` chooses the window; :meth:`gsam_lab.sam.PromptPredictor.predict` uses it
with ``zoom=True``, and the tiny SAM's training recipe shows the model such windows.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

__all__ = ["zoom_window", "box_in_window"]


def zoom_window(box: Sequence[float], image_hw: Tuple[int, int], context: float = 1.0,
                min_side: int = 32) -> Tuple[int, int, int, int]:
    """The square window ``(x0, y0, x1, y1)`` (pixels, ``x1``/``y1`` exclusive) to crop around ``box``.

    Args:
        box: XYXY pixel box (inclusive corners, as SAM's boxes).
        image_hw: the image's ``(H, W)``.
        context: the window's side is ``(1 + context)`` times the box's longer side, so
            ``context = 1`` leaves half a box of surroundings on each side of the longer side.
        min_side: the smallest window side in pixels (tiny boxes are not zoomed past this).

    The window is centred on the box and shifted (never shrunk) to lie inside the image; its side
    is at most the image's shorter side.
    """
    H, W = int(image_hw[0]), int(image_hw[1])
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 >= x0 and y1 >= y0):
        raise ValueError(f"box must be XYXY with x1 >= x0 and y1 >= y0, got {list(box)}")
    if context < 0:
        raise ValueError(f"context must be >= 0, got {context}")
    side = max(x1 - x0 + 1, y1 - y0 + 1) * (1.0 + context)
    side = int(round(min(max(side, min_side), min(H, W))))
    cx, cy = (x0 + x1 + 1) / 2, (y0 + y1 + 1) / 2
    left = int(np.clip(round(cx - side / 2), 0, W - side))
    top = int(np.clip(round(cy - side / 2), 0, H - side))
    return left, top, left + side, top + side


def box_in_window(box: Sequence[float], window: Tuple[int, int, int, int], size: int) -> np.ndarray:
    """``box`` (XYXY, image pixels) in the pixels of ``window`` resized to ``size x size``."""
    left, top, right, _ = window
    scale = size / (right - left)
    b = np.asarray(box, dtype=np.float64).copy()
    b[[0, 2]] = (b[[0, 2]] - left) * scale
    b[[1, 3]] = (b[[1, 3]] - top) * scale
    return b
