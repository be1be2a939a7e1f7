"""Train the bundled ``tiny-synth`` teacher assistant: a small SegFormer on labelled PINHOLE renders only.

The source domain of GoodSAM: Cityscapes-like pinhole views (train split, FoV 60-90 deg, pitch
-5..5 deg) of the synthetic street world. No panorama is ever seen in training. Multi-scale training
(each batch resized by a factor in ``--scale``, as SegFormer's recipe does) so the TA is not tied to one
object size. AdamW, linear warm-up then poly decay, cross-entropy (ignore 255), seeded, tqdm,
periodic atomic checkpoints, resume, stop on NaN, CPU-time budget.

At the end the weights go to ``--out`` (fp16, default ``gsam_lab/assets/teacher_tiny_synth.pt``) and
the TA is measured on held-out TEST-split pinholes and ERP panoramas with
``gsam_lab.goodsam.evaluate_teacher`` (notebook 04 makes the same measurement; to score a saved TA on
test-split ERPs alone, run ``data_scripts/eval_student.py --teacher <name or path>`` with no student)::

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

from gsam_lab import data
from gsam_lab.goodsam.segformer_config import TINY_SYNTH_CONFIG, segformer_config
from gsam_lab.goodsam.teacher import ASSETS_DIR, Teacher, save_teacher
from gsam_lab.utils import atomic_save, load_torch_file, progress_bar, seed_everything


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-train", type=int, default=480, help="train-split pinhole renders (4 views per world)")
    p.add_argument("--hw", type=int, nargs=2, default=(128, 256), help="render size of the pinholes")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=6e-4)
    p.add_argument("--warmup", type=int, default=60)
    p.add_argument("--scale", type=float, nargs=2, default=(0.5, 1.25), help="multi-scale range per batch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-minutes", type=float, default=22.0, help="stop training after this wall time")
    p.add_argument("--ckpt", default="/tmp/goodsam/teacher_ckpt.pt", help="resumable training checkpoint")
    p.add_argument("--ckpt-every", type=int, default=100)
    p.add_argument("--out", default=str(ASSETS_DIR / "teacher_tiny_synth.pt"))
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


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * (1 - (step - warmup) / max(1, total - warmup)) ** 0.9


def main(argv=None):
    args = parse(argv)
    torch.set_num_threads(args.threads)
    gen = seed_everything(args.seed)
    from transformers import SegformerForSemanticSegmentation

    model = SegformerForSemanticSegmentation(segformer_config(data.CLASSES, TINY_SYNTH_CONFIG))
    teacher = Teacher(model, name="tiny-synth")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    step, elapsed, history = 0, 0.0, []
    ckpt = Path(args.ckpt)
    if ckpt.is_file():
        state = load_torch_file(ckpt, SystemExit)
        if state.get("args_key") != [args.n_train, list(args.hw), args.seed]:
            raise SystemExit(f"{ckpt} belongs to another run ({state.get('args_key')}); move it away or pass --ckpt")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        step, elapsed, history = state["step"], state["elapsed"], state["history"]
        print(f"resumed from {ckpt} at step {step} ({elapsed / 60:.1f} min done)", flush=True)

    ds = data.SyntheticPinholes("train", n=args.n_train, hw=tuple(args.hw), seed=args.seed)
    t0 = time.time()
    items = [ds[i] for i in progress_bar(range(len(ds)), desc="render/load pinholes", disable=args.no_progress)]
    images = torch.stack([it["image"] for it in items])
    labels = torch.stack([it["semantic"] for it in items])
    print(f"{len(ds)} train pinholes {tuple(args.hw)} ready in {time.time() - t0:.0f} s", flush=True)

    model.train()
    start = time.time() - elapsed
    bar = progress_bar(total=args.steps, initial=step, desc="train TA", disable=args.no_progress)
    while step < args.steps:
        if (time.time() - start) / 60 > args.max_minutes:
            print(f"time budget of {args.max_minutes} min reached at step {step}", flush=True)
            break
        idx = torch.randint(0, len(images), (args.batch,), generator=gen)
        x, y = augment(images[idx], labels[idx], gen, args.scale)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr, args.warmup)
        out = model(pixel_values=(x - teacher.mean) / teacher.std)
        logits = F.interpolate(out.logits, size=y.shape[-2:], mode="bilinear", align_corners=False)
        loss = F.cross_entropy(logits, y, ignore_index=data.IGNORE_INDEX)
        if not torch.isfinite(loss):
            raise SystemExit(f"loss is {loss.item()} at step {step}; stopping (last checkpoint kept at {ckpt})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        history.append(float(loss))
        bar.update(1)
        bar.set_postfix(loss=f"{sum(history[-20:]) / len(history[-20:]):.3f}")
        if step % 50 == 0:
            print(f"step {step} loss {sum(history[-50:]) / 50:.4f} {time.time() - start:.0f}s", flush=True)
        if step % args.ckpt_every == 0 or step == args.steps:
            atomic_save({"model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                         "step": step, "elapsed": time.time() - start, "history": history,
                         "args_key": [args.n_train, list(args.hw), args.seed]}, ckpt)
    bar.close()
    train_s = time.time() - start
    model.eval()

    from gsam_lab.goodsam.teacher import evaluate_teacher
    t1 = time.time()
    pin = evaluate_teacher(teacher, data.SyntheticPinholes("test", n=args.n_test_pinhole, hw=tuple(args.hw)))
    erp_small = evaluate_teacher(teacher, data.SyntheticPanoramas("test", n=args.n_test_erp, hw=(128, 256)))
    erp = evaluate_teacher(teacher, data.SyntheticPanoramas("test", n=args.n_test_erp, hw=(256, 512)))
    report = {
        "command": " ".join(["python", "data_scripts/train_teacher.py"] + (argv or sys.argv[1:])),
        "steps": step, "train_wall_s": round(train_s, 1),
        "final_loss": round(sum(history[-50:]) / max(1, len(history[-50:])), 4),
        "params": sum(p.numel() for p in model.parameters()),
        "pinhole_test_miou": pin["miou"], "erp_test_miou_256x512": erp["miou"],
        "erp_test_miou_128x256": erp_small["miou"],
        "gap_points_256x512": round(100 * (pin["miou"] - erp["miou"]), 2),
        "pinhole_per_class": pin["per_class"], "erp_per_class_256x512": erp["per_class"],
        "eval_wall_s": round(time.time() - t1, 1),
    }
    save_teacher(teacher, args.out, meta={k: v for k, v in report.items() if not k.endswith("per_class")})
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2), flush=True)


if __name__ == "__main__":
    main()
