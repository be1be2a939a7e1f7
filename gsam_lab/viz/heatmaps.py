"""Heat maps over an image (attention, confidence): a dimmed grey picture underneath, the heat on top,
its opacity growing with the value, and a colour scale to read it by."""
from __future__ import annotations

from typing import Optional

import numpy as np

from gsam_lab.images import as_array

from .images import ImageLike, to_numpy_image

__all__ = ["plot_heatmap"]


def plot_heatmap(ax, image: ImageLike, heat, vmax: Optional[float] = None, cmap: str = "inferno",
                 colorbar: Optional[str] = None, dim: float = 0.45):
    """Draw ``heat`` (``H x W``, values >= 0) over ``image`` on ``ax`` -> the ``ScalarMappable`` of its scale.

    The image is shown in grey at ``dim`` brightness so that the heat's colours stand out; a pixel's
    heat colour is opaque where the heat reaches ``vmax`` and fades out toward 0. Use one ``vmax`` for
    panels that should be compared (default: this heat's maximum).

    Args:
        colorbar: a label: add a colour bar to the axes' figure with it (``None``: no colour bar).
    """
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    img = to_numpy_image(image).astype(np.float32)
    h, _ = as_array(heat)
    h = np.asarray(h, dtype=np.float64)
    if h.shape != img.shape[:2]:
        raise ValueError(f"heat must be H x W = {img.shape[:2]} like the image, got shape {h.shape}")
    if np.isnan(h).any() or (h < 0).any():
        raise ValueError("heat must be finite and >= 0")
    top = float(h.max()) if vmax is None else float(vmax)
    if top <= 0:
        raise ValueError(f"vmax must be > 0 (got {top}); an all-zero heat map has nothing to show")
    grey = img.mean(-1, keepdims=True) * dim / 255.0
    scale = np.clip(h / top, 0.0, 1.0)
    colours = plt.get_cmap(cmap)(scale)[..., :3]
    alpha = np.sqrt(scale)[..., None]                   # faint heat stays visible, strong heat covers
    ax.imshow(np.clip((1 - alpha) * grey + alpha * colours, 0, 1), interpolation="nearest")
    mappable = ScalarMappable(norm=Normalize(0.0, top), cmap=cmap)
    if colorbar:
        ax.figure.colorbar(mappable, ax=ax, fraction=0.04, pad=0.02, label=colorbar)
    return mappable
