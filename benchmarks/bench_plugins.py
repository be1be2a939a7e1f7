#!/usr/bin/env python
"""Mask-decoder latency with and without the Stable-SAM plugins: 64 prompts, ViT-B shapes, CPU.

    python benchmarks/bench_plugins.py                 # --prompts 64 --repeats 5 --threads 1
    python benchmarks/bench_plugins.py --threads 2 --device cuda

Workload: Meta's ViT-B/L/H mask decoder and prompt encoder (transformer_dim 256, 64 x 64 image
embedding, 1024 px input; random weights, no checkpoint needed), one image embedding, 64 box
prompts, single-mask output, no grad. "SAM" is ``MaskDecoder.forward``; the plugin rows are
``StableSam.decode`` (DSP+DRP with layer-2 deformation, the default; DSP alone; DSP+DRP also
deforming the final attention). Runs are interleaved and the median of ``--repeats`` is reported;
on the CPU the times are process CPU times (use ``--threads 1``), on a GPU wall times.
The breakdown times each plugin operation alone on the decoder's ``64 x 4096 x 256`` image tokens.
Prints the ratio against the 1.25x target and the trainable parameter count.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from segment_anything.modeling import MaskDecoder, PromptEncoder, TwoWayTransformer

from gsam_lab.stable_sam import DynamicRoutingPlugin, StableSam
from gsam_lab.stable_sam.dsp import base_grid
from gsam_lab.utils import resolve_device


class _VitBDecoder(torch.nn.Module):
    """Prompt encoder + mask decoder of Meta's SAM (identical for ViT-B/L/H)."""

    def __init__(self):
        super().__init__()
        self.prompt_encoder = PromptEncoder(embed_dim=256, image_embedding_size=(64, 64),
                                            input_image_size=(1024, 1024), mask_in_chans=16)
        self.mask_decoder = MaskDecoder(num_multimask_outputs=3, transformer=TwoWayTransformer(
            depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8), transformer_dim=256, iou_head_depth=3,
            iou_head_hidden_dim=256)


def _timer(dev):
    """Wall time on a GPU; on the CPU the process CPU time (steadier on a shared machine, and equal
    to the wall time of an idle machine with one thread)."""
    if dev.type == "cuda":
        def t(fn):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            return time.perf_counter() - t0
        return t

    def t(fn):
        t0 = time.process_time()
        fn()
        return time.process_time() - t0
    return t


@torch.no_grad()
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    torch.manual_seed(0)
    host = _VitBDecoder().to(dev).eval()
    variants = {"DSP+DRP (layer 2)": StableSam(host), "DSP alone": StableSam(host, drp=False),
                "DSP+DRP (layer 2 + final)": StableSam(host, deform_attn=("layer2", "final"))}
    for s in variants.values():                       # trained-looking plugins (non-zero offsets and routing)
        s.dsp.offset.weight.normal_(0, 0.01)
        if s.drp is not None:
            s.drp.mlp[-1].weight.normal_(0, 0.1)
    n = args.prompts
    emb = torch.randn(1, 256, 64, 64, device=dev)
    xy = torch.rand(n, 2, device=dev) * 700
    boxes = torch.cat([xy, xy + 64 + torch.rand(n, 2, device=dev) * 256], 1)
    sparse, dense = host.prompt_encoder(points=None, boxes=boxes, masks=None)
    pe = host.prompt_encoder.get_dense_pe()
    timer = _timer(dev)
    runs = {"SAM": lambda: host.mask_decoder(emb, pe, sparse, dense, False)}
    runs.update({k: (lambda s=s: s.decode(emb, sparse, dense)) for k, s in variants.items()})
    for fn in runs.values():
        fn()                                          # warm-up
    times = {k: [] for k in runs}
    for _ in range(args.repeats):
        for k, fn in runs.items():
            times[k].append(timer(fn))
    med = {k: statistics.median(v) for k, v in times.items()}
    stable = variants["DSP+DRP (layer 2)"]
    clock = "wall" if dev.type == "cuda" else "process CPU"
    print(f"device {dev}, threads {torch.get_num_threads()}, {n} box prompts, 64 x 64 embedding, "
          f"median {clock} time of {args.repeats} (interleaved)")
    dsp_only = StableSam(host, drp=False).num_trainable()
    print(f"trainable parameters (DSP+DRP): {stable.num_trainable():,}  (DSP {dsp_only:,})")
    print("\n| decoder | ms | ratio to SAM |\n|---|---|---|")
    for k, v in med.items():
        print(f"| {k} | {1e3 * v:.0f} | {v / med['SAM']:.3f}x |")
    r = med["DSP+DRP (layer 2)"] / med["SAM"]
    print(f"\nratio DSP+DRP / SAM = {r:.3f}x (target <= 1.25x): {'met' if r <= 1.25 else 'MISSED'}")

    # where the plugin time goes: each operation alone on the decoder's image tokens (B x HW x C)
    dsp, drp = stable.dsp, stable.drp
    tok = torch.randn(n, 64 * 64, 256, device=dev)
    q = torch.randn(n, 256, device=dev)
    xp = dsp.project_tokens(tok)
    xp_map = xp.view(n, 64, 64, 256).permute(0, 3, 1, 2)
    y = dsp.dwconv(xp_map).permute(0, 2, 3, 1)
    y2 = F.gelu(F.layer_norm(y, (256,), dsp.norm.weight, dsp.norm.bias, dsp.norm.eps))
    off = F.linear(y2, dsp.offset.weight[:, :, 0, 0], dsp.offset.bias)
    grid = base_grid(64, 64, dev) + off * (2 / 64)
    deformed = F.grid_sample(xp_map, grid, align_corners=False).flatten(2).transpose(1, 2)
    ops = {
        "projection Conv1x1 (256x256 matmul)": lambda: dsp.project_tokens(tok),
        "depth-wise 5x5 conv": lambda: dsp.dwconv(xp_map),
        "layer norm + GELU": lambda: F.gelu(F.layer_norm(y, (256,), dsp.norm.weight, dsp.norm.bias, dsp.norm.eps)),
        "offset head (256->2)": lambda: F.linear(y2, dsp.offset.weight[:, :, 0, 0], dsp.offset.bias),
        "grid_sample (bilinear) + to tokens":
            lambda: F.grid_sample(xp_map, grid, align_corners=False).flatten(2).transpose(1, 2),
        "DRP MLP + routing mix": lambda: DynamicRoutingPlugin.mix(drp(q), deformed, tok),
    }
    for fn in ops.values():
        fn()
    op_t = {k: statistics.median(timer(fn) for _ in range(args.repeats)) for k, fn in ops.items()}
    extra = med["DSP+DRP (layer 2)"] - med["SAM"]
    print(f"\nwhere the plugin time goes (each op alone, median ms; measured extra per call {1e3 * extra:.0f} ms):")
    print("\n| operation | ms | share of SAM's decoder time |\n|---|---|---|")
    for k, v in op_t.items():
        print(f"| {k} | {1e3 * v:.0f} | {100 * v / med['SAM']:.1f}% |")
    print(f"| sum | {1e3 * sum(op_t.values()):.0f} | {100 * sum(op_t.values()) / med['SAM']:.1f}% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
