"""Optional, and safe to skip: a faster mask decoder for many prompts on one image.

Nothing here is part of SAM, and no notebook needs it: notebooks 02 and 03 take it for their prompt sweeps, for
speed (without it, a per-object IoU moves by about 1e-3 at most: a few mask pixels flip at the threshold).
The lab's predictor runs SAM's own decoder modules
(:class:`gsam_lab.sam.PromptPredictor`, :func:`gsam_lab.sam.decoding.shared_predict_masks`): that is the code
to read and step through. This folder holds the same computation rearranged for speed
(:mod:`gsam_lab.sam.fast.decoder` explains how), equal up to float rounding.

It is loaded only when asked for: ``PromptPredictor(model, fast=True)``, or an explicit import such as the
tiny-SAM training recipe's::

    from gsam_lab.sam.fast import folded_predict_masks
"""
from .decoder import can_fold, fast_decode, folded_predict_masks, has_hooks, supports_folding

__all__ = ["can_fold", "fast_decode", "folded_predict_masks", "has_hooks", "supports_folding"]
