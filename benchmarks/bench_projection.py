"""Tangent views out of an ERP: gsam_lab.panorama.erp_to_perspective against py360convert.e2p.

    python benchmarks/bench_projection.py [--threads 2] [--repeat 3]

20 views of 512 x 512, FoV 90°, various yaw / pitch, out of a 1024 x 2048 x 3 float32 ERP (numpy
H x W x 3 in, numpy out, as a notebook holds images). Prints:

- py360convert.e2p over the 20 views (its sampler cache holds 8 grids, so 20 views recompute theirs),
  and e2p with its grid cache hit (one view repeated, times 20: the sampling alone);
- ours, cold (ray grids computed: first call) and warm (grids cached: the same views again, as in a
  sliding-window loop over many panoramas);
- grid_sample alone on the same grids and padded input (the floor of our approach);
- the speed ratios and the mean absolute difference of the two results (py360convert is given the
  field of view that puts its pixel centres where ours are, see ``panorama.py360convert_fov``).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from gsam_lab import panorama
from gsam_lab.panorama import projection


def best_of(fn, repeat, before=None):
    times, out = [], None
    for _ in range(repeat):
        if before is not None:
            before()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def clear_caches():
    projection.view_grids.cache_clear()


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
    yy, xx = np.mgrid[0:eh, 0:ew].astype(np.float32)
    erp = np.stack([np.sin(xx / 37.0) * np.cos(yy / 23.0), np.cos(xx / 11.0), np.sin((xx + yy) / 53.0)], -1)
    erp = (erp * 0.4 + 0.5 + 0.1 * rng.standard_normal((eh, ew, 3))).astype(np.float32)

    n_views, fov, hw = 20, 90.0, (args.out, args.out)
    yaws = np.linspace(-180.0, 162.0, n_views).tolist()
    pitches = ([0.0, 30.0, -30.0, 60.0, -60.0] * 4)[:n_views]
    print(f"ERP {eh}x{ew}x3 float32 (numpy), {n_views} views {hw[0]}x{hw[1]} FoV {fov:g}, "
          f"torch {torch.__version__} with {torch.get_num_threads()} threads")

    ours_fn = lambda: panorama.erp_to_perspective(erp, fov, yaws, pitches, hw)
    t_cold, _ = best_of(ours_fn, args.repeat, before=clear_caches)
    t_warm, ours = best_of(ours_fn, args.repeat)

    fov_py = panorama.py360convert_fov(fov, hw)
    run_py = lambda: np.stack([py360convert.e2p(erp, fov_py, y, p, hw) for y, p in zip(yaws, pitches)])
    t_py, ref = best_of(run_py, args.repeat)
    py360convert.e2p(erp, fov_py, yaws[1], pitches[1], hw)
    t_py_hit, _ = best_of(lambda: py360convert.e2p(erp, fov_py, yaws[1], pitches[1], hw), args.repeat)
    t_py_hit *= n_views

    x = torch.from_numpy(erp).permute(2, 0, 1)[None]
    padded = torch.cat((x[..., -1:], x, x[..., :1]), dim=-1)
    grid = projection.view_grids(tuple((fov, y, p, 0.0) for y, p in zip(yaws, pitches)), hw, (eh, ew),
                                  x.device, torch.float32)
    t_gs, _ = best_of(lambda: F.grid_sample(padded.expand(n_views, -1, -1, -1), grid, mode="bilinear",
                                            padding_mode="border", align_corners=False), args.repeat)

    b = 2  # compare away from the view borders
    mad = float(np.abs(ours[:, b:-b, b:-b] - ref[:, b:-b, b:-b]).mean())
    value_range = float(erp.max() - erp.min())
    print(f"py360convert.e2p, 20 views           : {t_py:7.3f} s")
    print(f"py360convert.e2p, grid cache hit x20 : {t_py_hit:7.3f} s")
    print(f"ours, cold (grids computed)          : {t_cold:7.3f} s   {t_py / t_cold:5.1f} x faster")
    print(f"ours, warm (grids cached)            : {t_warm:7.3f} s   {t_py / t_warm:5.1f} x faster "
          f"({t_py_hit / t_warm:.1f} x vs the cache-hit py360convert)")
    print(f"grid_sample alone (floor)            : {t_gs:7.3f} s")
    print(f"mean |ours - py360convert|           : {mad:.2e} ({100 * mad / value_range:.4f} % of the value range)")


if __name__ == "__main__":
    main()
