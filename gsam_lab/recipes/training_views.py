"""The tiny-SAM recipe's training data: renders of train-split worlds and the targets drawn from them.

``cfg`` is the recipe's :class:`gsam_lab.recipes.tiny_sam.TrainConfig`; these functions read its data fields
(``view_mix``, ``fov_range``, ``zoom_context``, ``min_area``, ``size_power``, ``class_weight``,
``stuff_fraction``, ``pool_size``, ``seed``). The views and draw weights are described in that module's
docstring.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

from gsam_lab.data import CLASSES
from gsam_lab.data.datasets import world_seed
from gsam_lab.data.render import render_panorama, render_pinhole
from gsam_lab.data.world import make_world
from gsam_lab.sam.prompts import PromptSampler
from gsam_lab.sam.zoom import zoom_window
from gsam_lab.utils import progress_bar

__all__ = ["render_training_view", "sample_targets", "ViewPool"]


def _resize_view(view: Dict[str, np.ndarray], window, size: int) -> Dict[str, np.ndarray]:
    """Crop ``window`` (x0, y0, x1, y1) out of a view and resize it to ``size x size`` (labels: nearest)."""
    x0, y0, x1, y1 = window
    out = {}
    for k in ("image", "semantic", "instance"):
        a = view[k][y0:y1, x0:x1]
        if k == "image":
            out[k] = np.asarray(Image.fromarray(a).resize((size, size), Image.BILINEAR))
        else:
            lab = Image.fromarray(a.astype(np.int32)).resize((size, size), Image.NEAREST)
            out[k] = np.asarray(lab).astype(np.int64)
    return out


def _object_weights(inst: np.ndarray, sem: np.ndarray, cfg) -> Tuple[np.ndarray, np.ndarray]:
    """Object ids of at least ``min_area`` px and their draw weights (small and hard classes more often)."""
    ids, areas = np.unique(inst[inst > 0], return_counts=True)
    keep = areas >= cfg.min_area
    ids, areas = ids[keep], areas[keep]
    if not len(ids):
        return ids, np.zeros(0)
    boost = dict(cfg.class_weight)
    cls = np.array([sem[inst == i][0] for i in ids])
    w = areas.astype(np.float64) ** -cfg.size_power * np.array([boost.get(CLASSES[c], 1.0) for c in cls])
    return ids, w / w.sum()


def render_training_view(rng: np.random.Generator, index: int, cfg) -> Dict[str, np.ndarray]:
    """One training render of train-split world ``index`` (``image`` HxWx3 uint8, ``semantic``, ``instance``)."""
    world = make_world(world_seed("train", cfg.seed, index))
    kind = rng.choice(4, p=np.asarray(cfg.view_mix) / np.sum(cfg.view_mix))
    if kind == 1:
        return render_panorama(world, 128, 256)
    if kind in (0, 3) and (kind == 0 or rng.random() < 0.5):
        h, w = (256, 256) if (kind == 3 or rng.random() < 0.6) else (192, 256)
        r = render_pinhole(world, h, w, fov_deg=float(rng.uniform(*cfg.fov_range)), yaw_deg=float(rng.uniform(0, 360)),
                           pitch_deg=float(rng.uniform(-20, 20)), roll_deg=float(rng.uniform(-5, 5)))
    else:
        r = render_panorama(world, 256, 512)
        r = {k: np.roll(r[k], -int(rng.integers(0, 512)), axis=1) for k in ("image", "semantic", "instance")}
        if kind == 2:
            r = {k: v[:, :256] for k, v in r.items()}
    r = {k: np.ascontiguousarray(r[k]) for k in ("image", "semantic", "instance")}
    if kind == 3:
        ids, w = _object_weights(r["instance"], r["semantic"], cfg)
        if len(ids):
            m = r["instance"] == ids[rng.choice(len(ids), p=w)]
            box = PromptSampler(rng.integers(2 ** 31)).gt_box(m)
            window = zoom_window(box, m.shape, context=float(rng.uniform(*cfg.zoom_context)))
            r = _resize_view(r, window, 256)
    return r


def sample_targets(rng: np.random.Generator, view: Dict[str, np.ndarray], n: int, cfg) -> List[np.ndarray]:
    """Up to ``n`` target masks of ``view``: objects by their draw weights, stuff regions now and then."""
    inst, sem = view["instance"], view["semantic"]
    ids, w = _object_weights(inst, sem, cfg)
    stuff_cls, stuff_area = np.unique(sem[inst == 0], return_counts=True)
    stuff = [(sem == c) & (inst == 0) for c in stuff_cls[stuff_area >= 4 * cfg.min_area]]
    out = []
    for _ in range(n):
        if stuff and (not len(ids) or rng.random() < cfg.stuff_fraction):
            m = stuff[int(rng.integers(len(stuff)))]
            if m.all():                 # a region filling the view leaves no room for a negative click: skip it
                continue
            out.append(m)
        elif len(ids):
            out.append(inst == ids[rng.choice(len(ids), p=w)])
    return out


class ViewPool:
    """Renders of train worlds; ``refresh()`` swaps one random entry for a new world."""

    def __init__(self, cfg, rng: np.random.Generator, next_index: int = 0, progress: bool = True):
        self.cfg, self.rng, self.next_index = cfg, rng, next_index
        it = range(cfg.pool_size)
        if progress:
            it = progress_bar(it, desc="rendering pool", leave=False)
        self.items = [self._new() for _ in it]

    def _new(self):
        v = render_training_view(self.rng, self.next_index, self.cfg)
        self.next_index += 1
        return v

    def refresh(self):
        self.items[int(self.rng.integers(len(self.items)))] = self._new()

    def sample(self, n):
        return [self.items[int(i)] for i in self.rng.choice(len(self.items), size=n, replace=False)]
