"""Figure helpers used by every notebook: colour label maps, overlay masks, grids, ERP axes, legends.

All functions take numpy arrays or torch tensors (on any device) and return numpy ``uint8`` images
or matplotlib objects. Image layouts understood by :func:`to_numpy_image`:

* numpy: ``H x W``, ``H x W x C`` (channel-last first), or ``C x H x W``;
* torch: ``H x W``, ``C x H x W`` (channel-first first), or ``H x W x C``;
* a leading batch dimension of size 1 is dropped; ``C`` is 1, 3 or 4 (alpha is dropped);
* ``uint8`` is used as is, floats are read as ``[0, 1]`` (clipped), bools as black/white.

Functions that create figures use ``pyplot``; in Jupyter assign the result
(``fig = viz.show_grid(...)``) so the figure is shown once, not twice.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

import numpy as np
import torch

from gsam_lab.images import as_array as _to_numpy
from gsam_lab.images import channel_last as _channel_last
from gsam_lab.images import to_numpy_image

__all__ = [
    "draw_boxes", "draw_points", "plot_sweep", "show_outcomes", "colorize_instances",
    "to_numpy_image",
    "colorize",
    "overlay",
    "show_grid",
    "legend_patches",
    "add_class_legend",
    "plot_erp",
    "draw_polylines",
    "savefig",
]

ImageLike = Union[np.ndarray, torch.Tensor]


def _default_palette():
    try:
        from gsam_lab.data import PALETTE
    except ImportError as e:  # pragma: no cover - only while gsam_lab.data is unavailable
        raise ImportError("the default palette comes from gsam_lab.data.PALETTE, which could not be "
                          "imported; pass palette= explicitly (a K x 3 uint8 array)") from e
    return PALETTE


def _default_classes():
    from gsam_lab.data import CLASSES
    return CLASSES


def _check_palette(palette) -> np.ndarray:
    pal = np.asarray(_default_palette() if palette is None else palette)
    if pal.ndim != 2 or pal.shape[1] != 3 or len(pal) == 0:
        raise ValueError(f"a palette must be a K x 3 array of RGB colours, got shape {pal.shape}")
    if np.issubdtype(pal.dtype, np.floating) and pal.size and pal.max() <= 1.0:
        pal = pal * 255.0  # matplotlib-style [0, 1] colours
    return np.clip(np.round(pal), 0, 255).astype(np.uint8)


def _label_array(label, name: str = "label") -> np.ndarray:
    arr, _ = _to_numpy(label)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be an H x W label map, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
        raise ValueError(f"{name} must hold integer class ids, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def colorize(label: ImageLike, palette=None, ignore_index: Optional[int] = 255) -> np.ndarray:
    """``H x W`` class ids -> ``H x W x 3`` uint8 colours; ``ignore_index`` pixels are black.

    Args:
        label: integer label map (numpy or torch, any device).
        palette: ``K x 3`` colours (uint8, or floats in [0, 1]); default ``gsam_lab.data.PALETTE``.
        ignore_index: id drawn black (``None``: no such id).

    Raises:
        ValueError: an id outside ``0 .. K-1`` that is not ``ignore_index``.
    """
    lab = _label_array(label)
    pal = _check_palette(palette)
    ign = np.zeros(lab.shape, bool) if ignore_index is None else lab == ignore_index
    bad = ~ign & ((lab < 0) | (lab >= len(pal)))
    if bad.any():
        raise ValueError(f"label holds id {int(lab[bad][0])}, outside the palette's 0..{len(pal) - 1} "
                         f"(ignore_index is {ignore_index})")
    out = pal[np.where(ign, 0, lab)]
    out[ign] = 0
    return out


def _edges(lab: np.ndarray) -> np.ndarray:
    """Pixels with a 4-neighbour of a different value (inside the image)."""
    e = np.zeros(lab.shape, bool)
    dv = lab[1:] != lab[:-1]
    dh = lab[:, 1:] != lab[:, :-1]
    e[1:] |= dv
    e[:-1] |= dv
    e[:, 1:] |= dh
    e[:, :-1] |= dh
    return e


def overlay(image: ImageLike, label_or_mask: ImageLike, alpha: float = 0.5, palette=None,
            color: Sequence[int] = (255, 0, 0), outline: bool = False, ignore_index: Optional[int] = 255,
            kind: str = "auto", outline_color: Optional[Sequence[int]] = None) -> np.ndarray:
    """Blend a label map or a binary mask over an image -> ``H x W x 3`` uint8.

    Args:
        image: the picture, any layout of :func:`to_numpy_image`, ``H x W`` spatially.
        label_or_mask: ``H x W``. With ``kind="auto"``, **bool or float arrays are masks**
            (floats thresholded at 0.5) and **integer arrays are label maps**; force either with
            ``kind="mask"`` / ``kind="label"`` (e.g. a 0/1 uint8 mask).
        alpha: weight of the colour (0: image only, 1: colour only).
        palette: label-map colours (default ``gsam_lab.data.PALETTE``); ``ignore_index`` pixels keep
            the image.
        color: RGB colour of a mask.
        outline: also draw contours at full opacity: the mask's inner contour, or the borders
            between different labels.
        outline_color: contour colour; default ``color`` for masks, white for label maps.
    """
    img = to_numpy_image(image).astype(np.float32)
    arr, _ = _to_numpy(label_or_mask)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.shape != img.shape[:2]:
        raise ValueError(f"label_or_mask must be H x W = {img.shape[:2]} like the image, got shape {arr.shape}")
    if kind == "auto":
        kind = "mask" if (arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.floating)) else "label"
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if kind == "mask":
        where = arr > 0.5 if np.issubdtype(arr.dtype, np.floating) else arr.astype(bool)
        colours = np.broadcast_to(np.asarray(color, np.float32), img.shape)
        edge = _edges(where) & where
        line = color if outline_color is None else outline_color
    elif kind == "label":
        lab = _label_array(arr, "label_or_mask")
        colours = colorize(lab, palette, ignore_index).astype(np.float32)
        where = np.ones(lab.shape, bool) if ignore_index is None else lab != ignore_index
        edge = _edges(lab)
        line = (255, 255, 255) if outline_color is None else outline_color
    else:
        raise ValueError(f"kind must be 'auto', 'mask' or 'label', got {kind!r}")
    out = img.copy()
    out[where] = (1.0 - alpha) * img[where] + alpha * colours[where]
    if outline:
        out[edge] = np.asarray(line, np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _display_array(x) -> np.ndarray:
    """Grey ``H x W`` arrays keep their values (shown with a colormap); others become RGB uint8."""
    arr, was_torch = _to_numpy(x)
    arr = _channel_last(arr, was_torch)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        return arr.astype(np.float32) if arr.dtype == np.bool_ else arr
    return to_numpy_image(arr)


def show_grid(images, titles: Optional[Sequence[str]] = None, ncols: int = 4, size: float = 3.0,
              suptitle: Optional[str] = None, cmap: str = "gray"):
    """Show images side by side -> a matplotlib ``Figure`` with one axis per image.

    Args:
        images: a list of images (any layout of :func:`to_numpy_image`), or a batch ``B x ...``
            (4-D array/tensor). ``H x W`` images (depth, scores, masks) are shown with ``cmap``.
        titles: one title per image.
        ncols: images per row (fewer when there are fewer images).
        size: width of one panel in inches; the height follows the first image's aspect ratio.
        suptitle: a title over the whole figure.
    """
    import matplotlib.pyplot as plt

    if isinstance(images, (np.ndarray, torch.Tensor)):
        images = list(images) if images.ndim == 4 else [images]
    images = list(images)
    if not images:
        raise ValueError("show_grid needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    if not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    arrays = [_display_array(im) for im in images]
    n = len(arrays)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    h, w = arrays[0].shape[:2]
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * h / w + 0.3 * (titles is not None)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            fig.delaxes(ax)
            continue
        a = arrays[i]
        ax.imshow(a, cmap=cmap if a.ndim == 2 else None, interpolation="nearest")
        ax.set_axis_off()
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def legend_patches(classes: Optional[Sequence[str]] = None, palette=None, present=None) -> list:
    """One coloured ``matplotlib.patches.Patch`` per class, for ``ax.legend(handles=...)``.

    Args:
        classes: class names (default ``gsam_lab.data.CLASSES``).
        palette: ``K x 3`` colours (default ``gsam_lab.data.PALETTE``); needs at least one per class.
        present: optional class ids (or a label map) to keep, e.g. the classes seen in one image.
    """
    from matplotlib.patches import Patch

    names = list(_default_classes() if classes is None else classes)
    pal = _check_palette(palette)
    if len(pal) < len(names):
        raise ValueError(f"the palette has {len(pal)} colours for {len(names)} classes")
    keep = range(len(names))
    if present is not None:
        ids, _ = _to_numpy(present)
        ids = set(int(i) for i in np.unique(ids))
        keep = [k for k in keep if k in ids]
    return [Patch(facecolor=pal[k] / 255.0, edgecolor="black", linewidth=0.5, label=names[k]) for k in keep]


def add_class_legend(ax, classes: Optional[Sequence[str]] = None, palette=None, present=None, **legend_kw):
    """Add a class legend to ``ax`` (outside, to the right, by default) and return it.

    Arguments as :func:`legend_patches`; ``legend_kw`` go to ``ax.legend``.
    """
    kw = dict(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, borderaxespad=0.0)
    kw.update(legend_kw)
    return ax.legend(handles=legend_patches(classes, palette, present), **kw)


def plot_erp(ax, erp_image: ImageLike, grid: bool = True, lon_step: float = 60.0, lat_step: float = 30.0,
             cmap: str = "gray", grid_kw: Optional[dict] = None):
    """Show a full-sphere ERP on ``ax`` with longitude/latitude ticks in degrees -> the ``AxesImage``.

    The axes keep **pixel coordinates** with the package's convention (``u`` in ``[0, W)``,
    ``v`` in ``[0, H)``, pixel centres at ``+0.5``, row 0 = latitude +90°, column 0 = longitude
    -180°), so ``(u, v)`` polylines from :mod:`gsam_lab.panorama` can be drawn directly with
    :func:`draw_polylines`; only the tick labels are degrees.

    Args:
        erp_image: ``H x W`` (shown with ``cmap``) or a colour image, any layout.
        grid: draw a graticule at the ticks (every ``lon_step`` / ``lat_step`` degrees).
        grid_kw: line style of the graticule (default thin white dashed lines).
    """
    arr = _display_array(erp_image)
    h, w = arr.shape[:2]
    im = ax.imshow(arr, cmap=cmap if arr.ndim == 2 else None, extent=(0, w, h, 0), interpolation="nearest")
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
        kw: passed to ``ax.plot`` (default ``color="red", linewidth=1.5``).

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
        pts, _ = _to_numpy(line)
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


def savefig(fig, path: Union[str, Path], dpi: int = 100, **kw) -> Path:
    """Save ``fig`` to ``path`` (format from the suffix), creating parent folders; ``bbox_inches="tight"``.

    Returns the path written.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"savefig needs a file path, got the folder {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    kw.setdefault("bbox_inches", "tight")
    fig.savefig(path, dpi=dpi, **kw)
    return path


def draw_boxes(ax, boxes, **kw) -> list:
    """Draw ``N x 4`` (or one ``(4,)``) XYXY pixel boxes on ``ax`` as rectangles.

    ``kw`` go to ``matplotlib.patches.Rectangle`` (default: no fill, lime edge, linewidth 1.5).
    Returns the patches added.
    """
    from matplotlib.patches import Rectangle

    b, _ = _to_numpy(boxes)
    b = np.asarray(b, dtype=np.float64)
    if b.ndim == 1:
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must be N x 4 (x0, y0, x1, y1), got shape {b.shape}")
    style = dict(fill=False, edgecolor="lime", linewidth=1.5)
    style.update(kw)
    patches = []
    for x0, y0, x1, y1 in b:
        patches.append(ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, **style)))
        style.pop("label", None)
    return patches


def draw_points(ax, points, labels=None, size: float = 40.0) -> list:
    """Draw ``K x 2`` ``(x, y)`` prompt points: positives (label 1) as green stars, negatives
    (label 0) as red crosses; label -1 (padding) is skipped. Returns the artists."""
    p, _ = _to_numpy(points)
    p = np.asarray(p, dtype=np.float64).reshape(-1, 2)
    lab = np.ones(len(p), dtype=int) if labels is None else np.asarray(_to_numpy(labels)[0]).reshape(-1).astype(int)
    if len(lab) != len(p):
        raise ValueError(f"labels must have one entry per point ({len(p)}), got {len(lab)}")
    out = []
    pos, neg = p[lab == 1], p[lab == 0]
    if len(pos):
        out.append(ax.scatter(pos[:, 0], pos[:, 1], s=size, c="lime", marker="*", edgecolors="black", linewidths=0.5))
    if len(neg):
        out.append(ax.scatter(neg[:, 0], neg[:, 1], s=size, c="red", marker="X", edgecolors="black", linewidths=0.5))
    return out


def plot_sweep(summaries, x: str = "noise", metrics_: Sequence[str] = ("miou", "mbiou", "stability"), axes=None):
    """Plot prompt-sweep summaries (``SweepResult.summary()`` tables) side by side, one line per entry.

    Args:
        summaries: ``{"pinhole": summary, "ERP": summary, ...}`` (or one summary).
        x: ``"noise"``: noisy boxes against their noise scale, with the ground-truth box drawn at
            noise 0; ``"k"``: point prompts against the number of points.
        metrics_: columns to plot, one panel each.
        axes: optional axes to draw on (one per metric).

    Returns:
        the figure.
    """
    import matplotlib.pyplot as plt
    import pandas as pd

    if isinstance(summaries, pd.DataFrame):
        summaries = {"": summaries}
    if x not in ("noise", "k"):
        raise ValueError(f"x must be 'noise' (noisy boxes) or 'k' (points), got {x!r}")
    if axes is None:
        fig, axes = plt.subplots(1, len(metrics_), figsize=(4.0 * len(metrics_), 3.2))
    axes = np.atleast_1d(axes)
    fig = axes[0].figure
    titles = {"miou": "mIoU", "mbiou": "boundary mIoU", "stability": "stability (pairwise IoU)"}
    for name, s in summaries.items():
        if x == "noise":
            part = s[s["kind"].isin(["gt_box", "noisy_box"])].sort_values("noise")
            label_x = "box noise scale (0 = ground-truth box)"
        else:
            part = s[s["kind"] == "points"].sort_values("k")
            label_x = "positive points"
        if part.empty:
            raise ValueError(f"summary {name!r} has no {'box' if x == 'noise' else 'point'} settings to plot")
        for ax, m in zip(axes, metrics_):
            ax.plot(part[x], part[m], marker="o", label=name or None)
    for ax, m in zip(axes, metrics_):
        ax.set_xlabel(label_x)
        ax.set_title(titles.get(m, m))
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    if any(summaries):
        axes[0].legend()
    fig.tight_layout()
    return fig


def show_outcomes(image, outcomes, ncols: Optional[int] = None, size: float = 3.0, color=(255, 64, 64)):
    """One panel per :class:`gsam_lab.sam.PromptOutcome` (``image``: one image, or a list with one
    per outcome): the image with the predicted mask tinted,
    the ground truth outlined in white, the prompt drawn (box in lime, points as stars/crosses) and
    the IoU in the title. Returns the figure."""
    import matplotlib.pyplot as plt

    outcomes = list(outcomes)
    if not outcomes:
        raise ValueError("no outcomes to show")
    ncols = ncols or len(outcomes)
    nrows = int(math.ceil(len(outcomes) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 0.85), squeeze=False)
    if isinstance(image, (list, tuple)):
        if len(image) != len(outcomes):
            raise ValueError(f"give one image, or one image per outcome ({len(outcomes)}); got {len(image)}")
        imgs = [to_numpy_image(i) for i in image]
    else:
        imgs = [to_numpy_image(image)] * len(outcomes)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, o, img in zip(axes.ravel(), outcomes, imgs):
        shown = img.astype(np.float32).copy()
        shown[o.mask] = 0.45 * shown[o.mask] + 0.55 * np.asarray(color, np.float32)
        edge = _edges(o.gt.astype(np.int64))
        shown[edge & o.gt] = 255
        ax.imshow(shown.astype(np.uint8))
        if o.boxes is not None:
            draw_boxes(ax, o.boxes)
        if o.points is not None:
            draw_points(ax, o.points, o.labels)
        ax.set_title(f"{o.name}\nIoU {o.iou:.2f} · bIoU {o.boundary_iou:.2f}", fontsize=9)
    fig.tight_layout()
    return fig


def colorize_instances(instance, seed: int = 0) -> np.ndarray:
    """``H x W`` object ids -> ``H x W x 3`` uint8, a distinct random colour per id, 0 (no object) black."""
    inst, _ = _to_numpy(instance)
    inst = np.asarray(inst)
    if inst.ndim != 2 or not np.issubdtype(inst.dtype, np.integer):
        raise ValueError(f"instance must be an H x W array of integer ids, got {inst.dtype} {inst.shape}")
    ids, inv = np.unique(inst, return_inverse=True)
    rng = np.random.default_rng(seed)
    colours = rng.integers(40, 256, (len(ids), 3)).astype(np.uint8)
    colours[ids == 0] = 0
    return colours[inv.reshape(inst.shape)]
