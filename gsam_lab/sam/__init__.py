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
from gsam_lab.images import as_rgb_uint8

from .attention import AttentionMaps, attention_layers, attention_mass, decoder_attention
from .automatic import AutoMasks, automatic_masks
from .baselines import BoxFillPredictor, GrabCutPredictor
from .decoding import shared_predict_masks
from .evaluate import PromptEvaluation, evaluate_prompts, score_models
from .gallery import PromptOutcome, casual_prompts, prompt_outcomes
from .interactive import corrective_click, refinement_summary, refinement_sweep
from .loading import CheckpointError, encoder_signature, infer_sam_type, load_sam, read_state_dict
from .predictor import Prediction, PromptPredictor
from .prompts import PROMPT_KINDS, PromptKind, PromptSampler, prompt_kind
from .registry import SAM_MODELS, SamSpec, get_spec, list_sams, register_sam
from .stability import SweepResult, stability_sweep
from .tiny import TINY_SAM_CONFIG, build_tiny_sam
from .zoom import zoom_window

__all__ = [
    # attention.py
    "AttentionMaps", "attention_layers", "attention_mass", "decoder_attention",
    # automatic.py
    "AutoMasks", "automatic_masks",
    # baselines.py
    "BoxFillPredictor", "GrabCutPredictor",
    # decoding.py
    "shared_predict_masks",
    # evaluate.py
    "PromptEvaluation", "evaluate_prompts", "score_models",
    # gallery.py
    "PromptOutcome", "casual_prompts", "prompt_outcomes",
    # interactive.py
    "corrective_click", "refinement_summary", "refinement_sweep",
    # gsam_lab/images.py
    "as_rgb_uint8",
    # loading.py
    "CheckpointError", "encoder_signature", "infer_sam_type", "load_sam", "read_state_dict",
    # predictor.py
    "Prediction", "PromptPredictor",
    # prompts.py
    "PROMPT_KINDS", "PromptKind", "PromptSampler", "prompt_kind",
    # registry.py
    "SAM_MODELS", "SamSpec", "get_spec", "list_sams", "register_sam",
    # stability.py
    "SweepResult", "stability_sweep",
    # tiny.py
    "TINY_SAM_CONFIG", "build_tiny_sam",
    # zoom.py
    "zoom_window",
]
