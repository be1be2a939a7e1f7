#!/usr/bin/env python
"""Evaluate SAM against Stable-SAM (and the ablations) on held-out test-split renders.

    python data_scripts/eval_stable_sam.py                     # SAM vs the shipped plugins
    python data_scripts/eval_stable_sam.py --ablations runs/stable_sam --csv /tmp/stable_sam_eval.csv

Prompts (the same for every model): ground-truth box, noisy boxes (HQ-SAM noise, s = 0.2 and 0.4),
1 / 3 / 5 positive points, ``--draws`` draws each; mIoU, mBIoU (dilation 0.02) and stability (mean
pairwise IoU of the draws' masks), every object of at least 64 px, with "fill the box" on the same
boxes. Prints one markdown table per domain (pinhole, ERP) with 95 % bootstrap intervals and the
plugins' targets (``stable_sam.TARGETS``); exit status 1 if a target is missed.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from gsam_lab import data, sam, stable_sam
from gsam_lab.bootstrap import format_ci
from gsam_lab.sam.registry import ASSETS_DIR


def _markdown(df: pd.DataFrame, floatfmt=".3f") -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(format(v, floatfmt) if isinstance(v, float) else str(v) for v in r) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plugins", type=Path, default=ASSETS_DIR / "stable_sam_tiny_synth.pt")
    ap.add_argument("--ablations", type=Path, default=None,
                    help="folder with stable_sam_dsp.pt / stable_sam_decoder.pt from train_stable_sam.py")
    ap.add_argument("--n-pinhole", type=int, default=8)
    ap.add_argument("--n-erp", type=int, default=4)
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--noise", type=float, nargs="+", default=[0.2, 0.4])
    ap.add_argument("--points", type=int, nargs="+", default=[1, 3, 5])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", nargs="+", default=None, choices=["SAM", "DSP", "DSP+DRP", "decoder-tuned"],
                    help="which models to run (default: SAM, DSP+DRP and, with --ablations, DSP and decoder-tuned)")
    ap.add_argument("--csv", type=Path, default=None)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.process_time()
    model = sam.load_sam("tiny-synth", device=args.device)
    wanted = args.models or (["SAM", "DSP", "DSP+DRP", "decoder-tuned"] if args.ablations else ["SAM", "DSP+DRP"])
    if {"DSP", "decoder-tuned"} & set(wanted) and args.ablations is None:
        ap.error("DSP and decoder-tuned need --ablations <folder of train_stable_sam.py outputs>")
    files = {"DSP": lambda: args.ablations / "stable_sam_dsp.pt", "DSP+DRP": lambda: args.plugins,
             "decoder-tuned": lambda: args.ablations / "stable_sam_decoder.pt"}
    models = {name: model if name == "SAM" else stable_sam.load(files[name](), model=model) for name in wanted}
    ev = stable_sam.compare(models, data.heldout_domains(args.n_pinhole, args.n_erp), noise=args.noise,
                            points=args.points, draws=args.draws, progress=not args.no_progress)
    if args.csv:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        ev.objects.to_csv(args.csv, index=False)
    summary = ev.summary()
    for dom, g in summary.groupby("domain", sort=False):
        print(f"\n### {dom} ({int(g['n'].iloc[0])} objects, {args.draws} draws; mIoU with 95 % bootstrap interval)\n")
        cell = g.assign(v=[format_ci(m, lo, hi, 3) for m, lo, hi in zip(g["miou"], g["miou_lo"], g["miou_hi"])])
        order = [m for m in list(models) + ["fill box"] if m in set(g["method"])]
        wide = cell.pivot(index="method", columns="setting", values="v").loc[order, list(dict.fromkeys(g["setting"]))]
        print(_markdown(wide.fillna("-").reset_index()) + "\n")
        settings = list(dict.fromkeys(g["setting"]))
        stab = g.pivot(index="method", columns="setting", values="stability").loc[order, settings]
        print("stability (mean pairwise IoU of the draws' masks)\n")
        print(_markdown(stab.reset_index()) + "\n")
    ok = True
    for name in models:
        if name == "SAM" or "SAM" not in models:
            continue
        chk = stable_sam.check_targets(ev, name)
        print(f"\ntargets, {name} vs SAM (differences on the same objects, paired 95 % interval):\n"
              + _markdown(chk, ".3f"))
        if name == "DSP+DRP":
            ok = bool(chk["ok"].all())
    if "SAM" not in models:
        print("(no SAM in --models: no targets checked)")
    print(f"\ncpu {time.process_time() - t0:.0f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
