"""The ``tiny-synth`` SAM: segment_anything's own ``Sam`` with a small ViT image encoder.

Only the image encoder is small. The prompt encoder and the mask decoder have SAM's real shapes
(transformer_dim 256, a two-way transformer of depth 2 with MLP width 2048 and 8 heads, 3
multimask outputs and an IoU head), so plugins written for the decoder (Stable-SAM's DSP/DRP)
and their parameter counts are the same as on Meta's ViT-B/L/H.

Image path: a ``H x W x 3`` image is resized so its long side is ``img_size`` (256), padded to
``256 x 256``, cut into 8 x 8 patches -> a ``32 x 32`` grid of ``embed_dim`` tokens, then the neck
maps it to the ``256 x 32 x 32`` image embedding the decoder reads. Low-resolution mask logits are
``128 x 128`` (4x the embedding, as in SAM).

Patch embedding: SAM's linear 8 x 8 patch projection. Optional (``build_tiny_sam(conv_stem=True)``,
``TrainConfig.conv_stem``; not in the shipped weights): a small convolutional stem (three 3 x 3
convolutions of stride 2, ``patch_embed.stem``) whose output is added to the projection, since early
convolutions make small ViTs train faster and see edges inside a patch (Xiao et al., "Early
Convolutions Help Transformers See Better", 2021). Its last layer starts at zero, so an untrained
stem leaves the plain ViT; the linear ``patch_embed.proj`` is kept so checkpoints are recognised by
their shapes.
"""
from __future__ import annotations

from functools import partial
from typing import Optional

import torch
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
from segment_anything.modeling.common import LayerNorm2d
from torch import nn

from .cnn_encoder import ConvImageEncoder

__all__ = ["TINY_SAM_CONFIG", "build_tiny_sam", "StemPatchEmbed", "has_conv_stem"]

#: Encoder settings of ``tiny-synth`` (the decoder settings are SAM's and not configurable).
TINY_SAM_CONFIG = dict(
    img_size=256,
    patch_size=8,
    embed_dim=128,
    depth=6,
    num_heads=4,
    window_size=8,
    global_attn_indexes=(2, 5),
    mlp_ratio=4.0,
    stem_channels=(32, 64),
)

PROMPT_EMBED_DIM = 256  # SAM's transformer_dim: the same on every SAM
STEM_PREFIX = "image_encoder.patch_embed.stem."


class StemPatchEmbed(nn.Module):
    """Linear patch projection + convolutional stem, summed; ``B x 3 x H x W -> B x H/p x W/p x dim``.

    Drop-in for segment_anything's ``PatchEmbed`` (same output layout, same ``proj`` weights), with
    ``patch_size`` a power of two (the stem halves the resolution ``log2(patch_size)`` times).
    """

    def __init__(self, patch_size: int = 8, embed_dim: int = 128, channels=(32, 64)):
        super().__init__()
        n = patch_size.bit_length() - 1
        if patch_size != 1 << n or n < 1:
            raise ValueError(f"patch_size must be a power of two >= 2 for the conv stem, got {patch_size}")
        widths = list(channels)[: n - 1]
        widths += [widths[-1] if widths else embed_dim] * (n - 1 - len(widths))
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)
        layers, c_in = [], 3
        for c in widths:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), LayerNorm2d(c), nn.GELU()]
            c_in = c
        last = nn.Conv2d(c_in, embed_dim, 3, stride=2, padding=1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.stem = nn.Sequential(*layers, last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.proj(x) + self.stem(x)).permute(0, 2, 3, 1)


def has_conv_stem(state_dict) -> bool:
    """Whether a tiny-synth state dict holds the convolutional stem (weights trained since it was added)."""
    return any(k.startswith(STEM_PREFIX) for k in state_dict)


def build_tiny_sam(seed: Optional[int] = 0, conv_stem: bool = False, encoder: str = "vit") -> Sam:
    """Build the ``tiny-synth`` SAM with random weights (``seed`` makes them reproducible).

    Args:
        seed: seed of the initial weights; ``None`` uses (and advances) torch's global RNG.
            With an int the global RNG state is left untouched.
        conv_stem: add the convolutional stem to the patch embedding (:class:`StemPatchEmbed`), an
            experimental option of the training recipe; the shipped weights are the plain ViT
            (``False``). :func:`gsam_lab.sam.load_sam` picks the variant from the file's tensors.
        encoder: ``"vit"`` (the small ViT above) or ``"cnn"``
            (:class:`gsam_lab.sam.cnn_encoder.ConvImageEncoder`, a ResNet-style network with a
            feature pyramid and the same ``256 x 32 x 32`` embedding).

    Returns:
        a ``segment_anything.modeling.Sam`` in eval mode on the CPU, about 6.1M parameters
        (image encoder ~2.0M, ~2.1M with the stem; prompt encoder ~6K; mask decoder ~4.1M as in real SAM).
    """
    if encoder not in ("vit", "cnn"):
        raise ValueError(f"encoder must be 'vit' or 'cnn', got {encoder!r}")
    c = TINY_SAM_CONFIG
    grid = c["img_size"] // c["patch_size"]

    def image_encoder():
        if encoder == "cnn":
            return ConvImageEncoder(img_size=c["img_size"], out_chans=PROMPT_EMBED_DIM)
        return ImageEncoderViT(
                img_size=c["img_size"],
                patch_size=c["patch_size"],
                embed_dim=c["embed_dim"],
                depth=c["depth"],
                num_heads=c["num_heads"],
                mlp_ratio=c["mlp_ratio"],
                out_chans=PROMPT_EMBED_DIM,
                qkv_bias=True,
                norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
                use_rel_pos=True,
                window_size=c["window_size"],
                global_attn_indexes=tuple(c["global_attn_indexes"]),
            )

    def make() -> Sam:
        sam = Sam(
            image_encoder=image_encoder(),
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
        if conv_stem and encoder == "vit":
            sam.image_encoder.patch_embed = StemPatchEmbed(c["patch_size"], c["embed_dim"], c["stem_channels"])
        return sam

    if seed is None:
        model = make()
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = make()
    return model.eval()
