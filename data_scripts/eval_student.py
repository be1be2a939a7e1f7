#!/usr/bin/env python
"""Score saved students (``Student.save`` files) and the TA by mIoU on held-out TEST-split ERP panoramas.

    python data_scripts/eval_student.py outputs/train_student/student_tiny_*.pt --teacher tiny-synth --n-test 16

Prints a Markdown table (model, parameters, mIoU, per-class IoU) and, with ``--json``, writes it as JSON.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from gsam_lab import data, goodsam
from gsam_lab.goodsam.distill import evaluate_miou


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("students", nargs="*", help="student files written by Student.save / train_student.py")
    p.add_argument("--teacher", default="tiny-synth", help="TA to score beside them ('' to skip)")
    p.add_argument("--n-test", type=int, default=16)
    p.add_argument("--hw", type=int, nargs=2, default=(128, 256))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    test = data.SyntheticPanoramas("test", args.n_test, tuple(args.hw), seed=args.seed)
    models = []
    if args.teacher:
        models.append((f"TA {args.teacher}", goodsam.load_teacher(args.teacher, device=args.device)))
    models += [(Path(f).stem, goodsam.load_student(f, device=args.device)) for f in args.students]
    rows = []
    for name, m in models:
        ev = evaluate_miou(m, test, data.NUM_CLASSES, device=args.device)
        rows.append({"model": name, "params_M": sum(q.numel() for q in m.parameters()) / 1e6, **ev})
    print(f"{len(test)} test-split ERPs {tuple(args.hw)}")
    print("| model | params | mIoU | " + " | ".join(data.CLASSES) + " |")
    print("|---|---:|---:|" + "---:|" * len(data.CLASSES))
    for r in rows:
        print(f"| {r['model']} | {r['params_M']:.2f}M | {100 * r['miou']:.1f} | "
              + " | ".join(f"{100 * v:.0f}" if v == v else "-" for v in r["per_class"]) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
