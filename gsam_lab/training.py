"""The training scaffold every recipe in the lab runs on.

A training recipe (the tiny SAM, Stable-SAM's RTS, GoodSAM's MKA, the TA) keeps only what is its
own: the data, the model and one optimisation step, in a :class:`Run`. Everything around the step lives here:

* :func:`warmup_cosine` / :func:`warmup_poly`: the learning rate, a linear warm-up then a cosine
  decay to a floor (or SegFormer's polynomial decay);
* :class:`Checkpoint`: atomic checkpoints that load with ``weights_only=True`` (not with NaN weights)
  and a **resume that verifies it continues the same job**: the file carries a fingerprint of the
  config, the data and the starting model, and a different job is refused with what differs
  (:class:`ResumeMismatch`; with ``details=describe(...)`` it names the differing fields too);
* :func:`describe_data`: what identifies a training set, every item of it, cheaply: its kind
  (:func:`describe_dataset`; a folder by its absolute path), its length, and each item's fingerprint:
  the size and modification time of every file it reads, when it lists them (``files()``), else every
  parameter its items follow from (``identity()``, the synthetic renders), else a
  :func:`content_hash` of every item; a resume refused for changed data names the changed files or items;
* :func:`run_steps`: the loop: learning rate, a NaN stop, averaged logs, a progress bar,
  checkpoints every ``ckpt_every`` steps and at the end, and a time budget (``max_minutes``) after
  which the run stops cleanly, to be resumed by running the same command again;
* :func:`train`: a :class:`Run` resumed from its checkpoint, then :func:`run_steps` saving its state.

A recipe looks like::

    class MyRun:                             # a Run: optimizer, load_state, begin, step, state
        ...
    job = describe(config=cfg, data=data_desc, model=model)      # readable; a module -> its weights' hash
    ckpt = Checkpoint(work / "last.pt", fingerprint(**job), details=job)
    res = train(MyRun(model, data, cfg), ckpt, cfg.steps, lr=lambda i: warmup_cosine(i, cfg.steps, cfg.lr, cfg.warmup),
                ckpt_every=cfg.ckpt_every, log_every=cfg.log_every, max_minutes=cfg.max_minutes)
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, is_dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Protocol, Union

import numpy as np
import torch

from gsam_lab.utils import atomic_save, check_finite, load_torch_file, progress_bar, weights_fingerprint

__all__ = ["warmup_cosine", "warmup_poly", "set_lr", "fingerprint", "Fingerprint", "describe", "describe_dataset",
           "describe_data", "item_fingerprints", "dataset_files", "file_signature", "content_hash", "spaced_indices",
           "differences", "Checkpoint", "ResumeMismatch", "UnreadableCheckpoint", "run_steps", "RunResult", "Run",
           "train"]


def warmup_cosine(step: int, total: int, base_lr: float, warmup: int, floor: float = 0.05) -> float:
    """Learning rate at ``step`` (0-based) of ``total``: linear warm-up over ``warmup`` steps to
    ``base_lr``, then cosine decay to ``floor * base_lr`` at the last step."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base_lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def warmup_poly(step: int, total: int, base_lr: float, warmup: int, power: float = 0.9) -> float:
    """Learning rate at ``step`` (0-based) of ``total``: linear warm-up over ``warmup`` steps to
    ``base_lr``, then SegFormer's polynomial decay ``(1 - t) ** power`` towards 0."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base_lr * max(0.0, 1 - t) ** power


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's learning rate (groups with an ``lr_scale`` get ``lr * lr_scale``)."""
    for g in optimizer.param_groups:
        g["lr"] = lr * g.get("lr_scale", 1.0)


def _digest(obj) -> str:
    if isinstance(obj, torch.nn.Module):
        return weights_fingerprint(obj)
    if is_dataclass(obj) and not isinstance(obj, type):
        obj = asdict(obj)
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _readable(obj):
    """``obj`` as plain JSON values (dataclass -> dict, module -> its weights' fingerprint, tuple -> list)."""
    if isinstance(obj, torch.nn.Module):
        return weights_fingerprint(obj)
    if is_dataclass(obj) and not isinstance(obj, type):
        obj = asdict(obj)
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


def describe(**parts) -> Dict[str, object]:
    """A readable form of each part of a job, for :class:`Checkpoint`'s ``details`` (and :func:`fingerprint`).

    Dataclasses become dicts, ``nn.Module`` s (at any depth of a dict) the fingerprint of their
    weights, tuples lists: the same values a checkpoint file gives back, so that a resume can say
    which field differs (``config.lr: checkpoint 0.001 vs now 0.01``).
    """
    def walk(v):
        if isinstance(v, Mapping):
            return {str(k): walk(x) for k, x in v.items()}
        return _readable(v)
    return {k: walk(v) for k, v in parts.items()}


def content_hash(obj) -> str:
    """16-hex-digit hash of ``obj``: tensors and arrays by dtype, shape and bytes; dicts (sorted keys),
    lists and tuples item by item; anything else by ``repr``. Items of a training set are hashed with it."""
    h = hashlib.blake2b(digest_size=8)

    def feed(v):
        if isinstance(v, torch.Tensor):
            v = v.detach().cpu().contiguous().numpy()
        if isinstance(v, np.ndarray):
            h.update(f"{v.dtype}{v.shape}".encode())
            h.update(np.ascontiguousarray(v).tobytes())
        elif isinstance(v, Mapping):
            for k in sorted(v, key=str):
                h.update(f"<{k}>".encode())
                feed(v[k])
        elif isinstance(v, (list, tuple)):
            h.update(b"[")
            for x in v:
                feed(x)
            h.update(b"]")
        else:
            h.update(repr(v).encode())
    feed(obj)
    return h.hexdigest()


def spaced_indices(n: int, k: int = 8) -> List[int]:
    """Up to ``k`` indices spread evenly over ``0 .. n - 1`` (first and last included)."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def describe_dataset(dataset) -> str:
    """The kind of a data set: its class and the attributes that usually identify it
    (``split``, ``hw``, ``seed``, ``root``, ``layout``),
    e.g. ``"SyntheticPinholes split=train hw=(128, 256) seed=0"``. A path is made absolute: one folder
    given by a relative and by an absolute path is one data set."""
    parts = [type(dataset).__name__]
    for attr in ("split", "hw", "seed", "root", "layout"):
        if hasattr(dataset, attr):
            value = getattr(dataset, attr)
            parts.append(f"{attr}={Path(value).resolve() if isinstance(value, os.PathLike) else value}")
    return " ".join(str(p) for p in parts)


def file_signature(path: Union[str, Path]) -> str:
    """``"1043 bytes, modified 2024-05-01T10:00:03.123456789Z"``: what tells a changed file (its size
    and modification time, UTC) without reading it."""
    st = os.stat(path)
    when = datetime.fromtimestamp(st.st_mtime_ns // 10**9, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{st.st_size} bytes, modified {when}.{st.st_mtime_ns % 10**9:09d}Z"


def dataset_files(dataset) -> Optional[Dict[str, str]]:
    """``{file: file_signature(file)}`` of every file a data set reads, when it lists them with a
    ``files()`` method (``data.FolderDataset``, ``goodsam.PseudoLabelDataset``; a wrapper's
    ``.dataset`` is asked too), named relative to its ``root``; ``None`` for a data set without one."""
    lister = getattr(dataset, "files", None)
    if not callable(lister):
        inner = getattr(dataset, "dataset", None)
        return dataset_files(inner) if inner is not None and inner is not dataset else None
    root = getattr(dataset, "root", None)
    root = Path(os.path.abspath(root)) if root is not None else None
    out: Dict[str, str] = {}
    for f in lister():
        f = Path(os.path.abspath(f))
        name = f.relative_to(root).as_posix() if root is not None and root in f.parents else str(f)
        out[name] = file_signature(f)
    return out


def item_fingerprints(dataset) -> Dict[str, object]:
    """A fingerprint of every item of ``dataset``, as cheap as the data set allows:

    * ``{"files": {name: signature}}`` when it lists its files (:func:`dataset_files`): a changed
      label or a replaced image changes its file's size or modification time;
    * ``{"identity": dataset.identity()}`` when it has one: every parameter its items follow from
      (the synthetic renders: split, seed, scene parameters, renderer version ...);
    * else ``{"items": {index: content_hash(item)}}``: every item read once (a list in memory costs
      nothing; a data set of your own can define ``files()`` or ``identity()`` instead).
    """
    files = dataset_files(dataset)
    if files is not None:
        return {"files": files}
    identity = getattr(dataset, "identity", None)
    if callable(identity):
        return {"identity": _readable(identity())}
    return {"items": {str(i): content_hash(dataset[i]) for i in range(len(dataset))}}


def describe_data(dataset) -> Dict[str, object]:
    """What identifies a training set:
    ``{"dataset": describe_dataset(ds), "size": len(ds), **item_fingerprints(ds)}``."""
    return {"dataset": describe_dataset(dataset), "size": len(dataset), **item_fingerprints(dataset)}


class Fingerprint(dict):
    """What :func:`fingerprint` returns: ``{part: hash}``, which also keeps the readable parts
    (``details``, as :func:`describe` gives them) for a :class:`Checkpoint` to name a differing field."""

    details: Optional[Dict[str, object]] = None


def fingerprint(**parts) -> Dict[str, str]:
    """``{"config": "3f2a...", "data": ..., "model": ...}``: a short hash of each part.

    A part may be a dataclass or any JSON-able value (hashed from its sorted JSON) or an
    ``nn.Module`` (hashed from its weights: pass the model *before* training, so a resume is
    checked against the model the job started from). Parts that should not stop a resume
    (``steps``, ``max_minutes``, logging intervals) must be left out by the caller.

    The result also carries the readable parts (``.details``): a :class:`Checkpoint` given it
    without ``details=`` still says which field differs (``config.lr: checkpoint 0.001 vs now 0.01``).
    """
    out, details = Fingerprint(), {}
    for k, v in parts.items():
        if isinstance(v, torch.nn.Module):
            out[k] = details[k] = weights_fingerprint(v)         # hashed once
        else:
            out[k], details[k] = _digest(v), describe(part=v)["part"]
    out.details = details
    return out


class ResumeMismatch(RuntimeError):
    """A checkpoint belongs to another job than the one asked for."""


class UnreadableCheckpoint(RuntimeError, ValueError):
    """A checkpoint file that cannot be read safely: damaged, or holding objects besides tensors and
    plain values (refused before anything in it runs)."""


class Checkpoint:
    """The checkpoint file of one training job, at ``path``.

    Args:
        path: the file (written atomically: a kill leaves the previous checkpoint intact).
        fingerprint: what identifies the job (:func:`fingerprint`); stored in the file and compared
            on :meth:`load`.
        details: the readable job (:func:`describe`; default: the one a :func:`fingerprint` keeps),
            stored with it; when a resume is refused, the message lists the fields that differ (else
            only the parts: config, data, model).
    """

    def __init__(self, path: Union[str, Path], fingerprint: Mapping[str, str],
                 details: Optional[Mapping[str, object]] = None):
        self.path = Path(path)
        self.fingerprint = dict(fingerprint)
        details = details if details is not None else getattr(fingerprint, "details", None)
        self.details = _readable(dict(details)) if details is not None else None

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self) -> Optional[dict]:
        """The saved state, or ``None`` when there is no checkpoint yet.

        Raises:
            ResumeMismatch: the file was written by another job (names the parts that differ and
                how to start over).
            UnreadableCheckpoint: the file cannot be read safely, or holds NaN or infinite tensors
                (names it and why).
        """
        if not self.exists():
            return None
        try:
            state = load_torch_file(self.path, what="checkpoint")
        except ValueError as e:      # damaged, or holding more than tensors and plain values (nothing was run)
            raise UnreadableCheckpoint(f"cannot read the checkpoint: {e}; delete it to start over") from None
        saved = state.get("fingerprint") if isinstance(state, dict) else None
        if saved != self.fingerprint:
            saved = saved or {}
            diff = [k for k in sorted(set(saved) | set(self.fingerprint)) if saved.get(k) != self.fingerprint.get(k)]
            job, now = state.get("job") if isinstance(state, dict) else None, self.details
            fields = differences(job, now, diff) if isinstance(job, Mapping) and now is not None else []
            raise ResumeMismatch(
                f"{self.path} holds another training job (different {', '.join(diff) or 'format'}"
                + (f": {'; '.join(fields)}" if fields else "") + "); "
                "resuming it would continue that job under these settings. Use another work folder, "
                "delete the file, or start over (--no-resume / resume=False / overwrite=True).")
        tensors = {name: v for part, value in state.items() for name, v in _flatten(value, part).items()}
        check_finite(tensors, self.path, UnreadableCheckpoint)          # the weights of a diverged run
        return state

    def save(self, state: Mapping) -> Path:
        """Write ``state`` (tensors, numbers, strings, lists and dicts of them) with the fingerprint."""
        extra = {"job": self.details} if self.details is not None else {}
        return atomic_save({**state, **extra, "fingerprint": self.fingerprint}, self.path)


def _flatten(obj, prefix: str) -> Dict[str, object]:
    if isinstance(obj, Mapping):
        out: Dict[str, object] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}"))
        return out or {prefix: {}}
    return {prefix: obj}


def differences(old: Mapping, new: Mapping, keys: Optional[List[str]] = None, *, old_name: str = "checkpoint",
                new_name: str = "now", limit: int = 8) -> List[str]:
    """``"config.lr: checkpoint 0.001 vs now 0.01"`` for each differing field (nested dicts flattened to
    dotted names) of ``keys`` (default: all) of two readable descriptions; at most ``limit`` lines."""
    lines = []
    for key in sorted(set(old) | set(new)) if keys is None else keys:
        a, b = _flatten(old.get(key), key), _flatten(new.get(key), key)
        lines += [f"{k}: {old_name} {a.get(k)!r} vs {new_name} {b.get(k)!r}" for k in sorted(set(a) | set(b))
                  if a.get(k) != b.get(k)]
    return lines[:limit] + ([f"... {len(lines) - limit} more"] if len(lines) > limit else [])


@dataclass
class RunResult:
    """What :func:`run_steps` and :func:`train` return: where it stopped, why, the last averaged log and
    the wall time; from :func:`train` also the job's time over all its runs and the step it resumed from."""

    step: int
    finished: bool
    last: Dict[str, float]
    seconds: float                       # this run
    history: List[Dict[str, float]]
    elapsed: float = 0.0                 # train(): every run of the job (the earlier ones' from the checkpoint)
    resumed_from: Optional[int] = None   # train(): the checkpoint's step, None on a fresh start


def run_steps(step_fn: Callable[[int], Mapping[str, float]], start: int, total: int, *,
              optimizer: Optional[torch.optim.Optimizer] = None, lr: Optional[Callable[[int], float]] = None,
              save: Optional[Callable[[int], object]] = None, ckpt_every: int = 200, log_every: int = 25,
              max_minutes: float = 0.0, progress: bool = True, desc: str = "train",
              log: Callable[[str], None] = print, nan_hint: str = "",
              sync_stop: Optional[Callable[[bool], bool]] = None) -> RunResult:
    """Run ``step_fn(step)`` for ``step = start .. total - 1`` with everything around it.

    Args:
        step_fn: one optimisation step; returns a dict of floats that holds ``"loss"``.
        optimizer, lr: when both are given, the learning rate ``lr(step)`` is set before each step.
        save: ``save(next_step)`` writes a checkpoint; called every ``ckpt_every`` steps, at the
            last step and when the time budget runs out.
        log_every: log the mean of each logged value over the last ``log_every`` steps.
        max_minutes: stop after this many minutes of this run (0: no limit), with a checkpoint.
        nan_hint: what to try when the loss is not finite (added to the error message).
        sync_stop: data-parallel runs: maps this process's "out of time" to the decision every
            process acts on (e.g. rank 0's, broadcast), so that all stop at the same step.

    Raises:
        FloatingPointError: the loss is NaN or infinite (the message names the step and the other
            logged values; the last checkpoint is left as it was).
    """
    t0 = time.time()
    steps = range(start, total)
    if progress:
        steps = progress_bar(steps, initial=start, total=total, desc=desc)
    window: List[Mapping[str, float]] = []
    history: List[Dict[str, float]] = []
    last: Dict[str, float] = {}
    step = start
    for step in steps:
        if optimizer is not None and lr is not None:
            set_lr(optimizer, lr(step))
        parts = step_fn(step)
        if not math.isfinite(float(parts["loss"])):
            others = ", ".join(f"{k}={float(v):.4g}" for k, v in parts.items() if k != "loss")
            raise FloatingPointError(f"{desc}: loss is {parts['loss']} at step {step}"
                                     + (f" ({others})" if others else "")
                                     + "; the last checkpoint is kept" + (f". {nan_hint}" if nan_hint else ""))
        window.append(parts)
        if (step + 1) % log_every == 0 or step + 1 == total:
            last = {k: float(np.mean([p[k] for p in window if k in p])) for k in window[0]}
            last["step"] = step + 1
            history.append(last)
            window = []
            lr_text = f" lr={lr(step):.2e}" if lr is not None else ""
            log(f"{desc} step {step + 1}/{total} " + " ".join(f"{k}={v:.4f}" for k, v in last.items() if k != "step")
                + lr_text + f" t={time.time() - t0:.0f}s")
        out_of_time = max_minutes > 0 and (time.time() - t0) > 60 * max_minutes
        if max_minutes > 0 and sync_stop is not None:
            out_of_time = bool(sync_stop(out_of_time))
        if save is not None and ((step + 1) % ckpt_every == 0 or step + 1 == total or out_of_time):
            save(step + 1)
        if out_of_time:
            log(f"{desc}: stopping at step {step + 1}, max_minutes={max_minutes} reached (run again to resume)")
            return RunResult(step + 1, False, last, time.time() - t0, history)
    done = total if total > start else start
    return RunResult(done, True, last, time.time() - t0, history)


class Run(Protocol):
    """One training run as :func:`train` drives it: a recipe's model, data, optimizer and random streams."""

    optimizer: torch.optim.Optimizer     # train() sets its learning rate before each step

    def load_state(self, state: Mapping) -> None:
        """Continue from a checkpoint: what :meth:`state` returned (with ``step`` and ``elapsed``)."""

    def begin(self, start: int) -> None:
        """Called once, after any resume and before the first step, ``start``: what depends on where the
        run starts (data loaded, a pool drawn for this start, the model in train mode)."""

    def step(self, i: int) -> Mapping[str, float]:
        """Optimisation step ``i`` (0-based); returns the logged values, ``"loss"`` among them."""

    def state(self) -> dict:
        """What a checkpoint holds: weights, optimizer, random streams (tensors and plain values)."""


def train(run: Run, checkpoint: Optional[Checkpoint], steps: int, lr: Callable[[int], float], *,
          stop_at: Optional[int] = None, log: Callable[[str], None] = print, **loop) -> RunResult:
    """Train ``run`` to step ``steps``: resumed from ``checkpoint`` when it holds a state, then
    :func:`run_steps`, which saves ``{**run.state(), "step", "elapsed"}`` to it. Returns the
    :class:`RunResult`, with ``elapsed`` (every run of the job) and ``resumed_from``.

    Args:
        checkpoint: a :class:`Checkpoint` (or ``None``: no checkpoints); :meth:`Checkpoint.load` refuses
            another job's file before anything is restored.
        lr: the learning rate of step ``i`` over the whole run (``warmup_cosine(i, steps, ...)``).
        stop_at: stop after this step, with a checkpoint, as if interrupted (training in chunks); the
            schedule still follows ``steps``.
        loop: :func:`run_steps`' ``ckpt_every``, ``log_every``, ``max_minutes``, ``progress``, ``desc``,
            ``nan_hint``, ``sync_stop``.
    """
    state = checkpoint.load() if checkpoint is not None else None
    start, before = 0, 0.0
    if state is not None:
        run.load_state(state)
        start, before = int(state["step"]), float(state.get("elapsed", 0.0))
        log(f"resumed from {checkpoint.path} at step {start} ({before / 60:.1f} min done)")
    run.begin(start)
    end = steps if stop_at is None else max(start, min(int(stop_at), steps))
    t0 = time.time()

    def save(next_step: int) -> None:
        checkpoint.save({**run.state(), "step": next_step, "elapsed": before + time.time() - t0})

    res = run_steps(run.step, start, end, optimizer=run.optimizer, lr=lr,
                    save=save if checkpoint is not None else None, log=log, **loop)
    if res.finished and res.step < steps:
        log(f"stopping at step {res.step}: stop_at={stop_at} (call again to resume)")
    return replace(res, elapsed=before + res.seconds, resumed_from=start if state is not None else None)
