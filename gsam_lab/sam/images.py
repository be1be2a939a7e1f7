"""Image input checks shared by the predictor, the automatic mask generator and the sweeps."""
from __future__ import annotations

from typing import Union

import numpy as np
import torch

__all__ = ["as_rgb_uint8"]


def as_rgb_uint8(image: Union[np.ndarray, torch.Tensor], name: str = "image") -> np.ndarray:
    """An RGB image as a ``H x W x 3`` uint8 numpy array (what SAM's ``ResizeLongestSide`` expects).

    Accepted:

    * ``H x W x 3`` uint8 (numpy or torch), used as is;
    * ``H x W x 3`` float in ``[0, 1]``, converted with ``round(255 * x)``;
    * a **torch tensor** ``3 x H x W`` (uint8, or float in ``[0, 1]``): the layout of torch datasets.

    Anything else (grey or RGBA images, float values outside ``[0, 1]``, NaNs, other dtypes)
    raises ``ValueError`` / ``TypeError`` saying what was expected.
    """
    if isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.ndim == 3 and t.shape[0] == 3 and t.shape[-1] != 3:
            t = t.permute(1, 2, 0)
        arr = t.numpy()
    elif isinstance(image, np.ndarray):
        arr = image
    else:
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(image).__name__}")
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"{name} must be H x W x 3 RGB (torch tensors may be 3 x H x W), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} has NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"float {name} must hold values in [0, 1], got [{lo:.3g}, {hi:.3g}]; "
                             f"for 0..255 values pass image.astype(np.uint8)")
        return np.ascontiguousarray(np.round(arr.astype(np.float64) * 255.0).astype(np.uint8))
    raise TypeError(f"{name} must be uint8 (0..255) or float in [0, 1], got dtype {arr.dtype}")
