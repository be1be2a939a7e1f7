"""Prompt playground: click points, drag a box, add box noise, and watch SAM's mask (and its stability).

Two layers, as in the distortion explorer:

* **state + frame logic** (:mod:`gsam_lab.widgets.playground_state`), plain Python with no ipywidgets:
  a ``PlaygroundState`` (the image, the prompts, noise scale, number of draws, the negative-click
  mode, an undo history) changed by ``add_point``, ``set_box``, ``undo``, ``reset``, ``set_noise``,
  ``set_draws`` and ``set_negative`` (each returns a **new** state and leaves its input alone), and
  ``playground_frame``, which asks a predictor for the mask, the noisy-box inclusion frequency and
  the stability, and renders the overlay. All of it is tested without a browser.
* :class:`PromptPlayground`, a thin ipywidgets adapter: an ``ipywidgets.Image`` with an
  ``ipyevents.Event`` for the mouse, sliders for noise and draws, undo / reset buttons, a readout.

Coordinates are pixel indices of the image: a point ``(x, y)`` is (column, row) and a box
``(x0, y0, x1, y1)`` spans columns ``x0..x1`` and rows ``y0..y1`` inclusively, the convention of
:mod:`gsam_lab.sam.prompts`. Fractional coordinates are rounded to the nearest pixel; coordinates
outside ``[0, W-1] x [0, H-1]`` are a ``ValueError`` (the widget clips mouse positions to the image
before it calls these functions, since a drag may end a little outside it).

Box noise is HQ-SAM's (:meth:`gsam_lab.sam.PromptSampler.noisy_box`) applied to the user's box; the
``draws`` noisy boxes come from one seeded sampler, so moving the noise slider rescales the *same*
random jitters (a smooth picture) and raising ``draws`` keeps the earlier boxes. Noise applies to
the box only; points are used as clicked.
"""
from __future__ import annotations

import math
import warnings
from typing import Optional, Tuple

from gsam_lab.sam.predictor import PromptPredictor

from .colab import enable_colab_widgets
from .images import to_png
from .playground_state import (
    MAX_DRAWS,
    MAX_NOISE,
    PlaygroundFrame,
    PlaygroundState,
    add_point,
    playground_frame,
    readout_html,
    reset,
    set_box,
    set_draws,
    set_negative,
    set_noise,
    undo,
)

__all__ = ["PromptPlayground"]


def _as_predictor(model_or_predictor):
    if hasattr(model_or_predictor, "predict") and hasattr(model_or_predictor, "set_image"):
        return model_or_predictor
    if hasattr(model_or_predictor, "image_encoder") and hasattr(model_or_predictor, "mask_decoder"):
        return PromptPredictor(model_or_predictor)
    raise TypeError("expected a segment_anything Sam model (e.g. gsam_lab.sam.load_sam(...)) or a "
                    f"PromptPredictor, got {type(model_or_predictor).__name__}")


class PromptPlayground:
    """Click points and drag a box on an image; see SAM's mask, and how noisy boxes change it.

    >>> PromptPlayground(sam.load_sam("tiny-synth"), render["image"])      # in a notebook cell

    Mouse: a click adds a point (positive; negative with shift held or the "negative" toggle on);
    a drag draws the box. Sliders: box noise (0-0.5) and number of draws (1-32). Undo, Reset.

    Mouse positions come from ``ipyevents`` as ``dataX`` / ``dataY``, which for an
    ``ipywidgets.Image`` are already the PNG's (= the image's) pixel coordinates, whatever size it
    is shown at; without them, ``relativeX`` / ``relativeY`` are scaled by the image size over the
    displayed size (``boundingRectWidth`` / ``boundingRectHeight``). Positions are clipped to the
    image, so a drag that ends outside it ends at its border. The click-vs-drag threshold is
    ``min_drag_screen`` *displayed* pixels, converted to image pixels.

    Without a browser, ``.click``, ``.drag`` and ``.handle_event`` drive it the same way.

    Args:
        model_or_predictor: a ``Sam`` model or a ``PromptPredictor`` (its embedding cache is used).
        image: ``H x W x 3`` uint8.
        noise, draws: initial slider values. seed: seed of the noisy boxes.
        display_width: width of the shown image in screen pixels.
    """

    def __init__(self, model_or_predictor, image, noise: float = 0.0, draws: int = 8, seed=0,
                 display_width: int = 512, min_drag_screen: float = 5.0):
        import ipywidgets as W

        enable_colab_widgets()
        self.predictor = _as_predictor(model_or_predictor)
        self.state = PlaygroundState(image, noise=noise, draws=draws)
        self.seed = seed
        self.min_drag_screen = float(min_drag_screen)
        h, w = self.state.hw
        self._px_per_screen = w / float(display_width)
        self._press: Optional[Tuple[float, float, bool]] = None

        self.image_widget = W.Image(format="png", layout=W.Layout(width=f"{int(display_width)}px"))
        self.noise = W.FloatSlider(value=self.state.noise, min=0.0, max=MAX_NOISE, step=0.01,
                                   description="box noise", continuous_update=False, readout_format=".2f")
        self.draws = W.IntSlider(value=self.state.draws, min=1, max=MAX_DRAWS, step=1, description="draws",
                                 continuous_update=False)
        self.negative = W.ToggleButton(value=False, description="negative clicks", icon="minus",
                                       tooltip="clicks add negative points (or hold shift)")
        self.undo_button = W.Button(description="Undo", icon="undo")
        self.reset_button = W.Button(description="Reset", icon="trash")
        self.info = W.HTML()

        self.noise.observe(lambda ch: self._apply(set_noise(self.state, ch["new"])), names="value")
        self.draws.observe(lambda ch: self._apply(set_draws(self.state, int(ch["new"]))), names="value")
        self.negative.observe(lambda ch: self._apply(set_negative(self.state, ch["new"]), redraw=False),
                              names="value")
        self.undo_button.on_click(lambda _b: self.undo())
        self.reset_button.on_click(lambda _b: self.reset())

        try:
            from ipyevents import Event
        except ImportError:  # pragma: no cover - ipyevents is a dependency
            warnings.warn("ipyevents is not installed: the image ignores the mouse "
                          "(pip install ipyevents); .click() and .drag() still work", stacklevel=2)
            self.events = None
        else:
            # prevent_default_action stops the browser's own image drag-and-drop during a box drag
            self.events = Event(source=self.image_widget, watched_events=["mousedown", "mouseup", "mouseleave"],
                                prevent_default_action=True)
            self.events.on_dom_event(self.handle_event)

        self.widget = W.VBox([
            W.HBox([self.noise, self.draws]),
            W.HBox([self.negative, self.undo_button, self.reset_button]),
            self.image_widget,
            self.info,
        ])
        self.frame: PlaygroundFrame
        self.update()

    # -- actions (what the mouse and buttons call) ----------------------------------------------
    def update(self) -> PlaygroundFrame:
        """Recompute the frame for the current state and refresh the image and the readout."""
        self.frame = playground_frame(self.predictor, self.state, seed=self.seed)
        self.image_widget.value = to_png(self.frame.overlay)
        self.info.value = readout_html(self.state, self.frame)
        return self.frame

    def _apply(self, state: PlaygroundState, redraw: bool = True) -> PlaygroundFrame:
        self.state = state
        if redraw:
            return self.update()
        self.info.value = readout_html(self.state, self.frame)
        return self.frame

    def _positive(self, positive: Optional[bool], shift: bool = False) -> bool:
        if positive is not None:
            return bool(positive)
        return not (shift or self.negative.value)

    def click(self, x: float, y: float, positive: Optional[bool] = None) -> PlaygroundFrame:
        """Add a point at image pixel ``(x, y)``; ``positive=None``: negative iff the toggle is on."""
        return self._apply(add_point(self.state, x, y, positive=self._positive(positive)))

    def drag(self, x0: float, y0: float, x1: float, y1: float, positive: Optional[bool] = None) -> PlaygroundFrame:
        """A drag from ``(x0, y0)`` to ``(x1, y1)`` (image pixels): a box, or a click if very short."""
        return self._apply(set_box(self.state, x0, y0, x1, y1, positive=self._positive(positive),
                                   min_drag=self.min_drag_screen * self._px_per_screen))

    def undo(self) -> PlaygroundFrame:
        return self._apply(undo(self.state))

    def reset(self) -> PlaygroundFrame:
        return self._apply(reset(self.state))

    # -- mouse ----------------------------------------------------------------------------------
    def event_to_pixel(self, event: dict) -> Tuple[float, float]:
        """Image pixel ``(x, y)`` of an ipyevents mouse event, clipped to the image."""
        h, w = self.state.hw
        rw, rh = event.get("boundingRectWidth"), event.get("boundingRectHeight")
        if rw:
            self._px_per_screen = w / float(rw)
        if event.get("dataX") is not None and event.get("dataY") is not None:
            x, y = float(event["dataX"]), float(event["dataY"])
        elif event.get("relativeX") is not None and rw and rh:
            x = math.floor(float(event["relativeX"]) * w / float(rw))
            y = math.floor(float(event["relativeY"]) * h / float(rh))
        else:
            raise ValueError("mouse event without a position: expected dataX/dataY, or relativeX/relativeY "
                             f"with boundingRectWidth/Height; got keys {sorted(event)}")
        return min(max(x, 0.0), w - 1.0), min(max(y, 0.0), h - 1.0)

    def handle_event(self, event: dict) -> Optional[PlaygroundFrame]:
        """The ipyevents callback: mousedown remembers the press; mouseup (or leaving the image while
        pressed) finishes it as a click or a box drag. Other events and buttons are ignored."""
        kind = event.get("type")
        if kind == "mousedown":
            if event.get("button", 0) != 0:
                return None
            x, y = self.event_to_pixel(event)
            self._press = (x, y, bool(event.get("shiftKey", False)))
            return None
        if kind in ("mouseup", "mouseleave") and self._press is not None:
            x0, y0, shift = self._press
            self._press = None
            x1, y1 = self.event_to_pixel(event)
            return self.drag(x0, y0, x1, y1, positive=self._positive(None, shift))
        return None

    def _ipython_display_(self):  # pragma: no cover - needs a front end
        from IPython.display import display

        display(self.widget)
