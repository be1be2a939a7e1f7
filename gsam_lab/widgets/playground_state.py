"""The prompt playground's logic, plain Python with no ipywidgets (tested without a browser).

A :class:`PlaygroundState` (the image, the prompts, noise scale, number of draws, the negative-click
mode, an undo history) is changed by :func:`add_point`, :func:`set_box`, :func:`undo`, :func:`reset`,
:func:`set_noise`, :func:`set_draws` and :func:`set_negative`, each returning a **new** state;
:func:`playground_frame` asks a predictor for the mask, the noisy-box inclusion frequency and the
stability, and renders the overlay. Conventions (coordinates, box noise) in
:mod:`gsam_lab.widgets.prompt_playground`, whose :class:`~gsam_lab.widgets.prompt_playground.PromptPlayground`
is the widget around these functions.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np
import torch
from PIL import Image, ImageDraw

from gsam_lab import viz
from gsam_lab.images import as_rgb_uint8
from gsam_lab.metrics import mean_pairwise_iou
from gsam_lab.sam.prompts import PromptSampler

__all__ = [
    "PlaygroundState", "PlaygroundFrame", "playground_frame", "render_overlay", "readout_html",
    "add_point", "set_box", "undo", "reset", "set_noise", "set_draws", "set_negative",
    "DRAG_THRESHOLD", "MAX_NOISE", "MAX_DRAWS",
    "POSITIVE_COLOR", "NEGATIVE_COLOR", "BOX_COLOR", "MASK_COLOR",
]

DRAG_THRESHOLD = 3.0      # image pixels: a press-release shorter than this (in x and y) is a click
MAX_NOISE = 0.5           # slider range of the box noise scale
MAX_DRAWS = 32            # slider range of the number of noisy boxes
POSITIVE_COLOR = (0, 255, 0)
NEGATIVE_COLOR = (255, 0, 0)
BOX_COLOR = (255, 215, 0)
MASK_COLOR = (30, 144, 255)
_DRAW_BOX_COLOR = (255, 255, 255, 90)   # the noisy boxes: faint white
_HEAT_STOPS = np.array([[0.0, 40, 90, 255], [0.5, 255, 230, 0], [1.0, 235, 20, 20]], np.float32)

Point = Tuple[int, int]
Box = Tuple[int, int, int, int]


# -- state ----------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PlaygroundState:
    """Everything the playground shows, as an immutable value (the functions below return new ones).

    Attributes:
        image: ``H x W x 3`` uint8 (a float ``[0, 1]`` image or a ``3 x H x W`` tensor is converted
            on construction, see :func:`gsam_lab.images.as_rgb_uint8`).
        points: ``(x, y)`` pixel points, in click order; ``labels`` holds 1 (positive) / 0 (negative)
            for each.
        box: ``(x0, y0, x1, y1)`` with ``x0 <= x1``, ``y0 <= y1`` (inclusive pixel indices), or None.
        noise: HQ-SAM box-noise scale, ``0 <= noise <= 0.5``.
        draws: number of noisy boxes drawn for the inclusion frequency, ``1 <= draws <= 32``.
        negative: clicks add negative points (the widget's toggle) unless told otherwise.
        history: earlier ``(points, labels, box)`` prompt sets, newest last, for :func:`undo`.
            Only prompt edits are recorded (noise and draws are visible on their sliders).
    """

    image: np.ndarray
    points: Tuple[Point, ...] = ()
    labels: Tuple[int, ...] = ()
    box: Optional[Box] = None
    noise: float = 0.0
    draws: int = 8
    negative: bool = False
    history: Tuple[Tuple[Tuple[Point, ...], Tuple[int, ...], Optional[Box]], ...] = field(default=(), repr=False)

    def __post_init__(self):
        object.__setattr__(self, "image", as_rgb_uint8(self.image))
        object.__setattr__(self, "noise", _check_noise(self.noise))
        object.__setattr__(self, "draws", _check_draws(self.draws))
        if len(self.points) != len(self.labels):
            raise ValueError(f"got {len(self.points)} points but {len(self.labels)} labels")

    @property
    def hw(self) -> Tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])

    @property
    def has_prompt(self) -> bool:
        return bool(self.points) or self.box is not None

    def _push(self, **changes) -> "PlaygroundState":
        snap = (self.points, self.labels, self.box)
        return dataclasses.replace(self, history=self.history + (snap,), **changes)


def _check_noise(scale) -> float:
    try:
        s = float(scale)
    except (TypeError, ValueError) as e:
        raise TypeError(f"noise must be a number, got {type(scale).__name__}") from e
    if not math.isfinite(s) or not 0.0 <= s <= MAX_NOISE:
        raise ValueError(f"noise must lie in [0, {MAX_NOISE}], got {scale!r}")
    return s


def _check_draws(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"draws must be an int, got {n!r}")
    if not 1 <= n <= MAX_DRAWS:
        raise ValueError(f"draws must lie in [1, {MAX_DRAWS}], got {n}")
    return int(n)


def _pixel(state: PlaygroundState, x, y, what: str) -> Point:
    """Round ``(x, y)`` to a pixel, or a ValueError when it lies outside the image."""
    h, w = state.hw
    try:
        fx, fy = float(x), float(y)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what} coordinates must be numbers, got ({x!r}, {y!r})") from e
    if not (math.isfinite(fx) and math.isfinite(fy)):
        raise ValueError(f"{what} ({x!r}, {y!r}) is not finite")
    if not (0.0 <= fx <= w - 1 and 0.0 <= fy <= h - 1):
        raise ValueError(f"{what} ({fx:g}, {fy:g}) lies outside the {h} x {w} image "
                         f"(x must be in [0, {w - 1}], y in [0, {h - 1}])")
    return int(round(fx)), int(round(fy))


def add_point(state: PlaygroundState, x: float, y: float, positive: bool = True) -> PlaygroundState:
    """A new state with the point ``(x, y)`` (pixel column, row) added; ``positive=False``: negative."""
    p = _pixel(state, x, y, "point")
    return state._push(points=state.points + (p,), labels=state.labels + (1 if positive else 0,))


def set_box(state: PlaygroundState, x0: float, y0: float, x1: float, y1: float,
            positive: bool = True, min_drag: float = DRAG_THRESHOLD) -> PlaygroundState:
    """A new state whose box is the drag from ``(x0, y0)`` to ``(x1, y1)`` (any corner order).

    The box replaces any earlier one (SAM takes one box per prompt); points are kept. A drag shorter
    than ``min_drag`` image pixels in both x and y is a click: the point ``(x0, y0)`` is added
    instead (positive or negative as ``positive`` says).
    """
    a = _pixel(state, x0, y0, "box corner")
    b = _pixel(state, x1, y1, "box corner")
    if abs(float(x1) - float(x0)) < min_drag and abs(float(y1) - float(y0)) < min_drag:
        return add_point(state, x0, y0, positive=positive)
    box = (min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1]))
    return state._push(box=box)


def undo(state: PlaygroundState) -> PlaygroundState:
    """The state before the last prompt edit (the same state when there is nothing to undo)."""
    if not state.history:
        return state
    points, labels, box = state.history[-1]
    return dataclasses.replace(state, points=points, labels=labels, box=box, history=state.history[:-1])


def reset(state: PlaygroundState) -> PlaygroundState:
    """No prompts and no history; image, noise, draws and the negative mode are kept."""
    return dataclasses.replace(state, points=(), labels=(), box=None, history=())


def set_noise(state: PlaygroundState, scale: float) -> PlaygroundState:
    """A new state with box-noise scale ``scale`` in ``[0, 0.5]`` (not recorded for undo)."""
    return dataclasses.replace(state, noise=_check_noise(scale))


def set_draws(state: PlaygroundState, n: int) -> PlaygroundState:
    """A new state with ``n`` noisy draws, ``1 <= n <= 32`` (not recorded for undo)."""
    return dataclasses.replace(state, draws=_check_draws(n))


def set_negative(state: PlaygroundState, on: bool) -> PlaygroundState:
    """A new state whose clicks default to negative points when ``on``."""
    return dataclasses.replace(state, negative=bool(on))


# -- frame ----------------------------------------------------------------------------------------
@dataclass
class PlaygroundFrame:
    """What the playground shows for one state.

    Attributes:
        overlay: ``H x W x 3`` uint8: the image with the mask tint (or, for noisy draws, the
            inclusion frequency as a heat tint with the mask's outline), the noisy boxes faintly,
            the box outline and the points (green positive, red negative) on top.
        mask: ``H x W`` bool mask for the prompts as given, or None without a prompt.
        frequency: ``H x W`` float32 in ``[0, 1]``: the fraction of the ``draws`` noisy boxes whose
            mask includes each pixel; None without a box. With ``noise == 0`` every draw is the box
            itself, so this is the mask (as 0/1) without decoding the copies.
        noisy_boxes: ``draws x 4`` float32 XYXY boxes behind ``frequency``, or None.
        area: mask pixels (0 without a mask).
        predicted_iou: SAM's own IoU estimate for ``mask``, or None.
        stability: mean pairwise IoU of the draws' masks (:func:`gsam_lab.metrics.mean_pairwise_iou`);
            1.0 for ``noise == 0``; None without a box or with a single noisy draw.
    """

    overlay: np.ndarray
    mask: Optional[np.ndarray] = None
    frequency: Optional[np.ndarray] = None
    noisy_boxes: Optional[np.ndarray] = None
    area: int = 0
    predicted_iou: Optional[float] = None
    stability: Optional[float] = None
    noise: float = 0.0
    draws: int = 0

    @property
    def area_fraction(self) -> float:
        return self.area / float(self.overlay.shape[0] * self.overlay.shape[1])


def _noisy_boxes(state: PlaygroundState, seed) -> np.ndarray:
    h, w = state.hw
    x0, y0, x1, y1 = state.box
    rect = np.zeros((h, w), bool)
    rect[y0:y1 + 1, x0:x1 + 1] = True          # its tight box is exactly state.box
    return PromptSampler(seed).noisy_box(rect, state.noise, n=state.draws)


@torch.no_grad()
def playground_frame(predictor, state: PlaygroundState, seed=0) -> PlaygroundFrame:
    """Predict and render the frame for ``state`` with ONE batched ``predictor.predict`` call.

    Args:
        predictor: a :class:`gsam_lab.sam.PromptPredictor` (or anything with its ``set_image`` /
            ``predict``). ``set_image(state.image)`` is called first; it is free when the image's
            embedding is already cached.
        state: the prompts and settings.
        seed: seed of the noisy boxes (the same seed gives the same boxes).

    The batch holds the prompt as given (points and/or box) and, with a box and ``noise > 0``, one
    prompt per noisy draw (the same points with a noisy box): ``1 + draws`` prompts.
    """
    image = state.image
    if not state.has_prompt:
        return PlaygroundFrame(overlay=image.copy(), noise=state.noise, draws=0)
    predictor.set_image(image)
    noisy = state.box is not None and state.noise > 0
    boxes = draws = None
    if state.box is not None:
        draws = _noisy_boxes(state, seed)
        boxes = np.asarray([state.box], np.float32)
        if noisy:
            boxes = np.concatenate([boxes, draws])
    n = 1 if boxes is None else len(boxes)
    kw = {}
    if state.points:
        kw["points"] = np.broadcast_to(np.asarray(state.points, np.float32), (n, len(state.points), 2))
        kw["labels"] = np.broadcast_to(np.asarray(state.labels, np.int64), (n, len(state.labels)))
    out = predictor.predict(boxes=boxes, multimask=False, **kw)
    masks = out.masks.detach().to("cpu")
    mask = masks[0].numpy().astype(bool)
    iou = float(out.iou_predictions[0])
    frequency = stability = None
    if state.box is not None:
        if noisy:
            draw_masks = masks[1:]
            frequency = draw_masks.float().mean(0).numpy().astype(np.float32)
            stability = float(mean_pairwise_iou(draw_masks)) if len(draw_masks) >= 2 else None
        else:
            frequency, stability = mask.astype(np.float32), 1.0
    overlay = render_overlay(image, mask, state, frequency if noisy else None, draws if noisy else None)
    return PlaygroundFrame(overlay=overlay, mask=mask, frequency=frequency, noisy_boxes=draws,
                           area=int(mask.sum()), predicted_iou=iou, stability=stability,
                           noise=state.noise, draws=0 if draws is None else len(draws))


def _heat(f: np.ndarray) -> np.ndarray:
    """``... `` values in [0, 1] -> ``... x 3`` float colours, blue (rare) -> yellow -> red (always)."""
    s = _HEAT_STOPS
    return np.stack([np.interp(f, s[:, 0], s[:, c]) for c in (1, 2, 3)], -1)


def render_overlay(image: np.ndarray, mask: Optional[np.ndarray], state: PlaygroundState,
                   frequency: Optional[np.ndarray] = None, noisy_boxes: Optional[np.ndarray] = None,
                   alpha: float = 0.45) -> np.ndarray:
    """Draw the mask (or the frequency heat tint and the mask's outline), boxes and points on ``image``."""
    out = image
    if frequency is not None:
        f = np.clip(frequency, 0.0, 1.0)
        a = np.where(f > 0, 0.25 + 0.4 * f, 0.0)[..., None]
        out = (image.astype(np.float32) * (1 - a) + _heat(f) * a + 0.5).clip(0, 255).astype(np.uint8)
        if mask is not None:
            out = viz.overlay(out, mask, alpha=0.0, color=MASK_COLOR, outline=True)
    elif mask is not None:
        out = viz.overlay(image, mask, alpha=alpha, color=MASK_COLOR, outline=True)
    h, w = image.shape[:2]
    canvas = Image.fromarray(np.ascontiguousarray(out)).convert("RGBA")
    if noisy_boxes is not None:
        layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
        d = ImageDraw.Draw(layer)
        for b in np.asarray(noisy_boxes, np.float64):
            d.rectangle([float(b[0]), float(b[1]), float(b[2]), float(b[3])], outline=_DRAW_BOX_COLOR, width=1)
        canvas = Image.alpha_composite(canvas, layer)
    draw = ImageDraw.Draw(canvas)
    lw = max(1, min(h, w) // 200)
    if state.box is not None:
        draw.rectangle(list(state.box), outline=BOX_COLOR, width=lw + 1)
    r = max(2, round(min(h, w) / 80))
    for (x, y), lab in zip(state.points, state.labels):
        draw.ellipse([x - r - 1, y - r - 1, x + r + 1, y + r + 1], fill=(0, 0, 0))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=POSITIVE_COLOR if lab == 1 else NEGATIVE_COLOR)
    return np.asarray(canvas.convert("RGB"))


def readout_html(state: PlaygroundState, frame: PlaygroundFrame) -> str:
    """The numbers under the image, as a short HTML line."""
    npos = sum(1 for lab in state.labels if lab == 1)
    mode = "negative" if state.negative else "positive"
    parts = [f"clicks add <b>{mode}</b> points (shift-click: negative)",
             f"points {npos}+ / {len(state.labels) - npos}&minus;, box {'yes' if state.box else 'no'}"]
    if frame.mask is None:
        parts.append("click a point or drag a box")
    else:
        parts.append(f"mask <b>{frame.area}</b> px ({100 * frame.area_fraction:.1f}%), "
                     f"predicted IoU <b>{frame.predicted_iou:.3f}</b>")
        if state.box is not None:
            stab = "n/a (1 draw)" if frame.stability is None else f"<b>{frame.stability:.3f}</b>"
            parts.append(f"noise {state.noise:.2f} x {frame.draws} draws: stability (mean pairwise IoU) {stab}")
        elif state.noise > 0:
            parts.append("noise applies to a box: drag one")
    return " &middot; ".join(parts)
