#!/usr/bin/env python
"""Score students (the shipped one by default) against the TA on held-out ERP panoramas, with intervals.

    python data_scripts/eval_student.py                                  # shipped student vs the TA, test split
    python data_scripts/eval_student.py outputs/train_student/student_tiny_*.pt --split val --n 16
    # several students: each is also paired with the first one listed (the MKA ablation: CE first)

Prints a Markdown table: model, parameters, dataset mIoU with a 95 % bootstrap interval over
panoramas, the paired difference to the TA (panoramas resampled together) and per-class IoU;
``--json`` writes it as JSON.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from gsam_lab import data, goodsam, metrics
from gsam_lab.bootstrap import format_ci, miou_bootstrap_ci


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("students", nargs="*", help="student files written by Student.save / train_student.py "
                                               "(default: the shipped student)")
    p.add_argument("--teacher", default="tiny-synth", help="the TA to compare with")
    p.add_argument("--split", default="test", choices=("test", "val"))
    p.add_argument("--n", type=int, default=16, help="panoramas of --split")
    p.add_argument("--hw", type=int, nargs=2, default=goodsam.STUDENTS["tiny-synth"].train_hw,
                   help="ERP size (default: the size the shipped student was distilled at)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from gsam_lab.utils import resolve_device
    dev = resolve_device(args.device)
    panos = data.SyntheticPanoramas(args.split, args.n, tuple(args.hw))
    k = data.NUM_CLASSES
    models = [(f"TA {args.teacher}", goodsam.load_teacher(args.teacher, device=dev))]
    files = args.students or [None]
    stems = [None if f is None else Path(f).stem for f in files]
    # two files of the same name: their folders tell them apart
    names = ["shipped student" if f is None else s if stems.count(s) == 1 else f"{Path(f).parent.name}/{s}"
             for f, s in zip(files, stems)]
    models += [(name, goodsam.load_student("tiny-synth" if f is None else f, device=dev))
               for name, f in zip(names, files)]
    cms = {name: goodsam.evaluate_miou(m, panos, k, batch_size=1, device=dev)["confusions"] for name, m in models}
    base = cms[models[0][0]]
    rows = []
    for name, m in models:
        v = miou_bootstrap_ci(cms[name])
        d = None if cms[name] is base else miou_bootstrap_ci(cms[name], base=base)
        rows.append({"model": name, "params_M": sum(q.numel() for q in m.parameters()) / 1e6,
                     "miou": v, "minus_ta": d,
                     "per_class": [float(x) for x in metrics.iou_from_confusion(torch.as_tensor(cms[name].sum(0)))]})
    print(f"{len(panos)} {args.split}-split ERPs {tuple(args.hw)}; 95 % bootstrap intervals over panoramas")
    print("| model | params | mIoU | minus TA (points) | " + " | ".join(data.CLASSES) + " |")
    print("|---|---:|---|---|" + "---:|" * len(data.CLASSES))
    for r in rows:
        d = "" if r["minus_ta"] is None else format_ci(*(100 * x for x in r["minus_ta"]), digits=1)
        print(f"| {r['model']} | {r['params_M']:.2f}M | {format_ci(*(100 * x for x in r['miou']), digits=1)} | {d} | "
              + " | ".join(f"{100 * v:.0f}" if v == v else "-" for v in r["per_class"]) + " |")
    if len(models) > 2:           # students against the first one listed: the MKA ablation's paired comparisons
        first = models[1][0]
        print(f"\npaired differences against {first} (mIoU points, 95 % interval over the same panoramas):")
        for name, _ in models[2:]:
            diff = miou_bootstrap_ci(cms[name], cms[first])
            print(f"- {name} minus {first}: {format_ci(*(100 * x for x in diff), digits=1)}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
