"""Stable-SAM: plugins that make a frozen SAM robust to casual prompts (noisy boxes, few points).

::

    from gsam_lab import sam, stable_sam
    stable = stable_sam.StableSam(sam.load_sam("tiny-synth"), dsp=True, drp=True)   # plugins start as no-ops
    stable.num_trainable()                                   # 78,132 with transformer_dim 256
    stable_sam.train_rts(stable, dataset, stable_sam.RTSConfig(steps=200), out="plugins.pt")
    stable = stable_sam.load("tiny-synth")         # the shipped plugins (with the SAM they were trained on)
    pred = stable_sam.StableSamPredictor(stable).set_image(img)
    sam.stability_sweep(pred, samples)                       # or predictor_factory=stable_sam.predictor_factory(stable)
"""
from .decoder import DEFORM_ATTNS, plugin_predict_masks
from .drp import ROUTINGS, DynamicRoutingPlugin
from .dsp import DeformableSamplingPlugin, sample_at_offsets
from .embedded import embed_dataset
from .evaluate import TARGETS, check_targets, compare
from .io import (
    FORMAT,
    PLUGINS,
    PluginCheckpointError,
    PluginSpec,
    list_plugins,
    load,
    register_plugins,
    sam_fingerprint,
    save,
)
from .model import StableSam, count_trainable
from .predictor import StableSamPredictor, predictor_factory
from .rts import RTSConfig, train_rts

__all__ = [
    # decoder.py
    "DEFORM_ATTNS", "plugin_predict_masks",
    # drp.py
    "ROUTINGS", "DynamicRoutingPlugin",
    # dsp.py
    "DeformableSamplingPlugin", "sample_at_offsets",
    # embedded.py
    "embed_dataset",
    # evaluate.py
    "TARGETS", "check_targets", "compare",
    # io.py
    "FORMAT", "PLUGINS", "PluginCheckpointError", "PluginSpec", "list_plugins", "load", "register_plugins",
    "sam_fingerprint", "save",
    # model.py
    "StableSam", "count_trainable",
    # predictor.py
    "StableSamPredictor", "predictor_factory",
    # rts.py
    "RTSConfig", "train_rts",
]
