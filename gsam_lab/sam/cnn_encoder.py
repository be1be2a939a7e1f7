"""A small convolutional image encoder for the ``tiny-synth`` SAM.

SAM's image encoder is a ViT-H with 632M parameters, trained for days on 11M images. A ViT of
2M parameters trained from scratch on two CPU cores learns slowly (it has to discover locality
itself), so the bundled model uses a convolutional network instead: convolutions know from the
start that neighbouring pixels belong together, and that is what a mask needs.

The network is a plain ResNet-style backbone with a feature pyramid, nothing more::

    image 3 x 256 x 256
      stem      two 3x3 convolutions of stride 2            ->  48 x 64 x 64   (stride 4, "detail")
      stage 8   downsample + residual blocks                ->  96 x 32 x 32
      stage 16  downsample + residual blocks                -> 192 x 16 x 16
      stage 32  downsample + residual blocks                -> 256 x  8 x  8   (context)
      pyramid   128 channels at stride 8: context and stage 16 upsampled and added to
                stage 8, stride-4 detail folded in by a stride-2 convolution, one 3x3 mix
      neck      1x1 convolution + LayerNorm2d               -> 256 x 32 x 32   (SAM's embedding layout)

The output has exactly the layout SAM's prompt encoder and mask decoder expect from
``ImageEncoderViT`` (``B x 256 x H/8 x W/8``), and the module has the ``img_size`` attribute that
``segment_anything``'s ``Sam`` and ``SamPredictor`` read, so it is a drop-in replacement.
BatchNorm layers follow the usual rule: batch statistics in ``train()`` mode, running statistics
in ``eval()`` mode (the loaders return models in eval mode).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from segment_anything.modeling.common import LayerNorm2d
from torch import nn

__all__ = ["ConvImageEncoder", "is_conv_encoder_state"]

#: a key that only the convolutional encoder's state dicts hold
CONV_ENCODER_KEY = "image_encoder.stem.0.0.weight"


def conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution, BatchNorm, ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """ResNet's basic block: ``x + BN(conv(ReLU(BN(conv(x)))))``, then ReLU. The last BatchNorm
    starts at zero, so a new block is the identity and a deep network trains from step one."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv1 = conv_bn_relu(dim, dim)
        self.conv2 = nn.Conv2d(dim, dim, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(dim)
        nn.init.zeros_(self.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.bn2(self.conv2(self.conv1(x))))


def stage(c_in: int, c_out: int, blocks: int) -> nn.Sequential:
    """Halve the resolution (stride-2 3x3 convolution to ``c_out`` channels), then ``blocks`` residual blocks."""
    return nn.Sequential(conv_bn_relu(c_in, c_out, stride=2), *[ResidualBlock(c_out) for _ in range(blocks)])


class ConvImageEncoder(nn.Module):
    """``B x 3 x img_size x img_size`` (SAM-normalised) -> ``B x out_chans x img_size/8 x img_size/8``.

    Args:
        img_size: input side (the image is resized and padded to it, as in SAM).
        widths: channels at strides 4, 8, 16 and 32.
        depths: residual blocks at strides 8, 16 and 32.
        pyramid_chans: channels of the feature pyramid at stride 8.
        out_chans: channels of the embedding (SAM's ``transformer_dim``, 256).
    """

    def __init__(self, img_size: int = 256, widths: Sequence[int] = (48, 96, 192, 256),
                 depths: Sequence[int] = (2, 2, 1), pyramid_chans: int = 128, out_chans: int = 256):
        super().__init__()
        if len(widths) != 4 or len(depths) != 3:
            raise ValueError("widths needs 4 entries (strides 4..32) and depths 3 (strides 8..32), "
                             f"got {widths}, {depths}")
        if img_size % 32:
            raise ValueError(f"img_size must be a multiple of 32, got {img_size}")
        self.img_size = img_size
        w4, w8, w16, w32 = widths
        self.stem = nn.Sequential(conv_bn_relu(3, w4 // 2, stride=2), conv_bn_relu(w4 // 2, w4, stride=2))
        self.stage8 = stage(w4, w8, depths[0])
        self.stage16 = stage(w8, w16, depths[1])
        self.stage32 = stage(w16, w32, depths[2])
        # feature pyramid: everything brought to stride 8 and out_chans channels, then summed
        self.lateral8 = nn.Conv2d(w8, pyramid_chans, 1)
        self.lateral16 = nn.Conv2d(w16, pyramid_chans, 1)
        self.lateral32 = nn.Conv2d(w32, pyramid_chans, 1)
        self.detail4 = nn.Conv2d(w4, pyramid_chans, 3, stride=2, padding=1)
        self.mix = conv_bn_relu(pyramid_chans, pyramid_chans)
        self.neck = nn.Sequential(nn.Conv2d(pyramid_chans, out_chans, 1), LayerNorm2d(out_chans))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[-2] % 32 or x.shape[-1] % 32:
            raise ValueError(f"ConvImageEncoder expects B x 3 x H x W with H, W multiples of 32, got {tuple(x.shape)}")
        f4 = self.stem(x)
        f8 = self.stage8(f4)
        f16 = self.stage16(f8)
        f32 = self.stage32(f16)
        size = f8.shape[-2:]
        p = self.lateral8(f8) + self.detail4(f4)
        p = p + F.interpolate(self.lateral16(f16), size=size, mode="bilinear", align_corners=False)
        p = p + F.interpolate(self.lateral32(f32), size=size, mode="bilinear", align_corners=False)
        return self.neck(self.mix(p))


def is_conv_encoder_state(state_dict) -> bool:
    """Whether a tiny-synth state dict holds :class:`ConvImageEncoder` weights (rather than the ViT's)."""
    return CONV_ENCODER_KEY in state_dict
