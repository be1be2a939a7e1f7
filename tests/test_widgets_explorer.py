"""Distortion explorer: the frame logic, and the ipywidgets adapter driven without a browser."""
import sys

import numpy as np
import pytest

from gsam_lab.widgets import DistortionExplorer, explorer_frame
from gsam_lab.widgets.images import draw_polylines, to_png


@pytest.fixture(scope="module")
def erp():
    # a smooth, non-periodic pattern so different views really differ
    h, w = 64, 128
    v, u = np.mgrid[0:h, 0:w]
    img = np.stack([u * 2 % 256, v * 4 % 256, (u + v) % 256], -1)
    return img.astype(np.uint8)


def test_frame_shapes_and_footprint_inside_erp(erp):
    f = explorer_frame(erp, yaw_deg=30, pitch_deg=10, fov_deg=80, view_hw=(40, 40))
    assert f.view.shape == (40, 40, 3) and f.view.dtype == np.uint8
    assert f.erp_overlay.shape == erp.shape
    assert f.footprint and all(((p[:, 0] >= -1) & (p[:, 0] <= 129) & (p[:, 1] >= -1) & (p[:, 1] <= 65)).all()
                               for p in f.footprint)
    # the footprint is drawn: the overlay differs from the ERP only near the footprint
    changed = (f.erp_overlay != erp).any(-1)
    assert 0 < changed.sum() < 0.2 * changed.size


def test_stretch_grows_toward_the_pole(erp):
    s = [explorer_frame(erp, 0, p, 60, (32, 32)).stretch for p in (0, 45, 75)]
    assert s[0] < s[1] < s[2]


def test_view_at_seam_is_continuous(erp):
    f = explorer_frame(erp, yaw_deg=180, pitch_deg=0, fov_deg=60, view_hw=(32, 32))
    assert len(f.footprint) >= 2          # split where it crosses the +-180 deg seam
    assert f.view.std() > 0


def test_bad_erp_is_rejected():
    with pytest.raises(ValueError, match="2:1"):
        explorer_frame(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        explorer_frame(np.zeros((64, 128, 3), np.float32))


def test_helpers_png_and_polylines(erp):
    png = to_png(erp)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    original = erp.copy()
    out = draw_polylines(erp, [np.array([[0, 0], [127, 63]])], color=(255, 0, 0), width=1)
    assert (out != erp).any() and (erp == original).all()      # the input is never drawn on
    with pytest.raises(ValueError, match="uint8"):
        to_png(np.zeros((4, 4, 3), np.float64))


def test_the_explorer_switches_on_colabs_widget_manager_only_in_colab(erp, fake_colab, monkeypatch):
    pytest.importorskip("ipywidgets")
    from gsam_lab.widgets import in_colab

    assert in_colab()
    DistortionExplorer(erp, view_hw=(16, 16))
    assert fake_colab == ["enable_custom_widget_manager"]
    monkeypatch.delitem(sys.modules, "google.colab")
    assert not in_colab()
    DistortionExplorer(erp, view_hw=(16, 16))
    assert fake_colab == ["enable_custom_widget_manager"]          # outside Colab: not called again


def test_widget_sliders_update_images(erp):
    pytest.importorskip("ipywidgets")
    ex = DistortionExplorer(erp, view_hw=(32, 32))
    before_view, before_erp = ex.view_image.value, ex.erp_image.value
    ex.yaw.value = 90.0
    assert ex.frame.params[0] == 90.0
    assert ex.view_image.value != before_view and ex.erp_image.value != before_erp
    ex.pitch.value = 60.0
    assert ex.frame.params[1] == 60.0 and "ERP px" in ex.info.value
