"""Seconds per panorama for each DAR step on CPU, and the total against one whole-ERP TA pass.

    python benchmarks/bench_dar.py [--threads 1] [--repeat 3] [--hw 256 512] [--points-per-side 6]

One test-split synthetic ERP, the bundled tiny-synth TA and SAM (random-init TA if its weights are
missing: the timing does not depend on the weights). Steps, each timed alone (best of ``--repeat``):

- TA whole ERP (one pass: the baseline, ratio 1.0), windows ``h`` / ``hv`` / ``tangent``;
- SAM masks (``sam.automatic_masks``: image embedding + point-grid decoding), the dominant cost;
- boundary (seam pairing of masks + interior vote) and fusion ``vote`` / ``ctcf`` on given logits;
- full DAR (``windows="h", boundary=True, fusion="ctcf"``, SAM included) end to end.
"""
from __future__ import annotations

import argparse
import time

import torch

from gsam_lab import data, goodsam, sam
from gsam_lab.goodsam.fusion import fuse_ctcf, fuse_vote, interior_vote, pair_seam_masks, sam_masks
from gsam_lab.goodsam.windows import sliding_window_logits, tangent_logits, whole_logits, window_layout


def best_of(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--hw", type=int, nargs=2, default=(256, 512))
    ap.add_argument("--points-per-side", type=int, default=6)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    try:
        teacher = goodsam.load_teacher("tiny-synth", device=args.device)
    except Exception:  # noqa: BLE001 - weights missing: timing only
        teacher = goodsam.load_teacher("tiny-synth", device=args.device, pretrained=False)
    model = sam.load_sam("tiny-synth", device=args.device)
    x = data.SyntheticPanoramas("test", n=1, hw=tuple(args.hw))[0]["image"].to(args.device)
    h, w = x.shape[-2:]
    rows = []
    t_ta, ta = best_of(lambda: whole_logits(teacher, x), args.repeat)
    rows.append(("TA whole ERP (baseline)", t_ta))
    t, _ = best_of(lambda: sliding_window_logits(teacher, x, window_layout((h, w), "h")), args.repeat)
    rows.append(("windows h (4 windows)", t))
    t, _ = best_of(lambda: sliding_window_logits(teacher, x, window_layout((h, w), "hv")), args.repeat)
    rows.append(("windows hv (12 windows)", t))
    t, _ = best_of(lambda: tangent_logits(teacher, x), args.repeat)
    rows.append(("windows tangent (22 views)", t))
    t_sam, ms = best_of(lambda: sam_masks(model, x, points_per_side=args.points_per_side), args.repeat)
    rows.append((f"SAM masks ({2 * args.points_per_side ** 2} points, {len(ms.masks)} kept)", t_sam))
    probs = ta.softmax(0)
    ctx = torch.ones(h, w)
    t, _ = best_of(lambda: interior_vote(probs, ctx, pair_seam_masks(ms)), args.repeat)
    rows.append(("boundary: seam pairing + interior vote", t))
    t, _ = best_of(lambda: fuse_vote(probs, ms), args.repeat)
    rows.append(("fusion vote", t))
    t, _ = best_of(lambda: fuse_ctcf(probs, ms), args.repeat)
    rows.append(("fusion ctcf", t))
    t, _ = best_of(lambda: goodsam.dar(teacher, model, x, windows="h", boundary=True, fusion="ctcf",
                                       sam_kwargs=dict(points_per_side=args.points_per_side)), args.repeat)
    rows.append(("full DAR (h + boundary + ctcf, SAM included)", t))
    print(f"ERP {h}x{w}, {args.threads} thread(s), best of {args.repeat}")
    print("| step | seconds | x TA pass |\n|---|---|---|")
    for name, s in rows:
        print(f"| {name} | {s:.3f} | {s / t_ta:.1f} |")


if __name__ == "__main__":
    main()
