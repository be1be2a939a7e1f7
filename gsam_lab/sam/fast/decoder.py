"""Optional fast path: SAM's mask decoder for many prompts on one image, image-side projections folded away.

This module is an **optimisation, not part of SAM** (see :mod:`gsam_lab.sam.fast`). Nothing in the library
needs it: by default :class:`~gsam_lab.sam.PromptPredictor` runs SAM's own decoder modules
(:func:`gsam_lab.sam.decoding.shared_predict_masks`), which is the code to read and step through.
Turn the fast path on with ``PromptPredictor(model, fast=True)``, or call :func:`folded_predict_masks`
directly (the tiny-SAM training recipe, :mod:`gsam_lab.recipes.tiny_sam`, does, for speed). It computes the same
function as SAM's ``MaskDecoder.predict_masks``, **equal up to float rounding** (the products are
summed in another order): tests check logits within 1e-4 on random and trained weights and masks
the same as ``SamPredictor``'s (``tests/test_sam_fast_decoder.py``);
``benchmarks/bench_prompts.py`` times it against the plain path and against Meta's loop.

Why SAM's decoder is cheap per prompt, and how to make it cheaper: in every attention between the
``T`` prompt tokens (7 for a box) and the ``N`` image tokens (1024 for tiny-synth, 4096 for Meta's
SAM), SAM projects the ``N`` image tokens (``N x 256 -> N x 128``) once per prompt. Matrix products
can be re-associated so that the projection lands on the ``T`` tokens instead:

* token-to-image: scores ``(q Wq)(x Wk)^T = (q Wq Wk^T) x^T`` and values ``P (x Wv) = (P x) Wv``;
* image-to-token: scores ``(x Wq)(k Wk)^T = x (Wq (k Wk)^T)`` (``Wq`` folded into the prompt tokens)
  and output ``(P (v Wv)) Wo = P (v Wv Wo)``;

(biases handled exactly: a bias on the keys adds one constant per query row; the softmax rows of
``P`` sum to 1 so a bias on the values passes through). Each per-prompt ``N x 256 x 128``
projection becomes an ``N x 256 x (heads x T)`` product, ``heads x T = 56 < 128``. The positional
encoding added to the image tokens is the same for every prompt, so its projection ``pe W^T`` is
computed once (per call, or per ``memo``) and read by the small per-head queries; ``keys + pe`` is
never formed per prompt. The final token-to-image attention runs only for the IoU token and the mask
slots asked for (each token attends on its own).
The softmax over the 7 prompt tokens is taken across a non-contiguous axis (``B x heads x T x N``),
which vectorises along ``N``; SAM's layout puts the 7 on the innermost axis.
The output upscaling (two stride-2, 2 x 2 transposed convolutions, ``LayerNorm2d``, GELU) is the same
arithmetic written as two matrix products in channels-last, sub-pixel order, with one fused
``layer_norm``; the sub-pixels are put in raster order only for the final ``B x M x 4h x 4w`` logits,
and only the mask slots asked for are formed; without gradients it runs in blocks of
``UPSCALE_BLOCK`` prompts through reused buffers. Constants are folded where the algebra allows:
``1/sqrt(d_head)`` into the small query / key matrices, the key bias of token-to-image attention dropped
(one constant on a whole softmax row), the image-to-token output bias spread over the value rows (each
head's softmax over the prompt tokens sums to 1), and that attention's residual sum formed by one
``baddbmm`` (in place when the tokens are already per prompt).

:func:`folded_predict_masks` reads SAM's parameters and never calls the image-side modules, so
**forward hooks on the decoder do not fire**: ``PromptPredictor(model, fast=True)`` takes this path
only while no hook is registered (:func:`has_hooks`) and SAM's decoder layout is there
(:func:`supports_folding`), and runs SAM's modules otherwise (:func:`can_fold`, :func:`fast_decode`).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from segment_anything.modeling.common import LayerNorm2d
from segment_anything.modeling.transformer import Attention, TwoWayTransformer
from torch import nn

from gsam_lab.sam.decoding import decoder_inputs

__all__ = ["folded_predict_masks", "supports_folding", "has_hooks", "can_fold", "fast_decode"]


def supports_folding(decoder: nn.Module) -> bool:
    """True if ``decoder`` is laid out like segment_anything's ``MaskDecoder`` (two-way transformer,
    ``ConvTranspose2d(k=2, s=2) -> LayerNorm2d -> act -> ConvTranspose2d(k=2, s=2) -> act`` upscaling)."""
    tr = getattr(decoder, "transformer", None)
    up = getattr(decoder, "output_upscaling", None)
    if not isinstance(tr, TwoWayTransformer) or not isinstance(up, nn.Sequential) or len(up) != 5:
        return False
    convs_ok = all(isinstance(up[i], nn.ConvTranspose2d) and tuple(up[i].kernel_size) == (2, 2)
                   and tuple(up[i].stride) == (2, 2) and tuple(up[i].padding) == (0, 0) and up[i].bias is not None
                   for i in (0, 3))
    return convs_ok and isinstance(up[1], LayerNorm2d) and isinstance(tr.final_attn_token_to_image, Attention)


def has_hooks(module: nn.Module) -> bool:
    """True if ``module`` or a sub-module has forward (pre-)hooks, or global module hooks are set.

    torch has no public way to ask this, so it reads ``nn.Module``'s hook dicts (``_forward_hooks``,
    ``_forward_pre_hooks`` and their global counterparts), which every torch 2 release keeps."""
    glob = nn.modules.module
    if glob._global_forward_hooks or glob._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in module.modules())


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    b, t, d = x.shape
    return x.view(b, t, heads, d // heads).transpose(1, 2)           # B x heads x T x dh


def _plain_fp(*tensors: torch.Tensor) -> bool:
    """True when ``tensors`` may be written in place / into reused buffers: no gradient needed through
    them, no autocast on their device, one dtype for all."""
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return False
    return not torch.is_autocast_enabled(tensors[0].device.type) and len({t.dtype for t in tensors}) == 1


def _memo(memo: Optional[dict], key, make):
    """``make()``, stored in / taken from ``memo`` (a caller's dict for one image) when one is given."""
    if memo is None:
        return make()
    out = memo.get(key)
    if out is None:
        out = memo[key] = make()
    return out


def _with_pe(x: torch.Tensor, keys: torch.Tensor, qh: torch.Tensor, weight: torch.Tensor,
             pe: torch.Tensor, memo: Optional[dict] = None) -> torch.Tensor:
    """``B x (heads T) x N`` scores ``q_h . (W_h (keys_n + pe_n))`` for one attention side, folded.

    ``x`` (``B x (heads T) x C``) holds the rows ``q_h W_h`` (each head's scaled query through its slice of the
    other side's projection ``weight``, ``d x C``); ``qh`` (``B x heads x T x dh``) the queries themselves.
    The per-prompt ``keys`` are read folded (``x @ keys^T``); one image's positional encoding ``pe``
    (``1 x N x C``) is projected once, ``pe W^T`` (``N x d``), and read per head by the small
    queries (``heads x T x dh`` per prompt instead of ``heads T x C``), so ``keys + pe`` is never formed."""
    b, heads, t, dh = qh.shape
    pe_w = _memo(memo, ("pe", id(weight), pe.data_ptr()),
                 lambda: F.linear(pe[0], weight).view(-1, heads, dh).permute(1, 2, 0))   # heads x dh x N
    spe = torch.matmul(qh.transpose(0, 1).reshape(heads, b * t, dh), pe_w)       # heads x (B T) x N
    spe = spe.view(heads, b, t, -1).transpose(0, 1).reshape(b, heads * t, -1)
    return torch.baddbmm(spe, x, keys.transpose(1, 2))


def _token_to_image(attn: Attention, q_in: torch.Tensor, k_in: torch.Tensor, v_in: torch.Tensor,
                    pe: torch.Tensor, memo: Optional[dict] = None) -> torch.Tensor:
    """``attn(q=q_in, k=k_in + pe, v=v_in)`` for ``B x T x C`` tokens and ``B x N x C`` image tokens,
    folded; ``pe`` (``1 x N x C``) is added to the keys without forming their sum."""
    heads, d = attn.num_heads, attn.internal_dim
    dh = d // heads
    b, t, c = q_in.shape
    q = _heads(attn.q_proj(q_in), heads) / math.sqrt(dh)                # B x heads x T x dh, scaled
    qk = torch.einsum("bhte,hec->bhtc", q, attn.k_proj.weight.view(heads, dh, c))
    # the key bias adds q . bk to a whole row of scores; the softmax runs along that row, so it cancels
    s = _with_pe(qk.reshape(b, heads * t, c), k_in, q, attn.k_proj.weight, pe, memo).view(b, heads, t, -1)
    p = torch.softmax(s, dim=-1)
    z = torch.matmul(p.view(b, heads * t, -1), v_in).view(b, heads, t, c)     # P x, per head
    out = torch.einsum("bhtc,hec->bthe", z, attn.v_proj.weight.view(heads, dh, c)) + attn.v_proj.bias.view(heads, dh)
    return attn.out_proj(out.reshape(b, t, d))


def _token_to_image_shared(attn: Attention, q_in: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``attn(q=q_in, k=., v=.)`` for ``B x T x C`` tokens against one image whose keys and values are already
    projected (``k``, ``v``: ``1 x N x d``), as segment_anything's ``Attention`` computes it."""
    heads, d = attn.num_heads, attn.internal_dim
    dh = d // heads
    q = _heads(attn.q_proj(q_in), heads) / math.sqrt(dh)                # B x heads x T x dh
    kh, vh = (x.view(-1, heads, dh).transpose(0, 1) for x in (k, v))    # heads x N x dh
    p = torch.softmax(torch.einsum("bhte,hne->bhtn", q, kh), dim=-1)
    out = torch.einsum("bhtn,hne->bthe", p, vh)
    return attn.out_proj(out.reshape(q_in.shape[0], q_in.shape[1], d))


def _image_to_token_factors(attn: Attention, q_in: torch.Tensor, k_in: torch.Tensor, v_in: torch.Tensor,
                            q_shared: Optional[torch.Tensor] = None, q_pe: Optional[torch.Tensor] = None,
                            memo: Optional[dict] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """``attn(q=q_in (+ q_pe), k=k_in, v=v_in) = pt @ u`` for ``B x N x C`` image queries against ``B x T x C``
    tokens, as its two factors: ``pt`` ``B x N x (heads T)`` (the softmax weights, a transposed view) and
    ``u`` ``B x (heads T) x C`` (each head's values through its slice of the output projection, bias included)."""
    heads, d = attn.num_heads, attn.internal_dim
    dh = d // heads
    b, t, c = k_in.shape
    k = _heads(attn.k_proj(k_in), heads) / math.sqrt(dh)                # B x heads x T x dh, scaled
    v = _heads(attn.v_proj(v_in), heads)
    if q_shared is not None:
        qh = q_shared.view(-1, heads, dh).transpose(0, 1)               # heads x N x dh
        s = torch.einsum("bhte,hne->bhtn", k, qh)
    else:
        kq = torch.einsum("bhte,hec->bhtc", k, attn.q_proj.weight.view(heads, dh, c))
        kb = (k * attn.q_proj.bias.view(1, heads, 1, dh)).sum(-1, keepdim=True)   # varies along T: kept
        s = _with_pe(kq.reshape(b, heads * t, c), q_in, k, attn.q_proj.weight, q_pe, memo).view(b, heads, t, -1)
        s = s.add_(kb) if not s.requires_grad else s + kb
    p = torch.softmax(s, dim=2)                                          # over the T tokens, vectorised along N
    u = torch.einsum("bhte,che->bhtc", v, attn.out_proj.weight.view(c, heads, dh))   # v Wv Wo per head
    # each head's softmax row sums to 1 over the T tokens, so bo / heads on every row of u adds bo once
    u = (u + attn.out_proj.bias / heads).reshape(b, heads * t, c)
    return p.reshape(b, heads * t, -1).transpose(1, 2), u                # B x N x (heads T), B x (heads T) x C


def _image_to_token(attn: Attention, q_in: torch.Tensor, k_in: torch.Tensor, v_in: torch.Tensor,
                    residual: torch.Tensor, q_shared: Optional[torch.Tensor] = None,
                    q_pe: Optional[torch.Tensor] = None, memo: Optional[dict] = None) -> torch.Tensor:
    """``residual + attn(q=q_in (+ q_pe), k=k_in, v=v_in)`` for ``B x N x C`` image queries (or ``q_shared =
    q_proj(q_in)`` of one image, ``1 x N x d``) against ``B x T x C`` tokens, folded; ``B x N x C``.
    ``q_pe`` (``1 x N x C``, optional) is added to the queries without forming their sum.
    Without gradients the sum is formed in place: in ``residual`` itself when it is per prompt (``B x N x C``;
    the caller must not need it afterwards), else in the product's buffer."""
    pt, u = _image_to_token_factors(attn, q_in, k_in, v_in, q_shared, q_pe, memo)
    if not _plain_fp(residual, pt, u):
        return torch.bmm(pt, u) + residual      # autograd / mixed precision: out of place, types promoted
    b = u.shape[0]
    if residual.shape[0] == b:
        return residual.baddbmm_(pt, u)         # the caller's per-prompt tokens, updated in place
    return torch.baddbmm(residual.expand(b, -1, -1), pt, u)      # one image's tokens: copied, then accumulated


def _act_(act: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``act(x)``, in place for GELU outside autograd (on a CPU a fresh 30 MB output costs ~4x the arithmetic,
    in page faults)."""
    if type(act) is nn.GELU and not (x.requires_grad and torch.is_grad_enabled()):
        return torch.ops.aten.gelu_(x, approximate=act.approximate)
    return act(x)


#: prompts per block of the upscaling when no gradient is needed: the block's buffers (2 x 1 MB after the
#: first transposed convolution, 2 x 2 MB after the second, for tiny-synth) stay in cache and are reused
#: from block to block; one chunk-sized buffer of 16 prompts after the second is 33.5 MB, which glibc
#: serves with a fresh ``mmap`` each call (above its 32 MB ceiling), so every page of it faults.
UPSCALE_BLOCK = 2


def _upscaled_masks(decoder: nn.Module, keys: torch.Tensor, mask_tokens: torch.Tensor, h: int, w: int,
                    slots: Sequence[int]) -> torch.Tensor:
    """``output_upscaling`` + hypernetwork product for ``B x N x C`` image tokens and the ``B x len(slots) x C``
    output tokens of ``slots`` (in that order): ``B x len(slots) x 4h x 4w``."""
    ct1, ln, act1, ct2, act2 = decoder.output_upscaling
    b, n, c = keys.shape
    o1, o2 = ct1.weight.shape[1], ct2.weight.shape[1]
    w1, b1 = ct1.weight.permute(0, 2, 3, 1).reshape(c, 4 * o1), ct1.bias.repeat(4)
    w2, b2 = ct2.weight.permute(0, 2, 3, 1).reshape(o1, 4 * o2), ct2.bias.repeat(4)
    hyper = torch.stack([decoder.output_hypernetworks_mlps[i](mask_tokens[:, j]) for j, i in enumerate(slots)], dim=1)
    k = len(slots)
    if not _plain_fp(keys, hyper, w1, b1, w2, b2, ln.weight):
        y = torch.addmm(b1, keys.reshape(b * n, c), w1)
        y = act1(F.layer_norm(y.view(b * n * 4, o1), (o1,), ln.weight, ln.bias, ln.eps))
        y = act2(torch.addmm(b2, y, w2))
        m = torch.bmm(y.view(b, n * 16, o2), hyper.transpose(1, 2))      # B x (i, j, di1, dj1, di2, dj2) x M
    else:                           # the same products, in blocks of prompts through reused buffers
        pb = min(b, UPSCALE_BLOCK)
        y1, y2 = keys.new_empty(pb * n, 4 * o1), keys.new_empty(pb * n * 4, 4 * o2)
        m = keys.new_empty(b, n * 16, k)
        for s in range(0, b, pb):
            e = min(b, s + pb)
            r = (e - s) * n
            y = torch.mm(keys[s:e].reshape(r, c), w1, out=y1[:r]).add_(b1)
            y = _act_(act1, F.layer_norm(y.view(r * 4, o1), (o1,), ln.weight, ln.bias, ln.eps))
            y = _act_(act2, torch.mm(y, w2, out=y2[:r * 4]).add_(b2))
            torch.bmm(y.view(e - s, n * 16, o2), hyper[s:e].transpose(1, 2), out=m[s:e])
    m = m.view(b, h, w, 2, 2, 2, 2, k).permute(0, 7, 1, 3, 5, 2, 4, 6)   # rows 4i + 2di1 + di2, cols alike
    return m.reshape(b, k, 4 * h, 4 * w)


def folded_predict_masks(decoder: nn.Module, image_embeddings: torch.Tensor, image_pe: torch.Tensor,
                         sparse_prompt_embeddings: torch.Tensor, dense_prompt_embeddings: torch.Tensor,
                         slots: Optional[Sequence[int]] = None,
                         memo: Optional[dict] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """``MaskDecoder.predict_masks`` for ``B`` prompts on one image, folded (see the module docstring).

    Args:
        decoder: segment_anything's ``MaskDecoder`` (:func:`supports_folding`); not modified.
        image_embeddings, image_pe: ``1 x C x h x w``.
        sparse_prompt_embeddings: ``B x T x C``; dense_prompt_embeddings: ``B x C x h x w`` or
            ``1 x C x h x w`` (a stride-0 expansion, SAM's "no mask", is kept at batch 1).
        slots: output slots to form masks for (0 = single mask, 1-3 = multimask); default all.
        memo: a dict the caller keeps across calls for the same image, decoder weights and positional
            encoding (e.g. the chunks of one ``PromptPredictor.predict``): the image-only projections are
            computed once and stored in it. Only without gradients; ``None`` computes them each call.

    Returns:
        ``(masks, iou_pred)``: ``B x len(slots) x 4h x 4w`` low-res logits and ``B x len(slots)``.
    """
    if not supports_folding(decoder):
        raise TypeError("folded_predict_masks needs segment_anything's MaskDecoder layout, "
                        f"got {type(decoder).__name__}")
    tokens, src = decoder_inputs(decoder, image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings,
                                 "folded_predict_masks")
    slots = list(range(decoder.num_mask_tokens)) if slots is None else [int(s) for s in slots]
    _, c, h, w = src.shape
    keys = src.flatten(2).transpose(1, 2)                                # 1 (or B) x N x C
    pe = image_pe.flatten(2).transpose(1, 2)
    if memo is not None and torch.is_grad_enabled():
        raise ValueError("folded_predict_masks: memo is for calls without gradients (torch.no_grad())")
    tr = decoder.transformer
    queries = tokens
    # image-only terms (the first block's projections of one image for all prompts, the pe projections) go to
    # ``memo`` when the caller keeps one, keyed by the inputs they depend on
    src_id = (image_embeddings.data_ptr(), dense_prompt_embeddings.data_ptr(), pe.data_ptr())
    for i, blk in enumerate(tr.layers):
        if blk.skip_first_layer_pe:
            queries = blk.self_attn(q=queries, k=queries, v=queries)
        else:
            q = queries + tokens
            queries = queries + blk.self_attn(q=q, k=q, v=queries)
        queries = blk.norm1(queries)
        shared = keys.shape[0] == 1     # one image for all prompts (the first block, unless a mask was given)
        m = memo if i == 0 else None    # later blocks' image tokens depend on the prompts (even at batch 1)
        if shared:                      # the image side projected once
            t2i = blk.cross_attn_token_to_image
            k_in = _memo(m, ("k_in",) + src_id, lambda: keys + pe)
            a = _token_to_image_shared(t2i, queries + tokens,
                                       _memo(m, ("k", id(t2i)) + src_id, lambda: t2i.k_proj(k_in)),
                                       _memo(m, ("v", id(t2i)) + src_id, lambda: t2i.v_proj(keys)))
        else:                           # per prompt: keys + pe is never formed
            a = _token_to_image(blk.cross_attn_token_to_image, queries + tokens, keys, keys, pe=pe, memo=memo)
        queries = blk.norm2(queries + a)
        queries = blk.norm3(queries + blk.mlp(queries))
        attn = blk.cross_attn_image_to_token
        if shared:
            q_shared = _memo(m, ("q", id(attn)) + src_id, lambda: attn.q_proj(k_in))
            out = _image_to_token(attn, k_in, queries + tokens, queries, keys, q_shared=q_shared)
        else:
            out = _image_to_token(attn, keys, queries + tokens, queries, keys, q_pe=pe, memo=memo)
        keys = blk.norm4(out)
    # the final attention treats each token on its own: only the IoU token and the mask slots asked for
    used = [0] + [1 + s for s in slots]
    q_used = queries[:, used]
    a = _token_to_image(tr.final_attn_token_to_image, q_used + tokens[:, used], keys, keys, pe=pe, memo=memo)
    hs = tr.norm_final_attn(q_used + a)
    masks = _upscaled_masks(decoder, keys, hs[:, 1:], h, w, slots)
    iou = decoder.iou_prediction_head(hs[:, 0])[:, slots]
    return masks, iou


def can_fold(decoder: nn.Module) -> bool:
    """Whether ``PromptPredictor(model, fast=True)`` takes the fast path for ``decoder`` now: SAM's decoder
    layout (:func:`supports_folding`) and no forward hooks that would be skipped (:func:`has_hooks`)."""
    return supports_folding(decoder) and not has_hooks(decoder)


def fast_decode(decoder: nn.Module, image_embeddings: torch.Tensor, image_pe: torch.Tensor,
                sparse_prompt_embeddings: torch.Tensor, dense_prompt_embeddings: torch.Tensor,
                multimask: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """``PromptPredictor.decode``'s fast path: the low-res logits and IoU predictions of the masks that
    ``MaskDecoder.forward`` returns (the three multimask slots, or the single-mask slot 0)."""
    slots = range(1, decoder.num_mask_tokens) if multimask else [0]     # as MaskDecoder.forward
    return folded_predict_masks(decoder, image_embeddings, image_pe, sparse_prompt_embeddings,
                                dense_prompt_embeddings, slots=slots)
