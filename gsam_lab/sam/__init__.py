"""SAM layer: model loading (Meta's checkpoints and the bundled ``tiny-synth``), prompt sampling,
a batched prompt predictor, automatic ("everything") masks and prompt-stability sweeps.

::

    from gsam_lab import sam
    model = sam.load_sam("tiny-synth")                  # or "vit_b" (+ checkpoint=...), or a .pth path
    pred = sam.PromptPredictor(model).set_image(img)    # H x W x 3 uint8
    box = sam.PromptSampler(seed=0).noisy_box(mask, scale=0.2)
    masks = pred.predict(boxes=box[None]).masks         # 1 x H x W bool
    res = sam.stability_sweep(model, samples, draws=20)
    res.summary()                                       # mIoU, mBIoU, stability per prompt setting
"""
from .attention import AttentionMaps, attention_layers, attention_mass, decoder_attention
from .automatic import automatic_masks
from .decoding import shared_predict_masks
from .fast_decoder import folded_predict_masks
from .gallery import PromptOutcome, casual_prompts, prompt_outcomes
from .images import as_rgb_uint8
from .loading import CheckpointError, encoder_signature, infer_sam_type, load_sam, read_state_dict
from .predictor import Prediction, PromptPredictor
from .prompts import PromptSampler
from .registry import SAM_MODELS, SamSpec, get_spec, list_sams, register_sam
from .stability import PROMPT_KINDS, SweepResult, stability_sweep
from .tiny import TINY_SAM_CONFIG, build_tiny_sam

__all__ = [
    "load_sam", "build_tiny_sam", "CheckpointError", "PromptSampler", "PromptPredictor", "Prediction",
    "shared_predict_masks", "folded_predict_masks",
    "automatic_masks", "stability_sweep", "SweepResult", "PROMPT_KINDS",
    "SAM_MODELS", "SamSpec", "register_sam", "list_sams", "get_spec", "TINY_SAM_CONFIG",
    "prompt_outcomes", "casual_prompts", "PromptOutcome",
    "decoder_attention", "attention_layers", "attention_mass", "AttentionMaps",
    "infer_sam_type", "encoder_signature", "read_state_dict", "as_rgb_uint8",
]
