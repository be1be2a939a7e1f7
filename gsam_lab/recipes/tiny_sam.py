"""How the bundled ``tiny-synth`` SAM is trained: SAM's interactive training simulation on renders.

``data_scripts/train_tiny_sam.py`` is the command line around :func:`train_tiny_sam`. The recipe
follows the SAM paper's "training algorithm" (Kirillov et al. 2023, appendix A), scaled to 2 CPU cores:

* **data** (:mod:`.training_views`): a pool of ``pool_size`` renders of **train**-split worlds
  (``gsam_lab.data.world_seed``); every step one new render replaces a random pool entry. Views
  (``view_mix``): pinhole cameras (FoV 50-110 deg, random yaw/pitch/roll, ``256 x 256`` or ``192 x 256``),
  whole ERPs (``128 x 256``), ``256 x 256`` crops of ``256 x 512`` ERPs at their native scale, and **zoom
  windows**: the square :func:`gsam_lab.sam.zoom.zoom_window` around one object of a ``256 x 256`` pinhole or
  ``256 x 512`` ERP, resized to the encoder's input (what ``PromptPredictor.predict(..., zoom=True)`` shows
  the model).
* **targets** (``targets_per_image`` per image): objects of at least ``min_area`` pixels drawn with
  weight ``area ** -size_power`` times ``class_weight`` (small objects, poles and persons more often
  than their share), and with probability ``stuff_fraction`` a "stuff" region (one class where no
  object is: road, sky, ...).
* **interactive rounds**, as SAM's simulation: the first prompt is a box (the tight box with SAM's
  corner noise, std 10 % of the side and at most 8 px) with probability ``box_fraction``, else one
  positive click (SAM's choice; ``first_clicks`` draws 1 to k, as the single-prompt recipe did); then
  ``rounds - 1`` corrective rounds add one click sampled uniformly from the error region of the previous
  mask (positive where the object was missed, negative where the mask spilled), each with the previous
  round's low-res logits as ``mask_input``; then ``mask_only_rounds`` rounds with the previous logits and
  no new click. The image embedding is computed once per image and every round reuses it.
* **loss** per round: BCE + dice on the masks (``focal_weight`` / ``bce_weight`` switch to SAM's
  focal loss) + MSE of the IoU head; a round prompted by one click alone is ambiguous, so SAM's
  three candidates are trained with the min over them (and the single-mask output beside); the
  candidate with the highest predicted IoU feeds the next round; the first round's loss counts
  ``first_round_weight`` times. Pixels outside a box prompt weigh ``1 + outside_box_weight`` in the BCE.
  ``aux_weight`` adds a dense auxiliary loss on the image embedding (a 1 x 1 convolution predicts
  each pixel's class and whether it lies on a boundary), a gradient at every pixel for the encoder.
* **refinement as an adapter** (``train_only="mask_input"``): everything is frozen except the prompt
  encoder's mask path (the small convolutions that turn ``mask_input`` into a dense embedding), which
  starts out answering any mask exactly as "no mask" (:func:`.interactive.mask_input_adapter`). A first
  prompt then gives the same masks as before, bit for bit, and the rounds with ``mask_input`` learn to
  use it.
* **optimisation**: AdamW, warm-up then cosine decay (the encoder at ``encoder_lr_scale`` x the rate),
  gradient clipping; ``init`` starts from earlier weights (a warm restart). Built on :mod:`gsam_lab.training`
  (checkpoints that verify the job, time budget, NaN stop). ``amp=1``: bfloat16 autocast for the encoder and
  decoder (the prompt encoder and the losses stay in fp32).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything.utils.transforms import ResizeLongestSide

from gsam_lab.data import NUM_CLASSES, RENDERER_VERSION
from gsam_lab.sam.decoding import shared_predict_masks
from gsam_lab.sam.fast import folded_predict_masks, supports_folding
from gsam_lab.sam.loading import read_state_dict, save_tiny_checkpoint
from gsam_lab.sam.losses import sam_loss
from gsam_lab.sam.prompts import PromptSampler
from gsam_lab.sam.tiny import build_tiny_sam
from gsam_lab.training import Checkpoint, fingerprint, train, warmup_cosine
from gsam_lab.utils import resolve_device

from .dense_aux import DenseAuxHead, dense_aux_loss
from .interactive import (
    draw_training_prompt,
    error_clicks,
    mask_input_adapter,
    outside_box_weight,
    targets_in_input_frame,
)
from .training_views import ViewPool, sample_targets

__all__ = ["TrainConfig", "train_tiny_sam"]


@dataclass
class TrainConfig:
    steps: int = 3000
    images_per_step: int = 8
    targets_per_image: int = 8
    rounds: int = 4                # first prompt + (rounds - 1) corrective clicks
    mask_only_rounds: int = 1      # then rounds fed with the previous logits and no new click
    first_round_weight: float = 2.0  # the first prompt's loss counts as this many rounds
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup: int = 50
    grad_clip: float = 1.0
    pool_size: int = 192
    fov_range: Tuple[float, float] = (50.0, 110.0)
    view_mix: Tuple[float, float, float, float] = (0.4, 0.1, 0.2, 0.3)   # pinhole, whole ERP, ERP crop, zoom
    zoom_context: Tuple[float, float] = (0.5, 2.0)   # zoom windows: (1 + context) x the object's longer side
    min_area: int = 40
    size_power: float = 0.5        # object draw weight ~ area ** -size_power (0: every object alike)
    class_weight: Tuple[Tuple[str, float], ...] = (("pole", 2.0), ("person", 2.0))
    stuff_fraction: float = 0.15
    box_fraction: float = 0.5
    first_clicks: Tuple[int, int] = (1, 1)   # a click-prompted first round: k ~ U{lo..hi} positive clicks
    outside_box_weight: float = 1.0
    seed: int = 0
    ckpt_every: int = 100
    log_every: int = 25
    focal_weight: float = 0.0      # mask loss = focal_weight * focal + bce_weight * BCE + dice (SAM: 20, 0)
    bce_weight: float = 1.0
    max_minutes: float = 0.0       # stop this run (checkpoint + weights) after so many minutes; 0 = no limit
    aux_weight: float = 1.0        # dense boundary (+ semantic) loss on the image embedding (0 = SAM's objective only)
    aux_semantic: float = 0.2      # weight of the semantic term inside it
    amp: int = 1                   # 1: bfloat16 autocast for the image encoder and mask decoder
    encoder_lr_scale: float = 1.0  # the image encoder's learning rate = lr x this (0: encoder frozen)
    train_only: str = "all"        # "mask_input": only the prompt encoder's mask path learns (see mask_input_adapter)
    reset_mask_path: int = 1       # with train_only="mask_input": 1 starts the path at "no mask", 0 keeps init's path


# ----------------------------------------------------------------------------------------------
# one step: every image embedded once, its targets prompted over several rounds
# ----------------------------------------------------------------------------------------------

def _autocast(device, enabled: bool):
    dev = torch.device(device)
    on = bool(enabled) and dev.type in ("cpu", "cuda")
    return torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=on)


def _prepare_image(model, transform, img: np.ndarray, device) -> Tuple[torch.Tensor, Tuple[int, int]]:
    x = torch.as_tensor(transform.apply_image(img), device=device).permute(2, 0, 1).contiguous()
    return model.preprocess(x[None])[0], tuple(x.shape[-2:])


def _image_rounds(model, emb, pe, view, size, rng, sampler, gen, cfg, transform, device, amp):
    """SAM's interactive simulation on one image: the loss summed over rounds and the logged parts."""
    img_size = model.image_encoder.img_size
    masks = sample_targets(rng, view, cfg.targets_per_image, cfg)
    if not masks:
        return None, []
    first = draw_training_prompt(rng, sampler, masks, cfg)
    orig = view["image"].shape[:2]
    tgt, valid = targets_in_input_frame(np.stack(masks), size, img_size, device)
    boxes = points = labels = None
    if "boxes" in first:
        boxes = torch.as_tensor(transform.apply_boxes(first["boxes"], orig), dtype=torch.float, device=device)
        weight = outside_box_weight(boxes, valid, cfg.outside_box_weight)
    else:
        points = torch.as_tensor(transform.apply_coords(first["points"], orig), dtype=torch.float, device=device)
        labels = torch.as_tensor(first["labels"], dtype=torch.int, device=device)
        weight = valid.float()
    decode = folded_predict_masks if supports_folding(model.mask_decoder) else shared_predict_masks
    lw = dict(focal_weight=cfg.focal_weight, bce_weight=cfg.bce_weight)
    prev, loss, parts = None, 0.0, []
    n_rounds = cfg.rounds + cfg.mask_only_rounds
    for r in range(n_rounds):
        if 0 < r < cfg.rounds:        # a corrective click from the previous mask's errors
            pred = F.interpolate(prev, (img_size, img_size), mode="bilinear", align_corners=False)[:, 0] > 0
            p, lab = error_clicks(pred, tgt, valid, gen)
            points = p if points is None else torch.cat([points, p], 1)
            labels = lab.int() if labels is None else torch.cat([labels, lab.int()], 1)
        sparse, dense = model.prompt_encoder(points=(points, labels) if points is not None else None,
                                             boxes=boxes, masks=prev)
        with amp:
            low, iou = decode(model.mask_decoder, emb, pe, sparse, dense)
        low, iou = low.float(), iou.float()
        up = F.interpolate(low, (img_size, img_size), mode="bilinear", align_corners=False)
        ambiguous = boxes is None and points.shape[1] == 1
        l0, p0 = sam_loss(up[:, :1], iou[:, :1], tgt.float(), weight, **lw)
        w_r = cfg.first_round_weight if r == 0 else 1.0
        loss = loss + w_r * l0
        if ambiguous:                 # one click: SAM's three candidates, min over them
            l1, _ = sam_loss(up[:, 1:], iou[:, 1:], tgt.float(), weight, **lw)
            loss = loss + w_r * l1
            best = iou[:, 1:].argmax(1) + 1
            prev = low[torch.arange(len(low)), best][:, None].detach()
        else:
            prev = low[:, :1].detach()
        parts.append({f"iou_r{r}": p0["iou"], "iou_mse": p0["iou_mse"]})
    return loss / (n_rounds - 1 + cfg.first_round_weight), parts


def _step_loss(model, views, rng, sampler, gen, cfg, transform, device, aux_head=None):
    img_size = model.image_encoder.img_size
    xs, sizes = zip(*(_prepare_image(model, transform, v["image"], device) for v in views))
    amp = _autocast(device, cfg.amp)
    with amp:
        emb = model.image_encoder(torch.stack(xs))
    pe = model.prompt_encoder.get_dense_pe()     # fp32: the sin/cos of positions lose their precision in bf16
    losses, parts_all = [], []
    for b, v in enumerate(views):
        loss, parts = _image_rounds(model, emb[b:b + 1], pe, v, sizes[b], rng, sampler, gen, cfg, transform,
                                    device, amp)
        if loss is not None:
            losses.append(loss)
            parts_all.extend(parts)
    loss = torch.stack(losses).mean()
    keys = sorted({k for p in parts_all for k in p})
    parts = {k: float(np.mean([p[k] for p in parts_all if k in p])) for k in keys}
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
RECIPE = "gsam_lab.recipes.tiny_sam"


def job_fingerprint(cfg: TrainConfig, model) -> Dict[str, str]:
    """What identifies a tiny-SAM training job: its config, its data and its starting weights."""
    config = {k: v for k, v in asdict(cfg).items() if k not in RESUMABLE}
    return fingerprint(config=config, data={"split": "train", "seed": cfg.seed, "renderer": RENDERER_VERSION},
                       model=model)


TRAIN_ONLY = ("all", "mask_input")


def _training_mode(model, cfg: TrainConfig):
    """``model.train()``, except frozen parts, which stay in eval mode: a frozen encoder (``encoder_lr_scale=0``
    or ``train_only="mask_input"``) keeps the BatchNorm statistics it was trained with instead of drifting."""
    model.train()
    if cfg.encoder_lr_scale == 0 or cfg.train_only == "mask_input":
        model.image_encoder.eval()
    return model


def _optimizer(model, aux_head, cfg: TrainConfig):
    """AdamW and its parameters: the encoder at ``encoder_lr_scale`` x the rate (0: frozen), the rest at the rate."""
    if cfg.train_only not in TRAIN_ONLY:
        raise ValueError(f"train_only must be one of {TRAIN_ONLY}, got {cfg.train_only!r}")
    if cfg.train_only == "mask_input":
        if aux_head is not None:
            raise ValueError("train_only='mask_input' freezes the encoder: set aux_weight=0")
        params = list(mask_input_adapter(model, reset=bool(cfg.reset_mask_path)).parameters())
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay), params
    model.image_encoder.requires_grad_(cfg.encoder_lr_scale > 0)
    encoder = [p for p in model.image_encoder.parameters() if p.requires_grad]
    rest = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("image_encoder.")]
    rest += list(aux_head.parameters()) if aux_head is not None else []
    groups = [{"params": rest}, {"params": encoder, "lr_scale": cfg.encoder_lr_scale}]
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay), encoder + rest


class _TinySamRun:
    """One tiny-SAM run (a :class:`gsam_lab.training.Run`): the model, the optimiser, the random
    streams and the pool of renders."""

    def __init__(self, model, aux_head, cfg: TrainConfig, device, progress: bool):
        self.model, self.aux_head, self.cfg, self.dev, self.progress = model, aux_head, cfg, device, progress
        self.optimizer, self.params = _optimizer(model, aux_head, cfg)
        self.transform = ResizeLongestSide(model.image_encoder.img_size)
        self.rng = np.random.default_rng([cfg.seed, 1])
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.next_index = 0                      # the next train world to render
        self.pool = self.sampler = None          # drawn by begin(), for the step the run starts at

    def load_state(self, state) -> None:
        self.model.load_state_dict(state["model"])
        if self.aux_head is not None and "aux_head" in state:
            self.aux_head.load_state_dict(state["aux_head"])
        self.optimizer.load_state_dict(state["opt"])
        self.rng.bit_generator.state = state["rng"]
        self.gen.set_state(state["torch_rng"])
        self.next_index = state["next_index"]

    def begin(self, start: int) -> None:
        """The pool and the prompt sampler of a run starting at step ``start`` (rendered before the clock starts)."""
        cfg = self.cfg
        self.pool = ViewPool(cfg, np.random.default_rng([cfg.seed, 2, start]), self.next_index, self.progress)
        self.sampler = PromptSampler([cfg.seed, 3, start])

    def step(self, i: int) -> Dict[str, float]:
        self.pool.refresh()
        loss, parts = _step_loss(self.model, self.pool.sample(self.cfg.images_per_step), self.rng, self.sampler,
                                 self.gen, self.cfg, self.transform, self.dev, self.aux_head)
        if not torch.isfinite(loss):
            return {"loss": loss.item()}          # run_steps stops with the step number
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
        self.optimizer.step()
        return {**parts, "loss": loss.item()}

    def state(self) -> dict:
        aux = {"aux_head": self.aux_head.state_dict()} if self.aux_head is not None else {}
        return {"model": self.model.state_dict(), "opt": self.optimizer.state_dict(), **aux,
                "rng": self.rng.bit_generator.state, "torch_rng": self.gen.get_state(),
                "next_index": self.pool.next_index, "config": asdict(self.cfg)}


class _Checkpoint(Checkpoint):
    """``work_dir/last.pt``, and with every save the current weights beside it, ``work_dir/weights.pt``."""

    def __init__(self, work_dir: Path, cfg: TrainConfig, model):
        super().__init__(work_dir / "last.pt", job_fingerprint(cfg, model))
        self.cfg, self.model = cfg, model

    def save(self, state) -> Path:
        path = super().save(state)
        save_tiny_checkpoint(self.model, self.path.with_name("weights.pt"),
                             meta={"config": asdict(self.cfg), "steps": state["step"], "recipe": RECIPE})
        _training_mode(self.model, self.cfg)
        return path


def train_tiny_sam(cfg: TrainConfig, out: Path, work_dir: Path, device="auto", resume: bool = True,
                   progress: bool = True, log=print, init: Optional[Path] = None,
                   overwrite: bool = False) -> Dict[str, float]:
    """Train ``tiny-synth`` (from scratch, from ``init`` or resumed from ``work_dir/last.pt``); write ``out`` (fp16).

    ``init``: tiny-synth weights to start from instead of random weights (a warm restart: fresh
    optimizer and schedule). A resume continues only the same job (config, data, starting weights;
    see :class:`gsam_lab.training.Checkpoint`), otherwise it stops and says what differs. ``out`` is
    never replaced unless ``overwrite=True``; the weights also go to ``work_dir/weights.pt``. Returns the
    last logged loss parts and the wall time.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=True (--overwrite) to replace it, or another path")
    dev, work_dir = resolve_device(device), Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    model = build_tiny_sam(cfg.seed).to(dev).train()
    if init is not None:
        missing, unexpected = model.load_state_dict(read_state_dict(init), strict=False)
        log(f"initialised from {init}" + (f"; new (random) tensors: {', '.join(missing)}" if missing else "")
            + (f"; ignored: {', '.join(unexpected)}" if unexpected else ""))
    aux_head = DenseAuxHead(model.prompt_encoder.embed_dim, NUM_CLASSES).to(dev) if cfg.aux_weight > 0 else None
    _training_mode(model, cfg)
    run = _TinySamRun(model, aux_head, cfg, dev, progress)
    ckpt = _Checkpoint(work_dir, cfg, model)
    if not resume and ckpt.exists():
        ckpt.path.unlink()
    res = train(run, ckpt, cfg.steps, lr=lambda i: warmup_cosine(i, cfg.steps, cfg.lr, cfg.warmup),
                ckpt_every=cfg.ckpt_every, log_every=cfg.log_every, max_minutes=cfg.max_minutes, progress=progress,
                desc="train tiny SAM", log=log)
    model.eval()
    save_tiny_checkpoint(model, out, meta={"config": asdict(cfg), "train_seconds": res.elapsed, "steps": res.step,
                                           "recipe": RECIPE})
    return {**res.last, "seconds": res.elapsed}
