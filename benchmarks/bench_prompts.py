#!/usr/bin/env python
"""Many box prompts on one image: PromptPredictor (plain path and fast path) against Meta's per-prompt loop.

    python benchmarks/bench_prompts.py [--model tiny-synth] [--n 100] [--hw 256 256] [--threads 2] [--repeats 3]
    python benchmarks/bench_prompts.py --sweep-batch 4 16 64        # + the plain path's ms/prompt against max_batch

Three ways to get one mask per box, timed in the same process on the same image embedding (computed
once, not timed):

* Meta's loop: ``segment_anything.SamPredictor.predict(box=b, multimask_output=False)``, one prompt at a
  time (the pattern of Meta's example notebooks); the reference for the ratios and the masks;
* ``PromptPredictor(model).predict(boxes=...)``: the default, plain path (SAM's own decoder modules,
  batched in chunks of ``max_batch``);
* ``PromptPredictor(model, fast=True).predict(boxes=...)``: the optional fast path
  (:mod:`gsam_lab.sam.fast`).

For each it prints ms per prompt, the ratio to Meta's loop (loop time / its time: above 1 is faster)
and how many mask pixels differ from the loop's masks. The methods are timed in interleaved rounds
(one call of each per round, after a warm-up) and the best round of each is kept, so that a busy
machine slows all of them alike. Uses random weights if the tiny-synth asset is not there.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from segment_anything import SamPredictor

from gsam_lab import sam


def _boxes(n: int, H: int, W: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, [W * 0.8, H * 0.8], (n, 2))
    return np.concatenate([xy, np.minimum(xy + rng.uniform(8, 0.5 * min(H, W), (n, 2)), [W - 1, H - 1])], 1)


def _load(args):
    try:
        return sam.load_sam(args.model, device=args.device, checkpoint=args.checkpoint), "trained"
    except sam.CheckpointError:
        return sam.load_sam(args.model, device=args.device, pretrained=False), "random init (asset missing)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny-synth")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--n", type=int, default=100, help="box prompts (default 100)")
    ap.add_argument("--hw", type=int, nargs=2, default=(256, 256), help="image height and width")
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds after the warm-up (best kept)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--sweep-batch", type=int, nargs="*", default=None, metavar="B",
                    help="also time the plain path with these max_batch values")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, weights = _load(args)
    H, W = args.hw
    img = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    boxes = _boxes(args.n, H, W)

    meta = SamPredictor(model)
    meta.set_image(img)
    plain = sam.PromptPredictor(model).set_image(img)
    fast = sam.PromptPredictor(model, fast=True).set_image(img)
    methods = {
        "Meta's SamPredictor loop":
            lambda: np.stack([meta.predict(box=b, multimask_output=False)[0][0] for b in boxes]),
        "PromptPredictor (plain)": lambda: plain.predict(boxes=boxes).masks.cpu().numpy(),
        "PromptPredictor(fast=True)": lambda: fast.predict(boxes=boxes).masks.cpu().numpy(),
    }
    for mb in args.sweep_batch or ():
        p = sam.PromptPredictor(model, max_batch=mb).set_image(img)
        methods[f"plain, max_batch {mb}"] = lambda p=p: p.predict(boxes=boxes).masks.cpu().numpy()

    sync = torch.cuda.synchronize if model.device.type == "cuda" else (lambda: None)
    masks = {name: fn() for name, fn in methods.items()}          # warm-up, and the masks compared
    best = {name: float("inf") for name in methods}
    for _ in range(args.repeats):
        for name, fn in methods.items():
            sync()
            t = time.perf_counter()
            fn()
            sync()
            best[name] = min(best[name], time.perf_counter() - t)

    loop = "Meta's SamPredictor loop"
    want = masks[loop]
    print(f"model {args.model} ({weights}) on {model.device}, torch threads {torch.get_num_threads()}, "
          f"image {H}x{W}, {args.n} boxes, max_batch {plain._chunk()}, best of {args.repeats} interleaved rounds")
    print(f"  {'':28s} {'ms/prompt':>10s} {'vs loop':>8s}  mask pixels differing from the loop")
    for name, t in best.items():
        diff = int((masks[name] != want).sum())
        print(f"  {name:28s} {t / args.n * 1e3:10.2f} {best[loop] / t:7.2f}x  {diff} of {want.size}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
