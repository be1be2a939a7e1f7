"""Panoramas (ERP) on matplotlib axes: longitude/latitude ticks, curves across the seam, window layouts."""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np
import torch

from gsam_lab.images import as_array

from .images import ImageLike, display_array

__all__ = ["plot_erp", "draw_polylines", "draw_windows"]

#: tick spacings tried, finest first, until the labels fit the axes (about 0.5 in per longitude label,
#: 0.22 in per latitude label)
LON_STEPS = (60.0, 90.0, 180.0)
LAT_STEPS = (30.0, 45.0, 90.0)
_LON_LABEL_IN, _LAT_LABEL_IN = 0.5, 0.22


def _axes_inches(ax, aspect: float):
    """Width and height in inches the image will take on ``ax`` (``aspect`` = rows / columns)."""
    pos = ax.get_position()
    fig_w, fig_h = ax.figure.get_size_inches()
    width, height = pos.width * fig_w, pos.height * fig_h
    shown_w = min(width, height / aspect)
    return shown_w, shown_w * aspect


def _fitting_step(steps: Sequence[float], span: float, room_in: float, per_label_in: float) -> float:
    for step in steps:
        if (span / step + 1) * per_label_in <= room_in:
            return step
    return steps[-1]


def plot_erp(ax, erp_image: ImageLike, grid: bool = True, lon_step: Optional[float] = None,
             lat_step: Optional[float] = None, cmap: str = "gray", grid_kw: Optional[dict] = None,
             vmin: Optional[float] = None, vmax: Optional[float] = None):
    """Show a full-sphere ERP on ``ax`` with longitude/latitude ticks in degrees -> the ``AxesImage``.

    The axes keep **pixel coordinates** with the package's convention (``u`` in ``[0, W)``,
    ``v`` in ``[0, H)``, pixel centres at ``+0.5``, row 0 = latitude +90°, column 0 = longitude
    -180°), so ``(u, v)`` polylines from :mod:`gsam_lab.panorama` can be drawn directly with
    :func:`draw_polylines`; only the tick labels are degrees.

    Args:
        erp_image: ``H x W`` (shown with ``cmap``) or a colour image, any layout.
        grid: draw a graticule at the ticks.
        lon_step, lat_step: degrees between ticks; ``None`` picks the finest of :data:`LON_STEPS` /
            :data:`LAT_STEPS` whose labels fit the axes without overlapping (small panels get fewer).
        grid_kw: line style of the graticule (default thin white dashed lines).
        vmin, vmax: colour range of an ``H x W`` map (default: its own min and max). Fix them for maps
            with a known range (weights in [0, 1]), so that a constant map is not shown as noise.
    """
    arr = display_array(erp_image)
    h, w = arr.shape[:2]
    grey = arr.ndim == 2
    im = ax.imshow(arr, cmap=cmap if grey else None, extent=(0, w, h, 0), interpolation="nearest",
                   vmin=vmin if grey else None, vmax=vmax if grey else None)
    shown_w, shown_h = _axes_inches(ax, h / w)
    lon_step = lon_step or _fitting_step(LON_STEPS, 360.0, shown_w, _LON_LABEL_IN)
    lat_step = lat_step or _fitting_step(LAT_STEPS, 180.0, shown_h, _LAT_LABEL_IN)
    lons = np.arange(-180.0, 180.0 + 1e-9, lon_step)
    lats = np.arange(90.0, -90.0 - 1e-9, -lat_step)
    ax.set_xticks((lons + 180.0) / 360.0 * w)
    ax.set_xticklabels([f"{v:g}°" for v in lons])
    ax.set_yticks((90.0 - lats) / 180.0 * h)
    ax.set_yticklabels([f"{v:g}°" for v in lats])
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    if grid:
        style = dict(color="white", alpha=0.5, linewidth=0.6, linestyle="--")
        style.update(grid_kw or {})
        ax.grid(True, **style)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    return im


def draw_polylines(ax, polylines: Iterable, split_seam: bool = True, **kw) -> list:
    """Draw ``N x 2`` polylines of ``(u, v)`` pixel coordinates (footprints, Tissot ellipses) on ``ax``.

    Args:
        polylines: an iterable of ``N x 2`` arrays/tensors, or a single one.
        split_seam: break a line where consecutive points jump by more than half the axis width
            (a curve crossing the ±180° seam), instead of drawing a stroke across the image.
        kw: passed to ``ax.plot`` (default ``color="red", linewidth=1.5``); a ``label`` names the
            whole call once in a legend.

    Returns:
        the list of ``Line2D`` objects drawn.
    """
    from matplotlib import cbook
    from matplotlib.lines import Line2D

    style = dict(color="red", linewidth=1.5)
    style.update(cbook.normalize_kwargs(kw, Line2D))   # "lw" and "linewidth" are the same setting
    if isinstance(polylines, (np.ndarray, torch.Tensor)) and polylines.ndim == 2:
        polylines = [polylines]
    x0, x1 = ax.get_xlim()
    half = abs(x1 - x0) / 2.0
    lines = []
    for i, line in enumerate(polylines):
        pts, _ = as_array(line)
        pts = np.asarray(pts, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"polyline {i} must be an N x 2 array of (u, v), got shape {pts.shape}")
        pieces = [pts]
        if split_seam and len(pts) > 1:
            cuts = np.nonzero(np.abs(np.diff(pts[:, 0])) > half)[0] + 1
            pieces = np.split(pts, cuts)
        for p in pieces:
            if len(p):
                lines.extend(ax.plot(p[:, 0], p[:, 1], **style))
                style.pop("label", None)  # one legend entry per call
    return lines


def draw_windows(ax, windows: Sequence, width: int, cmap: str = "tab10", inset: float = 3.0) -> list:
    """Draw rectangular windows on an ERP shown by :func:`plot_erp`, each in its own colour and numbered.

    A window is anything with ``left``, ``top``, ``w`` and ``h`` in pixels (e.g. ``goodsam.Window``);
    columns are taken modulo ``width``, so a window that runs past the right edge is drawn in two parts
    (the rest at the left edge, across the ±180° seam). Windows are filled lightly and window ``k`` is
    inset by ``(k % 3) * inset`` pixels, so that the outlines of overlapping windows do not coincide.

    Returns:
        the patches added.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    colours = plt.get_cmap(cmap)
    patches = []
    for k, win in enumerate(windows):
        for name in ("left", "top", "w", "h"):
            if not hasattr(win, name):
                raise ValueError(f"window {k} has no {name!r}; expected left, top, w, h in pixels")
        col = colours(k % colours.N)
        d = (k % 3) * inset
        left = win.left % width
        for shift in (0.0, -float(width)) if left + win.w > width else (0.0,):
            x, y = left + shift + d, win.top + d
            patches.append(ax.add_patch(Rectangle((x, y), win.w - 2 * d, win.h - 2 * d, facecolor=col,
                                                  alpha=0.08, edgecolor="none")))
            patches.append(ax.add_patch(Rectangle((x, y), win.w - 2 * d, win.h - 2 * d, fill=False,
                                                  edgecolor=col, linewidth=2.0)))
        ax.text(left + win.w / 2 if left + win.w <= width else left + (width - left) / 2, win.top + d + 4,
                str(k), color="white", fontsize=8, ha="center", va="top",
                bbox=dict(boxstyle="round,pad=0.15", facecolor=col, edgecolor="none"))
    return patches
