"""SAM's mask decoder run layer by layer, with the plugins between two-way blocks 1 and 2.

Nothing in ``segment_anything`` is edited or monkey-patched: :func:`plugin_predict_masks` repeats
``MaskDecoder.predict_masks`` and ``TwoWayTransformer.forward`` step by step, calling SAM's own
sub-modules (attention layers, norms, MLPs, upscaling, hypernetworks, IoU head) in SAM's order,
so that with no plugin (or untrained plugins) the result is SAM's, bit for bit. What changes is
the keys/values of the token-to-image attentions named in ``deform_attn``:

* ``"layer2"``: block 2's token-to-image cross-attention reads ``routed + image_pe`` as keys and
  ``routed`` as values, where ``routed = DRP-mix(DSP(tokens after block 1), tokens after block 1)``.
* ``"final"``: the final token-to-image attention reads the tokens *after block 2*, re-sampled
  with the same offset field (through the same projection) and mixed with the same ``alpha``.
  (The offsets are predicted once, between blocks 1 and 2; re-using them keeps the no-op start.)

Block 2's image-to-token attention and everything after it keep the regular tokens.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

from gsam_lab.sam.decoding import decoder_tokens, same_for_every_prompt

from .drp import DynamicRoutingPlugin
from .dsp import DeformableSamplingPlugin, sample_at_offsets

__all__ = ["plugin_predict_masks", "DEFORM_ATTNS"]

#: Attentions that can read the deformed features.
DEFORM_ATTNS = ("layer2", "final")


def _block_self_and_cross(block, queries, keys, query_pe, key_pe, kv: Optional[torch.Tensor]):
    """First half of a ``TwoWayAttentionBlock``: self-attention, token-to-image attention, MLP.

    ``kv``: the ``B x N_image x C`` tokens the token-to-image attention reads as keys (``+ key_pe``)
    and values; ``None`` reads ``keys`` (SAM's block).
    """
    if block.skip_first_layer_pe:
        queries = block.self_attn(q=queries, k=queries, v=queries)
    else:
        q = queries + query_pe
        attn_out = block.self_attn(q=q, k=q, v=queries)
        queries = queries + attn_out
    queries = block.norm1(queries)

    src = keys if kv is None else kv
    q = queries + query_pe
    k = src + key_pe
    attn_out = block.cross_attn_token_to_image(q=q, k=k, v=src)
    queries = queries + attn_out
    queries = block.norm2(queries)

    mlp_out = block.mlp(queries)
    queries = queries + mlp_out
    queries = block.norm3(queries)
    return queries


def _block_image_to_token(block, queries, keys, query_pe, key_pe):
    """Second half of a ``TwoWayAttentionBlock``: the image tokens attend to the prompt tokens."""
    q = queries + query_pe
    k = keys + key_pe
    attn_out = block.cross_attn_image_to_token(q=k, k=q, v=queries)
    keys = keys + attn_out
    keys = block.norm4(keys)
    return keys


def _check_plugin_slots(transformer: nn.Module, deform_attn: Sequence[str]) -> None:
    """The plugins need two-way blocks 1 and 2, and ``deform_attn`` names attentions of :data:`DEFORM_ATTNS`."""
    if len(transformer.layers) < 2:
        raise ValueError(f"the plugins sit between two-way blocks 1 and 2; this decoder has "
                         f"{len(transformer.layers)} block(s)")
    bad = set(deform_attn) - set(DEFORM_ATTNS)
    if bad:
        raise ValueError(f"deform_attn must hold some of {DEFORM_ATTNS}, got {sorted(bad)}")


def _prompted_embedding(image_embeddings: torch.Tensor, image_pe: torch.Tensor,
                        dense_prompt_embeddings: torch.Tensor, b: int):
    """The image embedding plus the dense prompt embedding, and the positional encoding, for ``b`` prompts."""
    if image_embeddings.shape[0] == 1:
        # one image: keep it (and the positional encoding) at batch 1 and let block 1 broadcast it
        # against the prompts, exactly as gsam_lab.sam.shared_predict_masks does for plain SAM, so that
        # untrained plugins reproduce PromptPredictor's logits (its default path) bit for bit on any device
        dense = (dense_prompt_embeddings[:1] if same_for_every_prompt(dense_prompt_embeddings)
                 else dense_prompt_embeddings)
        return image_embeddings + dense, image_pe
    if image_embeddings.shape[0] == b:
        return image_embeddings + dense_prompt_embeddings, torch.repeat_interleave(image_pe, b, dim=0)
    raise ValueError(f"image_embeddings must be 1 x C x h x w or one per prompt ({b}), "
                     f"got {tuple(image_embeddings.shape)}")


def _routed_keys(dsp, drp, queries: torch.Tensor, keys: torch.Tensor, h: int, w: int):
    """The image tokens block 2 reads: the DSP's deformed tokens (or the regular ones without a DSP), mixed
    with the regular ones by the DRP's weights (no DRP: the deformed ones alone). Returns (tokens, offsets,
    alpha); offsets / alpha are None without the DSP / DRP."""
    regular, offsets, alpha = keys, None, None
    if dsp is not None:
        deformed, offsets, _ = dsp.forward_tokens(keys, h, w)
    else:
        deformed = regular
    if drp is None:
        return deformed, offsets, alpha
    alpha = drp(queries[:, 0, :])              # the IoU token after block 1
    return DynamicRoutingPlugin.mix(alpha, deformed, regular), offsets, alpha


def _final_keys(dsp, drp, keys: torch.Tensor, offsets, alpha, h: int, w: int) -> torch.Tensor:
    """The image tokens of the final token-to-image attention when it reads deformed features: the block-2
    offsets applied to the DSP's projection of the updated tokens, routed with the same ``alpha``."""
    if dsp is not None:
        b, _, c = keys.shape
        xp = dsp.project_tokens(keys).view(b, h, w, c).permute(0, 3, 1, 2)
        final_def = sample_at_offsets(xp, offsets).flatten(2).transpose(1, 2)
    else:
        final_def = keys
    return DynamicRoutingPlugin.mix(alpha, final_def, keys) if drp is not None else final_def


def _masks_from_tokens(decoder: nn.Module, hs: torch.Tensor, src: torch.Tensor):
    """The end of ``MaskDecoder.predict_masks``: mask logits from the mask tokens and the upscaled image
    tokens (``src`` ``B x C x h x w``), IoU predictions from the IoU token."""
    iou_token_out = hs[:, 0, :]
    mask_tokens_out = hs[:, 1:(1 + decoder.num_mask_tokens), :]
    upscaled_embedding = decoder.output_upscaling(src)
    hyper_in_list: List[torch.Tensor] = []
    for i in range(decoder.num_mask_tokens):
        hyper_in_list.append(decoder.output_hypernetworks_mlps[i](mask_tokens_out[:, i, :]))
    hyper_in = torch.stack(hyper_in_list, dim=1)
    b, c, h, w = upscaled_embedding.shape
    masks = (hyper_in @ upscaled_embedding.view(b, c, h * w)).view(b, -1, h, w)
    return masks, decoder.iou_prediction_head(iou_token_out)


def plugin_predict_masks(decoder: nn.Module, image_embeddings: torch.Tensor, image_pe: torch.Tensor,
                         sparse_prompt_embeddings: torch.Tensor, dense_prompt_embeddings: torch.Tensor,
                         dsp: Optional[DeformableSamplingPlugin] = None,
                         drp: Optional[DynamicRoutingPlugin] = None,
                         deform_attn: Sequence[str] = ("layer2",),
                         return_aux: bool = False):
    """``MaskDecoder.predict_masks`` with the Stable-SAM plugins (all output slots).

    The body mirrors segment_anything's ``MaskDecoder.predict_masks`` (and ``TwoWayTransformer.forward``)
    step by step, with the plugins inserted where Stable-SAM puts them, so it reads side by side with
    SAM's code; the plugins' own steps and the mask heads are small helpers beside it.

    Args:
        decoder: SAM's ``MaskDecoder`` (a ``TwoWayTransformer`` of depth >= 2); not modified.
        image_embeddings: ``1 x C x h x w`` (one image, broadcast to every prompt) or
            ``B x C x h x w`` (one embedding per prompt, e.g. prompts of several images in one batch).
        image_pe: ``1 x C x h x w`` dense positional encoding (``prompt_encoder.get_dense_pe()``).
        sparse_prompt_embeddings: ``B x N_prompt_tokens x C``; dense_prompt_embeddings: ``B x C x h x w``.
        dsp: the deformable sampling plugin or None (no deformation: the routing, if any, mixes
            the regular tokens with themselves, which is the identity).
        drp: the routing plugin or None (then ``alpha = (1, 0)``: the deformed features replace
            the regular ones).
        deform_attn: which token-to-image attentions read the deformed features, any of
            :data:`DEFORM_ATTNS`.
        return_aux: also return a dict with ``offsets`` (``B x 2 x h x w``, token units) and
            ``alpha`` (``B x 2``) when the plugins ran.

    Returns:
        ``(masks, iou_pred)``: ``B x (1 + num_multimask_outputs) x 4h x 4w`` low-res logits and
        ``B x (1 + num_multimask_outputs)``; plus ``aux`` with ``return_aux=True``.
    """
    tr = decoder.transformer
    _check_plugin_slots(tr, deform_attn)
    use_plugins = dsp is not None or drp is not None

    # MaskDecoder.predict_masks: tokens, per-prompt image embedding
    tokens = decoder_tokens(decoder, sparse_prompt_embeddings)
    b = tokens.shape[0]
    src, pos_src = _prompted_embedding(image_embeddings, image_pe, dense_prompt_embeddings, b)
    _, c, h, w = src.shape

    # TwoWayTransformer.forward, layer by layer
    image_embedding = src.flatten(2).permute(0, 2, 1)
    pe = pos_src.flatten(2).permute(0, 2, 1)
    point_embedding = tokens
    queries, keys = point_embedding, image_embedding
    aux: Dict[str, torch.Tensor] = {}
    offsets = alpha = None
    for i, layer in enumerate(tr.layers):
        kv = None
        if i == 1 and use_plugins:
            routed, offsets, alpha = _routed_keys(dsp, drp, queries, keys, h, w)
            if "layer2" in deform_attn:
                kv = routed
        if kv is None:                                     # SAM's own block
            queries, keys = layer(queries=queries, keys=keys, query_pe=point_embedding, key_pe=pe)
        else:
            queries = _block_self_and_cross(layer, queries, keys, point_embedding, pe, kv)
            keys = _block_image_to_token(layer, queries, keys, point_embedding, pe)

    final_kv = keys
    if use_plugins and "final" in deform_attn:
        final_kv = _final_keys(dsp, drp, keys, offsets, alpha, h, w)
    q = queries + point_embedding
    k = final_kv + pe
    attn_out = tr.final_attn_token_to_image(q=q, k=k, v=final_kv)
    queries = queries + attn_out
    hs = tr.norm_final_attn(queries)
    src = keys

    # back in MaskDecoder.predict_masks
    masks, iou_pred = _masks_from_tokens(decoder, hs, src.transpose(1, 2).reshape(b, c, h, w))
    if return_aux:
        if offsets is not None:
            aux["offsets"] = offsets
        if alpha is not None:
            aux["alpha"] = alpha
        return masks, iou_pred, aux
    return masks, iou_pred
