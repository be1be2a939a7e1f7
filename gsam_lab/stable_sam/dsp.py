"""Deformable Sampling Plugin (DSP): learnable offsets that move where the decoder reads the image.

Reading (docs/methods/stable_sam.md, DSP). From the image tokens ``x`` (``B x C x H x W``)
after the first two-way block of SAM's mask decoder::

    x*  = Conv1x1(x)                                            # projection, C -> C
    dp  = Conv1x1(C -> 2)(GELU(LayerNorm2d(DWConv5x5(x*))))     # offsets, B x 2 x H x W
    x~  = grid_sample(x*, p + dp)                               # bilinear, zero padding

``p`` is the regular grid of token centres and ``dp`` is measured in **token units** (1.0 = one
embedding cell; channel 0 is x / column, channel 1 is y / row). Initialisation makes the plugin an
exact no-op: the projection is the identity (bias 0) and the last offset convolution is all zero,
so ``dp = 0`` and every sample lands exactly on a token centre (bilinear weights 1, 0, 0, 0).

Parameters with ``C = 256``: projection 65,792 + depth-wise 5x5 6,656 + LayerNorm 512 + offset
head 514 = 73,474.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from segment_anything.modeling.common import LayerNorm2d
from torch import nn

__all__ = ["DeformableSamplingPlugin", "base_grid", "sample_at_offsets"]


def base_grid(h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Normalised ``grid_sample`` coordinates of the token centres, ``1 x H x W x 2`` (x, y).

    With ``align_corners=False`` the centre of column ``j`` is ``(2 j + 1) / W - 1``.
    """
    xs = (2 * torch.arange(w, device=device, dtype=dtype) + 1) / w - 1
    ys = (2 * torch.arange(h, device=device, dtype=dtype) + 1) / h - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], -1)[None]


def sample_at_offsets(x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``x`` (``B x C x H x W``) at the token centres moved by ``offsets``.

    Args:
        x: ``B x C x H x W`` features.
        offsets: ``B x 2 x H x W`` (dx, dy) in token units, or ``1 x 2 x H x W`` (shared).

    Returns:
        ``B x C x H x W``; points that leave the grid read zeros (``padding_mode="zeros"``).
    """
    b, _, h, w = x.shape
    if offsets.shape[-2:] != (h, w) or offsets.shape[1] != 2:
        raise ValueError(f"offsets must be B x 2 x {h} x {w} to move the samples of a {tuple(x.shape)} "
                         f"feature map, got {tuple(offsets.shape)}")
    scale = torch.tensor([2.0 / w, 2.0 / h], device=x.device, dtype=x.dtype)
    grid = base_grid(h, w, x.device, x.dtype) + offsets.permute(0, 2, 3, 1) * scale   # B x H x W x 2
    if grid.shape[0] != b:
        grid = grid.expand(b, -1, -1, -1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class DeformableSamplingPlugin(nn.Module):
    """DSP: projected image tokens re-sampled at learned, per-token offsets.

    Args:
        dim: channels ``C`` of the image tokens (SAM's ``transformer_dim``, 256).
        kernel_size: depth-wise convolution size of the offset branch (5 in the reading).

    ``forward(x)`` takes ``x``: ``B x C x H x W`` and returns ``(deformed, offsets)`` with
    ``deformed`` ``B x C x H x W`` and ``offsets`` ``B x 2 x H x W`` (token units).
    """

    def __init__(self, dim: int = 256, kernel_size: int = 5):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd (the offsets keep the token grid), got {kernel_size}")
        self.dim = int(dim)
        self.proj = nn.Conv2d(dim, dim, 1)
        self.dwconv = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = LayerNorm2d(dim)
        self.act = nn.GELU()
        self.offset = nn.Conv2d(dim, 2, 1)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """The no-op start: identity projection, zero offset head (the depth-wise conv keeps
        PyTorch's default initialisation so that gradients reach the offset head)."""
        self.proj.weight.zero_()
        self.proj.weight[:, :, 0, 0].copy_(torch.eye(self.dim))
        self.proj.bias.zero_()
        self.offset.weight.zero_()
        self.offset.bias.zero_()

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """``x* = Conv1x1(x)``, ``B x C x H x W``."""
        return self.proj(x)

    def predict_offsets(self, xp: torch.Tensor) -> torch.Tensor:
        """Offsets ``B x 2 x H x W`` (token units) from projected tokens ``xp`` (``B x C x H x W``)."""
        return self.offset(self.act(self.norm(self.dwconv(xp))))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Reference form on a feature map: ``x`` ``B x C x H x W`` -> ``(deformed, offsets)``."""
        if x.ndim != 4 or x.shape[1] != self.dim:
            raise ValueError(f"DSP expects image tokens B x {self.dim} x H x W, got {tuple(x.shape)}")
        xp = self.project(x)
        off = self.predict_offsets(xp)
        return sample_at_offsets(xp, off), off

    # -- the same computation in the decoder's token layout (what StableSam runs) ---------------
    def project_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """``Conv1x1`` as a matrix product on tokens ``B x HW x C`` (no layout change)."""
        return F.linear(tokens, self.proj.weight[:, :, 0, 0], self.proj.bias)

    def forward_tokens(self, tokens: torch.Tensor, h: int, w: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """DSP on the decoder's image tokens, channels-last throughout.

        Args:
            tokens: ``B x HW x C`` (row-major ``H x W`` grid).

        Returns:
            ``(deformed, offsets, projected)``: deformed tokens ``B x HW x C``, offsets
            ``B x 2 x H x W`` (token units) and the projected tokens ``B x HW x C``. Equal to
            :meth:`forward` up to float rounding (the layer norm is one fused ``layer_norm`` over
            channels instead of ``LayerNorm2d``'s separate reductions).
        """
        b, n, c = tokens.shape
        if c != self.dim or n != h * w:
            raise ValueError(f"DSP expects tokens B x {h * w} x {self.dim} for a {h} x {w} grid, "
                             f"got {tuple(tokens.shape)}")
        xp = self.project_tokens(tokens)                                        # B x HW x C
        xp_map = xp.view(b, h, w, c).permute(0, 3, 1, 2)                         # channels-last view
        y = self.dwconv(xp_map).permute(0, 2, 3, 1)                             # B x H x W x C
        y = F.layer_norm(y, (c,), self.norm.weight, self.norm.bias, self.norm.eps)
        off = F.linear(self.act(y), self.offset.weight[:, :, 0, 0], self.offset.bias)   # B x H x W x 2
        scale = torch.tensor([2.0 / w, 2.0 / h], device=tokens.device, dtype=tokens.dtype)
        grid = base_grid(h, w, tokens.device, tokens.dtype) + off * scale
        out = F.grid_sample(xp_map, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return out.flatten(2).transpose(1, 2), off.permute(0, 3, 1, 2), xp
