#!/usr/bin/env python
"""Batched prompting vs Meta's per-prompt loop: 100 box prompts on one image.

    python benchmarks/bench_prompts.py [--model tiny-synth] [--n 100] [--hw 256 256] [--threads 2]
    python benchmarks/bench_prompts.py --sweep-batch 4 8 16 32 100     # ms/prompt against max_batch
    python benchmarks/bench_prompts.py --heap both                      # glibc's defaults, then retain_cpu_heap()

Baseline (the peer): ``segment_anything.SamPredictor.predict(box=b, multimask_output=False)`` once per
box (the pattern of Meta's example notebooks). Ours: one ``gsam_lab.sam.PromptPredictor.predict(boxes=...)``
(the folded decoder, :mod:`gsam_lab.sam.folded`, with the prompts split over ``torch.get_num_threads()``
worker threads of one torch thread each, :mod:`gsam_lab.sam.threads`). Three more rows separate the ideas:
``workers=1`` (the folded decoder on one thread, torch's intra-op threads inside each operation), ``folded=False``
(:func:`gsam_lab.sam.decoding.shared_predict_masks`, SAM's own modules with the image kept at batch 1)
and SAM's ``MaskDecoder`` batched in the same chunks (``repeat_interleave`` of the image per prompt).
The image embedding is computed once for all and not timed. Checks the masks are the same and
prints the speed ratios. ``--heap retain`` first calls :func:`gsam_lab.heap.retain_cpu_heap` (process-wide:
freed memory stays in the heap, so the large per-chunk buffers do not page-fault on every call; the
peer runs under it too); ``--heap both`` runs the default, then the same in a fresh process with it.
Uses random weights if the tiny-synth asset is not there.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np
import torch
from segment_anything import SamPredictor

from gsam_lab import sam
from gsam_lab.heap import retain_cpu_heap


class _PlainBatched(sam.PromptPredictor):
    """PromptPredictor decoding through SAM's own ``MaskDecoder.forward`` (image repeated per prompt)."""

    def decode(self, points, labels, boxes, mask_input, multimask):
        sparse, dense = self.model.prompt_encoder(
            points=(points, labels) if points is not None else None, boxes=boxes, masks=mask_input)
        return self.model.mask_decoder(image_embeddings=self.features, image_pe=self.model.prompt_encoder.get_dense_pe(),
                                       sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                       multimask_output=multimask)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny-synth")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--hw", type=int, nargs=2, default=(256, 256))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--sweep-batch", type=int, nargs="*", default=None, metavar="B",
                    help="also time PromptPredictor with these max_batch values")
    ap.add_argument("--heap", choices=("default", "retain", "both"), default="default",
                    help="glibc's malloc defaults, retain_cpu_heap() for the whole run, or both (two processes)")
    args = ap.parse_args(argv)
    heap = "glibc defaults"
    if args.heap == "retain":
        heap = "retained (gsam_lab.heap.retain_cpu_heap)" if retain_cpu_heap() else "retain_cpu_heap unavailable (no glibc)"
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
    one = sam.PromptPredictor(model, workers=1).set_image(img)
    modules = sam.PromptPredictor(model, folded=False).set_image(img)
    plain = _PlainBatched(model, max_batch=ours._chunk(), workers=1).set_image(img)
    ref = SamPredictor(model)
    ref.set_image(img)
    sync = torch.cuda.synchronize if model.device.type == "cuda" else (lambda: None)

    def run_loop():
        return np.stack([ref.predict(box=b, multimask_output=False)[0][0] for b in boxes])

    def best(fn):
        out = fn()  # warm-up
        ts = []
        for _ in range(args.repeats):
            sync(); t = time.perf_counter(); fn(); sync(); ts.append(time.perf_counter() - t)
        return min(ts), out

    t_loop, want = best(run_loop)
    t_ours, m1 = best(lambda: ours.predict(boxes=boxes).masks.cpu().numpy())
    t_one, m4 = best(lambda: one.predict(boxes=boxes).masks.cpu().numpy())
    t_mod, m2 = best(lambda: modules.predict(boxes=boxes).masks.cpu().numpy())
    t_plain, m3 = best(lambda: plain.predict(boxes=boxes).masks.cpu().numpy())
    print(f"model {args.model} ({weights}) on {model.device}, torch threads {torch.get_num_threads()}, "
          f"image {H}x{W}, {args.n} boxes, best of {args.repeats}, max_batch {ours._chunk()}, "
          f"decode threads {ours._threads(args.n)}, heap: {heap}")
    rows = [("SamPredictor.predict loop (peer)", t_loop, want), ("PromptPredictor.predict (ours)", t_ours, m1),
            ("PromptPredictor(workers=1)", t_one, m4),
            ("PromptPredictor(folded=False)", t_mod, m2), ("SAM's MaskDecoder, batched", t_plain, m3)]
    for name, t, m in rows:
        print(f"  {name:34s}: {t * 1e3:8.1f} ms  ({t / args.n * 1e3:6.2f} ms/prompt)  {t_loop / t:5.2f}x the loop  "
              f"masks differing from the loop: {int((m != want).sum())} of {want.size} pixels")
    print(f"  speed-up over the loop: {t_loop / t_ours:.2f}x (target 5x)")
    for mb in args.sweep_batch or ():
        p = sam.PromptPredictor(model, max_batch=mb).set_image(img)
        t, _ = best(lambda: p.predict(boxes=boxes).masks.cpu().numpy())
        print(f"  max_batch {mb:4d}: {t / args.n * 1e3:6.2f} ms/prompt  ({t_loop / t:.2f}x the loop)")
    if args.heap == "both":
        given = list(sys.argv[1:] if argv is None else argv)
        rest = [a for i, a in enumerate(given) if not a.startswith("--heap") and not (i and given[i - 1] == "--heap")]
        sys.stdout.flush()
        return subprocess.call([sys.executable, __file__, *rest, "--heap", "retain"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
