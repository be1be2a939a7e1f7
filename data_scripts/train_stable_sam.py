#!/usr/bin/env python
"""Train Stable-SAM plugins for ``tiny-synth`` with RTS on train-split renders (never the test split).

    python data_scripts/train_stable_sam.py                      # DSP+DRP -> runs/stable_sam/stable_sam_tiny_synth.pt
    python data_scripts/train_stable_sam.py --variants dsp_drp dsp decoder    # + the ablations (runs/stable_sam/)
    python data_scripts/train_stable_sam.py --n-pinhole 8 --n-erp 2 --steps 5 --out /tmp/p.pt   # quick look

Variants: ``dsp_drp`` (the shipped plugins), ``dsp`` (DSP alone: no routing) and ``decoder`` (the
baseline: SAM's whole mask decoder tuned, no plugins, same prompts, same steps; lr ``--decoder-lr``).
The images are embedded once and shared by all variants. Each variant checkpoints to
``<ablation-dir>/stable_sam_<variant>.pt.ckpt`` and resumes when run again with the same settings
(``--max-minutes`` caps one run; other settings, data or weights are refused with what differs); an
existing output is never replaced without ``--overwrite``, which also deletes the checkpoint and starts
over (so leave it out of the reruns that should resume). To ship new plugins, pass
``--out gsam_lab/assets/stable_sam_tiny_synth.pt --overwrite`` and put their SHA-256 in ``gsam_lab/bundled.py``.
Recipe: ``gsam_lab/stable_sam/rts.py``; results: ``data_scripts/README.md``.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from pathlib import Path

import torch

from gsam_lab import data, sam, stable_sam
from gsam_lab.sam.registry import ASSETS_DIR
from gsam_lab.stable_sam.rts import RTSConfig

VARIANTS = ("dsp_drp", "dsp", "decoder")


def training_set(n_pinhole: int, n_erp: int, seed: int):
    """Train-split renders: pinhole 256 x 256 (FoV 50-110 deg) and ERP 256 x 512."""
    parts = []
    if n_pinhole:
        parts.append(data.SyntheticPinholes("train", n_pinhole, (256, 256), seed=seed, fov_deg=(50.0, 110.0)))
    if n_erp:
        parts.append(data.SyntheticPanoramas("train", n_erp, (256, 512), seed=seed))
    return torch.utils.data.ConcatDataset(parts)


def build(variant: str, model):
    if variant == "dsp_drp":
        return stable_sam.StableSam(model, dsp=True, drp=True)
    if variant == "dsp":
        return stable_sam.StableSam(model, dsp=True, drp=False)
    return stable_sam.StableSam(copy.deepcopy(model), dsp=False, drp=False)   # decoder baseline, on a copy


def main(argv=None) -> int:
    d = RTSConfig()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="+", default=["dsp_drp"], choices=VARIANTS)
    ap.add_argument("--out", type=Path, default=Path("runs/stable_sam/stable_sam_tiny_synth.pt"),
                    help=f"output of dsp_drp (the shipped file is {ASSETS_DIR / 'stable_sam_tiny_synth.pt'})")
    ap.add_argument("--ablation-dir", type=Path, default=Path("runs/stable_sam"),
                    help="outputs of dsp / decoder, and every variant's training checkpoint "
                         "(stable_sam_<variant>.pt.ckpt)")
    ap.add_argument("--n-pinhole", type=int, default=400)
    ap.add_argument("--n-erp", type=int, default=100)
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--decoder-lr", type=float, default=1e-4)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--overwrite", action="store_true",
                    help="replace existing outputs and start over (deletes the training checkpoints)")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--steps", type=int, default=None)
    for f in dataclasses.fields(RTSConfig):
        if f.type in ("int", "float", int, float):
            typ = int if f.type in ("int", int) else float
            ap.add_argument("--" + f.name.replace("_", "-"), type=typ, default=getattr(d, f.name))
    ap.add_argument("--prompt-mix", type=float, nargs=3, default=list(d.prompt_mix))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    fields = {f.name: getattr(args, f.name) for f in dataclasses.fields(RTSConfig) if hasattr(args, f.name)}
    fields["prompt_mix"] = tuple(args.prompt_mix)
    cfg = RTSConfig(**fields).validate()
    log = lambda s: print(s, flush=True)  # noqa: E731
    t0 = time.process_time()
    model = sam.load_sam("tiny-synth", device=args.device)
    ds = training_set(args.n_pinhole, args.n_erp, args.data_seed)
    log(f"config: {dataclasses.asdict(cfg)}\n{len(ds)} train-split images")
    embedded = stable_sam.embed_dataset(stable_sam.StableSam(model), ds, cfg.min_area, progress=not args.no_progress)
    log(f"embedded {len(embedded)} images, {sum(len(e.objects) for e in embedded)} objects; "
        f"cpu {time.process_time() - t0:.0f}s")
    for v in args.variants:
        out = args.out if v == "dsp_drp" else args.ablation_dir / f"stable_sam_{v}.pt"
        vcfg = dataclasses.replace(cfg, trainable="decoder", lr=args.decoder_lr) if v == "decoder" else cfg
        stable = build(v, model)
        c0 = time.process_time()
        ckpt = args.ablation_dir / f"stable_sam_{v}.pt.ckpt"           # never next to the shipped asset
        res = stable_sam.train_rts(stable, ds, vcfg, out=out, checkpoint=ckpt, device=args.device,
                                   overwrite=args.overwrite, progress=not args.no_progress, log=log,
                                   sam_name="tiny-synth", embedded=embedded)
        log(f"[{v}] {res['steps']} steps, {res['trainable']:,} trainable parameters, wall {res['seconds']:.0f}s, "
            f"cpu {time.process_time() - c0:.0f}s -> {res['out']}")
    log(f"total cpu {time.process_time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
