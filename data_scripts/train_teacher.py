"""Train the bundled ``tiny-synth`` teacher assistant: a small SegFormer on labelled PINHOLE renders only.

The source domain of GoodSAM: Cityscapes-like pinhole views (train split, FoV 60-90 deg, pitch
-5..5 deg) of the synthetic street world. No panorama is ever seen in training. Multi-scale training
(each batch resized by a factor in ``--scale``, as SegFormer's recipe does) so the TA is not tied to one
object size. AdamW, linear warm-up then poly decay, cross-entropy (ignore 255), seeded, tqdm. The loop
is the lab's training scaffold (:mod:`gsam_lab.training`): periodic atomic checkpoints; re-running the
same command resumes, only the same job (the settings but for :data:`RESUMABLE`, the renders, the
initial weights; another job is refused with what differs, ``--no-resume`` starts over); stop on NaN;
a wall-time budget per run (``--max-minutes``, with a checkpoint; run again to continue).

At the end the weights go to ``--out`` (fp16, default ``runs/teacher_tiny_synth.pt``; an existing file is
replaced only with ``--overwrite``, and a run stopped by its budget writes nothing there) and the TA is
measured on held-out TEST-split pinholes and ERP panoramas with ``gsam_lab.goodsam.evaluate_miou``
(notebook 04 makes the same measurement; to score a saved TA on test-split ERPs alone, run
``data_scripts/eval_student.py --teacher <name or path>`` with no student)::

    nohup python data_scripts/train_teacher.py --threads 1 > /tmp/goodsam/teacher.log 2>&1 &
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from gsam_lab import data, goodsam, training
from gsam_lab.bundled import ASSETS_DIR
from gsam_lab.goodsam.segformer_config import TINY_SYNTH_CONFIG, segformer_config
from gsam_lab.goodsam.teacher import Teacher, save_teacher
from gsam_lab.training import Checkpoint, ResumeMismatch, describe, fingerprint, warmup_poly
from gsam_lab.utils import progress_bar, seed_everything

#: options that may change between a run and its resume (everything else defines the job)
RESUMABLE = ("threads", "max_minutes", "ckpt", "ckpt_every", "log_every", "out", "overwrite", "report",
             "n_test_pinhole", "n_test_erp", "no_progress", "no_resume", "eval_every", "n_val", "best_out")


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-train", type=int, default=480, help="train-split pinhole renders (4 views per world)")
    p.add_argument("--hw", type=int, nargs=2, default=(128, 256), help="render size of the pinholes")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=6e-4)
    p.add_argument("--warmup", type=int, default=60)
    p.add_argument("--scale", type=float, nargs=2, default=(0.5, 1.25), help="multi-scale range per batch")
    p.add_argument("--balance", choices=("none", "sqrt"), default="none",
                   help="class weights of the cross-entropy: none, or sqrt = (median class frequency / frequency)^0.5 "
                        "over the training labels, clipped to [0.5, 5] (pole, person count more)")
    p.add_argument("--init", default=None,
                   help="start from these TA weights (a file saved by this script) instead of a fresh SegFormer, "
                        "e.g. to continue a run whose checkpoint is gone, with a short new --warmup")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-minutes", type=float, default=22.0,
                   help="stop this run after so many minutes of training, with a checkpoint (0: no limit); "
                        "run again to continue")
    p.add_argument("--ckpt", default="/tmp/goodsam/teacher_ckpt.pt", help="resumable training checkpoint")
    p.add_argument("--ckpt-every", type=int, default=100)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--eval-every", type=int, default=0,
                   help="every so many steps, score the TA on --n-val held-out VAL-split pinholes (the learning curve "
                        "in the log) and write the best weights so far to --best-out (0: never)")
    p.add_argument("--n-val", type=int, default=32)
    p.add_argument("--best-out", default="runs/teacher_best.pt", help="fp16 weights of the best val mIoU so far")
    p.add_argument("--no-resume", action="store_true", help="start over: delete an existing --ckpt")
    p.add_argument("--out", default="runs/teacher_tiny_synth.pt",
                   help=f"the trained weights (to ship them: {ASSETS_DIR / 'teacher_tiny_synth.pt'} with --overwrite, "
                        "then their new SHA-256 in gsam_lab/bundled.py)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--report", default="/tmp/goodsam/teacher_report.json")
    p.add_argument("--n-test-pinhole", type=int, default=64)
    p.add_argument("--n-test-erp", type=int, default=16)
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def augment(images: torch.Tensor, labels: torch.Tensor, gen: torch.Generator, scale):
    """Random flip, brightness/contrast jitter and one resize factor per batch (labels: nearest)."""
    b, _, h, w = images.shape
    flip = torch.rand(b, generator=gen) < 0.5
    images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    labels = torch.where(flip[:, None, None], labels.flip(-1), labels)
    gain = 1 + 0.2 * (torch.rand(b, 1, 1, 1, generator=gen) - 0.5)
    bias = 0.1 * (torch.rand(b, 1, 1, 1, generator=gen) - 0.5)
    images = ((images - 0.5) * gain + 0.5 + bias).clamp(0, 1)
    s = float(scale[0] + (scale[1] - scale[0]) * torch.rand(1, generator=gen))
    nh, nw = max(32, int(round(h * s / 32)) * 32), max(32, int(round(w * s / 32)) * 32)
    if (nh, nw) != (h, w):
        images = F.interpolate(images, size=(nh, nw), mode="bilinear", align_corners=False, antialias=nh < h)
        labels = F.interpolate(labels[:, None].float(), size=(nh, nw), mode="nearest")[:, 0].long()
    if nh > h or nw > w:                     # zoomed in: random crop back to the render size
        y = int(torch.randint(0, nh - h + 1, (1,), generator=gen))
        x = int(torch.randint(0, nw - w + 1, (1,), generator=gen))
        images, labels = images[:, :, y:y + h, x:x + w], labels[:, y:y + h, x:x + w]
    return images, labels


def class_weights(labels: torch.Tensor, n_classes: int, mode: str) -> "torch.Tensor | None":
    """Cross-entropy weights per class from the training labels' pixel frequencies (``None`` for "none")."""
    if mode == "none":
        return None
    valid = labels[labels != data.IGNORE_INDEX]
    freq = torch.bincount(valid.flatten(), minlength=n_classes).double() / max(1, valid.numel())
    present = freq > 0
    w = (freq[present].median() / freq.clamp_min(1e-12)).sqrt().clamp(0.5, 5.0)
    return torch.where(present, w, torch.zeros_like(w)).float()     # an absent class weighs nothing


def build_teacher() -> Teacher:
    """A freshly initialised tiny-synth SegFormer (seed it first)."""
    from transformers import SegformerForSemanticSegmentation

    config = segformer_config(data.CLASSES, TINY_SYNTH_CONFIG)
    return Teacher(SegformerForSemanticSegmentation(config), name="tiny-synth")


def initial_teacher(args) -> Teacher:
    """A fresh tiny-synth SegFormer, or with ``--init`` the same architecture holding those weights."""
    teacher = build_teacher()
    if args.init:
        teacher.segformer.load_state_dict(goodsam.load_teacher(args.init).segformer.state_dict())
    return teacher


def load_pinholes(args, log=print):
    """The train-split pinhole renders: ``images`` N x 3 x H x W in [0, 1], ``labels`` N x H x W."""
    ds = data.SyntheticPinholes("train", n=args.n_train, hw=tuple(args.hw), seed=args.seed)
    t0 = time.time()
    items = [ds[i] for i in progress_bar(range(len(ds)), desc="render/load pinholes", disable=args.no_progress)]
    log(f"{len(ds)} train pinholes {tuple(args.hw)} ready in {time.time() - t0:.0f} s")
    return torch.stack([it["image"] for it in items]), torch.stack([it["semantic"] for it in items])


def job_description(args, teacher: Teacher) -> dict:
    """What identifies the job: the options but for :data:`RESUMABLE`, the renders (split, count, size,
    seed, renderer version) and the initial weights."""
    config = {k: v for k, v in vars(args).items() if k not in RESUMABLE}
    renders = {"split": "train", "n": args.n_train, "hw": list(args.hw), "seed": args.seed,
               "renderer": data.RENDERER_VERSION}
    return describe(recipe="data_scripts/train_teacher.py", config=config, data=renders, model=teacher.segformer)


def _checkpoint(args, teacher: Teacher, log) -> Checkpoint:
    """The job's checkpoint at ``args.ckpt`` (deleted first with ``--no-resume``)."""
    job = job_description(args, teacher)
    ckpt = Checkpoint(args.ckpt, fingerprint(**job), details=job)
    if args.no_resume and ckpt.exists():
        ckpt.path.unlink()
        log(f"--no-resume: deleted {ckpt.path}; starting over")
    return ckpt


class _TARun:
    """One run of the TA's training (a :class:`gsam_lab.training.Run`): the SegFormer, AdamW, the
    augmentation's generator and the loss of every step."""

    def __init__(self, args, teacher: Teacher, load_data, gen: torch.Generator):
        self.args, self.teacher, self.load_data, self.gen = args, teacher, load_data, gen
        self.model = teacher.segformer
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=args.lr, weight_decay=0.01)
        self.history = []
        self.curve = []            # (step, val mIoU, minutes into the run that measured it)

    def load_state(self, state) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["opt"])
        self.gen.set_state(state["gen"])
        torch.set_rng_state(state["rng"])         # dropout and stochastic depth draw from the global RNG
        self.history = list(state["history"])
        self.curve = [tuple(c) for c in state.get("curve", [])]

    def begin(self, start: int) -> None:
        """The data, loaded once the checkpoint has been checked."""
        self.images, self.labels = self.load_data()
        self.weight = class_weights(self.labels, len(data.CLASSES), self.args.balance)
        if self.weight is not None:
            print("class weights: " + ", ".join(f"{c} {w:.2f}" for c, w in zip(data.CLASSES, self.weight.tolist())),
                  flush=True)
        self.best = max([point[1] for point in self.curve] or [-1.0])     # a resumed run keeps its best
        self.t_begin = time.time()
        self.model.train()

    def step(self, i: int):
        idx = torch.randint(0, len(self.images), (self.args.batch,), generator=self.gen)
        x, y = augment(self.images[idx], self.labels[idx], self.gen, self.args.scale)
        out = self.model(pixel_values=(x - self.teacher.mean) / self.teacher.std)
        logits = F.interpolate(out.logits, size=y.shape[-2:], mode="bilinear", align_corners=False)
        loss = F.cross_entropy(logits, y, weight=self.weight, ignore_index=data.IGNORE_INDEX)
        if not torch.isfinite(loss):
            return {"loss": loss.item()}          # run_steps stops with the step number
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.history.append(loss.item())
        if self.args.eval_every and (i + 1) % self.args.eval_every == 0:
            self.validate(i + 1)
        return {"loss": loss.item()}

    def validate(self, step: int) -> None:
        """The held-out learning curve: val-split pinhole mIoU, logged; the best weights so far saved (fp16)."""
        from gsam_lab.goodsam.evaluate import evaluate_miou

        self.model.eval()
        val = data.SyntheticPinholes("val", n=self.args.n_val, hw=tuple(self.args.hw))
        e = evaluate_miou(self.teacher, val, batch_size=8, progress=False)
        self.model.train()
        minutes = (time.time() - self.t_begin) / 60
        self.curve.append((step, round(e["miou"], 4), round(minutes, 1)))
        per_class = " ".join(f"{c[:4]} {v:.2f}" for c, v in zip(self.teacher.classes, e["per_class"]))
        print(f"val step {step}: mIoU {e['miou']:.4f} ({per_class}) at {minutes:.1f} min of this run", flush=True)
        if e["miou"] > self.best:
            self.best = e["miou"]
            save_teacher(self.teacher, self.args.best_out, meta={"step": step, "val_pinhole_miou": round(e["miou"], 4),
                                                                 "n_val": self.args.n_val})

    def state(self) -> dict:
        return {"model": self.model.state_dict(), "opt": self.optimizer.state_dict(), "gen": self.gen.get_state(),
                "rng": torch.get_rng_state(), "history": self.history,
                "curve": self.curve}


def train(args, teacher: Teacher, load_data, gen: torch.Generator, log=print):
    """Train ``teacher`` on ``load_data() -> (images, labels)`` (resuming ``args.ckpt`` when it holds
    this job; the checkpoint is checked before the data are loaded).

    Returns ``{"steps", "finished", "elapsed" (seconds over all runs), "history" (loss per step)}``.

    Raises:
        ResumeMismatch: ``args.ckpt`` holds another job.
        FloatingPointError: the loss became NaN or infinite (the last checkpoint is kept).
    """
    run = _TARun(args, teacher, load_data, gen)
    res = training.train(run, _checkpoint(args, teacher, log), args.steps,
                         lr=lambda i: warmup_poly(i, args.steps, args.lr, args.warmup), ckpt_every=args.ckpt_every,
                         log_every=args.log_every, max_minutes=args.max_minutes, progress=not args.no_progress,
                         desc="train TA", log=log, nan_hint="Try a lower --lr")
    teacher.segformer.eval()
    return {"steps": res.step, "finished": res.finished, "elapsed": res.elapsed, "history": run.history}


def evaluate(args, teacher: Teacher, argv=None) -> dict:
    """Score the TA on held-out test-split pinholes and ERPs; the report written next to the weights."""
    from gsam_lab.goodsam.evaluate import evaluate_miou

    def score(dataset) -> dict:
        """The TA's mIoU on ``dataset`` and its IoU per class by name, rounded for the report."""
        e = evaluate_miou(teacher, dataset, batch_size=8, device=next(teacher.parameters()).device)
        per_class = {c: round(v, 4) for c, v in zip(teacher.classes, e["per_class"])}
        return {"miou": round(e["miou"], 4), "per_class": per_class}

    t1 = time.time()
    pin = score(data.SyntheticPinholes("test", n=args.n_test_pinhole, hw=tuple(args.hw)))
    erp_small = score(data.SyntheticPanoramas("test", n=args.n_test_erp, hw=(128, 256)))
    erp = score(data.SyntheticPanoramas("test", n=args.n_test_erp, hw=(256, 512)))
    return {
        "command": " ".join(["python", "data_scripts/train_teacher.py"] + (argv or sys.argv[1:])),
        "params": sum(p.numel() for p in teacher.segformer.parameters()),
        "pinhole_test_miou": pin["miou"], "erp_test_miou_256x512": erp["miou"],
        "erp_test_miou_128x256": erp_small["miou"],
        "gap_points_256x512": round(100 * (pin["miou"] - erp["miou"]), 2),
        "pinhole_per_class": pin["per_class"], "erp_per_class_256x512": erp["per_class"],
        "eval_wall_s": round(time.time() - t1, 1),
    }


def main(argv=None):
    args = parse(argv)
    if Path(args.out).exists() and not args.overwrite:       # said now, not after the training
        raise SystemExit(f"--out {args.out} exists; pass --overwrite to replace it, or choose another --out")
    torch.set_num_threads(args.threads)
    log = lambda s: print(s, flush=True)  # noqa: E731
    gen = seed_everything(args.seed)
    teacher = initial_teacher(args)
    try:
        run = train(args, teacher, lambda: load_pinholes(args, log), gen, log)
    except FloatingPointError as e:
        raise SystemExit(f"{e} ({args.ckpt})") from None
    except ResumeMismatch as e:
        raise SystemExit(str(e)) from None
    if not run["finished"]:                                    # a half-trained TA is not written to --out
        print(f"stopped by --max-minutes at step {run['steps']} of {args.steps}, checkpoint in {args.ckpt}; "
              f"run the same command again to continue (--out {args.out} was not written)", flush=True)
        return
    tail = run["history"][-50:]
    report = {"steps": run["steps"], "train_wall_s": round(run["elapsed"], 1),
              "final_loss": round(sum(tail) / max(1, len(tail)), 4), **evaluate(args, teacher, argv)}
    save_teacher(teacher, args.out, meta={k: v for k, v in report.items() if not k.endswith("per_class")})
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2), flush=True)


if __name__ == "__main__":
    main()
