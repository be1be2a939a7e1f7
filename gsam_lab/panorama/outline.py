"""Closed curves on the sphere drawn as ERP polylines, cut where they cross the ±180° seam."""
from __future__ import annotations

import math
from typing import List, Optional

import numpy as np

__all__ = ["sphere_loop_to_erp"]


def sphere_loop_to_erp(xyz: np.ndarray, h: int, w: int, pole_v: Optional[float] = None) -> List[np.ndarray]:
    """Draw a closed loop of directions on an ``H x W`` ERP.

    Arguments:
      xyz: ``N x 3`` directions along the loop (first point == last point); consecutive points must
        be less than 180° of longitude apart.
      h, w: ERP size.
      pole_v: ``0`` (north) or ``h`` (south) when the loop encloses that pole. The loop then winds
        once around the sphere; its single polyline is closed along the pole row so that it outlines
        the enclosed region on the ERP.

    Returns:
      A list of ``M x 2`` float arrays of ``(u, v)`` pixel coordinates. Where the loop crosses the
      seam it is cut, with an interpolated end point at ``u = W`` (or ``0``) and the next piece
      starting at ``u = 0`` (or ``W``).
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    lon = np.unwrap(np.arctan2(xyz[:, 0], xyz[:, 2]))
    lat = np.arctan2(xyz[:, 1], np.hypot(xyz[:, 0], xyz[:, 2]))
    u = (lon + math.pi) / (2 * math.pi) * w          # unwrapped: may leave [0, W)
    v = (math.pi / 2 - lat) / math.pi * h
    tile = np.floor(u / w).astype(np.int64)

    pieces, cur = [], [(u[0], v[0])]
    for i in range(1, len(u)):
        if tile[i] != tile[i - 1]:
            b = max(tile[i], tile[i - 1]) * w            # the seam line crossed, in unwrapped u
            t = (b - u[i - 1]) / (u[i] - u[i - 1])
            vb = v[i - 1] + t * (v[i] - v[i - 1])
            cur.append((b, vb))
            pieces.append((tile[i - 1], cur))
            cur = [(b, vb)]
        cur.append((u[i], v[i]))
    pieces.append((tile[-1], cur))
    out = [np.asarray(p, dtype=np.float64) - np.array([k * w, 0.0]) for k, p in pieces]
    if len(out) > 1:                                      # the loop is closed: last piece runs into the first
        out = [np.concatenate((out[-1], out[0][1:]), axis=0)] + out[1:-1]
    winding = round((lon[-1] - lon[0]) / (2 * math.pi))
    if pole_v is not None and winding != 0 and len(out) == 1:
        p = out[0]
        close = np.array([[p[-1, 0], pole_v], [p[0, 0], pole_v], p[0]])
        out = [np.concatenate((p, close), axis=0)]
    return out
