"""Objects for prompting when a dataset has only semantic labels (real folders: DensePASS, generic).

SAM's prompts need objects. Synthetic renders carry instance ids; real semantic-only labels do not,
so each connected region of a "thing" class becomes one object::

    inst = data.things_as_instances(item["semantic"])          # H x W int64, 0 = no object
"""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np
import torch

from .classes import CLASSES, THING_CLASSES

__all__ = ["things_as_instances"]


def things_as_instances(semantic: Union[np.ndarray, torch.Tensor], things: Sequence[Union[str, int]] = THING_CLASSES,
                        min_area: int = 16, classes: Sequence[str] = CLASSES) -> np.ndarray:
    """Label each 8-connected region of a thing class as one object.

    Args:
        semantic: ``H x W`` class ids (255 = ignore).
        things: class names (looked up in ``classes``) or ids whose regions become objects
            (default: the classes that carry instance ids in the synthetic renders).
        min_area: regions with fewer pixels are dropped (left 0).
        classes: the class names behind the ids (default: the synthetic classes).

    Returns:
        ``H x W`` int64 object ids ``1..N`` (0 = not an object), numbered class by class, then in
        raster order of each region's first pixel.
    """
    from scipy import ndimage

    sem = semantic.detach().cpu().numpy() if isinstance(semantic, torch.Tensor) else np.asarray(semantic)
    if sem.ndim != 2 or not np.issubdtype(sem.dtype, np.integer):
        raise ValueError(f"semantic must be an H x W array of integer class ids, got {sem.dtype} {sem.shape}")
    ids = []
    for t in things:
        if isinstance(t, str):
            if t not in classes:
                raise ValueError(f"unknown thing class {t!r}; expected one of {list(classes)}")
            ids.append(list(classes).index(t))
        else:
            ids.append(int(t))
    out = np.zeros(sem.shape, np.int64)
    nxt = 1
    for c in ids:
        lab, n = ndimage.label(sem == c, structure=np.ones((3, 3), bool))
        if n == 0:
            continue
        areas = np.bincount(lab.ravel(), minlength=n + 1)
        keep = np.nonzero(areas[1:] >= min_area)[0] + 1
        remap = np.zeros(n + 1, np.int64)
        remap[keep] = np.arange(nxt, nxt + len(keep))
        out = np.where(lab > 0, remap[lab], out)
        nxt += len(keep)
    return out
