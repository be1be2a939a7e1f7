"""The ``tiny-synth`` SAM: segment_anything's own ``Sam`` with a small convolutional image encoder.

Only the image encoder is small. The prompt encoder and the mask decoder have SAM's real shapes
(transformer_dim 256, a two-way transformer of depth 2 with MLP width 2048 and 8 heads, 3
multimask outputs and an IoU head), so plugins written for the decoder (Stable-SAM's DSP/DRP)
and their parameter counts are the same as on Meta's ViT-B/L/H.

Image path: a ``H x W x 3`` image is resized so its long side is ``img_size`` (256), padded to
``256 x 256``, and :class:`gsam_lab.sam.cnn_encoder.ConvImageEncoder` (a ResNet-style network with
a feature pyramid, 3.8M parameters) turns it into the ``256 x 32 x 32`` image embedding the decoder
reads: one token per 8 x 8 pixels, as a ViT with 8-pixel patches would give. Low-resolution mask
logits are ``128 x 128`` (4x the embedding, as in SAM).

Why a CNN and not a small ViT: trained from scratch on two CPU cores, a 2M-parameter ViT reached a
ground-truth-box mIoU of 0.52 on held-out renders in about 4 CPU-hours, the CNN more than that within
its first hour (``data_scripts/README.md`` has the current figures and the learning curve).
"""
from __future__ import annotations

from typing import Optional

import torch
from segment_anything.modeling import MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

from .cnn_encoder import ConvImageEncoder

__all__ = ["TINY_SAM_CONFIG", "build_tiny_sam"]

#: Encoder settings of ``tiny-synth`` (the decoder settings are SAM's and not configurable).
TINY_SAM_CONFIG = dict(img_size=256, widths=(48, 96, 192, 256), depths=(2, 2, 1), pyramid_chans=128)

PROMPT_EMBED_DIM = 256  # SAM's transformer_dim: the same on every SAM
ENCODER_STRIDE = 8      # image pixels per embedding token along each side (ConvImageEncoder's output stride)


def build_tiny_sam(seed: Optional[int] = 0) -> Sam:
    """Build the ``tiny-synth`` SAM with random weights (``seed`` makes them reproducible).

    Args:
        seed: seed of the initial weights; ``None`` uses (and advances) torch's global RNG.
            With an int the global RNG state is left untouched.

    Returns:
        a ``segment_anything.modeling.Sam`` in eval mode on the CPU, about 7.9M parameters
        (image encoder ~3.8M; prompt encoder ~6K; mask decoder ~4.1M as in real SAM).
    """
    c = TINY_SAM_CONFIG
    grid = c["img_size"] // ENCODER_STRIDE

    def make() -> Sam:
        return Sam(
            image_encoder=ConvImageEncoder(img_size=c["img_size"], widths=c["widths"], depths=c["depths"],
                                           pyramid_chans=c["pyramid_chans"], out_chans=PROMPT_EMBED_DIM),
            prompt_encoder=PromptEncoder(
                embed_dim=PROMPT_EMBED_DIM,
                image_embedding_size=(grid, grid),
                input_image_size=(c["img_size"], c["img_size"]),
                mask_in_chans=16,
            ),
            mask_decoder=MaskDecoder(
                num_multimask_outputs=3,
                transformer=TwoWayTransformer(depth=2, embedding_dim=PROMPT_EMBED_DIM, mlp_dim=2048, num_heads=8),
                transformer_dim=PROMPT_EMBED_DIM,
                iou_head_depth=3,
                iou_head_hidden_dim=256,
            ),
            pixel_mean=[123.675, 116.28, 103.53],
            pixel_std=[58.395, 57.12, 57.375],
        )

    if seed is None:
        model = make()
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = make()
    return model.eval()
