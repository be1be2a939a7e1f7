"""``StableSam``: a frozen SAM with the Stable-SAM plugins in its mask decoder."""
from __future__ import annotations

import copy
from typing import Dict, Optional, Sequence

import torch
from torch import nn

from .decoder import DEFORM_ATTNS, plugin_predict_masks
from .drp import ROUTINGS, DynamicRoutingPlugin
from .dsp import DeformableSamplingPlugin

__all__ = ["StableSam", "count_trainable"]


def count_trainable(module: nn.Module) -> int:
    """Number of parameters with ``requires_grad`` in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class StableSam(nn.Module):
    """SAM plus the Deformable Sampling and Dynamic Routing plugins; SAM's weights stay frozen.

    Args:
        model: a ``segment_anything`` ``Sam`` (``tiny-synth`` or Meta's ViT-B/L/H), or any module
            with ``.mask_decoder`` and ``.prompt_encoder`` (and ``.image_encoder`` to embed images).
            It is **not copied**: its parameters get ``requires_grad=False`` and are never updated.
        dsp: use the Deformable Sampling Plugin.
        drp: use the Dynamic Routing Plugin (needs ``dsp=True``: with no deformation the mix of the
            regular tokens with themselves does nothing).
        routing: ``"soft"`` (default) or ``"hard"`` routing weights.
        deform_attn: which token-to-image attentions read the deformed features: ``("layer2",)``
            (default) or ``("layer2", "final")``.
        drp_hidden: hidden width of the routing MLP.
        kernel_size: depth-wise kernel of the offset branch.
        seed: seed of the plugins' random initial weights (the depth-wise conv and the routing
            MLP's first layer; the rest starts at the no-op values), so that training runs are
            reproducible; the global torch RNG is left untouched. ``None`` uses the global RNG.

    Attributes:
        sam: the wrapped model; ``dsp`` / ``drp``: the plugins or None; ``config``: the choices above.

    An untrained ``StableSam`` returns SAM's logits bit for bit (the plugins start as no-ops).
    Use :meth:`decode` with the prompt encoder's outputs, or
    :class:`gsam_lab.stable_sam.StableSamPredictor` for images and pixel prompts.
    """

    def __init__(self, model: nn.Module, dsp: bool = True, drp: bool = True, routing: str = "soft",
                 deform_attn: Sequence[str] = ("layer2",), drp_hidden: int = 16, kernel_size: int = 5,
                 seed: Optional[int] = 0):
        super().__init__()
        if not hasattr(model, "mask_decoder") or not hasattr(model, "prompt_encoder"):
            raise TypeError(f"StableSam wraps a segment_anything Sam (with .mask_decoder and .prompt_encoder), "
                            f"got {type(model).__name__}")
        if drp and not dsp:
            raise ValueError("drp=True needs dsp=True: the routing mixes deformed and regular features")
        if routing not in ROUTINGS:
            raise ValueError(f"routing must be one of {ROUTINGS}, got {routing!r}")
        deform_attn = tuple(deform_attn)
        if not deform_attn or set(deform_attn) - set(DEFORM_ATTNS):
            raise ValueError(f"deform_attn must be a non-empty subset of {DEFORM_ATTNS}, got {deform_attn!r}")
        dec = model.mask_decoder
        if len(dec.transformer.layers) < 2:
            raise ValueError("the plugins sit between two-way blocks 1 and 2 of the decoder; "
                             f"this one has {len(dec.transformer.layers)}")
        dim = int(dec.transformer_dim)
        self.sam = model
        for p in self.sam.parameters():
            p.requires_grad_(False)
        self.sam.eval()
        ref = next(dec.parameters())
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            self.dsp = DeformableSamplingPlugin(dim, kernel_size).to(ref.device, ref.dtype) if dsp else None
            self.drp = DynamicRoutingPlugin(dim, drp_hidden, routing).to(ref.device, ref.dtype) if drp else None
        self.config = dict(dsp=bool(dsp), drp=bool(drp), routing=routing, deform_attn=list(deform_attn),
                           drp_hidden=int(drp_hidden), kernel_size=int(kernel_size), transformer_dim=dim)
        #: fingerprint of SAM's mask decoder before any training changed it (set by the first training run;
        #: saved plugins record it, so they still match their SAM after the decoder-tuning baseline)
        self.original_sam_fingerprint: Optional[str] = None

    # -- bookkeeping ----------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.sam.mask_decoder.parameters()).device

    @property
    def transformer_dim(self) -> int:
        return self.config["transformer_dim"]

    def plugin_modules(self) -> nn.ModuleDict:
        """The plugins present, ``{"dsp": ..., "drp": ...}``."""
        return nn.ModuleDict({k: m for k, m in (("dsp", self.dsp), ("drp", self.drp)) if m is not None})

    def plugin_state_dict(self) -> Dict[str, torch.Tensor]:
        """Weights of the plugins only (``dsp.*``, ``drp.*``), detached, on the CPU."""
        return {k: v.detach().cpu().clone() for k, v in self.plugin_modules().state_dict().items()}

    def num_trainable(self) -> int:
        """Trainable parameters (the plugins': 78,132 with ``transformer_dim = 256`` and both plugins)."""
        return count_trainable(self)

    def train(self, mode: bool = True) -> "StableSam":
        """Train mode for the plugins only; SAM stays in eval mode."""
        super().train(mode)
        self.sam.eval()
        return self

    def reset_plugins(self) -> None:
        """Back to the no-op start."""
        if self.dsp is not None:
            self.dsp.reset_parameters()
        if self.drp is not None:
            self.drp.reset_parameters()

    # -- forward ---------------------------------------------------------------------------------
    def decode(self, image_embeddings: torch.Tensor, sparse_prompt_embeddings: torch.Tensor,
               dense_prompt_embeddings: torch.Tensor, multimask_output: bool = False,
               return_aux: bool = False):
        """The mask decoder with the plugins (``MaskDecoder.forward``'s output selection).

        Args:
            image_embeddings: ``1 x C x h x w`` or ``B x C x h x w`` (one per prompt).
            sparse_prompt_embeddings: ``B x N x C``; dense_prompt_embeddings: ``B x C x h x w``
                (from ``sam.prompt_encoder``).
            multimask_output: the 3 multimask slots instead of the single-mask slot.
            return_aux: also return ``{"offsets": B x 2 x h x w, "alpha": B x 2}``.

        Returns:
            low-res logits ``B x K x 4h x 4w`` and IoU predictions ``B x K`` (``K`` = 3 or 1).
        """
        out = plugin_predict_masks(self.sam.mask_decoder, image_embeddings, self.sam.prompt_encoder.get_dense_pe(),
                                   sparse_prompt_embeddings, dense_prompt_embeddings, dsp=self.dsp, drp=self.drp,
                                   deform_attn=self.config["deform_attn"], return_aux=return_aux)
        masks, iou = out[0], out[1]
        sl = slice(1, None) if multimask_output else slice(0, 1)
        masks, iou = masks[:, sl], iou[:, sl]
        return (masks, iou, out[2]) if return_aux else (masks, iou)

    def forward(self, image_embeddings, sparse_prompt_embeddings, dense_prompt_embeddings,
                multimask_output: bool = False):
        return self.decode(image_embeddings, sparse_prompt_embeddings, dense_prompt_embeddings, multimask_output)

    def copy(self) -> "StableSam":
        """A deep copy (SAM included), e.g. to fine-tune the decoder as a baseline."""
        return copy.deepcopy(self)
