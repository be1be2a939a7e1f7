"""Label maps and masks: class colours, overlays on an image, object colours, class legends.

Every figure that shows a label map should carry a class legend: :func:`add_class_legend` on one axes,
or on a whole figure (one legend below all its panels), listing only the classes shown.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from gsam_lab.data.classes import CLASSES, PALETTE
from gsam_lab.images import as_array

from .images import ImageLike, to_numpy_image

__all__ = ["colorize", "overlay", "colorize_instances", "legend_patches", "add_class_legend", "label_point",
           "annotate_masks"]


def _check_palette(palette) -> np.ndarray:
    pal = np.asarray(PALETTE if palette is None else palette)
    if pal.ndim != 2 or pal.shape[1] != 3 or len(pal) == 0:
        raise ValueError(f"a palette must be a K x 3 array of RGB colours, got shape {pal.shape}")
    if np.issubdtype(pal.dtype, np.floating) and pal.size and pal.max() <= 1.0:
        pal = pal * 255.0  # matplotlib-style [0, 1] colours
    return np.clip(np.round(pal), 0, 255).astype(np.uint8)


def _label_array(label, name: str = "label") -> np.ndarray:
    arr, _ = as_array(label)
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


def label_edges(lab: np.ndarray) -> np.ndarray:
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
        image: the picture, any layout of :func:`~gsam_lab.viz.to_numpy_image`, ``H x W`` spatially.
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
    arr, _ = as_array(label_or_mask)
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
        edge = label_edges(where) & where
        line = color if outline_color is None else outline_color
    elif kind == "label":
        lab = _label_array(arr, "label_or_mask")
        colours = colorize(lab, palette, ignore_index).astype(np.float32)
        where = np.ones(lab.shape, bool) if ignore_index is None else lab != ignore_index
        edge = label_edges(lab)
        line = (255, 255, 255) if outline_color is None else outline_color
    else:
        raise ValueError(f"kind must be 'auto', 'mask' or 'label', got {kind!r}")
    out = img.copy()
    out[where] = (1.0 - alpha) * img[where] + alpha * colours[where]
    if outline:
        out[edge] = np.asarray(line, np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def colorize_instances(instance, seed: int = 0) -> np.ndarray:
    """``H x W`` object ids -> ``H x W x 3`` uint8, a distinct random colour per id, 0 (no object) black."""
    inst, _ = as_array(instance)
    inst = np.asarray(inst)
    if inst.ndim != 2 or not np.issubdtype(inst.dtype, np.integer):
        raise ValueError(f"instance must be an H x W array of integer ids, got {inst.dtype} {inst.shape}")
    ids, inv = np.unique(inst, return_inverse=True)
    rng = np.random.default_rng(seed)
    colours = rng.integers(40, 256, (len(ids), 3)).astype(np.uint8)
    colours[ids == 0] = 0
    return colours[inv.reshape(inst.shape)]


def _present_ids(present) -> set:
    """Class ids seen in ``present``: ids, one label map, or a list of label maps."""
    if isinstance(present, (list, tuple)) and present and np.ndim(as_array(present[0])[0]) >= 2:
        return set().union(*(_present_ids(p) for p in present))
    ids, _ = as_array(present)
    return set(int(i) for i in np.unique(ids))


def legend_patches(classes: Optional[Sequence[str]] = None, palette=None, present=None,
                   ignore_index: Optional[int] = 255) -> list:
    """One coloured ``matplotlib.patches.Patch`` per class, for ``ax.legend(handles=...)``.

    Args:
        classes: class names (default ``gsam_lab.data.CLASSES``).
        palette: ``K x 3`` colours (default ``gsam_lab.data.PALETTE``); needs at least one per class.
        present: optional class ids, a label map or a list of label maps: keep only the classes in it
            (and add a black "ignored" entry when it holds ``ignore_index``).
    """
    from matplotlib.patches import Patch

    names = list(CLASSES if classes is None else classes)
    pal = _check_palette(palette)
    if len(pal) < len(names):
        raise ValueError(f"the palette has {len(pal)} colours for {len(names)} classes")
    keep, ignored = range(len(names)), False
    if present is not None:
        ids = _present_ids(present)
        keep = [k for k in keep if k in ids]
        ignored = ignore_index is not None and ignore_index in ids
    patches = [Patch(facecolor=pal[k] / 255.0, edgecolor="black", linewidth=0.5, label=names[k]) for k in keep]
    if ignored:
        patches.append(Patch(facecolor="black", edgecolor="black", linewidth=0.5, label="ignored"))
    return patches


def add_class_legend(target, classes: Optional[Sequence[str]] = None, palette=None, present=None, **legend_kw):
    """Add a class legend and return it: to an axes (outside, to its right, by default) or to a whole
    figure (one row below all panels, for figures of several label maps).

    Arguments as :func:`legend_patches`; ``legend_kw`` go to ``ax.legend`` / ``fig.legend``.
    """
    from matplotlib.figure import Figure

    handles = legend_patches(classes, palette, present)
    if isinstance(target, Figure):
        kw = dict(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(handles), 10) or 1, fontsize=8,
                  frameon=False)
        kw.update(legend_kw)
        return target.legend(handles=handles, **kw)
    kw = dict(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, borderaxespad=0.0)
    kw.update(legend_kw)
    return target.legend(handles=handles, **kw)


def label_point(mask) -> Optional[Tuple[float, float]]:
    """Where a mask's name goes: ``(x, y)`` in pixel coordinates (pixel centres at ``+0.5``, as
    :func:`~gsam_lab.viz.plot_erp` draws them) of the mask pixel farthest from the mask's outline (the image's
    edge counts as outline), the one nearest the middle of those when several are as far; None for an empty mask.
    """
    from scipy import ndimage

    m = _label_array(mask, "mask") > 0
    if not m.any():
        return None
    depth = ndimage.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]
    ys, xs = np.nonzero(depth >= depth.max() - 1e-6)
    i = int(np.argmin((xs - xs.mean()) ** 2 + (ys - ys.mean()) ** 2))
    return float(xs[i]) + 0.5, float(ys[i]) + 0.5


def annotate_masks(ax, masks, texts: Sequence[str], **annotate_kw) -> list:
    """Write ``texts[k]`` inside ``masks[k]`` (``N x H x W``, or a list of ``H x W`` masks) on ``ax``, at
    :func:`label_point`; empty masks get no text. ``annotate_kw`` go to ``ax.annotate`` (default: centred,
    size 8, on a white box). Returns the annotations."""
    if len(masks) != len(texts):
        raise ValueError(f"{len(masks)} masks but {len(texts)} texts")
    kw = dict(ha="center", va="center", fontsize=8, bbox=dict(boxstyle="round,pad=0.2", facecolor="white", alpha=0.8))
    kw.update(annotate_kw)
    done = []
    for mask, text in zip(masks, texts):
        at = label_point(mask)
        if at is not None:
            done.append(ax.annotate(text, at, **kw))
    return done
