"""Image helpers shared by the widgets: arrays to PNG bytes (:func:`gsam_lab.images.to_png`), polylines
drawn onto pixels."""
from __future__ import annotations

from typing import Iterable, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

from gsam_lab.images import to_png

__all__ = ["to_png", "draw_polylines"]


def draw_polylines(image: np.ndarray, polylines: Iterable[np.ndarray], color: Tuple[int, int, int] = (255, 40, 40),
                   width: int = 2, scale: Sequence[float] = (1.0, 1.0)) -> np.ndarray:
    """A copy of ``image`` (HxWx3 uint8) with each ``N x 2`` polyline of (u, v) pixel coordinates drawn.

    ``scale`` multiplies (u, v) first, for polylines computed at another resolution.
    """
    canvas = Image.fromarray(np.ascontiguousarray(image))
    draw = ImageDraw.Draw(canvas)
    for line in polylines:
        pts = np.asarray(line, dtype=np.float64) * np.asarray(scale, dtype=np.float64)
        if len(pts) >= 2:
            draw.line([tuple(p) for p in pts.tolist()], fill=tuple(int(c) for c in color), width=width)
    return np.asarray(canvas)
