"""Distortion explorer: yaw / pitch / FoV sliders -> a live tangent view and its footprint on the ERP.

The logic is :func:`explorer_frame` (a plain function, tested without a browser);
:class:`DistortionExplorer` only wires ipywidgets sliders to it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Sequence, Tuple

import numpy as np
import torch

from gsam_lab import panorama

from .colab import enable_colab_widgets
from .images import draw_polylines, to_png

__all__ = ["ExplorerFrame", "explorer_frame", "DistortionExplorer"]


@dataclass
class ExplorerFrame:
    """What the explorer shows for one slider setting."""

    view: np.ndarray                 # h x w x 3 uint8 tangent view
    erp_overlay: np.ndarray          # H x W x 3 uint8 ERP with the view's footprint drawn
    footprint: List[np.ndarray]      # polylines (N x 2, ERP pixel u, v), split at the seam
    erp_pixels: int                  # ERP pixels that the view covers
    stretch: float                   # ERP pixels per view pixel (grows toward the poles)
    params: Tuple[float, float, float] = field(default=(0.0, 0.0, 90.0))  # yaw, pitch, fov


def _erp_tensor(erp: np.ndarray) -> torch.Tensor:
    arr = np.asarray(erp)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"expected an ERP image as an HxWx3 uint8 array, got {arr.dtype} array of shape {arr.shape}")
    if arr.shape[1] != 2 * arr.shape[0]:
        raise ValueError(f"an equirectangular image must be 2:1 (W == 2*H); got H={arr.shape[0]}, W={arr.shape[1]}")
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).float()


def explorer_frame(erp: np.ndarray, yaw_deg: float = 0.0, pitch_deg: float = 0.0, fov_deg: float = 90.0,
                   view_hw: Sequence[int] = (192, 192), color=(255, 40, 40)) -> ExplorerFrame:
    """Cut the tangent view at (yaw, pitch, fov) out of ``erp`` (H x W x 3 uint8) and draw its footprint."""
    t = _erp_tensor(erp)
    h, w = int(t.shape[1]), int(t.shape[2])
    view = panorama.erp_to_perspective(t, fov_deg, yaw_deg, pitch_deg, tuple(view_hw))
    view_u8 = view.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    lines = panorama.perspective_footprint(fov_deg, yaw_deg, pitch_deg, tuple(view_hw), (h, w))
    ones = torch.ones(1, *view_hw)
    _, weight = panorama.perspective_to_erp(ones, fov_deg, yaw_deg, pitch_deg, (h, w))
    covered = int((weight > 0).sum())
    overlay = draw_polylines(erp, lines, color=color, width=max(1, w // 256))
    return ExplorerFrame(view=view_u8, erp_overlay=overlay, footprint=lines, erp_pixels=covered,
                         stretch=covered / float(view_hw[0] * view_hw[1]),
                         params=(float(yaw_deg), float(pitch_deg), float(fov_deg)))


class DistortionExplorer:
    """Sliders for yaw, pitch and FoV; shows the tangent view and where it lies on the panorama.

    >>> DistortionExplorer(render["image"])      # in a notebook cell
    """

    def __init__(self, erp: np.ndarray, view_hw: Sequence[int] = (192, 192), yaw_deg: float = 0.0,
                 pitch_deg: float = 0.0, fov_deg: float = 90.0):
        import ipywidgets as W

        enable_colab_widgets()
        _erp_tensor(erp)  # validate early, with a clear error
        self.erp, self.view_hw = np.asarray(erp), tuple(view_hw)
        self.yaw = W.FloatSlider(value=yaw_deg, min=-180, max=180, step=1, description="yaw °")
        self.pitch = W.FloatSlider(value=pitch_deg, min=-90, max=90, step=1, description="pitch °")
        self.fov = W.FloatSlider(value=fov_deg, min=10, max=170, step=1, description="FoV °")
        self.erp_image = W.Image(format="png", layout=W.Layout(width="640px"))
        self.view_image = W.Image(format="png", layout=W.Layout(width="256px"))
        self.info = W.HTML()
        for s in (self.yaw, self.pitch, self.fov):
            s.observe(lambda _change: self.update(), names="value")
        self.widget = W.VBox([W.HBox([self.yaw, self.pitch, self.fov]),
                              W.HBox([self.erp_image, self.view_image]), self.info])
        self.frame: ExplorerFrame
        self.update()

    def update(self) -> ExplorerFrame:
        """Recompute the frame for the current slider values and refresh the images."""
        self.frame = explorer_frame(self.erp, self.yaw.value, self.pitch.value, self.fov.value, self.view_hw)
        self.erp_image.value = to_png(self.frame.erp_overlay)
        self.view_image.value = to_png(self.frame.view)
        self.info.value = (f"view {self.view_hw[0]}x{self.view_hw[1]} px covers <b>{self.frame.erp_pixels}</b> ERP px "
                           f"(<b>{self.frame.stretch:.2f}</b> ERP px per view px)")
        return self.frame

    def _ipython_display_(self):  # pragma: no cover - needs a front end
        from IPython.display import display

        display(self.widget)
