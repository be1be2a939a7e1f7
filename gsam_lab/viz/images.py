"""Images for display: grids of images, saving figures; the conversion of any array or tensor layout to
``H x W x 3`` uint8 is :func:`gsam_lab.images.to_numpy_image` (also ``viz.to_numpy_image``).

Image layouts understood by :func:`to_numpy_image`:

* numpy: ``H x W``, ``H x W x C`` (channel-last first), or ``C x H x W``;
* torch: ``H x W``, ``C x H x W`` (channel-first first), or ``H x W x C``;
* a leading batch dimension of size 1 is dropped; ``C`` is 1, 3 or 4 (alpha is dropped);
* ``uint8`` is used as is, floats are read as ``[0, 1]`` (clipped), bools as black/white.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch

from gsam_lab.images import as_array, channel_last, to_numpy_image

__all__ = ["to_numpy_image", "display_array", "show_grid", "savefig"]

ImageLike = Union[np.ndarray, torch.Tensor]


def display_array(x) -> np.ndarray:
    """Grey ``H x W`` arrays keep their values (shown with a colormap); others become RGB uint8."""
    arr, was_torch = as_array(x)
    arr = channel_last(arr, was_torch)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        return arr.astype(np.float32) if arr.dtype == np.bool_ else arr
    return to_numpy_image(arr)


def show_grid(images, titles: Optional[Sequence[str]] = None, ncols: int = 4, size: float = 3.0,
              suptitle: Optional[str] = None, cmap: str = "gray"):
    """Show images side by side -> a matplotlib ``Figure`` with one axis per image.

    Args:
        images: a list of images (any layout of :func:`to_numpy_image`), or a batch ``B x ...``
            (4-D array/tensor). ``H x W`` images (depth, scores, masks) are shown with ``cmap``.
        titles: one title per image.
        ncols: images per row (fewer when there are fewer images).
        size: width of one panel in inches; the height follows the first image's aspect ratio.
        suptitle: a title over the whole figure.
    """
    import matplotlib.pyplot as plt

    if isinstance(images, (np.ndarray, torch.Tensor)):
        images = list(images) if images.ndim == 4 else [images]
    images = list(images)
    if not images:
        raise ValueError("show_grid needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    if not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    arrays = [display_array(im) for im in images]
    n = len(arrays)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    h, w = arrays[0].shape[:2]
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * h / w + 0.3 * (titles is not None)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            fig.delaxes(ax)
            continue
        a = arrays[i]
        ax.imshow(a, cmap=cmap if a.ndim == 2 else None, interpolation="nearest")
        ax.set_axis_off()
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def savefig(fig, path: Union[str, Path], dpi: int = 100, **kw) -> Path:
    """Save ``fig`` to ``path`` (format from the suffix), creating parent folders; ``bbox_inches="tight"``.

    Returns the path written.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"savefig needs a file path, got the folder {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    kw.setdefault("bbox_inches", "tight")
    fig.savefig(path, dpi=dpi, **kw)
    return path
