"""MKA distillation: train the student on unlabelled panoramas from DAR's outputs and the TA's features.

(This module is ``goodsam.distill``: a submodule named ``train_mka`` would shadow the function
``goodsam.train_mka`` once imported.)

::

    ds = goodsam.PseudoLabelDataset(root)        # or any Dataset with the keys below
    res = goodsam.train_mka(goodsam.Student("b0"), teacher, ds, steps=2000, work_dir="runs/b0")
    res.student, res.history, res.evals

Dataset items (dicts): ``image`` float 3 x H x W in [0, 1], ``pseudo_label`` int64 H x W (255 =
ignore), ``ensemble_logits`` float K x h x w with (h, w) = (H, W) / f for an integer f >= 1 (cached
DAR output, maybe stored at a lower resolution). No ground truth is read: the student learns from
unlabelled target-domain panoramas only. TA features are computed on the fly (frozen TA, no grad).

The loop (reading: docs/methods/goodsam.md, MKA):

* **seeded**: the global batch of step ``s`` is a fixed function of ``(seed, s)`` (a seeded
  permutation per epoch over the dataset, optional random yaw roll + horizontal flip of each
  panorama, both exact symmetries of an ERP), so a resumed run sees the same data as an
  uninterrupted one; torch's RNG state travels in the checkpoint.
* **checkpoints**: ``work_dir/last.pt`` (student, adapters, optimiser, scaler, RNG, history) written
  atomically every ``ckpt_every`` steps and at the end; ``resume=True`` continues from it. A checkpoint
  of another student config or other MKA settings is refused with the differences listed.
* **NaN**: a non-finite loss (on any rank) stops every rank with ``FloatingPointError``.
* **AMP** only on CUDA (bf16 where supported, else fp16 with a gradient scaler).
* **evaluation hook**: ``eval_fn(student, step) -> dict`` every ``eval_every`` steps (rank 0).
* **data-parallel**: under ``torchrun`` the same call wraps the student (and adapters) in
  ``DistributedDataParallel`` (gloo on CPU, nccl on GPU); each rank takes ``batch_size / world``
  items of the global batch; only rank 0 writes files and shows progress.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

import numpy as np
import torch
from torch import nn

from gsam_lab.utils import atomic_save, check_finite, load_torch_file, resolve_device

from . import distributed as D
from .mka import MKALoss

__all__ = ["MKAConfig", "MKAResult", "train_mka", "evaluate_miou", "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "last.pt"
_KIND = "gsam_lab.goodsam.train_mka"   # checkpoint tag (module: gsam_lab.goodsam.distill)


@dataclass
class MKAConfig:
    """Settings of :func:`train_mka` (``batch_size`` is the global batch, split over ``torchrun`` ranks)."""
    steps: int = 200
    batch_size: int = 4
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: int = 20
    grad_clip: float = 1.0
    ce_weight: float = 1.0
    kd_weight: float = 1.0
    feat_weight: float = 1.0
    temperature: float = 2.0
    augment: bool = True            # random yaw roll + horizontal flip (exact ERP symmetries)
    seed: int = 0
    ckpt_every: int = 50
    log_every: int = 10
    eval_every: int = 0             # 0: only at the end (when eval_fn is given)
    amp: bool = True                # used on CUDA only
    max_minutes: float = 0.0        # stop this run (with a checkpoint) after so many minutes; 0 = no limit


# settings that may change when a run is resumed (everything else must match the checkpoint)
_RESUMABLE = ("steps", "ckpt_every", "log_every", "eval_every", "amp", "max_minutes")


@dataclass
class MKAResult:
    """What :func:`train_mka` returns (the student in eval mode, unwrapped from DDP)."""
    student: nn.Module
    loss: MKALoss
    history: List[Dict[str, float]] = field(default_factory=list)   # one entry per step: step, total, ce, kd, feat, lr
    evals: List[Dict[str, float]] = field(default_factory=list)     # eval_fn results with "step"
    step: int = 0
    seconds: float = 0.0
    resumed_from: Optional[int] = None


# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------

def _as_tensor(x, name):
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"dataset item {name!r} must be a tensor or array, got {type(x).__name__}")
    return x


def check_item(item, num_classes: int, index=0):
    """Validate one dataset item; return (image 3xHxW float, pseudo_label HxW int64, ensemble KxhXw float)."""
    if not isinstance(item, dict):
        raise TypeError(f"dataset item {index} must be a dict with 'image', 'pseudo_label', 'ensemble_logits'; "
                        f"got {type(item).__name__}")
    missing = [k for k in ("image", "pseudo_label", "ensemble_logits") if k not in item]
    if missing:
        raise KeyError(f"dataset item {index} lacks {missing}; train_mka needs 'image' (3xHxW in [0,1]), "
                       "'pseudo_label' (HxW int64, 255 = ignore) and 'ensemble_logits' (KxHxW) from DAR")
    img = _as_tensor(item["image"], "image").float()
    lab = _as_tensor(item["pseudo_label"], "pseudo_label").long()
    ens = _as_tensor(item["ensemble_logits"], "ensemble_logits").float()
    if img.ndim != 3 or img.shape[0] != 3:
        raise ValueError(f"item {index}: image must be 3 x H x W, got {tuple(img.shape)}")
    H, W = img.shape[-2:]
    if tuple(lab.shape) != (H, W):
        raise ValueError(f"item {index}: pseudo_label is {tuple(lab.shape)} but the image is {H} x {W}")
    if ens.ndim != 3:
        raise ValueError(f"item {index}: ensemble_logits must be K x H x W, got {tuple(ens.shape)}")
    if ens.shape[0] != num_classes:
        raise ValueError(f"item {index}: cached ensemble_logits have {ens.shape[0]} classes but the student predicts "
                         f"{num_classes}; build the student with num_classes={ens.shape[0]} "
                         "or re-run DAR for its classes")
    h, w = ens.shape[-2:]
    if H % h or W % w or H // h != W // w:
        raise ValueError(f"item {index}: cached ensemble_logits are {h} x {w}, which is not the image size {H} x {W} "
                         "divided by one integer factor; they do not belong to this image size")
    return img, lab, ens


def _global_positions(step: int, batch: int) -> range:
    return range(step * batch, (step + 1) * batch)


def _index_at(position: int, n: int, seed: int) -> int:
    """Dataset index at ``position`` of the endless seeded sequence (one permutation per epoch)."""
    epoch, k = divmod(position, n)
    g = torch.Generator().manual_seed(int(seed) * 100_003 + epoch)
    return int(torch.randperm(n, generator=g)[k])


def _augment(img, lab, ens, seed: int, position: int):
    rng = np.random.default_rng([int(seed), 17, int(position)])
    W, w = img.shape[-1], ens.shape[-1]
    f = W // w
    shift = int(rng.integers(0, w)) * f             # roll by whole logit cells: all three stay aligned
    img, lab, ens = img.roll(shift, -1), lab.roll(shift, -1), ens.roll(shift // f, -1)
    if rng.random() < 0.5:
        img, lab, ens = img.flip(-1), lab.flip(-1), ens.flip(-1)
    return img, lab, ens


def _batch(dataset, step: int, cfg: MKAConfig, info: D.DistInfo, num_classes: int):
    per_rank = cfg.batch_size // info.world_size
    positions = list(_global_positions(step, cfg.batch_size))[info.rank * per_rank:(info.rank + 1) * per_rank]
    imgs, labs, enss = [], [], []
    n = len(dataset)
    for p in positions:
        i = _index_at(p, n, cfg.seed)
        img, lab, ens = check_item(dataset[i], num_classes, i)
        if cfg.augment:
            img, lab, ens = _augment(img, lab, ens, cfg.seed, p)
        imgs.append(img), labs.append(lab), enss.append(ens)
    try:
        return torch.stack(imgs), torch.stack(labs), torch.stack(enss)
    except RuntimeError as e:
        raise ValueError(f"items of one batch differ in size ({[tuple(x.shape) for x in imgs]}); "
                         "train_mka needs panoramas of one size") from e


# ----------------------------------------------------------------------------------------------
# model pieces
# ----------------------------------------------------------------------------------------------

class _Distiller(nn.Module):
    """Student + MKA adapters in one module (the unit that DDP wraps)."""

    def __init__(self, student: nn.Module, loss: MKALoss):
        super().__init__()
        self.student, self.loss = student, loss

    def forward(self, images, pseudo_label, ensemble_logits, teacher_features):
        out = self.student(images)
        return self.loss(out.logits, pseudo_label, ensemble_logits, out.features, teacher_features)


def _lr_at(step: int, cfg: MKAConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def _check_config(cfg: MKAConfig, info: D.DistInfo):
    for name in ("steps", "batch_size", "ckpt_every", "log_every"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if cfg.batch_size % info.world_size:
        raise ValueError(f"batch_size {cfg.batch_size} (the global batch) is not divisible by the torchrun world size "
                         f"{info.world_size}; use a batch_size that is a multiple of {info.world_size} "
                         "or another --nproc_per_node")


def _spec(student) -> dict:
    spec = getattr(student, "spec", None)
    return dict(spec) if spec is not None else {"class": type(student).__name__}


def _differences(saved: dict, now: dict) -> List[str]:
    keys = sorted(set(saved) | set(now))
    return [f"{k}: checkpoint {saved.get(k)!r} vs now {now.get(k)!r}" for k in keys if saved.get(k) != now.get(k)]


def _load_checkpoint(path: Path, student, cfg: MKAConfig, teacher_channels, dataset_size: int):
    ck = load_torch_file(path)
    if not isinstance(ck, dict) or ck.get("kind") != _KIND:
        kind = ck.get("kind") if isinstance(ck, dict) else None
        raise ValueError(f"{path} is not a train_mka checkpoint (kind {kind!r})")
    diffs = _differences(ck["student_spec"], _spec(student))
    saved_cfg = {k: v for k, v in ck["config"].items() if k not in _RESUMABLE}
    now_cfg = {k: v for k, v in asdict(cfg).items() if k not in _RESUMABLE}
    diffs += _differences(saved_cfg, now_cfg)
    diffs += _differences({"teacher_channels": ck.get("teacher_channels")}, {"teacher_channels": teacher_channels})
    diffs += _differences({"dataset_size": ck.get("dataset_size", dataset_size)}, {"dataset_size": dataset_size})
    if diffs:
        raise ValueError(f"the checkpoint {path} was written by a run with another config; "
                         f"differences: {'; '.join(diffs)}. Use the same settings, another work_dir, or resume=False "
                         "with a fresh work_dir")
    check_finite(ck["student"], path)
    check_finite(ck["adapters"], path)
    return ck


# ----------------------------------------------------------------------------------------------
# the loop
# ----------------------------------------------------------------------------------------------

def train_mka(student: nn.Module, teacher: Optional[nn.Module], dataset, config: Optional[MKAConfig] = None, *,
              work_dir: Union[str, Path, None] = None, resume: bool = True, device="auto",
              eval_fn: Optional[Callable[[nn.Module, int], Dict[str, float]]] = None,
              progress: bool = True, log: Callable[[str], None] = print, stop_at: Optional[int] = None,
              **overrides) -> MKAResult:
    """Distil ``teacher`` + DAR outputs into ``student`` with :class:`~gsam_lab.goodsam.MKALoss`.

    Args:
        student: a :class:`~gsam_lab.goodsam.Student` (anything returning ``(logits, features)`` with
            ``num_classes`` and ``feature_channels``).
        teacher: the TA (``forward(images) -> (logits, features)``, ``feature_channels``); frozen, used
            for its features only, so it may be ``None`` when ``feat_weight == 0``.
        dataset: items with ``image``, ``pseudo_label``, ``ensemble_logits`` (see module doc).
        config: :class:`MKAConfig`; keyword ``overrides`` replace its fields (``steps=50``).
        work_dir: where ``last.pt`` lives; ``None``: no checkpoints.
        resume: continue from ``work_dir/last.pt`` when it exists. ``False`` with an existing checkpoint
            is an error (nothing on disk is overwritten).
        device: ``"auto"`` | ``"cpu"`` | ``"cuda"`` | ...; under ``torchrun`` a GPU rank uses ``cuda:LOCAL_RANK``.
        eval_fn: ``eval_fn(student, step) -> dict`` on rank 0 every ``eval_every`` steps and at the end.
        stop_at: stop after this step (with a checkpoint) as if interrupted; the schedule still follows
            ``steps``, and a later call resumes (training in chunks).

    Returns:
        :class:`MKAResult`.
    """
    cfg = replace(config or MKAConfig(), **overrides)
    info = D.DistInfo(0, D.env_world_size(), 0, resolve_device(device))
    _check_config(cfg, info)                      # before joining the group: every rank fails the same way
    info = D.setup(info.device)
    dev = info.device
    K = int(getattr(student, "num_classes"))
    s_ch = tuple(getattr(student, "feature_channels"))
    use_feat = cfg.feat_weight > 0
    if use_feat and teacher is None:
        raise ValueError("feat_weight > 0 needs a teacher (its features are the alignment targets)")
    t_ch = tuple(getattr(teacher, "feature_channels")) if use_feat else None
    if len(dataset) == 0:
        raise ValueError("the dataset is empty")
    check_item(dataset[0], K, 0)                  # fail fast on the wrong keys, class count or size

    loss_fn = MKALoss(cfg.ce_weight, cfg.kd_weight, cfg.feat_weight, cfg.temperature, s_ch,
                      t_ch if use_feat else s_ch)
    loss_fn.adapters.requires_grad_(use_feat)     # unused adapters stay out of DDP's and AdamW's way
    student.to(dev).train()
    loss_fn.to(dev)
    if use_feat:
        teacher.to(dev).eval().requires_grad_(False)
    module = _Distiller(student, loss_fn)
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    amp = bool(cfg.amp) and dev.type == "cuda"
    amp_dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)

    ckpt_path = Path(work_dir) / CHECKPOINT_NAME if work_dir is not None else None
    start, history, evals, elapsed, resumed_from = 0, [], [], 0.0, None
    torch.manual_seed(cfg.seed * 1000 + info.rank)     # dropout / stochastic depth (a resume restores the state)
    if ckpt_path is not None and ckpt_path.exists():
        if not resume:
            raise FileExistsError(f"{ckpt_path} exists and resume=False; pass resume=True to continue it "
                                  "or choose another work_dir (nothing is overwritten)")
        ck = _load_checkpoint(ckpt_path, student, cfg, t_ch, len(dataset))
        student.load_state_dict(ck["student"])
        loss_fn.load_state_dict(ck["adapters"])
        opt.load_state_dict(ck["opt"])
        if ck.get("scaler") and scaler.is_enabled():
            scaler.load_state_dict(ck["scaler"])
        torch.set_rng_state(ck["rng"])
        if ck.get("cuda_rng") is not None and dev.type == "cuda":
            torch.cuda.set_rng_state(ck["cuda_rng"], dev)
        start, history, evals, elapsed = ck["step"], list(ck["history"]), list(ck["evals"]), ck.get("elapsed", 0.0)
        resumed_from = start
        if D.is_main(info):
            log(f"resumed from {ckpt_path} at step {start}")
        D.barrier(info)

    train_module = module
    if info.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP
        if dev.type == "cuda":     # batch statistics over the global batch (SyncBatchNorm needs a GPU)
            module.student = nn.SyncBatchNorm.convert_sync_batchnorm(module.student)
            student = module.student
        train_module = DDP(module, device_ids=[dev.index] if dev.type == "cuda" else None)

    def save(step):
        D.broadcast_buffers(module, info)
        if ckpt_path is None:
            return
        if D.is_main(info):
            atomic_save({"kind": _KIND, "student": student.state_dict(), "adapters": loss_fn.state_dict(),
                         "opt": opt.state_dict(), "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                         "rng": torch.get_rng_state(), "step": step, "config": asdict(cfg),
                         "cuda_rng": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None,
                         "student_spec": _spec(student), "teacher_channels": t_ch, "history": history,
                         "evals": evals, "elapsed": elapsed + time.time() - t0, "world_size": info.world_size,
                         "dataset_size": len(dataset)},
                        ckpt_path)
        D.barrier(info)

    def run_eval(step):
        if eval_fn is not None and D.is_main(info):
            student.eval()
            with torch.no_grad():
                r = dict(eval_fn(student, step) or {})
            student.train()
            evals.append({"step": step, **r})
            log(f"eval @ {step}: " + " ".join(f"{k}={v:.4f}" for k, v in r.items() if isinstance(v, (int, float))))

    it = range(start, cfg.steps)
    bar = None
    if progress and D.is_main(info):
        from ..utils import progress_bar
        bar = progress_bar(it, initial=start, total=cfg.steps, desc=f"MKA {_spec(student).get('config', '')}".strip())
        it = bar
    t0 = time.time()
    window: List[Dict[str, float]] = []
    step = start
    for step in it:
        lr = _lr_at(step, cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        images, labels, ens = (x.to(dev, non_blocking=True) for x in _batch(dataset, step, cfg, info, K))
        with torch.autocast(device_type=dev.type, dtype=amp_dtype, enabled=amp):
            t_feats = None
            if use_feat:
                with torch.no_grad():
                    t_feats = tuple(teacher(images).features)
                    if len(t_feats) != len(s_ch):
                        raise ValueError(f"the teacher returned {len(t_feats)} feature stages, "
                                         f"the student has {len(s_ch)}")
            parts = train_module(images, labels, ens, t_feats)
        logged = torch.stack([parts[k].detach().float() for k in ("total", "ce", "kd", "feat")])
        logged = D.all_reduce_mean(logged, info)
        if not torch.isfinite(logged).all():
            raise FloatingPointError(
                f"MKA loss is not finite at step {step} (total, ce, kd, feat = {logged.tolist()}); stopping. "
                f"Last checkpoint: {ckpt_path if ckpt_path is not None and ckpt_path.exists() else 'none'}. "
                "Lower lr, check the pseudo-labels / ensemble logits for NaN, or set amp=False")
        opt.zero_grad(set_to_none=True)
        scaler.scale(parts["total"]).backward()
        if cfg.grad_clip > 0:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        scaler.step(opt)
        scaler.update()
        rec = {"step": step + 1, **{k: float(v) for k, v in zip(("total", "ce", "kd", "feat"), logged.tolist())},
               "lr": lr}
        history.append(rec)
        window.append(rec)
        if bar is not None:
            bar.set_postfix(loss=f"{rec['total']:.3f}", refresh=False)
        if (step + 1) % cfg.log_every == 0 and D.is_main(info):
            avg = {k: float(np.mean([h[k] for h in window])) for k in ("total", "ce", "kd", "feat")}
            log(f"step {step + 1}/{cfg.steps} " + " ".join(f"{k}={v:.4f}" for k, v in avg.items())
                + f" lr={lr:.2e} t={elapsed + time.time() - t0:.0f}s")
            window = []
        if cfg.eval_every and (step + 1) % cfg.eval_every == 0 and step + 1 < cfg.steps:
            run_eval(step + 1)
        out_of_time = cfg.max_minutes > 0 and (time.time() - t0) > 60 * cfg.max_minutes
        out_of_time = D.broadcast_flag(out_of_time, info)
        stop = out_of_time or (stop_at is not None and step + 1 >= stop_at)
        if (step + 1) % cfg.ckpt_every == 0 or step + 1 == cfg.steps or stop:
            save(step + 1)
        if stop and step + 1 < cfg.steps:
            if D.is_main(info):
                why = f"max_minutes={cfg.max_minutes} reached" if out_of_time else f"stop_at={stop_at}"
                log(f"stopping at step {step + 1}: {why} (call again to resume)")
            step += 1
            break
    else:
        step = cfg.steps
    if bar is not None:
        bar.close()
    D.broadcast_buffers(module, info)
    if step == cfg.steps and (not evals or evals[-1]["step"] != step):
        run_eval(step)
    student.eval()
    return MKAResult(student=student, loss=loss_fn, history=history, evals=evals, step=step,
                     seconds=elapsed + time.time() - t0, resumed_from=resumed_from)


# ----------------------------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------------------------

@torch.no_grad()
def evaluate_miou(model: nn.Module, dataset, num_classes: Optional[int] = None, batch_size: int = 4,
                  device="auto", ignore_index: int = 255, label_key: str = "semantic") -> Dict[str, object]:
    """mIoU of ``model.predict(images)`` (B x K x H x W logits) against ``dataset`` items' ``label_key``.

    Works for the student and the TA alike. Returns ``{"miou": float, "per_class": list of K floats (nan = absent)}``.
    """
    from gsam_lab.metrics import ConfusionMeter
    dev = resolve_device(device)
    K = int(num_classes if num_classes is not None else model.num_classes)
    was_training = model.training
    model.to(dev).eval()
    meter = ConfusionMeter(K, ignore_index=ignore_index)
    for s in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(s, min(len(dataset), s + batch_size))]
        images = torch.stack([_as_tensor(it["image"], "image").float() for it in items]).to(dev)
        gt = torch.stack([_as_tensor(it[label_key], label_key).long() for it in items])
        logits = model.predict(images)
        if logits.shape[1] != K or logits.shape[-2:] != gt.shape[-2:]:
            raise ValueError(f"predict returned {tuple(logits.shape)}; expected B x {K} x {tuple(gt.shape[-2:])}")
        meter.update(logits.argmax(1).cpu(), gt)
    model.train(was_training)
    return {"miou": meter.miou(), "per_class": [float(x) for x in meter.per_class_iou()]}

