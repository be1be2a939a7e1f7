#!/usr/bin/env python
"""Train the bundled ``tiny-synth`` SAM on synthetic train-split renders and write its weights.

    python data_scripts/train_tiny_sam.py --init gsam_lab/assets/tiny_sam_synth.pt --out runs/tiny_sam.pt
    python data_scripts/train_tiny_sam.py --steps 50 --out /tmp/t.pt --work-dir /tmp/tsam   # quick look

Checkpoints go to ``--work-dir`` (default ``$GSAM_LAB_CACHE/train/tiny_sam``) every ``--ckpt-every``
steps, with the current weights beside them (``weights.pt``); running the same command again
resumes from the last one (``--no-resume`` starts over). ``--out`` is never replaced without
``--overwrite``: a short experiment cannot overwrite the bundled weights by accident.
The recipe is documented in ``gsam_lab/recipes/tiny_sam.py``; results in ``data_scripts/README.md``.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

from gsam_lab.data import CLASSES
from gsam_lab.recipes.tiny_sam import TrainConfig, train_tiny_sam
from gsam_lab.utils import cache_dir


def _class_weight(text: str):
    """``"pole=2"`` -> ``("pole", 2.0)``; the class must be one of the synthetic world's."""
    name, sep, weight = text.partition("=")
    if not sep or name not in CLASSES:
        raise argparse.ArgumentTypeError(f"expected CLASS=WEIGHT with CLASS one of {', '.join(CLASSES)}, got {text!r}")
    try:
        return name, float(weight)
    except ValueError:
        raise argparse.ArgumentTypeError(f"the weight of {name!r} must be a number, got {weight!r}") from None


def main(argv=None) -> int:
    d = TrainConfig()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("runs/tiny_sam_synth.pt"),
                    help="where the trained weights go (default runs/tiny_sam_synth.pt; never replaced without "
                         "--overwrite)")
    ap.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    ap.add_argument("--work-dir", type=Path, default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--no-resume", action="store_true")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from these tiny-synth weights (e.g. gsam_lab/assets/tiny_sam_synth.pt) "
                         "instead of random")
    ap.add_argument("--no-progress", action="store_true")
    for f in dataclasses.fields(TrainConfig):
        if f.type in ("int", "float", int, float):
            typ = int if f.type in ("int", int) else float
            ap.add_argument("--" + f.name.replace("_", "-"), type=typ, default=getattr(d, f.name))
        elif f.type in ("str", str):
            ap.add_argument("--" + f.name.replace("_", "-"), default=getattr(d, f.name))
        elif f.name == "class_weight":          # --class-weight pole=2 person=2 (nothing after it: no boost)
            ap.add_argument("--class-weight", nargs="*", type=_class_weight, default=d.class_weight,
                            metavar="CLASS=WEIGHT")
        else:                                   # tuples of numbers: --view-mix 0.6 0.15 0.25 0, --first-clicks 1 5
            typ = int if all(isinstance(v, int) for v in getattr(d, f.name)) else float
            ap.add_argument("--" + f.name.replace("_", "-"), nargs=len(getattr(d, f.name)), type=typ,
                            default=getattr(d, f.name))
    args = ap.parse_args(argv)
    for f in dataclasses.fields(TrainConfig):
        if isinstance(getattr(d, f.name), tuple):
            setattr(args, f.name, tuple(getattr(args, f.name)))
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
                         if hasattr(args, f.name)})
    work = args.work_dir or cache_dir("train", "tiny_sam")
    print(f"config: {dataclasses.asdict(cfg)}\nwork dir: {work}\nout: {args.out}", flush=True)
    res = train_tiny_sam(cfg, args.out, work, device=args.device, resume=not args.no_resume,
                         progress=not args.no_progress, log=lambda s: print(s, flush=True), init=args.init,
                         overwrite=args.overwrite)
    print(f"done in {res['seconds']:.0f}s; wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
