#!/usr/bin/env python
"""Inference throughput of the GoodSAM student against the teacher assistant on one ERP size.

    python benchmarks/bench_student.py [--students b0 b1 b2] [--teacher b5] [--hw 256 512] [--batch 1] [--threads 2]

Student: ``goodsam.Student(cfg)`` (SegFormer-B0/B1/B2 with the synthetic world's 9 classes). Teacher:
the TA of the ``full`` profile, a SegFormer-B5 (Cityscapes' 19 classes), built from its config with
random weights (no download; the weights do not change the arithmetic), or ``--teacher tiny-synth``
for the bundled quick-profile TA. Both run ``predict`` (logits upsampled to the input size) under
``torch.inference_mode``; the figure is the median of ``--repeats`` timed runs after a warm-up.
Prints parameters, ms per image, images per second and the student / teacher throughput ratio
(GoodSAM's point: the B0 student is at least 5x faster than its B5 TA).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from gsam_lab.goodsam.student import STUDENT_CONFIGS, Student
from gsam_lab.utils import resolve_device

#: SegFormer-B5 (MiT-B5 encoder, 768-wide decoder), the full profile's TA.
B5 = dict(hidden_sizes=[64, 128, 320, 512], depths=[3, 6, 40, 3], num_attention_heads=[1, 2, 5, 8],
          decoder_hidden_size=768)


class _RandomB5(nn.Module):
    """A randomly initialised SegFormer-B5 with ``predict`` (B x 19 x H x W logits)."""

    def __init__(self, num_classes=19):
        super().__init__()
        from transformers import SegformerConfig, SegformerForSemanticSegmentation
        self.model = SegformerForSemanticSegmentation(SegformerConfig(num_labels=num_classes, **B5))

    def predict(self, x):
        logits = self.model(pixel_values=x).logits
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


def _teacher(name: str, device):
    if name == "b5":
        return _RandomB5(), "SegFormer-B5 config, random init (19 classes)"
    from gsam_lab import goodsam
    return goodsam.load_teacher(name, device=device), f"load_teacher({name!r})"


def _time(model, x, repeats: int, sync) -> float:
    with torch.inference_mode():
        model.predict(x)                       # warm-up
        sync()
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            model.predict(x)
            sync()
            ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", nargs="+", default=["b0"], choices=list(STUDENT_CONFIGS))
    ap.add_argument("--teacher", default="b5", help="'b5' (full-profile TA, random init) or a load_teacher name")
    ap.add_argument("--hw", type=int, nargs=2, default=(256, 512), help="ERP size H W (2:1)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    H, W = args.hw
    x = torch.rand(args.batch, 3, H, W, generator=torch.Generator().manual_seed(0)).to(dev)

    teacher, t_desc = _teacher(args.teacher, dev)
    teacher.to(dev).eval()
    t_sec = _time(teacher, x, args.repeats, sync)
    t_params = sum(p.numel() for p in teacher.parameters())
    rows = [("teacher " + args.teacher, t_params, t_sec, 1.0, t_desc)]
    for name in args.students:
        s = Student(name, 9).to(dev).eval()
        s_sec = _time(s, x, args.repeats, sync)
        rows.append((f"student {name}", s.num_parameters(), s_sec, t_sec / s_sec, "goodsam.Student, 9 classes"))

    print(f"device={dev} threads={torch.get_num_threads()} ERP {H}x{W} batch {args.batch} "
          f"(median of {args.repeats}) torch {torch.__version__}")
    print(f"{'model':<14} {'params':>8} {'ms/img':>9} {'img/s':>8} {'speed vs TA':>12}  note")
    for name, n, sec, ratio, note in rows:
        print(f"{name:<14} {n / 1e6:7.2f}M {1000 * sec / args.batch:9.1f} {args.batch / sec:8.2f} "
              f"{ratio:11.1f}x  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
