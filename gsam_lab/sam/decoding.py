"""SAM's mask decoder for many prompts on one image, without copying the image per prompt.

``segment_anything``'s ``MaskDecoder.predict_masks`` starts by repeating the image embedding and
its positional encoding once per prompt (``repeat_interleave``): for ``B`` prompts that is ``2 B``
copies of a ``C x h x w`` tensor before any work is done, and block 1 of the two-way transformer
then projects ``B`` identical copies of the image tokens. :func:`shared_predict_masks` computes the
same thing with the image tensors kept at batch 1 and broadcast against the ``B`` prompts:

* the image embedding (plus the dense prompt embedding when it is the same for every prompt, i.e.
  no mask input) and the positional encoding are never repeated;
* block 1's image-side work (the keys/values of the token-to-image attention and the queries of the
  image-to-token attention) is done once; its image-to-token attention is the first step whose
  result depends on the prompt, so from there on the image tokens are per prompt, as in SAM.

It calls SAM's own sub-modules in SAM's order (nothing is edited or patched), so the result is
SAM's up to floating-point summation order (tests: logits within 1e-4, masks identical; in
``benchmarks/bench_prompts.py`` 0 of 6.5M mask pixels differ from ``SamPredictor``).
"""
from __future__ import annotations

import warnings
from typing import List, Sequence, Tuple

import torch
from torch import nn

__all__ = ["shared_predict_masks", "same_for_every_prompt", "decoder_inputs", "decoder_tokens", "warn_many_prompts",
           "LARGE_OUTPUT_BYTES"]

#: Masks and logits of one ``predict`` call above this many bytes: a warning (once per predictor).
LARGE_OUTPUT_BYTES = 128 * 2**20


def prompts_per_call(outputs: int, image_hw: Sequence[int], feature_hw: Sequence[int] = (64, 64)) -> int:
    """How many prompts one ``predict`` call may take so that its ``outputs`` masks per prompt at
    ``image_hw`` and their low-res logits (4 x ``feature_hw``) stay near half of :data:`LARGE_OUTPUT_BYTES`."""
    per = outputs * (16 * int(feature_hw[0]) * int(feature_hw[1]) * 4 + int(image_hw[0]) * int(image_hw[1]))
    return max(1, LARGE_OUTPUT_BYTES // (2 * per))


def warn_many_prompts(owner, n: int, outputs: int, feature_hw: Sequence[int], image_hw: Sequence[int],
                      logits: bool) -> None:
    """Warn once per ``owner`` (a predictor) when ``n`` prompts decoded in one call return
    :data:`LARGE_OUTPUT_BYTES` or more: ``outputs`` masks per prompt at ``image_hw`` (bool, or float
    ``logits``) and as many low-res logits (4 x ``feature_hw``, float). The message names the count,
    the memory and a batch size that keeps each call under the limit."""
    per = outputs * (16 * int(feature_hw[0]) * int(feature_hw[1]) * 4
                     + int(image_hw[0]) * int(image_hw[1]) * (4 if logits else 1))
    if n * per < LARGE_OUTPUT_BYTES or getattr(owner, "_warned_many_prompts", False):
        return
    step = max(1, LARGE_OUTPUT_BYTES // (2 * per))
    warnings.warn(f"{n} prompts in one predict call: their masks and logits take about {n * per / 2**20:.0f} MB "
                  f"(more while they are decoded); pass them in batches, e.g. {step} at a time "
                  f"(predict(boxes=boxes[s:s + {step}])), keeping only what you need of each",
                  RuntimeWarning, stacklevel=4)      # the caller of predict (under torch.no_grad's wrapper)
    owner._warned_many_prompts = True


def same_for_every_prompt(dense: torch.Tensor) -> bool:
    """True if ``dense`` (``B x C x h x w``) is one tensor broadcast over the batch (stride 0)."""
    return dense.shape[0] == 1 or dense.stride(0) == 0


def decoder_inputs(decoder: nn.Module, image_embeddings: torch.Tensor, image_pe: torch.Tensor,
                   sparse_prompt_embeddings: torch.Tensor, dense_prompt_embeddings: torch.Tensor,
                   caller: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """Checked start of ``predict_masks`` for ``B`` prompts on one image: the ``B x T x C`` tokens
    (output tokens + prompt tokens) and ``src`` = image embedding + dense prompt embedding, kept at
    batch 1 when the dense embedding is the same for every prompt (``1`` or ``B x C x h x w``)."""
    if image_embeddings.shape[0] != 1 or image_pe.shape[0] != 1:
        raise ValueError(f"{caller} decodes prompts of one image: image_embeddings and image_pe must be "
                         f"1 x C x h x w, got {tuple(image_embeddings.shape)} and {tuple(image_pe.shape)}")
    bsz = sparse_prompt_embeddings.shape[0]
    if dense_prompt_embeddings.shape[0] not in (1, bsz):
        raise ValueError(f"dense_prompt_embeddings must be 1 or {bsz} x C x h x w, "
                         f"got {tuple(dense_prompt_embeddings.shape)}")
    dense = dense_prompt_embeddings[:1] if same_for_every_prompt(dense_prompt_embeddings) else dense_prompt_embeddings
    return decoder_tokens(decoder, sparse_prompt_embeddings), image_embeddings + dense


def decoder_tokens(decoder: nn.Module, sparse_prompt_embeddings: torch.Tensor) -> torch.Tensor:
    """``B x T x C`` decoder queries, as ``predict_masks`` builds them: the IoU and mask output tokens
    followed by each prompt's sparse embeddings."""
    output_tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
    bsz = sparse_prompt_embeddings.shape[0]
    return torch.cat((output_tokens.unsqueeze(0).expand(bsz, -1, -1), sparse_prompt_embeddings), dim=1)


def shared_predict_masks(decoder: nn.Module, image_embeddings: torch.Tensor, image_pe: torch.Tensor,
                         sparse_prompt_embeddings: torch.Tensor,
                         dense_prompt_embeddings: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``MaskDecoder.predict_masks`` for ``B`` prompts on one image (all output slots).

    Args:
        decoder: SAM's ``MaskDecoder``; not modified.
        image_embeddings: ``1 x C x h x w``; image_pe: ``1 x C x h x w``.
        sparse_prompt_embeddings: ``B x T x C``.
        dense_prompt_embeddings: ``B x C x h x w`` (or ``1 x C x h x w``); SAM's prompt encoder
            returns a stride-0 expansion of its "no mask" embedding when no mask is given, which is
            recognised and kept at batch 1.

    Returns:
        ``(masks, iou_pred)``: ``B x (1 + num_multimask_outputs) x 4h x 4w`` low-res logits and
        ``B x (1 + num_multimask_outputs)``, as ``predict_masks``.
    """
    tokens, src = decoder_inputs(decoder, image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings,
                                 "shared_predict_masks")
    bsz = tokens.shape[0]
    _, c, h, w = src.shape

    # SAM's TwoWayTransformer.forward broadcasts: batch-1 image tokens meet B prompt token sets in
    # block 1's attentions, and its image-to-token attention returns B sets of image tokens.
    hs, keys = decoder.transformer(src, image_pe, tokens)   # keys: B x hw x C after block 1

    iou_token_out = hs[:, 0, :]
    mask_tokens_out = hs[:, 1:(1 + decoder.num_mask_tokens), :]
    src = keys.transpose(1, 2).reshape(bsz, c, h, w)
    upscaled = decoder.output_upscaling(src)
    hyper: List[torch.Tensor] = [decoder.output_hypernetworks_mlps[i](mask_tokens_out[:, i, :])
                                 for i in range(decoder.num_mask_tokens)]
    hyper_in = torch.stack(hyper, dim=1)
    b, c2, h2, w2 = upscaled.shape
    masks = (hyper_in @ upscaled.view(b, c2, h2 * w2)).view(b, -1, h2, w2)
    return masks, decoder.iou_prediction_head(iou_token_out)
