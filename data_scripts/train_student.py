#!/usr/bin/env python
"""Distil GoodSAM students with MKA and measure them against the TA on held-out ERP panoramas.

Pipeline (synthetic world, no ground truth read during training):

1. the TA (``--teacher``, default the bundled ``tiny-synth``) and SAM (``--sam``) run DAR
   (``goodsam.dar``) on ``--n-train`` TRAIN-split panoramas -> ensemble logits + pseudo-labels,
   cached in ``--out-dir/pseudo_*.pt`` (or read a ``goodsam.PseudoLabelDataset`` with ``--pseudo-root``);
2. for each ``--variants`` entry a student (``--student``) is trained by ``goodsam.train_mka``:
   ``ce`` = CE on pseudo-labels only, ``kd`` = CE + KD on the ensemble logits, ``full`` = CE + KD +
   multi-level feature alignment (MKA);
3. the TA (whole ERP in one pass, as the student sees it), the DAR pseudo-labels (on the train
   panoramas, for reference) and every student are scored by mIoU on ``--n-test`` TEST-split
   panoramas. ``results.json`` and ``results.md`` go to ``--out-dir``; student weights to
   ``--out-dir/student_<config>_<variant>.pt``.

::

    nohup python data_scripts/train_student.py --student tiny --steps 400 --threads 1 \\
        --out-dir /tmp/mka/run > /tmp/mka/run.log 2>&1 &
    torchrun --nproc_per_node 2 data_scripts/train_student.py --student b0 --batch 8   # data-parallel

Re-running resumes every variant from its checkpoint (``--out-dir/work_<config>_<variant>``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

import torch

from gsam_lab import data, goodsam
from gsam_lab.goodsam.distill import MKAConfig
from gsam_lab.goodsam.evaluate import evaluate_miou
from gsam_lab.utils import atomic_save, load_torch_file, resolve_device, weights_fingerprint

VARIANTS = {"ce": dict(kd_weight=0.0, feat_weight=0.0), "kd": dict(feat_weight=0.0), "full": dict()}


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--student", default="tiny", choices=list(goodsam.STUDENT_CONFIGS))
    p.add_argument("--teacher", default="tiny-synth")
    p.add_argument("--sam", default="tiny-synth")
    p.add_argument("--variants", nargs="+", default=["ce", "kd", "full"], choices=list(VARIANTS))
    p.add_argument("--pseudo-root", default=None, help="a goodsam.PseudoLabelDataset folder instead of running DAR")
    p.add_argument("--windows", default="h", help="DAR windows: none | h | hv | tangent")
    p.add_argument("--fusion", default="ctcf", help="DAR fusion: none | vote | ctcf")
    p.add_argument("--sam-method", default="grid", choices=("grid", "windows"),
                   help="DAR's SAM masks: grid on the whole ERP, or on each 'h' window (finer masks, 4x the SAM time)")
    p.add_argument("--min-share", type=float, default=None,
                   help="vote only: the guarded vote's class-consistency share (default: the rule's)")
    p.add_argument("--keep-confident", type=float, default=None,
                   help="vote only: keep TA pixels at least this sure (default: the rule's)")
    p.add_argument("--n-train", type=int, default=48)
    p.add_argument("--n-test", type=int, default=16)
    p.add_argument("--hw", type=int, nargs=2, default=(256, 512), help="ERP size of the train and test panoramas")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--kd-weight", type=float, default=1.0)
    p.add_argument("--feat-weight", type=float, default=1.0)
    p.add_argument("--temperature", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out-dir", default="outputs/train_student")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


class ItemList(torch.utils.data.Dataset):
    """Pseudo-labelled panoramas held in memory (dicts with image / pseudo_label / ensemble_logits / index)."""

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        it = self.items[i]
        return {**it, "ensemble_logits": it["ensemble_logits"].float()}


def fusion_kwargs(args) -> dict:
    """The fusion rule's own settings given on the command line (the guarded vote's two guards)."""
    if args.fusion != "vote" and (args.min_share is not None or args.keep_confident is not None):
        raise SystemExit("--min-share / --keep-confident are settings of --fusion vote")
    guards = dict(min_share=args.min_share, keep_confident=args.keep_confident)
    return {k: v for k, v in guards.items() if v is not None}


def dar_item(teacher, sam_model, pano, index: int, windows: str, fusion: str, kwargs: dict, sam_method: str):
    """DAR on one panorama: dict image 3xHxW, pseudo_label HxW, ensemble_logits KxHxW (fp16), semantic
    HxW (kept for reference only: the pseudo-labels' own mIoU), index."""
    with torch.no_grad():
        res = goodsam.dar(teacher, sam_model, pano["image"], windows=windows, boundary=True, fusion=fusion,
                          fusion_kwargs=kwargs, sam_kwargs=dict(method=sam_method))
    return {"image": pano["image"], "pseudo_label": res.pseudo_label.cpu().long(),
            "ensemble_logits": res.ensemble_logits.cpu().half(), "semantic": pano["semantic"], "index": index}


def pseudo_dataset(args, teacher, main: bool, dev):
    """The training set: a PseudoLabelDataset folder, or DAR run here with one cached file per panorama
    (``--out-dir/pseudo_<settings>/<i>.pt``, so a larger ``--n-train`` reuses the panoramas done before)."""
    if args.pseudo_root:
        return goodsam.PseudoLabelDataset(args.pseudo_root), None
    from gsam_lab import sam
    sam_model = sam.load_sam(args.sam, device=dev) if args.fusion != "none" else None
    # keyed by the weights as well as the names: new tiny-synth weights must not reuse old pseudo-labels
    weights = [weights_fingerprint(teacher), weights_fingerprint(sam_model) if sam_model is not None else None]
    kwargs = fusion_kwargs(args)
    settings = [args.teacher, args.sam, args.windows, args.fusion, list(args.hw), args.seed, data.RENDERER_VERSION,
                weights] + ([kwargs] if kwargs else [])      # no guards: the key of the folders made before them
    settings += [] if args.sam_method == "grid" else [args.sam_method]
    key = hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:12]
    folder = Path(args.out_dir) / f"pseudo_{key}"
    files = [folder / f"{i:06d}.pt" for i in range(args.n_train)]
    todo = [i for i, f in enumerate(files) if not f.exists()]
    if todo and main:
        from gsam_lab.utils import progress_bar
        t0 = time.time()
        # fusion "none" without SAM (sam_model None): DAR keeps the TA windows and their border down-weighting only
        panos = data.SyntheticPanoramas("train", args.n_train, tuple(args.hw), seed=args.seed)
        for i in progress_bar(todo, desc="DAR pseudo-labels", disable=args.no_progress):
            atomic_save(dar_item(teacher, sam_model, panos[i], i, args.windows, args.fusion, kwargs, args.sam_method),
                        files[i])
        print(f"DAR on {len(todo)} train panoramas: {time.time() - t0:.0f} s -> {folder}", flush=True)
    while not all(f.exists() for f in files):   # other ranks (before the process group exists): wait for rank 0
        time.sleep(2)
    return ItemList([load_torch_file(f, SystemExit) for f in files]), folder


def main(argv=None):
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rank = int(os.environ.get("RANK", "0"))
    main_rank = rank == 0
    dev = resolve_device(args.device)
    if dev.type == "cuda" and "LOCAL_RANK" in os.environ:
        dev = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    teacher = goodsam.load_teacher(args.teacher, device=dev)
    train_ds, cache = pseudo_dataset(args, teacher, main_rank, dev)
    classes = tuple(teacher.classes)
    test = data.SyntheticPanoramas("test", args.n_test, tuple(args.hw), seed=args.seed)

    results = {"settings": vars(args), "rows": []}
    earlier = {}                     # rows of earlier runs in this out-dir (other variants) are kept
    if (out / "results.json").exists():
        try:
            earlier = {r["model"]: r for r in json.loads((out / "results.json").read_text()).get("rows", [])}
        except (OSError, ValueError, KeyError, TypeError):
            earlier = {}
    if main_rank:
        ta = evaluate_miou(teacher, test, len(classes), device=dev)
        results["rows"].append({"model": f"TA {args.teacher}",
                                "params_M": sum(p.numel() for p in teacher.parameters()) / 1e6,
                                "test_miou": ta["miou"], "per_class": ta["per_class"]})
        if all("semantic" in train_ds[i] for i in range(min(1, len(train_ds)))):
            from gsam_lab.metrics import ConfusionMeter
            m, kept, total = ConfusionMeter(len(classes)), 0, 0
            for i in range(len(train_ds)):          # scored where DAR gave a label (255 = left out)
                lab, gt = train_ds[i]["pseudo_label"], train_ds[i]["semantic"].clone()
                gt[lab == 255] = 255
                lab = lab.masked_fill(lab == 255, 0)
                m.update(lab, gt)
                kept, total = kept + int((train_ds[i]["pseudo_label"] != 255).sum()), total + lab.numel()
            results["pseudo_label_train_miou"] = m.miou()
            results["pseudo_label_coverage"] = kept / max(1, total)
        print(f"TA on {len(test)} test ERPs: mIoU {ta['miou']:.4f}; DAR pseudo-labels on train: "
              f"{results.get('pseudo_label_train_miou', float('nan')):.4f} "
              f"(coverage {results.get('pseudo_label_coverage', float('nan')):.2f})", flush=True)

    for variant in args.variants:
        cfg = MKAConfig(steps=args.steps, batch_size=args.batch, lr=args.lr, warmup=max(1, args.steps // 20),
                        kd_weight=args.kd_weight, feat_weight=args.feat_weight, temperature=args.temperature,
                        seed=args.seed, ckpt_every=max(1, args.steps // 8), log_every=max(1, args.steps // 20))
        cfg = MKAConfig(**{**cfg.__dict__, **VARIANTS[variant]})
        student = goodsam.Student(args.student, len(classes), classes=classes, seed=args.seed)
        t0 = time.time()
        res = goodsam.train_mka(student, teacher, train_ds, cfg, work_dir=out / f"work_{args.student}_{variant}",
                                device=dev, progress=not args.no_progress)
        if not main_rank:
            continue
        ev = evaluate_miou(res.student, test, len(classes), device=dev)
        res.student.save(out / f"student_{args.student}_{variant}.pt",
                         meta={"variant": variant, "config": cfg.__dict__, "test_miou": ev["miou"]})
        row = {"model": f"student {args.student} {variant}", "params_M": res.student.num_parameters() / 1e6,
               "test_miou": ev["miou"], "per_class": ev["per_class"], "train_seconds": res.seconds,
               "wall_seconds": time.time() - t0, "final_loss": res.history[-1] if res.history else None}
        results["rows"].append(row)
        print(f"{row['model']}: test mIoU {ev['miou']:.4f} ({res.seconds:.0f} s training)", flush=True)
        (out / "results.json").write_text(json.dumps(results, indent=2))

    if main_rank:
        now = {r["model"] for r in results["rows"]}
        results["rows"] += [r for name, r in earlier.items() if name not in now]
        lines = ["| model | params | test ERP mIoU |", "|---|---:|---:|"]
        lines += [f"| {r['model']} | {r['params_M']:.2f}M | {100 * r['test_miou']:.1f} |" for r in results["rows"]]
        if "pseudo_label_train_miou" in results:
            lines.append(f"| (DAR pseudo-labels on the train panoramas, labelled pixels: "
                         f"{100 * results['pseudo_label_coverage']:.0f}%) | - | "
                         f"{100 * results['pseudo_label_train_miou']:.1f} |")
        (out / "results.md").write_text("\n".join(lines) + "\n")
        (out / "results.json").write_text(json.dumps(results, indent=2))
        print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
