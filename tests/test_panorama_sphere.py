"""Conventions of gsam_lab.panorama.sphere: pixels <-> lon/lat <-> xyz, rotations, view rays."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gsam_lab import panorama as P

FAST = settings(max_examples=40, deadline=None)
angles = st.floats(-179.0, 179.0)


def test_pixel_centres_and_corners():
    lon, lat = P.erp_lonlat(4, 8)
    # centre column boundary (u = W/2) is lon 0; first pixel centre is half a pixel right of -180
    assert lon[0, 0].item() == pytest.approx(-math.pi + math.pi / 8)
    assert lat[0, 0].item() == pytest.approx(math.pi / 2 - math.pi / 8)
    assert lat[-1, 0].item() == pytest.approx(-math.pi / 2 + math.pi / 8)
    u, v = P.lonlat_to_pixel(torch.tensor(0.0), torch.tensor(0.0), 4, 8)
    assert (u.item(), v.item()) == (4.0, 2.0)


def test_xyz_axes():
    xyz = P.lonlat_to_xyz(torch.tensor([0.0, math.pi / 2, 0.0]), torch.tensor([0.0, 0.0, math.pi / 2]))
    assert torch.allclose(xyz, torch.tensor([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]]), atol=1e-6)


@FAST
@given(u=st.floats(0.0, 255.99), v=st.floats(0.0, 127.99))
def test_pixel_lonlat_roundtrip(u, v):
    lon, lat = P.pixel_to_lonlat(torch.tensor(u, dtype=torch.float64), torch.tensor(v, dtype=torch.float64), 128, 256)
    assert -math.pi <= lon.item() < math.pi and -math.pi / 2 <= lat.item() <= math.pi / 2
    u2, v2 = P.lonlat_to_pixel(lon, lat, 128, 256)
    assert u2.item() == pytest.approx(u, abs=1e-9) and v2.item() == pytest.approx(v, abs=1e-9)


@FAST
@given(lon=st.floats(-math.pi + 1e-6, math.pi), lat=st.floats(-math.pi / 2 + 1e-6, math.pi / 2 - 1e-6))
def test_lonlat_xyz_roundtrip(lon, lat):
    xyz = P.lonlat_to_xyz(torch.tensor(lon, dtype=torch.float64), torch.tensor(lat, dtype=torch.float64))
    assert xyz.norm().item() == pytest.approx(1.0, abs=1e-12)
    lon2, lat2 = P.xyz_to_lonlat(xyz * 3.0)       # any length
    assert lat2.item() == pytest.approx(lat, abs=1e-9)
    dlon = (lon2.item() - lon + math.pi) % (2 * math.pi) - math.pi
    assert abs(dlon) < 1e-9


def test_erp_rays_match_pixel_formula():
    rays = P.erp_rays(8, 16, dtype=torch.float64)
    lon, lat = P.xyz_to_lonlat(rays)
    u, v = P.lonlat_to_pixel(lon, lat, 8, 16)
    assert torch.allclose(u, torch.arange(16, dtype=torch.float64)[None] + 0.5)
    assert torch.allclose(v, torch.arange(8, dtype=torch.float64)[:, None] + 0.5)


@FAST
@given(yaw=angles, pitch=st.floats(-89.0, 89.0), roll=angles)
def test_rotation_matrix_is_rotation_and_looks_at_yaw_pitch(yaw, pitch, roll):
    r = P.rotation_matrix(yaw, pitch, roll, dtype=torch.float64)
    assert torch.allclose(r @ r.T, torch.eye(3, dtype=torch.float64), atol=1e-12)
    assert torch.det(r).item() == pytest.approx(1.0, abs=1e-12)
    lon, lat = P.xyz_to_lonlat(r @ torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    assert math.degrees(lat.item()) == pytest.approx(pitch, abs=1e-9)
    assert (math.degrees(lon.item()) - yaw + 180) % 360 - 180 == pytest.approx(0.0, abs=1e-7)


@FAST
@given(fov=st.floats(10.0, 170.0), yaw=angles, pitch=st.floats(-89.0, 89.0), roll=angles,
       h=st.integers(1, 9), w=st.integers(1, 9))
def test_view_centre_ray_points_at_yaw_pitch(fov, yaw, pitch, roll, h, w):
    # an odd-sized view has a pixel centre on the optical axis; for even sizes, average the middle rays
    rays = P.perspective_rays(fov, yaw, pitch, (2 * h + 1, 2 * w + 1), roll, dtype=torch.float64)
    lon, lat = P.xyz_to_lonlat(rays[h, w])
    assert math.degrees(lat.item()) == pytest.approx(pitch, abs=1e-7)
    assert (math.degrees(lon.item()) - yaw + 180) % 360 - 180 == pytest.approx(0.0, abs=1e-6)
    assert torch.allclose(rays.norm(dim=-1), torch.ones(()).double())


def test_view_orientation_right_up_and_roll():
    rays = P.perspective_rays(90.0, 0.0, 0.0, (3, 3), dtype=torch.float64)
    assert rays[1, 2, 0] > 0.5 and rays[0, 1, 1] > 0.5          # right column points +x, top row +y
    r = P.perspective_rays(90.0, 0.0, 0.0, (3, 3), roll_deg=90.0, dtype=torch.float64)
    assert r[1, 2, 1] > 0.5                                       # roll +90 (counter-clockwise): image right -> up
    # horizontal FoV: the edge of the image is at 45 deg for fov 90
    edge = P.perspective_rays(90.0, 0.0, 0.0, (1, 1000), dtype=torch.float64)[0, -1]
    assert math.degrees(math.atan2(edge[0].item(), edge[2].item())) == pytest.approx(45.0, abs=0.1)


def test_multi_view_rays_shape():
    assert P.perspective_rays(90.0, [0.0, 10.0, 20.0], 0.0, (4, 6)).shape == (3, 4, 6, 3)
    assert P.perspective_rays(90.0, 0.0, 0.0, (4, 6)).shape == (4, 6, 3)


def test_check_erp_hw():
    P.check_erp_hw(4, 8)
    with pytest.raises(ValueError, match="2:1"):
        P.check_erp_hw(4, 7)
    with pytest.raises(ValueError, match="positive"):
        P.check_erp_hw(0, 0)


@FAST
@given(fov=st.floats(10.0, 170.0), yaw=angles, pitch=st.floats(-90.0, 90.0), roll=angles,
       h=st.integers(1, 12), w=st.integers(1, 12))
def test_perspective_lonlat_matches_rays(fov, yaw, pitch, roll, h, w):
    rays = P.perspective_rays(fov, [yaw, -yaw], pitch, (h, w), roll, dtype=torch.float64)
    raw = P.perspective_rays(fov, [yaw, -yaw], pitch, (h, w), roll, dtype=torch.float64, normalize=False)
    assert torch.allclose(raw / raw.norm(dim=-1, keepdim=True), rays, atol=1e-12)
    lon, lat = P.perspective_lonlat(fov, [yaw, -yaw], pitch, (h, w), roll, dtype=torch.float64)
    lon_r, lat_r = P.xyz_to_lonlat(rays)
    assert lon.shape == (2, h, w)
    assert torch.allclose(lat, lat_r, atol=1e-9)
    # compare longitudes on the circle (both are in (-pi, pi], but the seam may split them)
    assert torch.allclose(torch.cos(lon - lon_r), torch.ones(()).double(), atol=1e-12)
    lon1, _ = P.perspective_lonlat(fov, yaw, pitch, (h, w), roll)
    assert lon1.shape == (h, w)
