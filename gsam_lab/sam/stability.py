"""Prompt-stability sweeps: how SAM's masks change with the kind and the noise of the prompt.

For every image, every object (instance id > 0), every prompt *setting* (a kind and its
parameter: the ground-truth box; a noisy box at noise scale ``s``; ``k`` random positive points)
and ``draws`` random draws of that setting, the mask is predicted and compared with the object's
ground truth. All draws of all objects of one image for one setting go to the predictor in one
batched call.

Stability (reading: docs/methods/sam_prompting.md, Stability): the mean pairwise IoU of the
``draws`` masks predicted for one object with one setting, then averaged over objects. Identical
prompts are decoded once, so a deterministic setting (the ground-truth box) has stability exactly 1.0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import torch

from gsam_lab import metrics
from gsam_lab.images import as_rgb_uint8

from .decoding import prompts_per_call
from .predictor import PromptPredictor
from .prompts import PROMPT_KINDS, PromptKind, PromptSampler, prompt_kind

__all__ = ["stability_sweep", "SweepResult", "PROMPT_KINDS", "sweep_settings"]

TABLE_COLUMNS = ["image", "object", "area", "kind", "noise", "k", "setting", "draw", "iou",
                 "boundary_iou", "predicted_iou"]


def _kind_and_value(setting: Tuple[str, float, int]) -> Tuple[PromptKind, Any]:
    """The :data:`PROMPT_KINDS` row of a ``(kind, noise, k)`` setting and the value of its parameter
    (None for a kind without one)."""
    kind = prompt_kind(setting[0])
    return kind, {"noise": setting[1], "k": setting[2]}.get(kind.param)


def _setting_name(setting: Tuple[str, float, int]) -> str:
    """A ``(kind, noise, k)`` setting's name: ``"gt_box"``, ``"noisy_box s=0.4"``, ``"points k=3"``."""
    kind, value = _kind_and_value(setting)
    return kind.setting(value)


def sweep_settings(prompt_kinds: Sequence[str], noise: Sequence[float],
                   points: Sequence[int]) -> List[Tuple[str, float, int]]:
    """The ``(kind, noise, k)`` settings a sweep runs, in table order: each kind of ``prompt_kinds``
    (:data:`PROMPT_KINDS`) once per value of its parameter (``noise`` scales, ``points`` numbers of clicks)."""
    if isinstance(prompt_kinds, str):
        prompt_kinds = (prompt_kinds,)
    values = {None: [None], "noise": [float(s) for s in noise], "k": list(points)}
    out = []
    for name in prompt_kinds:
        kind = prompt_kind(name)
        if kind.param == "k":
            for k in points:
                if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
                    raise ValueError(f"points must hold ints >= 1 (numbers of positive points), got {k!r}")
        for v in values[kind.param]:
            out.append((kind.name, v if kind.param == "noise" else 0.0, int(v) if kind.param == "k" else 0))
    if not out:
        raise ValueError("no prompt setting to sweep (empty prompt_kinds, noise or points)")
    return out


@dataclass
class SweepResult:
    """What :func:`stability_sweep` returns.

    Attributes:
        table: tidy DataFrame, one row per (image, object, setting, draw); columns
            ``image, object, area, kind, noise, k, setting, draw, iou, boundary_iou, predicted_iou``
            (``noise`` is 0 except for noisy boxes, ``k`` is 0 except for points).
        objects: one row per (image, object, setting): ``iou`` and ``boundary_iou`` averaged over
            the draws, ``stability`` (mean pairwise IoU of the draws' masks) and ``cls``, the
            object's semantic class (-1 when the samples carry no ``semantic`` map).
        params: the sweep's arguments, for the record.
    """

    table: pd.DataFrame
    objects: pd.DataFrame
    params: Dict[str, Any] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """Per setting: ``miou`` and ``mbiou`` (mean over objects and draws), ``stability`` (mean over
        objects of the per-object stability), ``n_objects`` and ``draws``; in sweep order."""
        keys = ["kind", "noise", "k", "setting"]
        if self.objects.empty:
            return pd.DataFrame(columns=keys + ["miou", "mbiou", "stability", "n_objects", "draws"])
        g = self.objects.groupby(keys, sort=False)
        out = g.agg(miou=("iou", "mean"), mbiou=("boundary_iou", "mean"), stability=("stability", "mean"),
                    n_objects=("object", "size")).reset_index()
        out["draws"] = self.params.get("draws")
        return out

    def compare(self, a: str, b: str) -> pd.DataFrame:
        """Per object, mean IoU under setting ``a`` and under setting ``b`` (names as in
        ``summary()["setting"]``, e.g. ``"gt_box"`` and ``"noisy_box s=0.4"``), sorted by the drop
        ``iou_a - iou_b``, largest first: the failure cases of ``b`` relative to ``a``."""
        known = list(dict.fromkeys(self.objects["setting"]))
        for name in (a, b):
            if name not in known:
                raise ValueError(f"setting {name!r} is not in this sweep; known: {known}")
        keys = ["image", "object", "area"]
        left = self.objects[self.objects["setting"] == a][keys + ["iou", "stability"]]
        right = self.objects[self.objects["setting"] == b][keys + ["iou", "stability"]]
        out = left.merge(right, on=keys, suffixes=("_a", "_b"))
        out["drop"] = out["iou_a"] - out["iou_b"]
        return out.sort_values("drop", ascending=False, kind="stable").reset_index(drop=True)

    def __repr__(self) -> str:
        return f"SweepResult({len(self.table)} rows, {len(self.objects)} object-settings)\n{self.summary()}"


def _as_instance(inst, hw: Tuple[int, int]) -> np.ndarray:
    if isinstance(inst, torch.Tensor):
        inst = inst.detach().cpu().numpy()
    inst = np.asarray(inst)
    if inst.ndim == 3 and inst.shape[0] == 1:
        inst = inst[0]
    if inst.shape != hw:
        raise ValueError(f"instance map has shape {inst.shape}, the image is {hw[0]} x {hw[1]}")
    if not np.issubdtype(inst.dtype, np.integer):
        raise TypeError(f"instance map must hold integer ids, got dtype {inst.dtype}")
    return inst


def _predictor(model, predictor_factory) -> Any:
    if predictor_factory is not None:
        return predictor_factory(model)
    if hasattr(model, "set_image") and hasattr(model, "predict"):
        return model  # already a predictor (PromptPredictor interface)
    return PromptPredictor(model)


def _unique_rows(x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Unique prompts (rows of ``x`` flattened) and the inverse index."""
    flat = x.reshape(len(x), -1)
    uniq, inv = np.unique(flat, axis=0, return_inverse=True)
    return uniq.reshape((len(uniq),) + x.shape[1:]), inv.reshape(-1)


def stability_sweep(model, samples: Iterable[Mapping[str, Any]],
                    prompt_kinds: Sequence[str] = ("gt_box", "noisy_box", "points"),
                    noise: Sequence[float] = (0.1, 0.2, 0.4), points: Sequence[int] = (1, 3, 5, 10),
                    draws: int = 20, seed: int = 0, max_objects: Optional[int] = None, min_area: int = 64,
                    progress: bool = True, predictor_factory: Optional[Callable[[Any], Any]] = None,
                    multimask: bool = False, dilation_ratio: float = 0.02,
                    max_images: Optional[int] = None) -> SweepResult:
    """Sweep prompt settings over the objects of ``samples`` and measure accuracy and stability.

    Args:
        model: a ``Sam`` (wrapped in :class:`PromptPredictor`), or any object with the predictor
            interface ``set_image(img)`` / ``predict(boxes=, points=, labels=, multimask=)`` returning
            ``masks`` first (e.g. a Stable-SAM predictor).
        samples: iterable of dicts with ``image`` (``H x W x 3`` uint8, or a ``3 x H x W`` float
            tensor in [0, 1]) and ``instance`` (``H x W`` int, 0 = stuff, > 0 = object ids): a
            ``gsam_lab.data`` dataset or a list of renders.
        prompt_kinds: any of :data:`PROMPT_KINDS` (``"gt_box"``, ``"noisy_box"``, ``"points"``).
        noise: noise scales of ``"noisy_box"`` (see :meth:`PromptSampler.noisy_box`).
        points: numbers ``k`` of positive points of ``"points"``.
        draws: random draws per object and setting (>= 2, as stability compares draws).
        seed: prompts of (image i, object o, setting j) come from ``PromptSampler([seed, i, o, j])``,
            so adding a setting or an image does not change the others' prompts.
        max_objects: keep at most this many objects per image (the largest).
        min_area: skip objects with fewer pixels.
        progress: a tqdm bar over images.
        predictor_factory: ``factory(model) -> predictor`` to use instead of ``PromptPredictor``.
        multimask: decode 3 masks per prompt and keep the one with the highest predicted IoU
            (SAM's recipe for ambiguous single clicks); default one mask.
        dilation_ratio: boundary width of boundary IoU (Cheng et al.: 0.02 of the diagonal).
        max_images: stop after this many samples.

    Returns:
        :class:`SweepResult` with ``.table`` (one row per draw), ``.objects`` and ``.summary()``.
    """
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 2:
        raise ValueError(f"draws must be an int >= 2 (stability compares draws), got {draws!r}")
    settings = sweep_settings(prompt_kinds, noise, points)
    for _, s, _ in settings:
        if not np.isfinite(s) or s < 0:
            raise ValueError(f"noise scales must be >= 0, got {s!r}")
    pred = _predictor(model, predictor_factory)
    rows: List[dict] = []
    obj_rows: List[dict] = []
    it: Iterable = samples
    if progress:
        from ..utils import progress_bar
        it = progress_bar(samples, desc="stability sweep", total=_len_or_none(samples, max_images))
    for i, sample in enumerate(it):
        if max_images is not None and i >= max_images:
            break
        if not isinstance(sample, Mapping) or "image" not in sample or "instance" not in sample:
            sample_keys = list(sample) if isinstance(sample, Mapping) else "-"
            raise KeyError("each sample must be a dict with 'image' and 'instance' (H x W object ids); "
                           f"got {type(sample).__name__} with keys {sample_keys}")
        img = as_rgb_uint8(sample["image"])
        inst = _as_instance(sample["instance"], img.shape[:2])
        ids, areas = _objects(inst, min_area, max_objects)
        if len(ids) == 0:
            continue
        classes = _object_classes(sample.get("semantic"), inst, ids)
        pred.set_image(img)
        gts = torch.as_tensor(np.stack([inst == o for o in ids]), device=_device_of(pred))  # O x H x W
        for j, (kind, s, k) in enumerate(settings):
            masks, piou = _setting_masks(pred, inst, ids, (kind, s, k), draws, multimask, (seed, i, j))
            iou, biou, piou, stab = _scores(masks, piou, gts, dilation_ratio)
            outside = _outside_gt_box(masks, gts)
            setting = dict(kind=kind, noise=s, k=k, setting=_setting_name((kind, s, k)))
            for a, (o, area) in enumerate(zip(ids, areas)):
                obj = dict(image=i, object=int(o), area=int(area), **setting)
                rows += [dict(obj, draw=d, iou=iou[a, d], boundary_iou=biou[a, d], predicted_iou=piou[a, d])
                         for d in range(draws)]
                obj_rows.append(dict(obj, iou=iou[a].mean(), boundary_iou=biou[a].mean(), stability=stab[a],
                                     cls=classes[a], outside_box=outside[a]))
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    objects = pd.DataFrame(obj_rows, columns=["image", "object", "area", "kind", "noise", "k", "setting",
                                              "iou", "boundary_iou", "stability", "cls", "outside_box"])
    params = dict(prompt_kinds=tuple(prompt_kinds), noise=tuple(noise), points=tuple(points), draws=int(draws),
                  seed=seed, max_objects=max_objects, min_area=min_area, multimask=multimask,
                  dilation_ratio=dilation_ratio)
    return SweepResult(table, objects, params)


def _objects(inst: np.ndarray, min_area: int, max_objects: Optional[int]) -> Tuple[np.ndarray, np.ndarray]:
    """Object ids of ``inst`` with at least ``min_area`` pixels (the ``max_objects`` largest, in id order)
    and their areas."""
    ids, areas = np.unique(inst[inst > 0], return_counts=True)
    keep = areas >= min_area
    ids, areas = ids[keep], areas[keep]
    if max_objects is not None:
        order = np.sort(np.argsort(-areas, kind="stable")[:max_objects])
        ids, areas = ids[order], areas[order]
    return ids, areas


def _setting_masks(pred, inst: np.ndarray, ids: np.ndarray, setting: Tuple[str, float, int], draws: int,
                   multimask: bool, where: Tuple[int, int, int]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Masks (``O x D x H x W`` bool) and predicted IoUs (``O x D``) for ``draws`` prompts of one
    ``setting`` (``kind, noise, k``) per object, batched (one call unless the outputs are large: see
    :func:`~gsam_lab.sam.decoding.prompts_per_call`); identical prompts are decoded once.
    ``where = (sweep seed, image index, setting index)``: object ``o``'s prompts come from
    ``PromptSampler([seed, image, o, setting])``."""
    kind, value = _kind_and_value(setting)
    seed, i, j = where
    drawn = [kind.draw(PromptSampler([seed, i, int(o), j]), inst == o, value, n=draws) for o in ids]
    if kind.is_box:
        uniq, inv = _unique_rows(np.concatenate(drawn))                 # (O*D) x 4
        prompts = dict(boxes=uniq)
    else:
        pts = np.concatenate([p[0] for p in drawn])                     # (O*D) x k x 2
        labs = np.concatenate([p[1] for p in drawn])
        uniq, inv = _unique_rows(np.concatenate([pts, labs[..., None].astype(np.float32)], -1))
        prompts = dict(points=uniq[..., :2], labels=uniq[..., 2].astype(np.int64))
    # one call when the outputs are small; on a large panorama, batches that keep each call's memory bounded
    step = prompts_per_call(3 if multimask else 1, inst.shape)
    outs = [pred.predict(**{k: v[s:s + step] for k, v in prompts.items()}, multimask=multimask)
            for s in range(0, len(uniq), step)]
    masks = torch.cat([torch.as_tensor(o[0]) for o in outs])
    piou = torch.cat([torch.as_tensor(o[1]) for o in outs])
    if multimask:                                                  # SAM's recipe: the highest predicted IoU
        best = piou.argmax(1)
        masks = masks[torch.arange(len(best)), best]
        piou = piou.max(1).values
    inv_t = torch.as_tensor(inv, device=masks.device)
    masks = masks[inv_t].reshape(len(ids), draws, *masks.shape[-2:]).bool()
    return masks, piou[inv_t].reshape(len(ids), draws)


def _scores(masks: torch.Tensor, piou: torch.Tensor, gts: torch.Tensor, dilation_ratio: float):
    """``(iou, boundary_iou, predicted_iou)`` per object and draw (``O x D``) and stability per object
    (``O``), as float64 numpy arrays."""
    o, d = masks.shape[:2]
    gt = gts.to(masks.device)[:, None]
    iou = torch.as_tensor(metrics.mask_iou(masks, gt)).reshape(o, d)
    biou = torch.as_tensor(metrics.boundary_iou(masks, gt, dilation_ratio=dilation_ratio)).reshape(o, d)
    stab = torch.as_tensor(metrics.mean_pairwise_iou(masks)).reshape(o)
    return tuple(t.detach().double().cpu().numpy() for t in (iou, biou, piou.float(), stab))


def _outside_gt_box(masks: torch.Tensor, gts: torch.Tensor) -> np.ndarray:
    """Per object (``O``), the share of its predicted mask area that lies outside the object's tight
    ground-truth box, averaged over draws (an empty mask counts 0): how far a mask spills past the box."""
    rows, cols = gts.any(2), gts.any(1)                              # O x H, O x W
    box = _filled_span(rows)[:, :, None] & _filled_span(cols)[:, None, :]     # O x H x W
    area = masks.flatten(2).sum(2).double()
    out = (masks & ~box.to(masks.device)[:, None]).flatten(2).sum(2).double()
    return (out / area.clamp_min(1)).mean(1).cpu().numpy()


def _filled_span(x: torch.Tensor) -> torch.Tensor:
    """``O x L`` bool -> True from each row's first True to its last (inclusive)."""
    c = x.long().cumsum(1)
    return (c > 0) & (c < c[:, -1:] + x.long())


def _object_classes(semantic, inst: np.ndarray, ids: np.ndarray) -> List[int]:
    """Each object's semantic class (the most frequent label under it), or -1 without a semantic map."""
    if semantic is None:
        return [-1] * len(ids)
    if isinstance(semantic, torch.Tensor):
        semantic = semantic.detach().cpu().numpy()
    semantic = np.asarray(semantic).reshape(inst.shape)
    out = []
    for o in ids:
        labels, counts = np.unique(semantic[inst == o], return_counts=True)
        out.append(int(labels[counts.argmax()]))
    return out


def _len_or_none(samples, max_images):
    try:
        n = len(samples)  # type: ignore[arg-type]
    except TypeError:
        return max_images
    return n if max_images is None else min(n, max_images)


def _device_of(pred) -> torch.device:
    dev = getattr(pred, "device", None)
    if dev is None and hasattr(pred, "model"):
        dev = getattr(pred.model, "device", None)
    return torch.device(dev) if dev is not None else torch.device("cpu")
