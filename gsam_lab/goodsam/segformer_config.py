"""SegFormer configurations used by the teacher assistant (TA): the bundled ``tiny-synth`` one.

``transformers.SegformerConfig`` keyword arguments; :func:`segformer_config` builds the config
object. The tiny TA keeps SegFormer's four-stage layout (strides 4, 8, 16, 32: features at
``H/4 .. H/32``) with narrow stages, so MKA's multi-level features have the real shapes' structure.
"""
from __future__ import annotations

from typing import Dict, Sequence

__all__ = ["TINY_SYNTH_CONFIG", "segformer_config"]

#: The bundled ``tiny-synth`` TA (~2.2M parameters with 9 classes; SegFormer-B0 has 32/64/160/256).
TINY_SYNTH_CONFIG: Dict[str, object] = dict(
    num_channels=3, num_encoder_blocks=4, depths=[2, 2, 2, 2], sr_ratios=[8, 4, 2, 1],
    hidden_sizes=[32, 64, 128, 192], patch_sizes=[7, 3, 3, 3], strides=[4, 2, 2, 2],
    num_attention_heads=[1, 2, 4, 6], mlp_ratios=[4, 4, 4, 4], decoder_hidden_size=128,
    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.1,
    drop_path_rate=0.05,
)


def segformer_config(classes: Sequence[str], base: Dict[str, object] = TINY_SYNTH_CONFIG):
    """A ``transformers.SegformerConfig`` from ``base`` with ``classes`` as its labels (id2label)."""
    from transformers import SegformerConfig

    id2label = {i: str(c) for i, c in enumerate(classes)}
    return SegformerConfig(**dict(base), num_labels=len(classes), id2label=id2label,
                           label2id={v: k for k, v in id2label.items()})
