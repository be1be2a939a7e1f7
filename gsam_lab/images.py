"""Image conversions for the whole library: torch or numpy, channel-first or channel-last, uint8 or float, PNG.

Conventions: a float image holds values in ``[0, 1]``, a uint8 image 0..255, and float -> uint8 is
``round(255 x)``. This module imports nothing from the rest of gsam_lab, so every layer may use it.

* :func:`as_rgb_uint8`: a model's input (SAM wants ``H x W x 3`` uint8); strict: anything it could
  misread (grey or RGBA images, float values outside ``[0, 1]``, NaN) is an error.
* :func:`to_numpy_image`: a picture for display; lenient: any layout, grey or RGBA, floats clipped.
* :func:`to_png`: PNG bytes of a uint8 image (widgets, exported files).
* :func:`to_batch` / :func:`from_batch`: any image to ``B x C x H x W`` and the result back in the
  caller's layout and dtype (the panorama functions).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Tuple, Union

import numpy as np
import torch

__all__ = ["as_array", "channel_last", "to_uint8", "as_rgb_uint8", "to_numpy_image", "to_png",
           "ImageBatch", "numpy_to_tensor", "to_batch", "from_batch", "work_dtype", "restore_dtype"]

ImageLike = Union[np.ndarray, torch.Tensor]


# -- numpy, uint8 --------------------------------------------------------------------------------------

def as_array(x, name: str = "image") -> Tuple[np.ndarray, bool]:
    """``(numpy array, was_torch)`` from a torch tensor (any device), a numpy array or an array-like (PIL image)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy(), True
    if isinstance(x, np.ndarray):
        return x, False
    if hasattr(x, "__array__") or isinstance(x, (list, tuple)):
        return np.asarray(x), False
    raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}")


def channel_last(arr: np.ndarray, was_torch: bool, name: str = "image") -> np.ndarray:
    """``H x W`` or ``H x W x C`` (``C`` in 1, 3, 4) from a 2-D or 3-D array, or a 4-D one with a batch of 1.

    A 3-D array with 1, 3 or 4 entries first is read as channel-first when it came from torch (torch's
    layout) or when its last axis cannot be channels."""
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
    raise ValueError(f"{name} must be H x W, H x W x C or C x H x W with C in (1, 3, 4) "
                     f"(optionally with a leading batch of 1), got shape {tuple(shape)}")


def to_uint8(arr: np.ndarray, name: str = "image", strict: bool = True) -> np.ndarray:
    """``arr`` as uint8: uint8 as is, float ``[0, 1]`` -> ``round(255 x)``.

    ``strict=True`` accepts only those two and refuses NaN and floats outside ``[0, 1]`` (a float
    image of 0..255 values would otherwise saturate). ``strict=False`` (for display) clips floats to
    ``[0, 1]`` (NaN -> 0), shows bools as 0 / 255 and keeps integers in 0..255.
    """
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        a = arr.astype(np.float64)
        if strict and not np.isfinite(a).all():
            raise ValueError(f"{name} has NaN or infinite values")
        if strict and a.size and (a.min() < 0.0 or a.max() > 1.0):
            raise ValueError(f"float {name} must hold values in [0, 1], got [{a.min():.3g}, {a.max():.3g}]; "
                             f"for 0..255 values pass image.astype(np.uint8)")
        return np.round(np.clip(np.nan_to_num(a), 0.0, 1.0) * 255.0).astype(np.uint8)
    if strict:
        raise TypeError(f"{name} must be uint8 (0..255) or float in [0, 1], got dtype {arr.dtype}")
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(f"integer images must hold values in 0..255, got {arr.min()}..{arr.max()} "
                             f"(dtype {arr.dtype}); for label maps use colorize()")
        return arr.astype(np.uint8)
    raise TypeError(f"unsupported image dtype {arr.dtype}")


def as_rgb_uint8(image: ImageLike, name: str = "image") -> np.ndarray:
    """An RGB image as a ``H x W x 3`` uint8 numpy array (what SAM's ``ResizeLongestSide`` expects).

    Accepted:

    * ``H x W x 3`` uint8 (numpy or torch), used as is;
    * ``H x W x 3`` float in ``[0, 1]``, converted with ``round(255 * x)``;
    * a **torch tensor** ``3 x H x W`` (uint8, or float in ``[0, 1]``): the layout of torch datasets.

    Anything else (grey or RGBA images, float values outside ``[0, 1]``, NaNs, other dtypes)
    raises ``ValueError`` / ``TypeError`` saying what was expected.
    """
    if not isinstance(image, (np.ndarray, torch.Tensor)):
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(image).__name__}")
    arr, was_torch = as_array(image, name)
    if was_torch and arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"{name} must be H x W x 3 RGB (torch tensors may be 3 x H x W), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    return np.ascontiguousarray(to_uint8(arr, name, strict=True))


def to_numpy_image(x: ImageLike) -> np.ndarray:
    """Any image layout (see :func:`channel_last`) -> ``H x W x 3`` uint8 numpy array for display.

    Grey images are repeated to 3 channels, alpha is dropped, floats are read as ``[0, 1]`` (clipped),
    bools as black / white (see :func:`to_uint8` with ``strict=False``).
    """
    arr, was_torch = as_array(x)
    arr = to_uint8(channel_last(arr, was_torch), strict=False)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return np.ascontiguousarray(arr[..., :3])


def to_png(image: np.ndarray) -> bytes:
    """``H x W x 3`` (or ``H x W``) uint8 array -> PNG bytes (for an ``ipywidgets.Image`` or a file)."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise ValueError(f"expected an HxWx3 or HxW uint8 image, got {arr.dtype} array of shape {arr.shape}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG")
    return buf.getvalue()


# -- B x C x H x W tensors and back (the panorama functions) ---------------------------------------------

#: layouts: numpy ``H x W`` / ``H x W x C``; torch ``H x W`` / ``C x H x W`` / ``B x C x H x W``
NP_HW, NP_HWC, T_HW, T_CHW, T_BCHW = "np_hw", "np_hwc", "t_hw", "t_chw", "t_bchw"


@dataclass
class ImageBatch:
    """An image as ``x`` (``B x C x H x W``, original dtype) plus what is needed to give results back."""
    x: torch.Tensor
    layout: str
    dtype: torch.dtype

    @property
    def hw(self):
        return tuple(self.x.shape[-2:])


def numpy_to_tensor(a: np.ndarray, name: str) -> torch.Tensor:
    """A numpy array of numbers as a torch tensor (sharing memory when it can)."""
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name}: numpy arrays must hold numbers (bool, int or float), got dtype {a.dtype}")
    if not a.flags.writeable or not a.dtype.isnative:
        a = np.array(a, dtype=a.dtype.newbyteorder("="))
    try:
        return torch.from_numpy(a)
    except TypeError as e:  # dtypes torch does not know (e.g. uint32 on old torch)
        raise TypeError(f"{name}: unsupported numpy dtype {a.dtype}") from e


def to_batch(img, name: str = "erp") -> ImageBatch:
    """Accept a torch tensor ``H x W``, ``C x H x W``, ``B x C x H x W`` or a numpy ``H x W`` / ``H x W x C``."""
    if isinstance(img, np.ndarray):
        t = numpy_to_tensor(img, name)
        if t.dim() == 2:
            return ImageBatch(t[None, None], NP_HW, t.dtype)
        if t.dim() == 3:
            return ImageBatch(t.permute(2, 0, 1)[None], NP_HWC, t.dtype)
        raise ValueError(f"{name}: a numpy image must be H x W or H x W x C, got shape {img.shape}")
    if isinstance(img, torch.Tensor):
        if img.is_complex():
            raise TypeError(f"{name}: complex tensors are not supported")
        if img.dim() == 2:
            return ImageBatch(img[None, None], T_HW, img.dtype)
        if img.dim() == 3:
            return ImageBatch(img[None], T_CHW, img.dtype)
        if img.dim() == 4:
            return ImageBatch(img, T_BCHW, img.dtype)
        raise ValueError(f"{name}: expected a tensor H x W, C x H x W or B x C x H x W, got shape {tuple(img.shape)}")
    raise TypeError(f"{name} must be a torch.Tensor or a numpy.ndarray, got {type(img).__name__}")


def work_dtype(dtype: torch.dtype) -> torch.dtype:
    """Float dtype used to interpolate images of ``dtype`` (float64 stays, wide ints go to float64)."""
    if dtype in (torch.float64, torch.int32, torch.int64):
        return torch.float64
    return torch.float32


def restore_dtype(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Cast an interpolated float result back to ``dtype`` (integers: rounded and clamped to range)."""
    if t.dtype == dtype:
        return t
    if dtype == torch.bool:
        return t.round().clamp(0, 1).to(torch.bool)
    if not dtype.is_floating_point:
        info = torch.iinfo(dtype)
        return t.round().clamp(info.min, info.max).to(dtype)
    return t.to(dtype)


def from_batch(out: torch.Tensor, ib: ImageBatch, multi: bool):
    """Give a result ``B x V x C x h x w`` back in the caller's layout.

    torch ``B x C x H x W`` -> ``B x V x C x h x w`` (``B x C x h x w`` when not ``multi``),
    ``C x H x W`` -> ``V x C x h x w`` (``C x h x w``), ``H x W`` -> ``V x h x w`` (``h x w``);
    numpy ``H x W x C`` -> ``V x h x w x C`` (``h x w x C``), ``H x W`` -> ``V x h x w`` (``h x w``).
    """
    out = restore_dtype(out, ib.dtype)
    if not multi:
        out = out[:, 0]                                   # B x C x h x w
    if ib.layout == T_BCHW:
        return out
    out = out[0]
    if ib.layout == T_CHW:
        return out
    if ib.layout in (T_HW, NP_HW):
        out = out[:, 0] if multi else out[0]
        return out if ib.layout == T_HW else out.detach().cpu().numpy()
    out = out.movedim(-3, -1)                             # ... x h x w x C
    return np.ascontiguousarray(out.detach().cpu().numpy())
