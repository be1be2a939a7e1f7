"""Images for display: any array or tensor layout to ``H x W x 3`` uint8, grids of images, saving figures.

Image layouts understood by :func:`to_numpy_image`:

* numpy: ``H x W``, ``H x W x C`` (channel-last first), or ``C x H x W``;
* torch: ``H x W``, ``C x H x W`` (channel-first first), or ``H x W x C``;
* a leading batch dimension of size 1 is dropped; ``C`` is 1, 3 or 4 (alpha is dropped);
* ``uint8`` is used as is, floats are read as ``[0, 1]`` (clipped), bools as black/white.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch

__all__ = ["to_numpy_image", "show_grid", "savefig"]

ImageLike = Union[np.ndarray, torch.Tensor]


def _to_numpy(x) -> Tuple[np.ndarray, bool]:
    """(array, was_torch)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy(), True
    if isinstance(x, np.ndarray):
        return x, False
    if hasattr(x, "__array__") or isinstance(x, (list, tuple)):  # e.g. a PIL image
        return np.asarray(x), False
    raise TypeError(f"expected a numpy array or torch tensor, got {type(x).__name__}")


def _channel_last(arr: np.ndarray, was_torch: bool) -> np.ndarray:
    """Bring a 2-D/3-D (or 1 x ... 4-D) array to ``H x W`` or ``H x W x C`` with ``C`` in 1, 3, 4."""
    shape = arr.shape
    if arr.ndim == 4 and shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 2:
        return arr
    if arr.ndim == 3:
        first, last = arr.shape[0] in (1, 3, 4), arr.shape[-1] in (1, 3, 4)
        if was_torch and first or (first and not last):
            return np.moveaxis(arr, 0, -1)
        if last:
            return arr
    raise ValueError(f"expected an image H x W, H x W x C or C x H x W with C in (1, 3, 4) "
                     f"(optionally with a leading batch of 1), got shape {tuple(shape)}")


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        return (np.clip(np.nan_to_num(arr.astype(np.float32)), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(f"integer images must hold values in 0..255, got {arr.min()}..{arr.max()} "
                             f"(dtype {arr.dtype}); for label maps use colorize()")
        return arr.astype(np.uint8)
    raise ValueError(f"unsupported image dtype {arr.dtype}")


def to_numpy_image(x: ImageLike) -> np.ndarray:
    """Any image layout (see the module docstring) -> ``H x W x 3`` uint8 numpy array for display.

    Grey images are repeated to 3 channels, alpha is dropped, floats are read as ``[0, 1]``.
    """
    arr, was_torch = _to_numpy(x)
    arr = _to_uint8(_channel_last(arr, was_torch))
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return np.ascontiguousarray(arr[..., :3])


def _display_array(x) -> np.ndarray:
    """Grey ``H x W`` arrays keep their values (shown with a colormap); others become RGB uint8."""
    arr, was_torch = _to_numpy(x)
    arr = _channel_last(arr, was_torch)
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
    arrays = [_display_array(im) for im in images]
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
