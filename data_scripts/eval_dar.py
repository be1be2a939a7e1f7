"""DAR ablation on held-out synthetic ERP panoramas (test or val split): TA alone, + windows, + boundary, + fusion.

Prints (and writes as JSON / Markdown) mIoU, per-class IoU and latitude-band mIoU of every variant in
``gsam_lab.goodsam.ablation.ABLATION_VARIANTS``, the pseudo-labels' coverage and accuracy, and seconds
per panorama; then the headline comparison with 95 % bootstrap intervals over panoramas: the TA's
mIoU and full DAR's gain over it with each fusion (vote, ctcf). SAM masks are computed once per
panorama and cached in ``--mask-cache``::

    python data_scripts/eval_dar.py --split test --n 16 --threads 2
    python data_scripts/eval_dar.py --split val --n 16 --threads 2
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from gsam_lab import data, goodsam, metrics, sam
from gsam_lab.bootstrap import format_ci, miou_bootstrap_ci
from gsam_lab.goodsam.ablation import run_ablation
from gsam_lab.goodsam.fusion import sam_masks
from gsam_lab.utils import atomic_save, load_torch_file, weights_fingerprint


def markdown(df) -> str:
    """A DataFrame as a Markdown table (no extra dependency)."""
    cols = list(df.columns)
    rows = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    rows += ["| " + " | ".join(str(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join(rows)


#: the TA on the whole ERP, the baseline of every comparison
TA_ALONE = dict(windows="none", boundary=False, fusion="none")


def headline_methods(min_share: float, keep_confident: float) -> dict:
    """The comparison that matters, with intervals: full DAR (windows h + boundary) with each fusion vs the TA;
    the guarded vote with the given guards."""
    return {"TA alone": TA_ALONE,
            "DAR, vote": dict(windows="h", boundary=True, fusion="vote"),
            "DAR, ctcf": dict(windows="h", boundary=True, fusion="ctcf"),
            f"DAR, vote (share >= {min_share:g}, TA kept >= {keep_confident:g})": dict(
                windows="h", boundary=True, fusion="vote",
                fusion_kwargs=dict(min_share=min_share, keep_confident=keep_confident))}


#: the guards of the vote tried by ``--vote-grid`` (choose them on the val split)
VOTE_GRID = [dict(min_share=m, keep_confident=k) for m in (0.0, 0.5, 0.6, 0.7, 0.8) for k in (None, 0.8, 0.9, 0.95)]


@torch.no_grad()
def headline(teacher, ds, masks, conf_thresh: float, methods: dict) -> str:
    """mIoU of the TA and of DAR with 95 % bootstrap intervals over panoramas, DAR's paired gain over the TA
    (the panoramas resampled together), the IoU change of every class, and the pseudo-labels' coverage /
    accuracy curve over confidence thresholds."""
    cms = {name: [] for name in methods}
    curves = {name: ([], [], []) for name in methods if name != "TA alone"}
    for i in range(len(ds)):
        item = ds[i]
        for name, kw in methods.items():
            use = None if kw["fusion"] == "none" else masks[i]
            res = goodsam.dar(teacher, None, item["image"], masks=use, conf_thresh=conf_thresh, **kw)
            pred = res.ensemble_logits.argmax(0)
            cms[name].append(metrics.confusion_matrix(pred, item["semantic"], teacher.num_classes).numpy())
            if name in curves:
                for part, x in zip(curves[name], (pred, res.parts["confidence"], item["semantic"])):
                    part.append(x)
    base = cms["TA alone"]
    lines = [f"headline, n = {len(ds)} panoramas of the {ds.split} split (95 % bootstrap intervals over panoramas)", "",
             "| method | mIoU | gain over TA (points) | largest class drop (points) |", "|---|---|---|---|"]
    base_iou = metrics.iou_from_confusion(torch.as_tensor(sum(base)))
    for name, cm in cms.items():
        m = miou_bootstrap_ci(cm)
        gain = drop = ""
        if cm is not base:
            gain = format_ci(*(100 * x for x in miou_bootstrap_ci(cm, base=base)), digits=2)
            d = 100 * (metrics.iou_from_confusion(torch.as_tensor(sum(cm))) - base_iou)
            worst = int(torch.nan_to_num(d, nan=float("inf")).argmin())
            drop = f"{float(d[worst]):+.2f} ({teacher.classes[worst]})"
        lines.append(f"| {name} | {format_ci(*m)} | {gain} | {drop} |")
    lines += ["", "pseudo-labels kept above a confidence threshold (coverage of the labelled pixels / accuracy of "
              "the kept ones)", ""]
    for name, (preds, confs, gts) in curves.items():
        c = goodsam.confidence_curve(preds, confs, gts, teacher.num_classes)
        lines.append(f"- {name}: " + ", ".join(f"{r.threshold:g}: {r.coverage:.3f} / {r.accuracy:.3f}"
                                               for r in c.itertuples()))
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", default="test", choices=("test", "val"))
    p.add_argument("--n", type=int, default=16, help="panoramas of --split")
    p.add_argument("--hw", type=int, nargs=2, default=(256, 512))
    p.add_argument("--teacher", default="tiny-synth")
    p.add_argument("--sam", default="tiny-synth")
    p.add_argument("--points-per-side", type=int, default=6)
    p.add_argument("--sam-method", default="grid", choices=("grid", "windows"),
                   help="grid: SAM on the whole ERP; windows: SAM on each 'h' window (finer masks, 4x cost)")
    p.add_argument("--conf-thresh", type=float, default=0.5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--mask-cache", default="/tmp/goodsam/masks")
    p.add_argument("--out", default="/tmp/goodsam/eval_dar")
    p.add_argument("--masks-only", action="store_true", help="only compute / cache the SAM masks")
    p.add_argument("--min-share", type=float, default=0.6, help="the guarded vote's class-consistency share")
    p.add_argument("--keep-confident", type=float, default=0.9, help="the guarded vote keeps TA pixels this sure")
    p.add_argument("--vote-grid", action="store_true",
                   help="only score the vote with each pair of guards of VOTE_GRID (to choose them on val)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = sam.load_sam(args.sam, device=args.device)
    ds = data.SyntheticPanoramas(args.split, n=args.n, hw=tuple(args.hw))
    skw = dict(points_per_side=args.points_per_side, method=args.sam_method)
    tag = "" if args.sam_method == "grid" else f"_{args.sam_method}"
    # keyed by the weights too: new tiny-synth weights must not reuse masks of the old ones
    cache = (Path(args.mask_cache) / f"{Path(args.sam).name}_{weights_fingerprint(model)}_{args.hw[0]}x{args.hw[1]}"
             f"_pps{args.points_per_side}{tag}")
    masks, t0 = [], time.time()
    for i in range(len(ds)):
        f = cache / f"{ds.world_seed(i)}.pt"
        if f.is_file():
            masks.append(goodsam.MaskSet(*load_torch_file(f, SystemExit)))
        else:
            ms = sam_masks(model, ds[i]["image"].to(args.device), **skw)
            atomic_save(tuple(t.cpu() for t in ms), f)
            masks.append(ms)
    sam_s = (time.time() - t0) / len(ds)
    if args.masks_only:
        print(f"{len(masks)} mask sets in {cache} ({sam_s:.1f} s each)")
        return
    teacher = goodsam.load_teacher(args.teacher, device=args.device)
    if args.vote_grid:
        grid = {f"vote, min_share {g['min_share']:g}, keep_confident {g['keep_confident']}":
                dict(windows="h", boundary=True, fusion="vote", fusion_kwargs=g) for g in VOTE_GRID}
        res = run_ablation(teacher, model, ds, variants={"TA alone": TA_ALONE, **grid},
                           masks=masks, common=dict(conf_thresh=args.conf_thresh), progress=False)
        per = res.per_class.set_index("variant")
        worst = per.sub(per.iloc[0]).min(axis=1).mul(100).round(2).rename("largest class drop (points)")
        print(markdown(res.table[["variant", "miou", "delta_vs_ta"]].join(worst, on="variant")))
        return
    res = run_ablation(teacher, model, ds, masks=masks, common=dict(conf_thresh=args.conf_thresh))
    cols = ["variant", "miou", "delta_vs_ta", "pixel_acc", "pseudo_coverage", "pseudo_miou", "seconds"]
    text = markdown(res.table[cols]) + "\n\nper-class IoU\n\n" + markdown(res.per_class) + \
        "\n\nlatitude-band mIoU\n\n" + markdown(res.latitude) + \
        f"\n\nSAM masks: {sam_s:.1f} s per panorama (cached after the first run; " \
        f"{sum(len(m.masks) for m in masks) / len(masks):.1f} masks each)\n"
    text += "\n" + headline(teacher, ds, masks, args.conf_thresh, headline_methods(args.min_share, args.keep_confident))
    args.out = f"{args.out}_{args.split}"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".md").write_text(text)
    Path(args.out + ".json").write_text(json.dumps({"args": vars(args), "table": res.table.to_dict("records"),
                                                    "per_class": res.per_class.to_dict("records"),
                                                    "latitude": res.latitude.to_dict("records")}, indent=2))
    print(text)


if __name__ == "__main__":
    main()
