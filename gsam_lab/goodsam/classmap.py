"""Mapping a teacher's classes onto the classes we evaluate (by default the synthetic ``data.CLASSES``).

A teacher trained on Cityscapes predicts 19 classes; our synthetic world (and DensePASS as read by
``data.FolderDataset``) has 9. :func:`class_groups` says, for every target class, which teacher
classes make it up, and :func:`map_logits` merges the teacher's logits accordingly.

**The documented Cityscapes -> synthetic mapping** (the same table as ``data.CITYSCAPES_TO_SYNTH``):

============================  ============  ===================================================
Cityscapes train ids          ours          why
============================  ============  ===================================================
road, sidewalk, building,     same class    identical meaning
pole, vegetation, terrain,
sky, person, car
wall                          building      vertical man-made surface; our world has no walls
traffic light, traffic sign   pole          small street furniture that hangs on poles
rider                         person        a person on a vehicle is still a person
truck, bus, train             car           large road vehicles ("road vehicle" in spirit)
fence, motorcycle, bicycle    (dropped)     no counterpart in our world
============================  ============  ===================================================

**How logits are merged:** the target logit of class ``k`` is ``logsumexp`` over the teacher logits
of its group, so ``softmax`` of the merged logits equals the teacher's probabilities summed per group
and renormalised over the kept classes (dropped classes leave the distribution; the pixels the
teacher gave to them are spread over the rest in proportion). A group of one class passes its logit
through unchanged.

Teachers whose class names match the targets by name (e.g. the bundled ``tiny-synth`` TA, trained
on our 9 classes) map by identity. Any target class no teacher class can produce is an error: the
ensemble could never predict it and every metric would be silently wrong.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch

from gsam_lab.data.classes import CITYSCAPES_CLASSES, CITYSCAPES_TO_SYNTH, CLASSES, IGNORE_INDEX

__all__ = ["CITYSCAPES_CLASSES", "ALIASES", "class_groups", "map_logits", "ClassMappingError"]

#: Teacher class name -> target class name, for names that differ (Cityscapes' extra classes).
#: Built from ``data.CITYSCAPES_TO_SYNTH``; classes mapped to ignore there are absent here (dropped).
ALIASES: Dict[str, str] = {
    CITYSCAPES_CLASSES[src]: CLASSES[dst] for src, dst in CITYSCAPES_TO_SYNTH.items()
    if dst != IGNORE_INDEX and CITYSCAPES_CLASSES[src] != CLASSES[dst]
}


class ClassMappingError(ValueError):
    """The teacher's classes cannot produce every class the dataset asks for."""


def _norm(name: str) -> str:
    return str(name).strip().lower().replace("_", " ").replace("-", " ")


def class_groups(source_classes: Sequence[str], target_classes: Sequence[str] = CLASSES,
                 aliases: Optional[Dict[str, str]] = None) -> Tuple[Tuple[int, ...], ...]:
    """Which teacher classes make up each target class.

    Args:
        source_classes: the teacher's class names (S of them), in logit order.
        target_classes: the classes we want (K), default ``data.CLASSES``.
        aliases: source name -> target name for names that differ; default :data:`ALIASES`
            (Cityscapes -> synthetic, see the module docstring). Matching ignores case, ``_`` and ``-``.

    Returns:
        a K-tuple; entry ``k`` holds the indices (into ``source_classes``) whose logits merge into
        target class ``k``. Source classes that match no target are dropped.

    Raises:
        ClassMappingError: a target class has no source class (names both lists).
    """
    aliases = ALIASES if aliases is None else aliases
    alias = {_norm(k): _norm(v) for k, v in aliases.items()}
    tgt = [_norm(t) for t in target_classes]
    if len(set(tgt)) != len(tgt):
        raise ValueError(f"target classes must be distinct, got {list(target_classes)}")
    groups: List[List[int]] = [[] for _ in tgt]
    for i, s in enumerate(source_classes):
        name = _norm(s)
        name = name if name in tgt else alias.get(name)
        if name in tgt:
            groups[tgt.index(name)].append(i)
    missing = [target_classes[k] for k, g in enumerate(groups) if not g]
    if missing:
        raise ClassMappingError(
            f"the teacher's classes {list(source_classes)} cannot be mapped to the dataset's classes: "
            f"no teacher class for {missing}. Expected each of {list(target_classes)} to appear among the "
            f"teacher's classes by name or through an alias ({aliases}); pass aliases= or target classes "
            f"the teacher knows.")
    return tuple(tuple(g) for g in groups)


def map_logits(logits: torch.Tensor, groups: Sequence[Sequence[int]]) -> torch.Tensor:
    """Merge teacher logits ``B x S x h x w`` into target logits ``B x K x h x w`` (``K = len(groups)``).

    ``out[:, k] = logsumexp(logits[:, groups[k]])`` (see the module docstring). Identity groups
    (``groups == ((0,), (1,), ...)`` with ``S == K``) return ``logits`` itself.
    """
    if logits.dim() < 2:
        raise ValueError(f"logits must be B x S x ..., got shape {tuple(logits.shape)}")
    s = logits.shape[1]
    flat = [i for g in groups for i in g]
    if flat and max(flat) >= s:
        raise ValueError(f"class groups name source index {max(flat)} but the logits have S={s} classes")
    if len(groups) == s and all(len(g) == 1 and g[0] == k for k, g in enumerate(groups)):
        return logits
    outs = []
    for g in groups:
        if len(g) == 1:
            outs.append(logits[:, g[0]])
        else:
            outs.append(torch.logsumexp(logits[:, list(g)], dim=1))
    return torch.stack(outs, dim=1)
