"""Sampling images at continuous pixel coordinates: ERPs (seam wrap, pole clamp) and plain images.

Pixel coordinates are continuous, with the centre of row ``i``, column ``j`` at ``(u, v) = (j + 0.5, i + 0.5)``
(see :mod:`gsam_lab.panorama.sphere`). ERPs are sampled through one column of circular padding on
each side, so bilinear interpolation blends the last and first columns across the ±180° seam.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["sample_erp", "sample_image", "erp_grid", "sample_erp_grid"]


def erp_grid(u: torch.Tensor, v: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``grid_sample`` coordinates (``align_corners=False``) into a circularly padded ``H x (W+2)`` ERP.

    ``u, v``: ``S`` continuous pixel coordinates (``u`` taken modulo ``W``). Returns ``S x 2``.
    """
    k = 2.0 / (w + 2)
    gx = torch.remainder(u, w) * k + (k - 1.0)       # padded column index = u + 0.5
    gy = v * (2.0 / h) - 1.0
    return torch.stack((gx, gy), dim=-1)


def _pad_erp(erp: torch.Tensor) -> torch.Tensor:
    """``B x C x H x W`` -> ``B x C x H x (W+2)``, padded column ``k`` holding column ``(k - 1) mod W``."""
    return torch.cat((erp[..., -1:], erp, erp[..., :1]), dim=-1)


def sample_erp_grid(erp: torch.Tensor, grid: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Sample an ERP at ``V`` grids made by :func:`erp_grid`.

    Arguments:
      erp: ``B x C x H x W``; floating point for ``"bilinear"``, any dtype for ``"nearest"``.
      grid: ``V x P x Q x 2``.
      mode: ``"bilinear"`` (differentiable w.r.t. ``erp``) or ``"nearest"`` (exact values).

    Returns:
      ``B x V x C x P x Q`` in ``erp``'s dtype (and memory format for bilinear).
    """
    b, c, h, w = erp.shape
    nv = grid.shape[0]
    if mode == "nearest":
        k = 2.0 / (w + 2)
        ui = torch.floor((grid[..., 0] + 1.0) / k - 1.0).long().remainder_(w)
        vi = torch.floor((grid[..., 1] + 1.0) * (h / 2.0)).long().clamp_(0, h - 1)
        return erp[:, :, vi, ui].transpose(1, 2)
    padded = _pad_erp(erp)
    grid = grid.to(erp.dtype)

    def one(x):   # x: 1 x C x H x (W+2); one batch entry per view (grid_sample's CPU kernel parallelises over it)
        return F.grid_sample(x.expand(nv, -1, -1, -1), grid, mode="bilinear", padding_mode="border",
                             align_corners=False)

    if b == 1:
        return one(padded)[None]
    if nv == 1:
        out = F.grid_sample(padded, grid.expand(b, -1, -1, -1), mode="bilinear", padding_mode="border",
                            align_corners=False)
        return out[:, None]
    return torch.stack([one(padded[i:i + 1]) for i in range(b)])


def sample_erp(erp: torch.Tensor, u: torch.Tensor, v: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Sample an ERP at continuous pixel coordinates.

    Arguments:
      erp: ``B x C x H x W``; any dtype for ``"nearest"``, floating point for ``"bilinear"``.
      u, v: ``P x Q`` column / row coordinates. ``u`` is taken modulo ``W`` (longitude wraps across the
        ±180° seam); ``v`` is clamped to the image (latitude clamps at the poles).
      mode: ``"bilinear"`` (differentiable w.r.t. ``erp``) or ``"nearest"`` (exact values, any dtype).

    Returns:
      ``B x C x P x Q`` in ``erp``'s dtype.
    """
    h, w = erp.shape[-2:]
    if mode == "nearest":
        ui = torch.floor(u).long().remainder_(w)
        vi = torch.floor(v).long().clamp_(0, h - 1)
        return erp[:, :, vi, ui]
    return sample_erp_grid(erp, erp_grid(u, v, h, w)[None], mode)[:, 0]


def sample_image(img: torch.Tensor, col: torch.Tensor, row: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Sample a plain image ``B x C x h x w`` at continuous pixel coordinates ``col, row`` (``P x Q``).

    Coordinates outside the image are clamped to the border. Returns ``B x C x P x Q``.
    """
    h, w = img.shape[-2:]
    if mode == "nearest":
        ci = torch.floor(col).long().clamp_(0, w - 1)
        ri = torch.floor(row).long().clamp_(0, h - 1)
        return img[:, :, ri, ci]
    grid = torch.stack((col * (2.0 / w) - 1.0, row * (2.0 / h) - 1.0), dim=-1).to(img.dtype)
    return F.grid_sample(img, grid[None].expand(img.shape[0], -1, -1, -1), mode="bilinear",
                         padding_mode="border", align_corners=False)
