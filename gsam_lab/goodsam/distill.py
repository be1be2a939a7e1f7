"""MKA distillation: train the student on unlabelled panoramas from DAR's outputs and the TA's features.

(This module is ``goodsam.distill``: a submodule named ``train_mka`` would shadow the function
``goodsam.train_mka`` once imported.)

::

    ds = goodsam.PseudoLabelDataset(root)        # or any Dataset with the keys below
    res = goodsam.train_mka(goodsam.Student("b0", seed=0), teacher, ds, steps=2000, work_dir="runs/b0")
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
* **built on** :mod:`gsam_lab.training`: warm-up + cosine learning rate, a time budget
  (``max_minutes``), averaged logs.
* **checkpoints**: ``work_dir/last.pt`` (student, adapters, optimiser, scaler, RNG, history) written
  atomically every ``ckpt_every`` steps and at the end; ``resume=True`` continues from it only when it
  holds the same job (:func:`job_description`: the settings but for :data:`RESUMABLE`, the data, the
  student's initial weights, the TA); another job is refused with the differing fields listed
  (``ResumeMismatch``); ``overwrite=True`` starts over.
* **NaN**: a non-finite loss (on any rank) stops every rank with ``FloatingPointError``.
* **AMP** only on CUDA (bf16 where supported, else fp16 with a gradient scaler).
* **evaluation hook**: ``eval_fn(student, step) -> dict`` every ``eval_every`` steps (rank 0).
* **data-parallel**: under ``torchrun`` the same call wraps the student (and adapters) in
  ``DistributedDataParallel`` (gloo on CPU, nccl on GPU); each rank takes ``batch_size / world``
  items of the global batch; only rank 0 writes files and shows progress.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

import torch
from torch import nn

from gsam_lab.training import (
    Checkpoint,
    ResumeMismatch,
    content_hash,
    describe,
    describe_data,
    fingerprint,
    train,
    warmup_cosine,
)
from gsam_lab.utils import resolve_device, weights_fingerprint

from .distributed import DistInfo, all_reduce_mean, barrier, broadcast_buffers, broadcast_flag, env_world_size, is_main
from .distributed import setup as setup_distributed
from .mka import MKALoss
from .mka_data import check_item, mka_batch

__all__ = ["MKAConfig", "MKAResult", "train_mka", "CHECKPOINT_NAME", "RESUMABLE",
           "job_description"]

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


def _check_config(cfg: MKAConfig, info: DistInfo):
    for name in ("steps", "batch_size", "ckpt_every", "log_every"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if cfg.batch_size % info.world_size:
        raise ValueError(f"batch_size {cfg.batch_size} (the global batch) is not divisible by the torchrun world size "
                         f"{info.world_size}; use a batch_size that is a multiple of {info.world_size} "
                         "or another --nproc_per_node")


def _check_inputs(student: nn.Module, teacher: Optional[nn.Module], dataset, cfg: MKAConfig):
    """Fail fast on a missing teacher, an empty dataset, wrong keys, class count or size; returns item 0."""
    if cfg.feat_weight > 0 and teacher is None:
        raise ValueError("feat_weight > 0 needs a teacher (its features are the alignment targets)")
    if len(dataset) == 0:
        raise ValueError("the dataset is empty")
    first = dataset[0]
    check_item(first, int(getattr(student, "num_classes")), 0)
    return first


def _spec(student) -> dict:
    spec = getattr(student, "spec", None)
    return dict(spec) if spec is not None else {"class": type(student).__name__}


# ----------------------------------------------------------------------------------------------
# the job and its checkpoint
# ----------------------------------------------------------------------------------------------

#: MKAConfig fields that may change between a run and its resume (everything else must match the checkpoint).
RESUMABLE = ("steps", "ckpt_every", "log_every", "eval_every", "amp", "max_minutes")


def job_description(student: nn.Module, teacher: Optional[nn.Module], dataset, first_item, cfg: MKAConfig) -> dict:
    """What identifies an MKA job (see :mod:`gsam_lab.training`), computed before training.

    ``config``: the :class:`MKAConfig` minus :data:`RESUMABLE` (the adapters' initial weights follow
    its ``seed``); ``data``: the dataset's kind, length and a fingerprint of every item
    (:func:`~gsam_lab.training.describe_data`: a pseudo-label folder's files by size and modification
    time) and a hash of the first item; ``model``: the student's architecture and initial weights, and
    the TA's feature channels and weights when its features are used (``feat_weight > 0``).
    """
    config = {k: v for k, v in asdict(cfg).items() if k not in RESUMABLE}
    data = {**describe_data(dataset), "first_item": content_hash(first_item)}
    ta = None
    if cfg.feat_weight > 0:
        ta = {"channels": list(getattr(teacher, "feature_channels")), "weights": weights_fingerprint(teacher)}
    model = {"student": {**_spec(student), "weights": weights_fingerprint(student)}, "teacher": ta}
    return describe(recipe=_KIND, config=config, data=data, model=model)


class _SharedCheckpoint(Checkpoint):
    """The job's checkpoint as every rank sees it: every rank reads it; rank 0's buffers go to every
    rank, then rank 0 writes it (and the others wait)."""

    def __init__(self, path: Path, job: dict, module: nn.Module, info: DistInfo):
        super().__init__(path, fingerprint(**job), details=job)
        self.module, self.info = module, info

    def load(self) -> Optional[dict]:
        """:meth:`Checkpoint.load`, with a hint when only the student's random initial weights differ."""
        try:
            return super().load()
        except ResumeMismatch as e:
            if "model.student.weights" not in str(e):
                raise
            raise ResumeMismatch(f"{e} (a Student built without seed= starts from other random weights each time: "
                                 "build it with seed= to resume)") from None

    def save(self, state) -> Path:
        broadcast_buffers(self.module, self.info)
        if is_main(self.info):
            super().save(state)
        barrier(self.info)
        return self.path


def _open_checkpoint(work_dir, job: dict, resume: bool, overwrite: bool, module: nn.Module, info: DistInfo, log):
    """The job's checkpoint in ``work_dir`` (None: no checkpoints).

    An existing one is deleted (by rank 0) with ``overwrite``, refused with ``resume=False``, else left
    for :meth:`~gsam_lab.training.Checkpoint.load` to verify.
    """
    if work_dir is None:
        return None
    path = Path(work_dir) / CHECKPOINT_NAME
    if broadcast_flag(path.exists(), info):          # one decision for every rank
        if overwrite:
            if is_main(info):
                path.unlink()
                log(f"overwrite=True: deleted {path}; starting over")
            barrier(info)
        elif not resume:
            raise FileExistsError(f"{path} exists and resume=False; pass resume=True to continue it, overwrite=True "
                                  "to start over, or choose another work_dir (nothing is overwritten)")
    return _SharedCheckpoint(path, job, module, info)


# ----------------------------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------------------------

_PARTS = ("total", "ce", "kd", "feat")


class _MKARun:
    """One MKA run (a :class:`gsam_lab.training.Run`): the model pieces, the optimisation step, evaluation
    and what a checkpoint holds."""

    def __init__(self, student: nn.Module, teacher: Optional[nn.Module], dataset, cfg: MKAConfig, info: DistInfo,
                 eval_fn, log):
        self.cfg, self.info, self.dataset, self.eval_fn, self.log = cfg, info, dataset, eval_fn, log
        dev = info.device
        self.K = int(getattr(student, "num_classes"))
        self.s_ch = tuple(getattr(student, "feature_channels"))
        self.teacher = teacher if cfg.feat_weight > 0 else None
        self.t_ch = tuple(getattr(teacher, "feature_channels")) if self.teacher is not None else None
        with torch.random.fork_rng(devices=[]):          # the adapters' initial weights follow the seed
            torch.manual_seed(cfg.seed)
            self.loss_fn = MKALoss(cfg.ce_weight, cfg.kd_weight, cfg.feat_weight, cfg.temperature, self.s_ch,
                                   self.t_ch or self.s_ch)
        self.loss_fn.adapters.requires_grad_(self.teacher is not None)   # unused adapters stay out of DDP's way
        student.to(dev).train()
        self.loss_fn.to(dev)
        if self.teacher is not None:
            self.teacher.to(dev).eval().requires_grad_(False)
        self.module = self.train_module = _Distiller(student, self.loss_fn)
        self.params = [p for p in self.module.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.amp = bool(cfg.amp) and dev.type == "cuda"
        self.amp_dtype = torch.bfloat16 if self.amp and torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.amp_dtype == torch.float16)
        self.history: List[Dict[str, float]] = []
        self.evals: List[Dict[str, float]] = []

    @property
    def student(self) -> nn.Module:
        return self.module.student

    def begin(self, start: int) -> None:
        """Under ``torchrun`` (after every rank restored a resumed state): SyncBatchNorm on GPUs and
        ``DistributedDataParallel`` around student + adapters."""
        if start:
            barrier(self.info)
        if not self.info.distributed:
            return
        from torch.nn.parallel import DistributedDataParallel as DDP
        dev = self.info.device
        if dev.type == "cuda":     # batch statistics over the global batch (SyncBatchNorm needs a GPU)
            self.module.student = nn.SyncBatchNorm.convert_sync_batchnorm(self.module.student)
        self.train_module = DDP(self.module, device_ids=[dev.index] if dev.type == "cuda" else None)

    def _teacher_features(self, images: torch.Tensor):
        if self.teacher is None:
            return None
        with torch.no_grad():
            feats = tuple(self.teacher(images).features)
        if len(feats) != len(self.s_ch):
            raise ValueError(f"the teacher returned {len(feats)} feature stages, the student has {len(self.s_ch)}")
        return feats

    def step(self, i: int) -> Dict[str, float]:
        """Optimisation step ``i`` on this rank's share of the global batch; the logged parts are
        averaged over ranks, so every rank sees the same values (and stops on the same NaN)."""
        cfg, dev = self.cfg, self.info.device
        images, labels, ens = (x.to(dev, non_blocking=True) for x in mka_batch(self.dataset, i, cfg, self.info, self.K))
        with torch.autocast(device_type=dev.type, dtype=self.amp_dtype, enabled=self.amp):
            parts = self.train_module(images, labels, ens, self._teacher_features(images))
        logged = all_reduce_mean(torch.stack([parts[k].detach().float() for k in _PARTS]), self.info)
        values = dict(zip(_PARTS, logged.tolist()))
        out = {"loss": values["total"], **{k: values[k] for k in _PARTS[1:]}}
        if not torch.isfinite(logged).all():
            return {**out, "loss": float("nan")}         # run_steps stops with the step number
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(parts["total"]).backward()
        if cfg.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.history.append({"step": i + 1, **values, "lr": self.optimizer.param_groups[0]["lr"]})
        if cfg.eval_every and (i + 1) % cfg.eval_every == 0 and i + 1 < cfg.steps:
            self.run_eval(i + 1)
        return out

    def run_eval(self, step: int) -> None:
        """``eval_fn(student, step)`` on rank 0, recorded in ``evals`` and logged."""
        if self.eval_fn is None or not is_main(self.info):
            return
        self.student.eval()
        with torch.no_grad():
            r = dict(self.eval_fn(self.student, step) or {})
        self.student.train()
        self.evals.append({"step": step, **r})
        self.log(f"eval @ {step}: " + " ".join(f"{k}={v:.4f}" for k, v in r.items() if isinstance(v, (int, float))))

    def state(self) -> dict:
        dev = self.info.device
        return {"student": self.student.state_dict(), "adapters": self.loss_fn.state_dict(),
                "opt": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
                "rng": torch.get_rng_state(), "cuda_rng": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None,
                "config": asdict(self.cfg), "student_spec": _spec(self.student), "teacher_channels": self.t_ch,
                "history": self.history, "evals": self.evals, "world_size": self.info.world_size,
                "dataset_size": len(self.dataset)}

    def load_state(self, state: dict) -> None:
        self.student.load_state_dict(state["student"])
        self.loss_fn.load_state_dict(state["adapters"])
        self.optimizer.load_state_dict(state["opt"])
        if state.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"])
        if state.get("cuda_rng") is not None and self.info.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.info.device)
        self.history, self.evals = list(state["history"]), list(state["evals"])


# ----------------------------------------------------------------------------------------------
# the loop
# ----------------------------------------------------------------------------------------------

def _quiet(_: str) -> None:
    """The log of ranks other than 0."""


def train_mka(student: nn.Module, teacher: Optional[nn.Module], dataset, config: Optional[MKAConfig] = None, *,
              work_dir: Union[str, Path, None] = None, resume: bool = True, overwrite: bool = False, device="auto",
              eval_fn: Optional[Callable[[nn.Module, int], Dict[str, float]]] = None,
              progress: bool = True, log: Callable[[str], None] = print, stop_at: Optional[int] = None,
              **overrides) -> MKAResult:
    """Distil ``teacher`` + DAR outputs into ``student`` with :class:`~gsam_lab.goodsam.MKALoss`.

    Args:
        student: a :class:`~gsam_lab.goodsam.Student` (anything returning ``(logits, features)`` with
            ``num_classes`` and ``feature_channels``); build it with ``seed=`` to be able to resume.
        teacher: the TA (``forward(images) -> (logits, features)``, ``feature_channels``); frozen, used
            for its features only, so it may be ``None`` when ``feat_weight == 0``.
        dataset: items with ``image``, ``pseudo_label``, ``ensemble_logits`` (see module doc).
        config: :class:`MKAConfig`; keyword ``overrides`` replace its fields (``steps=50``).
        work_dir: where ``last.pt`` lives; ``None``: no checkpoints.
        resume: continue from ``work_dir/last.pt`` when it exists, only if it holds the same job
            (:func:`job_description`: the config but for :data:`RESUMABLE`, the data, the student's
            initial weights and the TA), else :class:`~gsam_lab.training.ResumeMismatch` says what
            differs. ``False`` with an existing checkpoint is an error (nothing on disk is overwritten).
        overwrite: delete an existing ``work_dir/last.pt`` and start over.
        device: ``"auto"`` | ``"cpu"`` | ``"cuda"`` | ...; under ``torchrun`` a GPU rank uses ``cuda:LOCAL_RANK``.
        eval_fn: ``eval_fn(student, step) -> dict`` on rank 0 every ``eval_every`` steps and at the end.
        stop_at: stop after this step (with a checkpoint) as if interrupted; the schedule still follows
            ``steps``, and a later call resumes (training in chunks).

    Returns:
        :class:`MKAResult`.

    Raises:
        ResumeMismatch: ``work_dir`` holds the checkpoint of another job.
        FloatingPointError: the loss is not finite (on any rank; every rank stops).
    """
    cfg = replace(config or MKAConfig(), **overrides)
    info = DistInfo(0, env_world_size(), 0, resolve_device(device))
    _check_config(cfg, info)                      # before joining the group: every rank fails the same way
    info = setup_distributed(info.device)
    job = job_description(student, teacher, dataset, _check_inputs(student, teacher, dataset, cfg), cfg)
    run = _MKARun(student, teacher, dataset, cfg, info, eval_fn, log if is_main(info) else _quiet)
    ckpt = _open_checkpoint(work_dir, job, resume, overwrite, run.module, info, run.log)
    torch.manual_seed(cfg.seed * 1000 + info.rank)     # dropout / stochastic depth (a resume restores the state)
    res = train(run, ckpt, cfg.steps, lr=lambda i: warmup_cosine(i, cfg.steps, cfg.lr, cfg.warmup), stop_at=stop_at,
                ckpt_every=cfg.ckpt_every, log_every=cfg.log_every, max_minutes=cfg.max_minutes,
                progress=progress and is_main(info), desc=f"MKA {_spec(student).get('config', '')}".strip(),
                log=run.log, nan_hint="Lower lr, check the pseudo-labels / ensemble logits for NaN, or set amp=False",
                sync_stop=lambda flag: broadcast_flag(flag, info))
    broadcast_buffers(run.module, info)
    if res.step == cfg.steps and (not run.evals or run.evals[-1]["step"] != res.step):
        run.run_eval(res.step)
    run.student.eval()
    return MKAResult(student=run.student, loss=run.loss_fn, history=run.history, evals=run.evals, step=res.step,
                     seconds=res.elapsed, resumed_from=res.resumed_from)
