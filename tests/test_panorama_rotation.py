"""rotate_erp: the ERP seen by a rotated camera."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gsam_lab import panorama as P

FAST = settings(max_examples=30, deadline=None)


def ray_erp(h=64, w=128, dtype=torch.float32):
    return P.erp_rays(h, w, dtype=dtype).permute(2, 0, 1).contiguous()


@FAST
@given(yaw=st.floats(-180.0, 180.0), pitch=st.floats(-90.0, 90.0), roll=st.floats(-180.0, 180.0))
def test_rotated_ray_erp_shows_R_times_direction(yaw, pitch, roll):
    # rotating the "direction" ERP must give R @ d at every pixel: the documented convention
    out = P.rotate_erp(ray_erp(), yaw, pitch, roll)
    ref = torch.einsum("ij,jhw->ihw", P.rotation_matrix(yaw, pitch, roll), ray_erp())
    assert (out - ref).abs().max() < 0.04                       # pole clamp of half a row at 64 x 128
    assert (out - ref).abs().mean() < 2e-3


def test_centre_shows_input_at_yaw_pitch():
    erp = torch.rand(1, 64, 128)
    j, i = 101, 17                                             # an input pixel centre
    lon, lat = P.pixel_to_lonlat(torch.tensor(j + 0.5), torch.tensor(i + 0.5), 64, 128)
    out = P.rotate_erp(erp, math.degrees(lon), math.degrees(lat))
    # output pixel (row 31, col 63) has its corner at lon 0, lat 0: average the 4 around the centre
    centre = out[0, 31:33, 63:65].mean()
    near = erp[0, i - 1:i + 2, j - 1:j + 2]
    assert near.min() - 1e-4 <= centre <= near.max() + 1e-4


@FAST
@given(yaw=st.floats(-180.0, 180.0), pitch=st.floats(-60.0, 60.0), roll=st.floats(-180.0, 180.0))
def test_rotate_then_inverse_is_identity(yaw, pitch, roll):
    e = ray_erp(128, 256)
    back = P.rotate_erp(P.rotate_erp(e, yaw, pitch, roll), yaw, pitch, roll, inverse=True)
    # the poles are clamped on the way: skip pixels that are, or pass through, within 10 deg of a pole
    d = P.erp_rays(128, 256)
    mid = d @ P.rotation_matrix(yaw, pitch, roll)              # R^T d: where the pixel sits in between
    keep = (d[..., 1].abs() < math.cos(math.radians(10))) & (mid[..., 1].abs() < math.cos(math.radians(10)))
    assert (back - e)[:, keep].abs().max() < 2e-3
    assert (back - e).abs().mean() < 2e-3


@pytest.mark.parametrize("yaw", [0.0, 2.8125, 45.0, -90.0, 180.0, 360.0, -357.1875])
def test_whole_pixel_yaw_is_exact_roll(yaw):
    erp = torch.rand(2, 3, 64, 128)
    k = round(yaw * 128 / 360)
    out = P.rotate_erp(erp, yaw)
    assert torch.equal(out, torch.roll(erp, -k, dims=-1))
    assert torch.equal(P.rotate_erp(out, yaw, inverse=True), erp)
    labels = torch.randint(0, 255, (64, 128), dtype=torch.uint8).numpy()
    assert np.array_equal(P.rotate_erp(labels, yaw, mode="nearest"), np.roll(labels, -k, axis=-1))


def test_fractional_yaw_interpolates_between_columns():
    erp = torch.rand(1, 8, 16)
    out = P.rotate_erp(erp, 0.5 * 360 / 16)                    # half a column
    ref = 0.5 * (erp + torch.roll(erp, -1, dims=-1))
    assert torch.allclose(out, ref, atol=1e-5)


def test_layouts_dtypes_and_gradient():
    img = (np.random.default_rng(0).random((16, 32, 3)) * 255).astype(np.uint8)
    out = P.rotate_erp(img, 10.0, 20.0, 5.0)
    assert out.dtype == np.uint8 and out.shape == img.shape
    lab = torch.randint(0, 7, (1, 1, 16, 32))
    nl = P.rotate_erp(lab, 10.0, 20.0, 5.0, mode="nearest")
    assert nl.dtype == lab.dtype and nl.shape == lab.shape
    assert set(nl.unique().tolist()) <= set(lab.unique().tolist())
    e = torch.rand(2, 16, 32, requires_grad=True)
    P.rotate_erp(e, 10.0, 20.0, 5.0).sum().backward()
    assert e.grad.abs().sum() > 0


def test_rotated_erp_centre_view_equals_rotated_camera_view():
    # the front view of the rotated ERP is the view of the input with the same (yaw, pitch, roll)
    lon, lat = P.erp_lonlat(128, 256)
    e = torch.stack([torch.sin(k * lon) * torch.cos(lat) ** k + 0.3 * torch.sin(2 * lat) for k in (1, 2, 3)])
    a = P.erp_to_perspective(P.rotate_erp(e, 40.0, 25.0, -30.0), 70.0, 0.0, 0.0, (32, 32))
    b = P.erp_to_perspective(e, 70.0, 40.0, 25.0, (32, 32), roll_deg=-30.0)
    assert (a - b).abs().max() < 0.02
