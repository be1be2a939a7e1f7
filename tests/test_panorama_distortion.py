"""Distortion maps: area scale, pixel solid angle, Tissot indicatrix."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gsam_lab import panorama as P


def test_area_distortion_values():
    a = P.area_distortion(90, 180)
    assert a.shape == (90, 180) and a.dtype == torch.float32
    _, lat = P.erp_lonlat(90, 180, dtype=torch.float64)
    assert torch.allclose(a.double(), 1 / torch.cos(lat), rtol=1e-6)
    assert a[45].min() == pytest.approx(1.0, abs=1e-3)          # equator rows
    assert torch.equal(a, a.flip(0))                            # symmetric about the equator
    assert a[0, 0] > 50                                         # a pole pixel is drawn ~57x too large


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 200))
def test_solid_angles_sum_to_sphere(h):
    s = P.pixel_solid_angle(h, 2 * h, dtype=torch.float64)
    assert s.sum().item() == pytest.approx(4 * math.pi, rel=1e-12)
    assert (s > 0).all()


def test_solid_angle_and_area_distortion_agree():
    h, w = 64, 128
    s = P.pixel_solid_angle(h, w, dtype=torch.float64)
    equator_like = (2 * math.pi / w) * (math.pi / h)            # a pixel's area if it were drawn true
    ratio = equator_like / s
    # at pixel centres 1/cos(lat) equals the drawn / true area up to the finite row height
    assert torch.allclose(ratio[1:-1], P.area_distortion(h, w, dtype=torch.float64)[1:-1], rtol=0.01)
    # total drawn area over total true area is pi^2 / 4 ... / pi: (2 pi * pi) / (4 pi) = pi / 2
    assert (equator_like * h * w) / s.sum().item() == pytest.approx(math.pi / 2)


def test_tissot_axes():
    ew, ns = P.tissot_axes(60.0)
    assert ew == pytest.approx(2.0) and ns == 1.0
    ew, ns = P.tissot_axes(np.array([0.0, 45.0]))
    assert np.allclose(ew, [1.0, math.sqrt(2)]) and np.allclose(ns, 1.0)


def test_tissot_ellipses_shapes_seam_and_ratio():
    h, w = 180, 360
    lines = P.tissot_ellipses(h, w, n_lon=8, n_lat=5, radius_deg=8.0, n=128)
    # 5 x 8 circles, lat 72 rows cross the seam at lon +-157.5 (radius 8 / cos 72 > 22.5)
    assert len(lines) == 40 + 4
    for line in lines:
        assert line.shape[1] == 2
        assert line[:, 0].min() >= -1e-9 and line[:, 0].max() <= w + 1e-9
        assert line[:, 1].min() > 0 and line[:, 1].max() < h
    whole = [l for l in lines if np.allclose(l[0], l[-1])]
    assert len(whole) == 40 - 4                                 # 4 seam circles come in 2 pieces each
    r = math.radians(8.0)
    for line in whole:
        width = np.ptp(line[:, 0]) * 2 * math.pi / w                # radians of longitude
        height = np.ptp(line[:, 1]) * math.pi / h                   # radians of latitude
        lat = math.pi / 2 - line[:, 1].mean() * math.pi / h
        lat_c = math.radians(round(math.degrees(lat) / 36.0) * 36.0)
        assert height == pytest.approx(2 * r, rel=1e-3)
        # exact extent of a small circle: half-width asin(sin r / cos lat)
        assert width == pytest.approx(2 * math.asin(math.sin(r) / math.cos(lat_c)), rel=1e-3)
        assert width / height == pytest.approx(P.tissot_axes(math.degrees(lat_c))[0], rel=0.04)


def test_tissot_small_circles_match_axes_closely():
    lines = P.tissot_ellipses(180, 360, n_lon=4, n_lat=5, radius_deg=1.0, n=256)
    for line in lines:
        lat = 90.0 - line[:, 1].mean()
        assert np.ptp(line[:, 0]) / np.ptp(line[:, 1]) == pytest.approx(P.tissot_axes(lat)[0], rel=0.01)


def test_tissot_skips_circles_touching_a_pole():
    assert len(P.tissot_ellipses(90, 180, n_lon=4, n_lat=5, radius_deg=20.0)) == 4 * 3
