#!/usr/bin/env python
"""Measure a SAM's prompt quality on held-out test-split renders, beside filling the prompt box.

    python data_scripts/eval_tiny_sam.py                                   # the bundled tiny-synth
    python data_scripts/eval_tiny_sam.py --model path/to/weights.pt        # a file (a training checkpoint too)
    python data_scripts/eval_tiny_sam.py --n-pinhole 4 --n-erp 2 --draws 2 # a quick look

Scores every object of at least 64 px on ``--n-pinhole`` pinholes and ``--n-erp`` panoramas
(defaults 16 and 8) with the ground-truth box, noisy boxes (s = 0.1, 0.2, 0.4), 3 clicks and 1 click
with multimask output, and beside it "fill the box" and GrabCut from the box (OpenCV) on the same
boxes (``--no-grabcut`` leaves GrabCut out). ``--zoom`` scores the predictor's crop-and-zoom option
(``PromptPredictor(model, zoom=True)``). Prints mIoU and boundary IoU with 95 % bootstrap intervals
over objects, the share of each mask outside its GT box, the paired differences SAM - fill box and
SAM - GrabCut, mIoU per class and per object size, the interactive-refinement sweep
(``gsam_lab.sam.refinement_sweep``: 1 click, then 2 corrective clicks with and without
``mask_input``; a GT box fed its own logits), and the targets of ``tiny-synth``
(``gsam_lab.sam.evaluate.TARGETS``). Exit status 1 if a target is missed. ``--csv`` writes the
per-object table.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch

from gsam_lab import data, sam
from gsam_lab.bootstrap import format_ci
from gsam_lab.sam.evaluate import FILL_NAME, GRABCUT_NAME, SAM_NAME, check_targets, evaluate_prompts


def _fmt(df: pd.DataFrame, cols=("miou",)) -> pd.DataFrame:
    out = df.drop(columns=[c for col in cols for c in (f"{col}_lo", f"{col}_hi")]).copy()
    for col in cols:
        out[col] = [format_ci(m, lo, hi) for m, lo, hi in zip(df[col], df[f"{col}_lo"], df[f"{col}_hi"])]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny-synth", help="registry name or checkpoint path")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--n-pinhole", type=int, default=16)
    ap.add_argument("--n-erp", type=int, default=8)
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--split", default="test", choices=["test", "val"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--csv", type=Path, default=None, help="write the per-object table here")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--zoom", action="store_true", help="PromptPredictor(model, zoom=True): crop-and-zoom box prompts")
    ap.add_argument("--no-grabcut", action="store_true", help="leave the GrabCut baseline out (it needs OpenCV)")
    ap.add_argument("--no-refinement", action="store_true", help="leave the interactive-refinement sweep out")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = sam.load_sam(args.model, device=args.device, checkpoint=args.checkpoint)
    pred = sam.PromptPredictor(model, zoom=args.zoom)
    ev = evaluate_prompts(pred, n_pinhole=args.n_pinhole, n_erp=args.n_erp, draws=args.draws, seed=args.seed,
                          split=args.split, grabcut=not args.no_grabcut, progress=not args.no_progress)
    if args.csv:
        ev.objects.to_csv(args.csv, index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_rows", 200):
        print(f"# {args.model}{' (zoom)' if args.zoom else ''} on {args.split}-split renders; "
              "95 % bootstrap intervals over objects; outside_box: share of a mask outside its GT box\n")
        print(_fmt(ev.summary(), ("miou", "mbiou")).round(3).to_string(index=False))
        print("\n# SAM - baseline on the same objects and boxes (paired bootstrap)")
        baselines = [FILL_NAME] + ([] if args.no_grabcut else [GRABCUT_NAME])
        for dom in ev.objects["domain"].unique():
            for base in baselines:
                for setting in ("gt_box", "noisy_box s=0.4"):
                    d = ev.paired(dom, (SAM_NAME, setting), (base, setting))
                    print(f"  {dom:8s} - {base:8s} {setting:16s} mIoU {format_ci(*d)}")
        print("\n# GT box, per object size")
        print(_fmt(ev.by_size()).to_string(index=False))
        print("\n# GT box, per class")
        print(_fmt(ev.by_class(class_names=data.CLASSES)).to_string(index=False))
    ok = check_targets(ev)
    if not args.no_refinement:
        ok.update(_refinement(model, args))
    print("\n# targets")
    for k, v in ok.items():
        print(f"  [{'ok' if v else 'MISS'}] {k}")
    return 0 if all(ok.values()) else 1


def _refinement(model, args) -> dict:
    """The interactive-refinement sweep per domain, printed, and its two targets."""
    from gsam_lab.bootstrap import paired_bootstrap_ci
    print("\n# interactive refinement: 1 click, then 2 corrective clicks (with / without mask_input); "
          "a GT box, then the same box fed its own logits")
    ok = {}
    for dom, ds in data.heldout_domains(args.n_pinhole, args.n_erp, split=args.split, seed=args.seed).items():
        t = sam.refinement_sweep(model, ds, seed=args.seed, progress=not args.no_progress)
        print(_fmt(sam.refinement_summary(t, dom)).to_string(index=False))
        gain = paired_bootstrap_ci(t["clicks + mask"].to_numpy(), t["clicks only"].to_numpy())
        drop = paired_bootstrap_ci(t["box + own logits"].to_numpy(), t["box"].to_numpy())
        print(f"  clicks + mask - clicks only {format_ci(*gain)};  box + own logits - box {format_ci(*drop)}")
        ok[f"{dom} corrective clicks: with mask_input > without"] = bool(gain[1] > 0)
        ok[f"{dom} box fed its own logits: at most 0.01 worse"] = bool(drop[0] >= -0.01)
    return ok


if __name__ == "__main__":
    sys.exit(main())
