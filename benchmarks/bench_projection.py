"""Tangent views out of an ERP: gsam_lab.panorama.erp_to_perspective against py360convert.e2p.

    python benchmarks/bench_projection.py [--threads 2] [--repeat 3]

20 views of 512 x 512, FoV 90°, various yaw / pitch, out of a 1024 x 2048 x 3 float32 ERP (numpy
H x W x 3, as a notebook would hold it). Prints the time of each, the speed ratio, the mean absolute
difference of the two results (py360convert is given the field of view that puts its pixel centres
where ours are, see ``panorama.py360convert_fov``), and the time of ``grid_sample`` alone on the same
grids (the floor of our approach).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from gsam_lab import panorama


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    ap.add_argument("--size", type=int, default=1024, help="ERP height (width = 2 x height)")
    ap.add_argument("--out", type=int, default=512, help="view side")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    import py360convert

    rng = np.random.default_rng(0)
    eh, ew = args.size, 2 * args.size
    # a smooth-ish image with texture: low-frequency colour plus noise
    yy, xx = np.mgrid[0:eh, 0:ew].astype(np.float32)
    erp = np.stack([np.sin(xx / 37.0) * np.cos(yy / 23.0), np.cos(xx / 11.0), np.sin((xx + yy) / 53.0)], -1)
    erp = (erp * 0.4 + 0.5 + 0.1 * rng.standard_normal((eh, ew, 3))).astype(np.float32)

    n_views, fov, hw = 20, 90.0, (args.out, args.out)
    yaws = np.linspace(-180.0, 162.0, n_views).tolist()
    pitches = ([0.0, 30.0, -30.0, 60.0, -60.0] * 4)[:n_views]
    print(f"ERP {eh}x{ew}x3 float32, {n_views} views {hw[0]}x{hw[1]} FoV {fov:g}, torch threads {torch.get_num_threads()}")

    # warm-up (fills our ray cache, as a notebook's second call would)
    panorama.erp_to_perspective(erp, fov, yaws, pitches, hw)
    t_ours, ours = best_of(lambda: panorama.erp_to_perspective(erp, fov, yaws, pitches, hw), args.repeat)

    fov_py = panorama.py360convert_fov(fov, hw)
    run_py = lambda: np.stack([py360convert.e2p(erp, fov_py, y, p, hw) for y, p in zip(yaws, pitches)])
    t_py, ref = best_of(run_py, args.repeat)

    # the floor: grid_sample alone on the same grids and the same padded input, as erp_to_perspective calls it
    from gsam_lab.panorama.projection import _view_grids
    x = torch.from_numpy(erp).permute(2, 0, 1)[None]
    padded = torch.cat((x[..., -1:], x, x[..., :1]), dim=-1)
    vals = dict(fov_deg=[fov] * n_views, yaw_deg=yaws, pitch_deg=pitches, roll_deg=[0.0] * n_views)
    grid = _view_grids(vals, n_views, hw, (eh, ew), x.device, torch.float32)
    t_gs, _ = best_of(lambda: F.grid_sample(padded.expand(n_views, -1, -1, -1), grid, mode="bilinear",
                                            padding_mode="border", align_corners=False), args.repeat)

    b = 2  # compare away from the view borders
    mad = float(np.abs(ours[:, b:-b, b:-b] - ref[:, b:-b, b:-b]).mean())
    rng_val = float(erp.max() - erp.min())
    print(f"py360convert.e2p     : {t_py:8.3f} s")
    print(f"panorama (ours)      : {t_ours:8.3f} s")
    print(f"grid_sample alone    : {t_gs:8.3f} s  (floor)")
    print(f"speed-up vs py360    : {t_py / t_ours:8.2f} x")
    print(f"mean |ours - py360|  : {mad:.2e}  ({100 * mad / rng_val:.3f} % of the value range)")


if __name__ == "__main__":
    main()
