"""Robust Training Strategy (RTS): train the plugins on a frozen SAM with casual prompts.

Recipe (reading: docs/methods/stable_sam.md, RTS):

* **SAM frozen**: only the plugins train (``trainable="plugins"``). The image encoder never runs
  in the loop: every image is embedded once, up front, and the embeddings are cached, so a step
  costs only the prompt encoder and the mask decoder.
* **prompts**: for each object (instance id > 0, at least ``min_area`` pixels) of an image, one
  prompt of a kind drawn from the mix ``prompt_mix`` (weights of ``gt_box``, ``noisy_box``,
  ``points``; :data:`gsam_lab.sam.PROMPT_KINDS`): the tight ground-truth box; an HQ-SAM noisy box
  with noise scale ``s ~ U(noise_range)`` (:meth:`gsam_lab.sam.PromptSampler.noisy_box`); or
  ``k ~ U{1..max_points}`` random positive points (one ``k`` per image).
* **loss**: BCE + dice on the single-mask output's low-resolution logits against the object's
  mask resized into SAM's padded input frame (soft targets by area resampling; padding excluded).
* **schedule**: AdamW, linear warm-up then cosine decay, gradient clipping; ``epochs`` passes over
  the images (about one epoch, as the paper), ``images_per_step`` images per step.
* built on :mod:`gsam_lab.training`: seeded; ``tqdm.auto`` progress; atomic checkpoints every
  ``ckpt_every`` steps; a resume continues only the same job (config, data, SAM and initial
  plugins; :func:`job_description`) and refuses another with what differs; a time budget
  (``max_minutes``); stops with ``FloatingPointError`` on a non-finite loss; never overwrites an
  existing file unless ``overwrite=True``, which starts over.

``trainable="decoder"`` trains SAM's whole mask decoder instead (the baseline the paper compares
with): pass a StableSam built on a **copy** of SAM with ``dsp=False, drp=False``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from gsam_lab.sam import PROMPT_KINDS, PromptPredictor, PromptSampler, prompt_kind
from gsam_lab.sam.losses import dice_loss
from gsam_lab.training import Checkpoint, describe, describe_dataset, fingerprint, train, warmup_cosine
from gsam_lab.utils import resolve_device, weights_fingerprint

from .embedded import EmbeddedImage, embed_dataset, item_digests
from .io import sam_fingerprint, save
from .model import StableSam

__all__ = ["RTSConfig", "train_rts", "PROMPT_MIX_KINDS", "RESUMABLE", "job_description"]

#: The prompt kinds of the mix, in the order of a ``prompt_mix`` given as a tuple of weights.
PROMPT_MIX_KINDS = ("gt_box", "noisy_box", "points")
TRAINABLE = ("plugins", "decoder")


@dataclass
class RTSConfig:
    """Settings of :func:`train_rts` (see the module docstring)."""

    epochs: float = 1.0                    # passes over the images (ignored when steps is set)
    steps: Optional[int] = None            # optimiser steps; None: ceil(epochs * n_images / images_per_step)
    images_per_step: int = 4
    prompts_per_image: int = 8             # objects per image per step (the largest-first cap is random)
    # weights of gt_box, noisy_box, points; or by name, {"noisy_box": 1.0, "points": 1.0} (a kind left out: 0)
    prompt_mix: Union[Tuple[float, float, float], Mapping[str, float]] = (1.0, 1.0, 1.0)
    noise_range: Tuple[float, float] = (0.1, 0.5)              # noisy-box scale s ~ U(noise_range)
    max_points: int = 10                   # k ~ U{1..max_points} positive points
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup: int = 10
    grad_clip: float = 1.0
    bce_weight: float = 1.0
    dice_weight: float = 1.0
    min_area: int = 64
    seed: int = 0
    ckpt_every: int = 50
    log_every: int = 10
    max_minutes: float = 0.0               # stop this run after so many minutes (checkpoint kept); 0 = no limit
    trainable: str = "plugins"             # "plugins" | "decoder" (baseline: tune SAM's whole mask decoder)

    def mix_weights(self) -> np.ndarray:
        """The weights of ``prompt_mix`` in :data:`PROMPT_MIX_KINDS` order."""
        if not isinstance(self.prompt_mix, Mapping):
            return np.asarray(self.prompt_mix, dtype=np.float64)
        for name in self.prompt_mix:
            if prompt_kind(name).name not in PROMPT_MIX_KINDS:        # prompt_kind: a clear error for a typo
                raise ValueError(f"prompt kind {name!r} is not in the RTS mix; the mix has {PROMPT_MIX_KINDS}")
        return np.array([self.prompt_mix.get(name, 0.0) for name in PROMPT_MIX_KINDS], dtype=np.float64)

    def validate(self) -> "RTSConfig":
        mix = self.mix_weights()
        if mix.shape != (3,) or not np.isfinite(mix).all() or (mix < 0).any():
            raise ValueError(f"prompt_mix must be 3 weights >= 0 for {PROMPT_MIX_KINDS}, got {self.prompt_mix!r}")
        if mix.sum() <= 0:
            raise ValueError(f"prompt_mix {self.prompt_mix!r} sums to zero: give a positive weight to at least "
                             f"one of {PROMPT_MIX_KINDS}")
        lo, hi = self.noise_range
        if not (0 <= lo <= hi):
            raise ValueError(f"noise_range must be (lo, hi) with 0 <= lo <= hi, got {self.noise_range!r}")
        if self.max_points < 1:
            raise ValueError(f"max_points must be >= 1, got {self.max_points}")
        if self.trainable not in TRAINABLE:
            raise ValueError(f"trainable must be one of {TRAINABLE}, got {self.trainable!r}")
        for name in ("images_per_step", "prompts_per_image", "ckpt_every", "log_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.steps is None and not self.epochs > 0:
            raise ValueError(f"epochs must be > 0 (or set steps), got {self.epochs!r}")
        if self.steps is not None and int(self.steps) < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps!r}")
        return self


# ----------------------------------------------------------------------------------------------
# prompts and targets
# ----------------------------------------------------------------------------------------------

def _draw_prompts(rng: np.random.Generator, sampler: PromptSampler, im: EmbeddedImage, cfg: RTSConfig):
    """Objects of one image and their prompts: ``(ids, boxes: n_b x 4 | None, box_ids, points, point_ids)``."""
    n = min(cfg.prompts_per_image, len(im.objects))
    ids = rng.choice(im.objects, size=n, replace=False)
    mix = cfg.mix_weights()
    kinds = rng.choice(len(PROMPT_MIX_KINDS), size=n, p=mix / mix.sum())
    boxes, box_ids, pts, pt_ids = [], [], [], []
    k = int(rng.integers(1, cfg.max_points + 1))
    for o, j in zip(ids, kinds):
        kind = PROMPT_KINDS[PROMPT_MIX_KINDS[j]]
        if kind.param == "noise":                          # s ~ U(noise_range), one per object
            value = float(rng.uniform(*cfg.noise_range))
        else:                                              # one k per image; None for the GT box
            value = k if kind.param == "k" else None
        prompt = kind.draw(sampler, im.instance == o, value)
        if kind.is_box:
            boxes.append(prompt)
            box_ids.append(o)
        else:
            pts.append(prompt[0])
            pt_ids.append(o)
    return (np.stack(boxes) if boxes else None, box_ids, np.stack(pts) if pts else None, pt_ids)


def _targets(im: EmbeddedImage, ids: Sequence[int], img_size: int, low_hw: Tuple[int, int], device):
    """Soft targets ``n x h4 x w4`` in the low-res frame and the valid-pixel weight ``h4 x w4``."""
    m = torch.as_tensor(np.stack([im.instance == o for o in ids]), dtype=torch.float32, device=device)[:, None]
    h, w = im.input_size
    m = F.interpolate(m, size=(h, w), mode="bilinear", align_corners=False)
    m = F.pad(m, (0, img_size - w, 0, img_size - h))
    t = F.interpolate(m, size=low_hw, mode="area")[:, 0]
    weight = torch.zeros(img_size, img_size, device=device)
    weight[:h, :w] = 1
    weight = F.interpolate(weight[None, None], size=low_hw, mode="area")[0, 0]
    return t, (weight > 0.5).float()


def _step(stable: StableSam, batch: List[EmbeddedImage], rng, sampler, cfg: RTSConfig, transform, device):
    sam = stable.sam
    img_size = sam.image_encoder.img_size
    groups: Dict[str, List] = {"boxes": [], "points": []}
    for im in batch:
        boxes, box_ids, pts, pt_ids = _draw_prompts(rng, sampler, im, cfg)
        if boxes is not None:
            groups["boxes"].append((im, transform.apply_boxes(boxes.astype(np.float64), im.original_size), box_ids))
        if pts is not None:
            groups["points"].append((im, transform.apply_coords(pts.astype(np.float64), im.original_size), pt_ids))
    low_hw = tuple(4 * s for s in batch[0].embedding.shape[-2:])
    total, n_total, parts = 0.0, 0, []
    for kind, items in groups.items():
        by_k: Dict[int, List] = {}
        for it in items:                               # points: one call per k (no padding tokens)
            key = 0 if kind == "boxes" else it[1].shape[1]
            by_k.setdefault(key, []).append(it)
        for _, its in by_k.items():
            emb = torch.cat([im.embedding.expand(len(ids), -1, -1, -1) for im, _, ids in its]).to(device)
            prm = torch.as_tensor(np.concatenate([p for _, p, _ in its]), dtype=torch.float32, device=device)
            with torch.no_grad():
                if kind == "boxes":
                    sparse, dense = sam.prompt_encoder(points=None, boxes=prm, masks=None)
                else:
                    lab = torch.ones(prm.shape[:2], dtype=torch.int, device=device)
                    sparse, dense = sam.prompt_encoder(points=(prm, lab), boxes=None, masks=None)
            low, _ = stable.decode(emb, sparse, dense, multimask_output=False)
            tgts, ws = zip(*(_targets(im, ids, img_size, low_hw, device) for im, _, ids in its))
            tgt = torch.cat(tgts)
            w = torch.cat([wi.expand(len(ids), -1, -1) for wi, (_, _, ids) in zip(ws, its)])
            bce = F.binary_cross_entropy_with_logits(low[:, 0], tgt, reduction="none")
            bce = (bce * w).flatten(1).sum(1) / w.flatten(1).sum(1).clamp_min(1)
            dice = dice_loss(low[:, 0], tgt, w)
            total = total + (cfg.bce_weight * bce + cfg.dice_weight * dice).sum()
            n_total += len(tgt)
            parts.append((bce.detach().sum().item(), dice.detach().sum().item()))
    loss = total / max(n_total, 1)
    return loss, {"bce": sum(p[0] for p in parts) / max(n_total, 1), "dice": sum(p[1] for p in parts) / max(n_total, 1)}


def _trainable_params(stable: StableSam, cfg: RTSConfig):
    if cfg.trainable == "plugins":
        params = [p for p in stable.plugin_modules().parameters()]
        if not params:
            raise ValueError("this StableSam has no plugin (dsp=False, drp=False): nothing to train; "
                             "use trainable='decoder' for the decoder-tuning baseline")
        return params
    for p in stable.sam.mask_decoder.parameters():
        p.requires_grad_(True)
    return list(stable.plugin_modules().parameters()) + list(stable.sam.mask_decoder.parameters())


def _trainable_state(stable: StableSam, cfg: RTSConfig) -> Dict[str, torch.Tensor]:
    sd = {"plugins." + k: v for k, v in stable.plugin_state_dict().items()}
    if cfg.trainable == "decoder":
        decoder = stable.sam.mask_decoder.state_dict()
        sd.update({"mask_decoder." + k: v.detach().cpu().clone() for k, v in decoder.items()})
    return sd


def _load_trainable_state(stable: StableSam, sd: Dict[str, torch.Tensor]) -> None:
    plug = {k[len("plugins."):]: v for k, v in sd.items() if k.startswith("plugins.")}
    dec = {k[len("mask_decoder."):]: v for k, v in sd.items() if k.startswith("mask_decoder.")}
    if plug:
        stable.plugin_modules().load_state_dict(plug)
    if dec:
        stable.sam.mask_decoder.load_state_dict(dec)


# ----------------------------------------------------------------------------------------------
# the job and its checkpoint
# ----------------------------------------------------------------------------------------------

#: RTSConfig fields that may change between a run and its resume: the run's length (a resume may
#: extend it; the schedule follows the new length), the time budget and the log / checkpoint cadence.
RESUMABLE = ("epochs", "steps", "max_minutes", "ckpt_every", "log_every")


def job_description(stable: StableSam, cfg: RTSConfig, embedded: Sequence[EmbeddedImage], dataset=None) -> dict:
    """What identifies an RTS job (see :mod:`gsam_lab.training`), computed before training.

    ``config``: the :class:`RTSConfig` minus :data:`RESUMABLE`; ``data``: the kind of ``dataset``, the
    number of images and objects and a hash of every image with its instance map
    (:func:`~gsam_lab.stable_sam.embedded.item_digests`); ``model``: the fingerprints of SAM's mask
    decoder and of the plugins' initial weights, and the plugins' layout.
    """
    config = {k: v for k, v in asdict(cfg).items() if k not in RESUMABLE}
    data = {"dataset": describe_dataset(dataset) if dataset is not None else None, "images": len(embedded),
            "objects": int(sum(len(e.objects) for e in embedded)), "items": item_digests(embedded)}
    model = {"sam_decoder": sam_fingerprint(stable.sam), "plugins": weights_fingerprint(stable.plugin_modules()),
             "plugin_config": dict(stable.config)}
    return describe(recipe="gsam_lab.stable_sam.train_rts", config=config, data=data, model=model)


def _check_files(out: Optional[Path], ckpt: Optional[Path], resume: bool, overwrite: bool) -> None:
    """Refuse to replace ``out`` or a checkpoint that would not be resumed, unless ``overwrite``."""
    if out is not None and out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=True to replace it (or choose another out=)")
    if ckpt is not None and ckpt.exists() and not resume and not overwrite:
        raise FileExistsError(f"training checkpoint {ckpt} exists; pass resume=True to continue it or "
                              "overwrite=True to start over")


def _open_checkpoint(path: Optional[Path], job: dict, overwrite: bool, log):
    """The job's :class:`~gsam_lab.training.Checkpoint` at ``path`` (None: no checkpoints); with
    ``overwrite`` an earlier checkpoint there is deleted, so the run starts over."""
    if path is None:
        return None
    if overwrite and path.exists():
        path.unlink()
        log(f"overwrite=True: deleted the training checkpoint {path}; starting over")
    return Checkpoint(path, fingerprint(**job), details=job)


class _RTSRun:
    """One RTS run (a :class:`gsam_lab.training.Run`): the trainable weights, the optimiser, the epoch order
    and the random stream of the prompts."""

    def __init__(self, stable: StableSam, embedded: List[EmbeddedImage], cfg: RTSConfig, params, device):
        self.stable, self.embedded, self.cfg, self.params, self.dev = stable, embedded, cfg, params, device
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.rng = np.random.default_rng([cfg.seed, 11])
        self.transform = PromptPredictor(stable.sam, cache_size=0).transform
        self.order: List[int] = []
        self.history: List[Dict[str, float]] = []

    def load_state(self, state: dict) -> None:
        _load_trainable_state(self.stable, state["state"])
        self.optimizer.load_state_dict(state["opt"])
        self.rng.bit_generator.state = state["rng"]
        self.history, self.order = list(state["history"]), list(state["order"])

    def begin(self, start: int) -> None:
        self.stable.train()

    def step(self, i: int) -> Dict[str, float]:
        """Optimisation step ``i``: ``images_per_step`` images in epoch order, one prompt per object."""
        cfg = self.cfg
        if len(self.order) < cfg.images_per_step:           # epoch order, refilled as it runs out
            self.order += [int(j) for j in self.rng.permutation(len(self.embedded))]
        idx, self.order = self.order[:cfg.images_per_step], self.order[cfg.images_per_step:]
        sampler = PromptSampler([cfg.seed, 13, i])
        loss, parts = _step(self.stable, [self.embedded[j] for j in idx], self.rng, sampler, cfg, self.transform,
                            self.dev)
        if not torch.isfinite(loss):
            return {"loss": loss.item()}                    # run_steps stops with the step number
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
        self.optimizer.step()
        self.history.append({"step": i + 1, "loss": loss.item(), **parts, "lr": self.optimizer.param_groups[0]["lr"]})
        return {"loss": loss.item(), **parts}

    def state(self) -> dict:
        return {"state": _trainable_state(self.stable, self.cfg), "opt": self.optimizer.state_dict(),
                "rng": self.rng.bit_generator.state, "history": self.history, "order": self.order,
                "config": asdict(self.cfg)}


# ----------------------------------------------------------------------------------------------
# the loop
# ----------------------------------------------------------------------------------------------

def train_rts(stable: StableSam, dataset, config: Optional[RTSConfig] = None, out: Union[str, Path, None] = None,
              checkpoint: Union[str, Path, None] = None, device="auto", resume: bool = True, overwrite: bool = False,
              progress: bool = True, log=print, sam_name: Optional[str] = None, embedded=None,
              **overrides) -> Dict[str, object]:
    """Train ``stable``'s plugins with RTS on the objects of ``dataset`` (SAM frozen).

    Args:
        stable: the :class:`StableSam` to train (in place); moved to ``device``.
        dataset: sequence of dicts with ``image`` and ``instance`` (e.g. ``data.SyntheticPinholes("train", ...)``).
        config: :class:`RTSConfig`; ``**overrides`` replace its fields (``train_rts(s, ds, steps=20)``).
        out: where to write the trained plugins (:func:`gsam_lab.stable_sam.save`); None: not written.
        checkpoint: periodic training checkpoint (default ``<out>.ckpt`` when ``out`` is given, else none).
        resume: continue from an existing ``checkpoint``, only if it holds the same job: the config
            (but for :data:`RESUMABLE` fields), the data and the starting model (SAM's decoder and the
            initial plugins) must match (:func:`job_description`), else
            :class:`~gsam_lab.training.ResumeMismatch` says what differs.
        overwrite: replace an existing ``out`` and start over: an existing ``checkpoint`` is deleted,
            never resumed.
        sam_name: registry name stored in ``out`` so that ``stable_sam.load(out)`` can rebuild the SAM.
        embedded: the output of :func:`~gsam_lab.stable_sam.embedded.embed_dataset` (skips embedding the images again).

    Returns:
        ``{"steps": int, "seconds": float, "history": [{"step", "loss", "bce", "dice", "lr"}, ...],
        "trainable": int, "out": Path | None}``.

    Raises:
        FileExistsError: ``out`` (or a checkpoint that would not be resumed) exists and ``overwrite`` is False.
        ResumeMismatch: ``checkpoint`` holds another job (names the fields that differ).
        ValueError: bad config (e.g. a prompt mix summing to zero) or a dataset with no instances.
        FloatingPointError: the loss became NaN or infinite (the last checkpoint is kept).
    """
    cfg = RTSConfig(**{**asdict(config or RTSConfig()), **overrides}).validate()
    if not isinstance(stable, StableSam):
        raise TypeError(f"train_rts trains a StableSam, got {type(stable).__name__}")
    out = Path(out) if out is not None else None
    ckpt_path = Path(checkpoint) if checkpoint is not None else (out.with_name(out.name + ".ckpt") if out else None)
    _check_files(out, ckpt_path, resume, overwrite)
    dev = resolve_device(device)
    stable.to(dev)
    frozen = sam_fingerprint(stable.sam) if cfg.trainable == "plugins" else None
    if stable.original_sam_fingerprint is None:
        stable.original_sam_fingerprint = sam_fingerprint(stable.sam)
    orig_fp = stable.original_sam_fingerprint
    params = _trainable_params(stable, cfg)
    embedded = embedded if embedded is not None else embed_dataset(stable, dataset, cfg.min_area, progress)
    per_epoch = len(embedded) / cfg.images_per_step
    total = int(cfg.steps) if cfg.steps is not None else max(1, math.ceil(cfg.epochs * per_epoch))
    run = _RTSRun(stable, embedded, cfg, params, dev)
    ckpt = _open_checkpoint(ckpt_path, job_description(stable, cfg, embedded, dataset), overwrite, log)
    res = train(run, ckpt, total, lr=lambda i: warmup_cosine(i, total, cfg.lr, cfg.warmup), ckpt_every=cfg.ckpt_every,
                log_every=cfg.log_every, max_minutes=cfg.max_minutes, progress=progress, desc="RTS", log=log,
                nan_hint="Try a lower lr")
    return _finish(stable, run, res, total, out, frozen, orig_fp, sam_name)


def _finish(stable: StableSam, run: _RTSRun, res, total: int, out: Optional[Path], frozen: Optional[str],
            orig_fp: str, sam_name: Optional[str]) -> Dict[str, object]:
    """After the loop: eval mode, SAM checked unchanged, ``out`` written when the run is complete."""
    cfg = run.cfg
    stable.eval()
    if cfg.trainable == "decoder":
        for p in stable.sam.mask_decoder.parameters():
            p.requires_grad_(False)
    seconds, done = res.elapsed, res.step
    if frozen is not None and sam_fingerprint(stable.sam) != frozen:
        raise RuntimeError("SAM's mask decoder changed during plugin training; this is a bug")
    written = out is not None and done >= total
    if written:
        save(stable, out, sam_name=sam_name, include_decoder=cfg.trainable == "decoder", sam_fingerprint_value=orig_fp,
             meta={"config": asdict(cfg), "steps": done, "seconds": seconds, "images": len(run.embedded),
                   "recipe": "gsam_lab.stable_sam.rts.train_rts",
                   "final_loss": run.history[-1]["loss"] if run.history else None})
    return {"steps": done, "seconds": seconds, "history": run.history,
            "trainable": sum(p.numel() for p in run.params), "out": out if written else None}
