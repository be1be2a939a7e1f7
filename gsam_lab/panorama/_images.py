"""Conversion of user images (torch or numpy, many layouts and dtypes) to ``B x C x H x W`` tensors and back."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

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


def _numpy_to_tensor(a: np.ndarray, name: str) -> torch.Tensor:
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
        t = _numpy_to_tensor(img, name)
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
