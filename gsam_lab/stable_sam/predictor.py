"""``StableSamPredictor``: :class:`gsam_lab.sam.PromptPredictor` decoding through the plugins."""
from __future__ import annotations

from typing import Callable, Dict, Optional

import torch

from gsam_lab.sam import PromptPredictor

from .model import StableSam

__all__ = ["StableSamPredictor", "predictor_factory"]


class StableSamPredictor(PromptPredictor):
    """Batched prompt predictor whose mask decoder carries the Stable-SAM plugins.

    Same interface as :class:`gsam_lab.sam.PromptPredictor` (``set_image`` then ``predict``), so it
    goes anywhere a predictor does, e.g. ``sam.stability_sweep(StableSamPredictor(stable), ...)``.

    Args:
        stable: a :class:`StableSam`; the image embedding comes from ``stable.sam.image_encoder``.
        keep_aux: remember the offsets and routing weights of the last :meth:`predict` in
            ``last_aux`` (``{"offsets": N x 2 x h x w, "alpha": N x 2}``, concatenated over chunks).
        max_batch, cache_size: as :class:`gsam_lab.sam.PromptPredictor`.
    """

    def __init__(self, stable: StableSam, max_batch: Optional[int] = None, cache_size: int = 4,
                 keep_aux: bool = False):
        if not isinstance(stable, StableSam):
            raise TypeError(f"StableSamPredictor needs a StableSam, got {type(stable).__name__}; "
                            "use gsam_lab.sam.PromptPredictor for a plain SAM")
        self.stable = stable.eval()
        self.keep_aux = keep_aux
        self.last_aux: Dict[str, torch.Tensor] = {}
        self._aux_parts = []
        super().__init__(stable.sam, max_batch=max_batch, cache_size=cache_size)

    def decode(self, points, labels, boxes, mask_input, multimask):
        sparse, dense = self.model.prompt_encoder(
            points=(points, labels) if points is not None else None, boxes=boxes, masks=mask_input)
        low, iou, aux = self.stable.decode(self.features, sparse, dense, multimask_output=multimask, return_aux=True)
        if self.keep_aux:
            self._aux_parts.append(aux)
        return low, iou

    @torch.no_grad()
    def predict(self, *args, **kwargs):
        """See :meth:`gsam_lab.sam.PromptPredictor.predict`."""
        self._aux_parts = []
        out = super().predict(*args, **kwargs)
        if self.keep_aux and self._aux_parts:
            keys = self._aux_parts[0].keys()
            self.last_aux = {k: torch.cat([a[k] for a in self._aux_parts]) for k in keys}
        self._aux_parts = []
        return out


def predictor_factory(stable: StableSam, **kwargs) -> Callable[[object], StableSamPredictor]:
    """``factory(model) -> StableSamPredictor(stable)`` for ``sam.stability_sweep(..., predictor_factory=...)``.

    The ``model`` the sweep passes must be ``stable.sam`` (a different SAM is an error, so that a
    sweep never silently mixes the plugins of one model with another).
    """
    def make(model):
        if model is not stable and model is not stable.sam:
            raise ValueError("predictor_factory(stable) was given another model than stable.sam; "
                             "call stability_sweep(stable.sam, ..., predictor_factory=...)")
        return StableSamPredictor(stable, **kwargs)
    return make
