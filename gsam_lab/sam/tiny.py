"""The ``tiny-synth`` SAM: segment_anything's own ``Sam`` with a small ViT image encoder.

Only the image encoder is small. The prompt encoder and the mask decoder have SAM's real shapes
(transformer_dim 256, a two-way transformer of depth 2 with MLP width 2048 and 8 heads, 3
multimask outputs and an IoU head), so plugins written for the decoder (Stable-SAM's DSP/DRP)
and their parameter counts are the same as on Meta's ViT-B/L/H.

Image path: a ``H x W x 3`` image is resized so its long side is ``img_size`` (256), padded to
``256 x 256``, cut into 8 x 8 patches -> a ``32 x 32`` grid of ``embed_dim`` tokens, then the neck
maps it to the ``256 x 32 x 32`` image embedding the decoder reads. Low-resolution mask logits are
``128 x 128`` (4x the embedding, as in SAM).
"""
from __future__ import annotations

from functools import partial
from typing import Optional

import torch
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

__all__ = ["TINY_SAM_CONFIG", "build_tiny_sam"]

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
)

PROMPT_EMBED_DIM = 256  # SAM's transformer_dim: the same on every SAM


def build_tiny_sam(seed: Optional[int] = 0) -> Sam:
    """Build the ``tiny-synth`` SAM with random weights (``seed`` makes them reproducible).

    Args:
        seed: seed of the initial weights; ``None`` uses (and advances) torch's global RNG.
            With an int the global RNG state is left untouched.

    Returns:
        a ``segment_anything.modeling.Sam`` in eval mode on the CPU, about 6.1M parameters
        (image encoder ~2.0M, prompt encoder ~6K, mask decoder ~4.1M as in real SAM).
    """
    c = TINY_SAM_CONFIG
    grid = c["img_size"] // c["patch_size"]

    def make() -> Sam:
        return Sam(
            image_encoder=ImageEncoderViT(
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
            ),
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
