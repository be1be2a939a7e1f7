"""Seconds to render the synthetic street world on the CPU: culled ray caster vs brute force.

    python benchmarks/bench_render.py [--repeats 5] [--threads N] [--device cpu]

Cases: a 512x1024 ERP and a 256x512 ERP (image + labels + depth), a 512x512 pinhole (FoV 90).
Each case: one warm-up, then the median of ``--repeats`` runs. The peer is the same render with
``cull=False``: every ray tested against every primitive (``gsam_lab.data.raycast.cast_bruteforce``).
Also reports the labels-only time (``shade=False``) and the process CPU time of the full render.
Target: 512x1024 ERP under 1 s on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from gsam_lab.data import make_world, render_rays
from gsam_lab.data import render as render_module
from gsam_lab.panorama import erp_rays, perspective_rays


def _median_seconds(fn, repeats: int, device: torch.device, cpu: bool = False):
    """Median wall seconds of ``fn`` (after one warm-up); with ``cpu`` also the median process CPU
    seconds (all threads), which stays meaningful on a machine shared with other jobs."""
    fn()                                                   # warm-up
    times, cpus = [], []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return (statistics.median(times), statistics.median(cpus)) if cpu else statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads while rendering (default: gsam_lab.data.render.CPU_RENDER_THREADS = 1)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-baseline", action="store_true", help="skip the (slow) brute-force peer")
    args = ap.parse_args()
    if args.threads:                                       # the renderer's own thread count
        render_module.CPU_RENDER_THREADS = args.threads
    dev = torch.device(args.device)
    world = make_world(args.seed).to(dev)
    print(f"device={dev} threads={render_module.CPU_RENDER_THREADS} seed={args.seed} primitives={world.n_primitives} "
          f"repeats={args.repeats}")
    cases = [
        ("ERP 512x1024", erp_rays(512, 1024, device=dev)),
        ("ERP 256x512", erp_rays(256, 512, device=dev)),
        ("pinhole 512x512 fov90", perspective_rays(90.0, 30.0, 0.0, (512, 512), device=dev)),
    ]
    print(f"load average (1 min) {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'case':24s} {'culled':>9s} {'(cpu)':>9s} {'labels':>9s} {'brute':>9s} {'ratio':>7s}")
    for name, rays in cases:
        full, cpu = _median_seconds(lambda: render_rays(world, rays, device=dev), args.repeats, dev, cpu=True)
        labels = _median_seconds(lambda: render_rays(world, rays, device=dev, shade=False), args.repeats, dev)
        if args.no_baseline:
            print(f"{name:24s} {full:8.3f}s {cpu:8.3f}s {labels:8.3f}s")
            continue
        brute = _median_seconds(lambda: render_rays(world, rays, device=dev, cull=False),
                                max(1, args.repeats // 2), dev)
        print(f"{name:24s} {full:8.3f}s {cpu:8.3f}s {labels:8.3f}s {brute:8.3f}s {brute / full:6.1f}x")


if __name__ == "__main__":
    main()
