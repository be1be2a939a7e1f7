"""The training scaffold every recipe in the lab runs on.

A training recipe (the tiny SAM, Stable-SAM's RTS, GoodSAM's MKA, the TA) keeps only what is its
own: the data, the model and one optimisation step. Everything around the step lives here:

* :func:`warmup_cosine`: the learning rate, a linear warm-up then a cosine decay to a floor;
* :class:`Checkpoint`: atomic checkpoints that load with ``weights_only=True`` and a **resume that
  verifies it continues the same job**: the file carries a fingerprint of the config, the data and
  the starting model, and a different job is refused with what differs (:class:`ResumeMismatch`);
* :func:`run_steps`: the loop: learning rate, a NaN stop, averaged logs, a progress bar,
  checkpoints every ``ckpt_every`` steps and at the end, and a time budget (``max_minutes``) after
  which the run stops cleanly, to be resumed by running the same command again.

A recipe looks like::

    ckpt = Checkpoint(work / "last.pt", fingerprint(config=cfg, data=data_desc, model=model))
    state = ckpt.load()                      # None on a fresh start
    ...                                      # restore model / optimizer / RNG from state
    def step(i):                             # one optimisation step -> {"loss": float, ...}
        ...
    run_steps(step, start, cfg.steps, optimizer=opt, lr=lambda i: warmup_cosine(i, cfg.steps, cfg.lr, cfg.warmup),
              save=lambda i: ckpt.save({...}), ckpt_every=cfg.ckpt_every, max_minutes=cfg.max_minutes)
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Union

import numpy as np
import torch

from gsam_lab.utils import atomic_save, progress_bar, weights_fingerprint

__all__ = ["warmup_cosine", "set_lr", "fingerprint", "Checkpoint", "ResumeMismatch", "run_steps", "RunResult"]


def warmup_cosine(step: int, total: int, base_lr: float, warmup: int, floor: float = 0.05) -> float:
    """Learning rate at ``step`` (0-based) of ``total``: linear warm-up over ``warmup`` steps to
    ``base_lr``, then cosine decay to ``floor * base_lr`` at the last step."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base_lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


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


def fingerprint(**parts) -> Dict[str, str]:
    """``{"config": "3f2a...", "data": ..., "model": ...}``: a short hash of each part.

    A part may be a dataclass or any JSON-able value (hashed from its sorted JSON) or an
    ``nn.Module`` (hashed from its weights: pass the model *before* training, so a resume is
    checked against the model the job started from). Parts that should not stop a resume
    (``steps``, ``max_minutes``, logging intervals) must be left out by the caller.
    """
    return {k: _digest(v) for k, v in parts.items()}


class ResumeMismatch(RuntimeError):
    """A checkpoint belongs to another job than the one asked for."""


class Checkpoint:
    """The checkpoint file of one training job, at ``path``.

    Args:
        path: the file (written atomically: a kill leaves the previous checkpoint intact).
        fingerprint: what identifies the job (:func:`fingerprint`); stored in the file and compared
            on :meth:`load`.
    """

    def __init__(self, path: Union[str, Path], fingerprint: Mapping[str, str]):
        self.path = Path(path)
        self.fingerprint = dict(fingerprint)

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self) -> Optional[dict]:
        """The saved state, or ``None`` when there is no checkpoint yet.

        Raises:
            ResumeMismatch: the file was written by another job (names the parts that differ and
                how to start over).
            RuntimeError: the file cannot be read (names it).
        """
        if not self.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear message
            raise RuntimeError(f"cannot read the checkpoint {self.path} ({type(e).__name__}: {e}); "
                               "delete it to start over") from None
        saved = state.get("fingerprint") if isinstance(state, dict) else None
        if saved != self.fingerprint:
            saved = saved or {}
            diff = [k for k in sorted(set(saved) | set(self.fingerprint)) if saved.get(k) != self.fingerprint.get(k)]
            raise ResumeMismatch(
                f"{self.path} holds another training job (different {', '.join(diff) or 'format'}); "
                "resuming it would continue that job under these settings. Use another work folder, "
                "delete the file, or start over (--no-resume / resume=False).")
        return state

    def save(self, state: Mapping) -> Path:
        """Write ``state`` (tensors, numbers, strings, lists and dicts of them) with the fingerprint."""
        return atomic_save({**state, "fingerprint": self.fingerprint}, self.path)


@dataclass
class RunResult:
    """What :func:`run_steps` returns: where it stopped, why, the last averaged log and the wall time."""

    step: int
    finished: bool
    last: Dict[str, float]
    seconds: float
    history: List[Dict[str, float]]


def run_steps(step_fn: Callable[[int], Mapping[str, float]], start: int, total: int, *,
              optimizer: Optional[torch.optim.Optimizer] = None, lr: Optional[Callable[[int], float]] = None,
              save: Optional[Callable[[int], object]] = None, ckpt_every: int = 200, log_every: int = 25,
              max_minutes: float = 0.0, progress: bool = True, desc: str = "train",
              log: Callable[[str], None] = print) -> RunResult:
    """Run ``step_fn(step)`` for ``step = start .. total - 1`` with everything around it.

    Args:
        step_fn: one optimisation step; returns a dict of floats that holds ``"loss"``.
        optimizer, lr: when both are given, the learning rate ``lr(step)`` is set before each step.
        save: ``save(next_step)`` writes a checkpoint; called every ``ckpt_every`` steps, at the
            last step and when the time budget runs out.
        log_every: log the mean of each logged value over the last ``log_every`` steps.
        max_minutes: stop after this many minutes of this run (0: no limit), with a checkpoint.

    Raises:
        FloatingPointError: the loss is NaN or infinite (the message names the step; the last
            checkpoint is left as it was).
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
            raise FloatingPointError(f"{desc}: loss is {parts['loss']} at step {step}; the last checkpoint is kept")
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
        if save is not None and ((step + 1) % ckpt_every == 0 or step + 1 == total or out_of_time):
            save(step + 1)
        if out_of_time:
            log(f"{desc}: stopping at step {step + 1}, max_minutes={max_minutes} reached (run again to resume)")
            return RunResult(step + 1, False, last, time.time() - t0, history)
    done = total if total > start else start
    return RunResult(done, True, last, time.time() - t0, history)
