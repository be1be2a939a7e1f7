#!/usr/bin/env python
"""Batched prompting vs Meta's per-prompt loop: 100 box prompts on one image.

    python benchmarks/bench_prompts.py [--model tiny-synth] [--n 100] [--hw 256 256] [--threads 2]

Baseline: ``segment_anything.SamPredictor.predict(box=b, multimask_output=False)`` once per box
(the pattern of Meta's example notebooks). Ours: one ``gsam_lab.sam.PromptPredictor.predict(boxes=...)``.
The image embedding is computed once for both and not timed. Checks the masks are the same and
prints the speed ratio. Uses random weights if the tiny-synth asset is not there.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from segment_anything import SamPredictor

from gsam_lab import sam


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny-synth")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--hw", type=int, nargs=2, default=(256, 256))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model = sam.load_sam(args.model, device=args.device, checkpoint=args.checkpoint)
        weights = "trained"
    except sam.CheckpointError:
        model = sam.load_sam(args.model, device=args.device, pretrained=False)
        weights = "random init (asset missing)"
    H, W = args.hw
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    xy = rng.uniform(0, [W * 0.8, H * 0.8], (args.n, 2))
    boxes = np.concatenate([xy, np.minimum(xy + rng.uniform(8, 0.5 * min(H, W), (args.n, 2)), [W - 1, H - 1])], 1)

    ours = sam.PromptPredictor(model).set_image(img)
    ref = SamPredictor(model)
    ref.set_image(img)
    sync = torch.cuda.synchronize if model.device.type == "cuda" else (lambda: None)

    def run_ours():
        return ours.predict(boxes=boxes).masks.cpu().numpy()

    def run_loop():
        return np.stack([ref.predict(box=b, multimask_output=False)[0][0] for b in boxes])

    m1, m2 = run_ours(), run_loop()  # warm-up and equality
    diff = int((m1 != m2).sum())
    t_ours, t_loop = [], []
    for _ in range(args.repeats):
        sync(); t = time.perf_counter(); run_ours(); sync(); t_ours.append(time.perf_counter() - t)
        sync(); t = time.perf_counter(); run_loop(); sync(); t_loop.append(time.perf_counter() - t)
    a, b = min(t_ours), min(t_loop)
    print(f"model {args.model} ({weights}) on {model.device}, torch threads {torch.get_num_threads()}, "
          f"image {H}x{W}, {args.n} boxes, best of {args.repeats}")
    print(f"  PromptPredictor.predict (batched): {a * 1e3:8.1f} ms  ({a / args.n * 1e3:.2f} ms/prompt)")
    print(f"  SamPredictor.predict loop        : {b * 1e3:8.1f} ms  ({b / args.n * 1e3:.2f} ms/prompt)")
    print(f"  speed-up: {b / a:.2f}x   masks differing: {diff} of {m1.size} pixels")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
