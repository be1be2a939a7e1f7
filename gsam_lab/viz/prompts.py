"""Prompts and what SAM made of them: boxes and clicks, one panel per prompt outcome, prompt-sweep curves."""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import numpy as np

from gsam_lab.images import as_array

from .images import to_numpy_image
from .labels import label_edges

__all__ = ["draw_boxes", "draw_points", "show_outcomes", "plot_sweep"]


def draw_boxes(ax, boxes, **kw) -> list:
    """Draw ``N x 4`` (or one ``(4,)``) XYXY pixel boxes on ``ax`` as rectangles.

    ``kw`` go to ``matplotlib.patches.Rectangle`` (default: no fill, lime edge, linewidth 1.5).
    Returns the patches added.
    """
    from matplotlib.patches import Rectangle

    b, _ = as_array(boxes)
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
    p, _ = as_array(points)
    p = np.asarray(p, dtype=np.float64).reshape(-1, 2)
    lab = np.ones(len(p), dtype=int) if labels is None else np.asarray(as_array(labels)[0]).reshape(-1).astype(int)
    if len(lab) != len(p):
        raise ValueError(f"labels must have one entry per point ({len(p)}), got {len(lab)}")
    out = []
    pos, neg = p[lab == 1], p[lab == 0]
    if len(pos):
        out.append(ax.scatter(pos[:, 0], pos[:, 1], s=size, c="lime", marker="*", edgecolors="black", linewidths=0.5))
    if len(neg):
        out.append(ax.scatter(neg[:, 0], neg[:, 1], s=size, c="red", marker="X", edgecolors="black", linewidths=0.5))
    return out


def _sweep_part(s, x: str):
    """The rows of one summary that a sweep plot draws against ``x``, sorted along it: against ``"noise"``
    the box kinds with a noise scale, and those without a parameter at noise 0; against ``"k"`` the kinds
    whose parameter is a number of clicks (:data:`gsam_lab.sam.PROMPT_KINDS`)."""
    from gsam_lab.sam.prompts import prompt_kind

    kinds = {name: prompt_kind(name) for name in s["kind"].unique()}     # a clear error for an unknown kind
    if x == "noise":
        drawn = [name for name, kind in kinds.items() if kind.is_box and kind.param in (None, "noise")]
        return s[s["kind"].isin(drawn)].sort_values("noise")
    drawn = [name for name, kind in kinds.items() if kind.param == "k"]
    part = s[s["kind"].isin(drawn) & ~s["setting"].astype(str).str.contains("multimask")]
    return part.sort_values("k")


def plot_sweep(summaries, x: str = "noise", metrics_: Sequence[str] = ("miou", "mbiou", "stability"), axes=None,
               baseline: Union[str, Sequence[str]] = ("fill box", "GrabCut")):
    """Plot prompt-sweep summaries side by side, one line per entry, with error bars where given.

    Args:
        summaries: ``{"pinhole": summary, "ERP": summary, ...}`` (or one summary): tables of
            ``SweepResult.summary()`` or ``PromptEvaluation.summary()``. A table with a ``method``
            column gives one line per method; columns ``<metric>_lo`` / ``<metric>_hi`` (the
            bootstrap interval) become error bars.
        x: ``"noise"``: noisy boxes against their noise scale, with the ground-truth box drawn at
            noise 0; ``"k"``: point prompts against the number of points.
        metrics_: columns to plot, one panel each.
        axes: optional axes to draw on (one per metric).
        baseline: the method (or methods) drawn as references, not as models: dashed, then dotted
            (default ``"fill box"``, the prompt box painted solid, and ``"GrabCut"`` from the box); against
            ``"k"`` (no box to start from) a reference's ground-truth-box value is a horizontal line.

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
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    references = [baseline] if isinstance(baseline, str) else list(baseline)
    ref_style = {m: ("--", ":", "-.")[j % 3] for j, m in enumerate(references)}
    ref_marker = {m: ("_", "s", "^")[j % 3] for j, m in enumerate(references)}
    for i, (name, s) in enumerate(summaries.items()):
        color = colors[i % len(colors)]
        by_method = dict(iter(s.groupby("method", sort=False))) if "method" in s else {None: s}
        drawn = False
        for method, t in by_method.items():
            label = " · ".join(str(v) for v in (name, method) if v) or None
            is_base = method in ref_style
            style = ref_style.get(method, "-")
            part = _sweep_part(t, x)
            if is_base and x == "k":
                ref = t[t["kind"] == "gt_box"]
                for ax, m in zip(axes, metrics_):
                    if len(ref) and m != "stability":
                        ax.axhline(float(ref[m].iloc[0]), color=color, linestyle=style, linewidth=1,
                                   label=f"{label} (GT box)")
                continue
            if part.empty:
                continue
            drawn = True
            for ax, m in zip(axes, metrics_):
                err = None
                if f"{m}_lo" in part and f"{m}_hi" in part:
                    err = np.vstack([part[m] - part[f"{m}_lo"], part[f"{m}_hi"] - part[m]]).astype(float).clip(min=0)
                ax.errorbar(part[x].to_numpy(float), part[m].to_numpy(float), yerr=err, capsize=3, color=color,
                            marker=ref_marker.get(method, "o"), markersize=4 if is_base else 6,
                            linestyle=style, alpha=0.7 if is_base else 1.0, label=label)
        if not drawn:
            raise ValueError(f"summary {name!r} has no {'box' if x == 'noise' else 'point'} settings to plot")
    label_x = "box noise scale (0 = ground-truth box)" if x == "noise" else "positive points"
    for ax, m in zip(axes, metrics_):
        ax.set_xlabel(label_x)
        ax.set_title(titles.get(m, m))
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    if any(ax.get_legend_handles_labels()[1] for ax in axes[:1]):
        axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def show_outcomes(image, outcomes, ncols: Optional[int] = None, size: float = 3.0, color=(255, 64, 64),
                  predicted_iou: bool = False):
    """One panel per :class:`gsam_lab.sam.PromptOutcome` (``image``: one image, or a list with one
    per outcome): the image with the predicted mask tinted,
    the ground truth outlined in white, the prompt drawn (box in lime, points as stars/crosses) and
    the IoU in the title (``predicted_iou=True``: SAM's own IoU estimate too). Returns the figure."""
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
        edge = label_edges(o.gt.astype(np.int64))
        shown[edge & o.gt] = 255
        ax.imshow(shown.astype(np.uint8))
        if o.boxes is not None:
            draw_boxes(ax, o.boxes)
        if o.points is not None:
            draw_points(ax, o.points, o.labels, size=90)
        said = f" · SAM's estimate {o.predicted_iou:.2f}" if predicted_iou else ""
        ax.set_title(f"{o.name}\nIoU {o.iou:.2f} · bIoU {o.boundary_iou:.2f}{said}", fontsize=9)
    fig.tight_layout()
    return fig
