"""Where SAM's mask decoder looks: token-to-image attention captured with forward hooks.

``segment_anything``'s ``Attention`` module computes its attention weights internally and returns
only the attended values. A forward hook sees the module's inputs ``(q, k, v)``, so we recompute the
weights from the module's own projections (no edit of ``segment_anything``)::

    pred = PromptPredictor(model).set_image(img)
    att = decoder_attention(pred, boxes=np.array([[10, 20, 80, 90]]))
    att.maps.shape          # N x H x W, each map sums to 1 over the image
    att.grid.shape          # N x h x w on the embedding grid (32 x 32 for tiny-synth, 64 x 64 for ViT-B/H)

The decoder's output tokens are ``[iou_token, mask_token_0 .. mask_token_3, prompt tokens...]``; with
``multimask=False`` SAM's mask comes from ``mask_token_0`` (token 1), which is the default query here.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator, List, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["AttentionMaps", "decoder_attention", "attention_layers", "capture_attention", "attention_mass"]

MASK_TOKEN = 1  # index of mask_token_0 among the decoder's output tokens


class AttentionMaps(NamedTuple):
    """Attention of one decoder query token over the image, for ``N`` prompts.

    Attributes:
        grid: ``N x h x w`` weights on the image-embedding grid (the padded model input), summing to 1.
        maps: ``N x H x W`` the same weights resampled to the original image (padding cropped),
            renormalised to sum to 1 over the image.
        masks: ``N x H x W`` bool, the masks predicted for the same prompts.
        layer: which attention module was read.
    """

    grid: np.ndarray
    maps: np.ndarray
    masks: np.ndarray
    layer: str


def attention_layers(model) -> List[str]:
    """Names of the token-to-image attention modules of ``model.mask_decoder.transformer``:
    ``"layer0" .. "layer{d-1}"`` (inside each two-way block) and ``"final"``."""
    depth = len(model.mask_decoder.transformer.layers)
    return [f"layer{i}" for i in range(depth)] + ["final"]


def _module(model, layer: str):
    tr = model.mask_decoder.transformer
    if layer == "final":
        return tr.final_attn_token_to_image
    if layer.startswith("layer") and layer[5:].isdigit() and int(layer[5:]) < len(tr.layers):
        return tr.layers[int(layer[5:])].cross_attn_token_to_image
    raise ValueError(f"unknown attention layer {layer!r}; expected one of {attention_layers(model)}")


def _weights(module, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """``B x heads x Nq x Nk`` softmax weights of a ``segment_anything`` ``Attention`` for inputs q, k."""
    q = module.q_proj(q)
    k = module.k_proj(k)
    b, nq, c = q.shape
    h = module.num_heads
    q = q.reshape(b, nq, h, c // h).transpose(1, 2)
    k = k.reshape(b, k.shape[1], h, c // h).transpose(1, 2)
    return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(c // h), dim=-1)


@contextmanager
def capture_attention(model, layer: str = "final", token: int = MASK_TOKEN) -> Iterator[List[torch.Tensor]]:
    """Context manager collecting, for every decoder call inside it, the head-averaged attention of
    output token ``token`` over the image tokens: a list of ``B x Nk`` tensors (one per call)."""
    module = _module(model, layer)
    captured: List[torch.Tensor] = []

    def hook(mod, args, kwargs, output):
        q = kwargs.get("q", args[0] if len(args) > 0 else None)
        k = kwargs.get("k", args[1] if len(args) > 1 else None)
        w = _weights(mod, q, k)  # B x heads x Nq x Nk
        captured.append(w[:, :, token].mean(dim=1).detach().float().cpu())

    handle = module.register_forward_hook(hook, with_kwargs=True)
    try:
        yield captured
    finally:
        handle.remove()


@torch.no_grad()
def decoder_attention(predictor, boxes=None, points=None, labels=None, layer: str = "final",
                      token: int = MASK_TOKEN) -> AttentionMaps:
    """Predict masks for ``N`` prompts and return where the decoder's mask token attended.

    Args:
        predictor: a :class:`~gsam_lab.sam.PromptPredictor` with an image set.
        boxes, points, labels: prompts as in :meth:`PromptPredictor.predict` (``multimask=False``).
        layer: ``"final"`` (the last token-to-image attention, right before the mask is made) or
            ``"layer{i}"`` (see :func:`attention_layers`).
        token: output-token index to read (1 = the single-mask token SAM uses with ``multimask=False``).

    Returns:
        :class:`AttentionMaps`.
    """
    model = predictor.model
    with capture_attention(model, layer, token) as got:
        out = predictor.predict(boxes=boxes, points=points, labels=labels, multimask=False)
    if not got:
        raise RuntimeError(f"the decoder never called attention layer {layer!r}")
    w = torch.cat(got)                                    # N x (h*w)
    gh, gw = predictor.features.shape[-2:]
    grid = w.reshape(-1, 1, gh, gw)
    size = model.image_encoder.img_size
    ih, iw = predictor.input_size
    full = F.interpolate(grid, size=(size, size), mode="bilinear", align_corners=False)[..., :ih, :iw]
    maps = F.interpolate(full, size=predictor.original_size, mode="bilinear", align_corners=False)[:, 0]
    maps = maps.clamp_min(0)
    maps = maps / maps.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    return AttentionMaps(grid[:, 0].numpy(), maps.numpy(), out.masks.cpu().numpy(), layer)


def attention_mass(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Fraction of each attention map that falls inside the matching mask: ``N`` values in [0, 1].

    Args:
        maps: ``N x H x W`` non-negative maps (e.g. :attr:`AttentionMaps.maps`), or ``H x W``.
        masks: ``N x H x W`` (or one ``H x W``, broadcast) bool masks, e.g. ground-truth objects.
    """
    maps = np.asarray(maps, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    if maps.ndim == 2:
        maps = maps[None]
    if masks.ndim == 2:
        masks = np.broadcast_to(masks, maps.shape)
    if masks.shape != maps.shape:
        raise ValueError(f"masks must have the maps' shape {maps.shape} (or be one H x W mask); got {masks.shape}")
    total = maps.sum(axis=(-2, -1))
    return np.where(total > 0, (maps * masks).sum(axis=(-2, -1)) / np.maximum(total, 1e-12), 0.0)
