"""Training of the ``tiny-synth`` SAM with SAM's promptable objective on synthetic renders.

Recipe (``data_scripts/train_tiny_sam.py`` is the command line around :func:`train_tiny_sam`):

* **data**: a pool of ``pool_size`` renders from the **train** split only (world seeds from
  ``gsam_lab.data.datasets.world_seed("train", seed, i)``); every step one new render replaces a
  random pool entry, so the model keeps seeing new worlds. Views are pinhole cameras with a
  horizontal FoV drawn from ``fov_range`` (50-110 deg) and random yaw/pitch/roll, ``256 x 256`` or
  ``192 x 256``; whole ERPs (``128 x 256``); and ``256 x 256`` crops of ``256 x 512`` ERPs (wrapping
  across the seam).
* **targets**: objects (instance id > 0) with at least ``min_area`` pixels and, with probability
  ``stuff_fraction``, "stuff" regions (one semantic class where instance == 0: road, sky, ...).
* **prompts**: per image one kind for all its targets: a box (the tight box plus Gaussian corner
  noise with std 10% of the side, at most 8 px, as in SAM) with probability ``box_fraction``, else
  ``k`` positive points (k uniform in 1..``max_points``; a negative near-miss point with
  probability 0.3).
* **loss**: BCE + dice on the masks (SAM uses 20 x focal + dice; plain BCE learned faster from
  scratch here; ``focal_weight`` / ``bce_weight`` switch), min over SAM's 3 candidates for
  single-point prompts (the single-mask output is trained on every prompt), + MSE of the IoU head;
  + ``aux_weight`` x a dense auxiliary loss: a 1 x 1 convolution on the image embedding predicts every
  pixel's semantic class and whether it lies on an object/region boundary (cross-entropy x
  ``aux_semantic`` + balanced BCE at 128 x 128), a gradient at every pixel for the encoder where a
  few prompts per image supervise few pixels; only the ``Sam`` weights are written.
* **optimisation**: AdamW, warm-up then cosine decay, gradient clipping; the first
  ``box_warmup_steps`` steps use boxes of objects only (from scratch the decoder needs them to leave
  the all-background solution). Built on :mod:`gsam_lab.training` (checkpoints that verify the job,
  time budget, NaN stop).
* **speed**: ``amp=1`` (default) runs the image encoder and mask decoder under bfloat16 autocast
  (about 2x on a CPU with bf16 units); the prompt encoder and the dense positional encoding stay in
  fp32 (in bf16 their sin/cos of pixel positions moved by up to 0.16), and so do the losses. The
  decoder is the opt-in fast path :func:`gsam_lab.sam.fast.folded_predict_masks` (SAM's
  ``predict_masks`` without per-prompt copies of the image embedding: the same loss and gradients up
  to rounding, about 1.3x faster).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything.utils.transforms import ResizeLongestSide

from gsam_lab.utils import resolve_device

from .decoding import shared_predict_masks
from .fast import folded_predict_masks, supports_folding
from .loading import save_tiny_checkpoint
from .losses import sam_loss
from .prompts import PromptSampler
from .tiny import build_tiny_sam

__all__ = ["TrainConfig", "train_tiny_sam", "render_training_view", "draw_training_prompt"]


@dataclass
class TrainConfig:
    steps: int = 6000
    images_per_step: int = 8
    prompts_per_image: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: int = 100
    grad_clip: float = 1.0
    pool_size: int = 192
    fov_range: Tuple[float, float] = (50.0, 110.0)
    view_mix: Tuple[float, float, float] = (0.6, 0.15, 0.25)   # pinhole, whole ERP, ERP crop
    min_area: int = 40
    stuff_fraction: float = 0.2
    box_fraction: float = 0.5
    max_points: int = 5
    seed: int = 0
    ckpt_every: int = 200
    log_every: int = 25
    focal_weight: float = 0.0      # mask loss = focal_weight * focal + bce_weight * BCE + dice (SAM: 20, 0)
    bce_weight: float = 1.0
    box_warmup_steps: int = 100    # boxes of objects only at first: from scratch, the decoder needs them to leave
                                   # the all-background solution (seen stuck at IoU 0 for 250+ mixed steps)
    max_minutes: float = 0.0       # stop this run (checkpoint + weights) after so many minutes; 0 = no limit
    aux_weight: float = 1.0        # dense boundary (+ semantic) loss on the image embedding (0 = SAM's objective only)
    aux_semantic: float = 0.2      # weight of the semantic term inside it: class features that are too strong
                                   # merge neighbouring instances of one class (seen: batch IoU fell with 1.0)
    amp: int = 1                   # 1: bfloat16 autocast for the image encoder and mask decoder (CPU: ~2x faster where
                                   # the CPU has bf16 units; CUDA: bf16 too); the prompt encoder's positional encodings
                                   # (bf16 moves them by up to 0.16) and the losses stay in fp32


# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------

def _data_api():
    """(make_world, render_pinhole, render_panorama, world_seed) from the data layer."""
    from gsam_lab import data
    try:
        return data.make_world, data.render_pinhole, data.render_panorama, data.world_seed
    except AttributeError:  # package __init__ not exporting (yet): use the modules
        from gsam_lab.data.datasets import world_seed
        from gsam_lab.data.render import render_panorama, render_pinhole
        from gsam_lab.data.world import make_world
        return make_world, render_pinhole, render_panorama, world_seed


def render_training_view(rng: np.random.Generator, index: int, cfg: TrainConfig) -> Dict[str, np.ndarray]:
    """One training render of train-split world ``index`` (``image`` HxWx3 uint8, ``semantic``, ``instance``)."""
    make_world, render_pinhole, render_panorama, world_seed = _data_api()
    world = make_world(world_seed("train", cfg.seed, index))
    kind = rng.choice(3, p=np.asarray(cfg.view_mix) / np.sum(cfg.view_mix))
    if kind == 0:
        h, w = (256, 256) if rng.random() < 0.6 else (192, 256)
        r = render_pinhole(world, h, w, fov_deg=float(rng.uniform(*cfg.fov_range)), yaw_deg=float(rng.uniform(0, 360)),
                           pitch_deg=float(rng.uniform(-20, 20)), roll_deg=float(rng.uniform(-5, 5)))
    elif kind == 1:
        r = render_panorama(world, 128, 256)
    else:
        full = render_panorama(world, 256, 512)
        x0 = int(rng.integers(0, 512))
        r = {k: np.roll(full[k], -x0, axis=1)[:, :256] for k in ("image", "semantic", "instance")}
    return {k: np.ascontiguousarray(r[k]) for k in ("image", "semantic", "instance")}


def _targets(rng: np.random.Generator, view: Dict[str, np.ndarray], n: int, cfg: TrainConfig) -> List[np.ndarray]:
    inst, sem = view["instance"], view["semantic"]
    ids, areas = np.unique(inst[inst > 0], return_counts=True)
    objs = [inst == i for i in ids[areas >= cfg.min_area]]
    stuff_cls, stuff_area = np.unique(sem[inst == 0], return_counts=True)
    stuff = [(sem == c) & (inst == 0) for c in stuff_cls[stuff_area >= 4 * cfg.min_area]]
    out = []
    for _ in range(n):
        use_stuff = stuff and (not objs or rng.random() < cfg.stuff_fraction)
        pool = stuff if use_stuff else objs
        if not pool:
            break
        out.append(pool[int(rng.integers(len(pool)))])
    return out


def draw_training_prompt(rng: np.random.Generator, sampler: PromptSampler, masks: List[np.ndarray],
                         cfg: TrainConfig) -> Dict[str, np.ndarray]:
    """Prompts for ``masks`` (one kind for all): ``{"boxes": N x 4}`` or ``{"points": N x K x 2, "labels": N x K}``."""
    H, W = masks[0].shape
    if rng.random() < cfg.box_fraction:
        boxes = np.stack([sampler.gt_box(m) for m in masks]).astype(np.float64)
        side = np.stack([boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1], 1)
        std = np.minimum(0.1 * np.concatenate([side, side], 1), 8.0)
        boxes = boxes + rng.normal(size=boxes.shape) * std
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, W - 1)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, H - 1)
        boxes[:, 2] = np.maximum(boxes[:, 2], boxes[:, 0] + 1)
        boxes[:, 3] = np.maximum(boxes[:, 3], boxes[:, 1] + 1)
        return {"boxes": boxes}
    k = int(rng.integers(1, cfg.max_points + 1))
    neg = int(k > 1 and rng.random() < 0.3)
    if neg and any(m.all() for m in masks):   # a region that fills the view leaves no place for a negative click
        neg = 0
    pts, labs = zip(*(sampler.points(m, k, negatives=neg) for m in masks))
    return {"points": np.stack(pts).astype(np.float64), "labels": np.stack(labs)}


class _Pool:
    """Renders of train worlds; ``refresh()`` swaps one random entry for a new world."""

    def __init__(self, cfg: TrainConfig, rng: np.random.Generator, next_index: int = 0, progress: bool = True):
        self.cfg, self.rng, self.next_index = cfg, rng, next_index
        it = range(cfg.pool_size)
        if progress:
            from ..utils import progress_bar
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


# ----------------------------------------------------------------------------------------------
# one step
# ----------------------------------------------------------------------------------------------

def _prepare_image(model, transform, img: np.ndarray, device) -> Tuple[torch.Tensor, Tuple[int, int]]:
    x = torch.as_tensor(transform.apply_image(img), device=device).permute(2, 0, 1).contiguous()
    return model.preprocess(x[None])[0], tuple(x.shape[-2:])


def _target_in_input_frame(masks: np.ndarray, input_size, img_size: int, device) -> Tuple[torch.Tensor, torch.Tensor]:
    """``N x img x img`` targets (resized to the input frame, zero-padded) and the valid-pixel weight."""
    t = torch.as_tensor(masks, device=device, dtype=torch.float32)[:, None]
    t = F.interpolate(t, size=input_size, mode="bilinear", align_corners=False)[:, 0]
    t = (t > 0.5).float()
    h, w = input_size
    out = F.pad(t, (0, img_size - w, 0, img_size - h))
    weight = torch.zeros(img_size, img_size, device=device)
    weight[:h, :w] = 1
    return out, weight


class DenseAuxHead(torch.nn.Module):
    """1 x 1 convolution: image embedding -> ``num_classes`` semantic logits + 1 boundary logit."""

    def __init__(self, in_dim: int = 256, num_classes: int = 9):
        super().__init__()
        self.num_classes = num_classes
        self.conv = torch.nn.Conv2d(in_dim, num_classes + 1, 1)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return self.conv(emb)


def _boundary(label: torch.Tensor) -> torch.Tensor:
    """``B x H x W`` bool: pixels whose 4-neighbourhood holds another label."""
    b = torch.zeros_like(label, dtype=torch.bool)
    dx = label[:, :, 1:] != label[:, :, :-1]
    dy = label[:, 1:, :] != label[:, :-1, :]
    b[:, :, 1:] |= dx
    b[:, :, :-1] |= dx
    b[:, 1:, :] |= dy
    b[:, :-1, :] |= dy
    return b


def dense_aux_loss(logits: torch.Tensor, views, sizes, img_size: int, num_classes: int, res: int = 128,
                   semantic_weight: float = 1.0):
    """Semantic cross-entropy + boundary BCE of a :class:`DenseAuxHead`'s ``B x (num_classes + 1) x h x w``
    ``logits`` at ``res x res`` against each view's ``semantic`` / ``instance`` maps (padding ignored);
    the cross-entropy is scaled by ``semantic_weight``."""
    sem_t, edge_t, valid = [], [], []
    scale = res / img_size
    for v, (h, w) in zip(views, sizes):
        hh, ww = max(1, round(h * scale)), max(1, round(w * scale))
        sem = torch.as_tensor(v["semantic"], dtype=torch.long, device=logits.device)
        inst = torch.as_tensor(v["instance"], dtype=torch.long, device=logits.device)
        key = (sem.clamp(min=0) * 100003 + inst)[None, None].float()
        key = F.interpolate(key, size=(hh, ww), mode="nearest")[0, 0].long()
        s_ = F.interpolate(sem[None, None].float(), size=(hh, ww), mode="nearest")[0, 0].long()
        s_ = torch.where((s_ >= 0) & (s_ < num_classes), s_, torch.full_like(s_, -100))
        pad = (0, res - ww, 0, res - hh)
        sem_t.append(F.pad(s_, pad, value=-100))
        edge_t.append(F.pad(_boundary(key[None])[0].float(), pad))
        valid.append(F.pad(torch.ones(hh, ww, device=logits.device), pad))
    sem_t, edge_t, valid = torch.stack(sem_t), torch.stack(edge_t), torch.stack(valid)
    out = F.interpolate(logits, size=(res, res), mode="bilinear", align_corners=False)
    ce = F.cross_entropy(out[:, :-1], sem_t, ignore_index=-100)
    pos = (edge_t * valid).sum().clamp_min(1)
    neg = ((1 - edge_t) * valid).sum().clamp_min(1)
    wts = valid * torch.where(edge_t > 0, 0.5 / pos, 0.5 / neg)
    bce = (F.binary_cross_entropy_with_logits(out[:, -1], edge_t, reduction="none") * wts).sum()
    return semantic_weight * ce + bce, {"aux_ce": ce.item(), "aux_edge": bce.item()}


def _autocast(device, enabled: bool):
    dev = torch.device(device)
    on = bool(enabled) and dev.type in ("cpu", "cuda")
    return torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=on)


def _step_loss(model, views, rng, sampler, cfg, transform, device, aux_head=None):
    img_size = model.image_encoder.img_size
    xs, sizes = zip(*(_prepare_image(model, transform, v["image"], device) for v in views))
    amp = _autocast(device, cfg.amp)
    with amp:
        emb = model.image_encoder(torch.stack(xs))
    pe = model.prompt_encoder.get_dense_pe()     # fp32: the sin/cos of positions lose their precision in bf16
    decode = folded_predict_masks if supports_folding(model.mask_decoder) else shared_predict_masks
    losses, parts_all = [], []
    for b, v in enumerate(views):
        masks = _targets(rng, v, cfg.prompts_per_image, cfg)
        if not masks:
            continue
        pr = draw_training_prompt(rng, sampler, masks, cfg)
        orig = v["image"].shape[:2]
        boxes = points = None
        if "boxes" in pr:
            boxes = torch.as_tensor(transform.apply_boxes(pr["boxes"], orig), dtype=torch.float, device=device)
        else:
            points = (torch.as_tensor(transform.apply_coords(pr["points"], orig), dtype=torch.float, device=device),
                      torch.as_tensor(pr["labels"], dtype=torch.int, device=device))
        sparse, dense = model.prompt_encoder(points=points, boxes=boxes, masks=None)   # fp32 (see pe above)
        with amp:
            low, iou = decode(model.mask_decoder, emb[b:b + 1], pe, sparse, dense)
        low, iou = low.float(), iou.float()
        up = F.interpolate(low, (img_size, img_size), mode="bilinear", align_corners=False)  # N x 4 x S x S
        tgt, weight = _target_in_input_frame(np.stack(masks), sizes[b], img_size, device)
        single_point = points is not None and points[0].shape[1] == 1
        lw = dict(focal_weight=cfg.focal_weight, bce_weight=cfg.bce_weight)
        l0, p0 = sam_loss(up[:, :1], iou[:, :1], tgt, weight, **lw)
        loss = l0
        if single_point:
            l1, _ = sam_loss(up[:, 1:], iou[:, 1:], tgt, weight, **lw)
            loss = loss + l1
        losses.append(loss)
        parts_all.append(p0)
    loss = torch.stack(losses).mean()
    parts = {k: float(np.mean([p[k] for p in parts_all])) for k in parts_all[0]}
    if aux_head is not None and cfg.aux_weight > 0:
        with amp:
            aux_logits = aux_head(emb)
        aux, aux_parts = dense_aux_loss(aux_logits.float(), views, sizes, img_size, aux_head.num_classes,
                                        semantic_weight=cfg.aux_semantic)
        loss = loss + cfg.aux_weight * aux
        parts.update(aux_parts)
    return loss, parts


# ----------------------------------------------------------------------------------------------
# the loop
# ----------------------------------------------------------------------------------------------

#: TrainConfig fields that may change between a run and its resume (they do not change the job).
RESUMABLE = ("max_minutes", "ckpt_every", "log_every")


def job_fingerprint(cfg: TrainConfig, model) -> Dict[str, str]:
    """What identifies a tiny-SAM training job: its config, its data and its starting weights."""
    from gsam_lab.data import RENDERER_VERSION
    from gsam_lab.training import fingerprint
    config = {k: v for k, v in asdict(cfg).items() if k not in RESUMABLE}
    return fingerprint(config=config, data={"split": "train", "seed": cfg.seed, "renderer": RENDERER_VERSION},
                       model=model)


def train_tiny_sam(cfg: TrainConfig, out: Path, work_dir: Path, device="auto", resume: bool = True,
                   progress: bool = True, log=print, init: Optional[Path] = None) -> Dict[str, float]:
    """Train ``tiny-synth`` from scratch (or resume from ``work_dir/last.pt``) and write ``out`` (fp16).

    ``init``: a tiny-synth weights file to start from instead of random weights (a fresh optimizer
    and schedule). A resume continues only the same job (config, data, starting weights; see
    :class:`gsam_lab.training.Checkpoint`), otherwise it stops and says what differs.

    Returns:
        the last logged loss parts and the wall time.
    """
    from gsam_lab.data import NUM_CLASSES
    from gsam_lab.training import Checkpoint, run_steps, warmup_cosine
    dev = resolve_device(device)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    model = build_tiny_sam(cfg.seed).to(dev).train()
    if init is not None:
        from gsam_lab.sam.loading import read_state_dict
        missing, unexpected = model.load_state_dict(read_state_dict(init), strict=False)
        log(f"initialised from {init}" + (f"; new (random) tensors: {', '.join(missing)}" if missing else "")
            + (f"; ignored: {', '.join(unexpected)}" if unexpected else ""))
    aux_head = DenseAuxHead(model.prompt_encoder.embed_dim, NUM_CLASSES).to(dev) if cfg.aux_weight > 0 else None
    params = [p for p in model.parameters() if p.requires_grad] + (list(aux_head.parameters()) if aux_head else [])
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    transform = ResizeLongestSide(model.image_encoder.img_size)
    ckpt = Checkpoint(work_dir / "last.pt", job_fingerprint(cfg, model))
    if not resume and ckpt.exists():
        ckpt.path.unlink()
    state = ckpt.load()
    start, next_index, elapsed = 0, 0, 0.0
    rng = np.random.default_rng([cfg.seed, 1])
    if state is not None:
        model.load_state_dict(state["model"])
        if aux_head is not None and "aux_head" in state:
            aux_head.load_state_dict(state["aux_head"])
        opt.load_state_dict(state["opt"])
        rng.bit_generator.state = state["rng"]
        start, next_index, elapsed = state["step"], state["next_index"], state["elapsed"]
        log(f"resumed from {ckpt.path} at step {start}")
    pool = _Pool(cfg, np.random.default_rng([cfg.seed, 2, start]), next_index=next_index, progress=progress)
    sampler = PromptSampler([cfg.seed, 3, start])
    t0 = time.time()

    def step(i: int) -> Dict[str, float]:
        pool.refresh()
        step_cfg = replace(cfg, box_fraction=1.0, stuff_fraction=0.0) if i < cfg.box_warmup_steps else cfg
        loss, parts = _step_loss(model, pool.sample(cfg.images_per_step), rng, sampler, step_cfg, transform, dev,
                                 aux_head)
        if not torch.isfinite(loss):
            return {"loss": loss.item()}          # run_steps stops with the step number
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        return {**parts, "loss": loss.item()}

    def save(next_step: int):
        ckpt.save({"model": model.state_dict(), "opt": opt.state_dict(),
                   **({"aux_head": aux_head.state_dict()} if aux_head is not None else {}),
                   "step": next_step, "rng": rng.bit_generator.state, "next_index": pool.next_index,
                   "config": asdict(cfg), "elapsed": elapsed + time.time() - t0})

    res = run_steps(step, start, cfg.steps, optimizer=opt, lr=lambda i: warmup_cosine(i, cfg.steps, cfg.lr, cfg.warmup),
                    save=save, ckpt_every=cfg.ckpt_every, log_every=cfg.log_every, max_minutes=cfg.max_minutes,
                    progress=progress, desc="train tiny SAM", log=log)
    model.eval()
    total = elapsed + time.time() - t0
    save_tiny_checkpoint(model, out, meta={"config": asdict(cfg), "train_seconds": total, "steps": res.step,
                                           "recipe": "gsam_lab.sam.train.train_tiny_sam"})
    return {**res.last, "seconds": total}
