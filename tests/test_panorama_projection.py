"""Tangent views out of an ERP and back (gsam_lab.panorama.projection)."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gsam_lab import panorama as P

FAST = settings(max_examples=30, deadline=None)
EH, EW = 128, 256


def ray_erp(h=EH, w=EW, dtype=torch.float32):
    """A smooth ERP whose 3 channels are the x, y, z of each pixel's ray: ``3 x H x W``."""
    return P.erp_rays(h, w, dtype=dtype).permute(2, 0, 1).contiguous()


def view_rays(*args, **kw):
    r = P.perspective_rays(*args, **kw)
    return r.movedim(-1, -3)                                       # ... x 3 x h x w


def textured_erp(h=EH, w=EW, seed=0):
    """A smooth but non-trivial colour ERP (H x W x 3 float32 numpy), continuous across the seam."""
    rng = np.random.default_rng(seed)
    lon, lat = (t.numpy() for t in P.erp_lonlat(h, w, dtype=torch.float64))
    chans = []
    for _ in range(3):
        a = rng.integers(1, 5)                                      # whole cycles around the sphere
        b, c = rng.uniform(1, 4, 2)
        chans.append(0.5 + 0.25 * np.sin(a * lon + rng.uniform(0, 6)) * np.cos(b * lat) + 0.2 * np.cos(c * lat + lon))
    return np.stack(chans, -1).astype(np.float32)


# ---------------------------------------------------------------- erp_to_perspective: values

@FAST
@given(fov=st.floats(20.0, 150.0), yaw=st.floats(-180.0, 180.0), pitch=st.floats(-90.0, 90.0),
       roll=st.floats(-180.0, 180.0), h=st.integers(2, 24), w=st.integers(2, 24))
def test_view_reproduces_smooth_function_of_direction(fov, yaw, pitch, roll, h, w):
    out = P.erp_to_perspective(ray_erp(), fov, yaw, pitch, (h, w), roll_deg=roll)
    assert out.shape == (3, h, w)
    # bilinear error of a smooth function + pole clamp (half a row, 0.7 deg) at 128 x 256
    assert (out - view_rays(fov, yaw, pitch, (h, w), roll)).abs().max() < 0.02


def test_view_reproduces_function_tightly_away_from_poles():
    out = P.erp_to_perspective(ray_erp(256, 512), 60.0, [-170.0, -30.0, 45.0, 180.0], [0.0, 20.0, -30.0, 10.0],
                               (32, 48), roll_deg=[0.0, 15.0, -40.0, 90.0])
    ref = view_rays(60.0, [-170.0, -30.0, 45.0, 180.0], [0.0, 20.0, -30.0, 10.0], (32, 48),
                    [0.0, 15.0, -40.0, 90.0])
    assert (out - ref).abs().max() < 2e-3


def test_view_centre_is_erp_pixel_at_yaw_pitch():
    erp = torch.rand(2, 64, 128)
    # yaw/pitch exactly on an ERP pixel centre and an odd view: the centre pixel copies that ERP pixel
    j, i = 37, 20
    lon, lat = P.pixel_to_lonlat(torch.tensor(j + 0.5), torch.tensor(i + 0.5), 64, 128)
    out = P.erp_to_perspective(erp, 60.0, math.degrees(lon), math.degrees(lat), (5, 5))
    assert torch.allclose(out[:, 2, 2], erp[:, i, j], atol=1e-4)


def test_seam_view_equals_rolled_erp_and_is_continuous():
    erp = torch.rand(3, 64, 128)
    rolled = torch.roll(erp, 64, dims=-1)                            # lon 180 moves to the centre column
    a = P.erp_to_perspective(erp, 90.0, 180.0, 10.0, (40, 40))
    b = P.erp_to_perspective(rolled, 90.0, 0.0, 10.0, (40, 40))
    assert (a - b).abs().max() < 1e-3
    a2 = P.erp_to_perspective(erp, 90.0, -180.0, 10.0, (40, 40))
    assert (a - a2).abs().max() < 1e-3
    # continuity across the seam for a smooth function
    s = P.erp_to_perspective(ray_erp(), 90.0, 180.0, 0.0, (40, 40))
    assert s.diff(dim=-1).abs().max() < 0.06


def test_sample_erp_wraps_and_clamps():
    erp = torch.rand(1, 2, 8, 16)
    at_seam = P.sample_erp(erp, torch.tensor([[0.0, 16.0, -16.0]]), torch.tensor([[4.5, 4.5, 4.5]]))
    mean = 0.5 * (erp[..., 4, 0] + erp[..., 4, 15])
    for k in range(3):
        assert torch.allclose(at_seam[..., 0, k], mean, atol=1e-6)
    pole = P.sample_erp(erp, torch.tensor([[3.5]]), torch.tensor([[0.0]]))
    assert torch.allclose(pole[..., 0, 0], erp[..., 0, 3], atol=1e-6)
    near = P.sample_erp(erp, torch.tensor([[3.9]]), torch.tensor([[7.9]]), mode="nearest")
    assert torch.equal(near[..., 0, 0], erp[..., 7, 3])


# ---------------------------------------------------------------- shapes, dtypes, layouts

def test_output_shapes_for_all_layouts():
    e = torch.rand(3, 32, 64)
    assert P.erp_to_perspective(e, 90, 0, 0, (5, 7)).shape == (3, 5, 7)
    assert P.erp_to_perspective(e, 90, [0, 10], 0, (5, 7)).shape == (2, 3, 5, 7)
    assert P.erp_to_perspective(e[None].expand(4, -1, -1, -1), 90, 0, 0, (5, 7)).shape == (4, 3, 5, 7)
    assert P.erp_to_perspective(e[None].expand(4, -1, -1, -1), 90, 0, [0, 1, 2], (5, 7)).shape == (4, 3, 3, 5, 7)
    assert P.erp_to_perspective(e[0], 90, 0, 0, (5, 7)).shape == (5, 7)
    assert P.erp_to_perspective(e[0], [60, 90], 0, 0, (5, 7)).shape == (2, 5, 7)
    n = e.permute(1, 2, 0).numpy()
    out = P.erp_to_perspective(n, 90, 0, 0, (5, 7))
    assert isinstance(out, np.ndarray) and out.shape == (5, 7, 3)
    assert P.erp_to_perspective(n, 90, [0, 5], 0, (5, 7)).shape == (2, 5, 7, 3)
    assert P.erp_to_perspective(n[..., 0], 90, [0, 5], 0, (5, 7)).shape == (2, 5, 7)


def test_batch_and_views_agree_with_single_calls():
    e = torch.rand(2, 3, 32, 64)
    yaws, pitches = [0.0, 100.0, -170.0], [10.0, -40.0, 80.0]
    many = P.erp_to_perspective(e, 70.0, yaws, pitches, (9, 11), roll_deg=20.0)
    for b in range(2):
        for v in range(3):
            one = P.erp_to_perspective(e[b], 70.0, yaws[v], pitches[v], (9, 11), roll_deg=20.0)
            assert torch.allclose(many[b, v], one, atol=1e-6)


def test_numpy_matches_torch_and_uint8_is_rounded():
    img = (textured_erp(32, 64) * 255).astype(np.uint8)
    out = P.erp_to_perspective(img, 80.0, 30.0, 10.0, (12, 16))
    assert out.dtype == np.uint8
    ref = P.erp_to_perspective(torch.from_numpy(img).permute(2, 0, 1).float(), 80.0, 30.0, 10.0, (12, 16))
    assert np.array_equal(out, ref.round().permute(1, 2, 0).numpy().astype(np.uint8))


def test_nearest_keeps_integer_labels():
    labels = torch.randint(0, 19, (1, 32, 64), dtype=torch.int64)
    out = P.erp_to_perspective(labels, 90.0, [0.0, 179.0], [0.0, 60.0], (10, 10), mode="nearest")
    assert out.dtype == torch.int64
    assert set(out.unique().tolist()) <= set(labels.unique().tolist())
    u8 = P.erp_to_perspective(labels.to(torch.uint8)[0].numpy(), 90.0, 0.0, 0.0, (10, 10), mode="nearest")
    assert u8.dtype == np.uint8 and np.array_equal(u8, out[0, 0].numpy().astype(np.uint8))


def test_float64_and_half_dtypes_are_kept():
    e = ray_erp(32, 64, dtype=torch.float64)
    assert P.erp_to_perspective(e, 90, 0, 0, (4, 4)).dtype == torch.float64
    assert P.erp_to_perspective(e.half(), 90, 0, 0, (4, 4)).dtype == torch.float16


def test_differentiable_wrt_erp():
    e = torch.rand(2, 16, 32, requires_grad=True)
    P.erp_to_perspective(e, 90.0, [0.0, 180.0], 30.0, (6, 6)).sum().backward()
    assert e.grad is not None and e.grad.abs().sum() > 0
    assert torch.isfinite(e.grad).all()


def test_works_inside_inference_mode_and_then_with_autograd():
    with torch.inference_mode():
        P.erp_to_perspective(torch.rand(1, 16, 32), 50.0, 7.0, 3.0, (5, 5))
    e = torch.rand(1, 16, 32, requires_grad=True)
    P.erp_to_perspective(e, 50.0, 7.0, 3.0, (5, 5)).sum().backward()      # cached rays reused
    assert e.grad.abs().sum() > 0


# ---------------------------------------------------------------- perspective_to_erp

def test_perspective_to_erp_coverage_and_values():
    e = ray_erp()
    yaws = [0.0, 90.0, 180.0, -90.0]
    views = P.erp_to_perspective(e, 100.0, yaws, 0.0, (64, 64))
    back, weight = P.perspective_to_erp(views, 100.0, yaws, 0.0, (EH, EW))
    assert back.shape == (3, EH, EW) and weight.shape == (EH, EW)
    covered = weight > 0
    # 4 views of 100 deg around the equator overlap: every equator pixel is covered, some twice
    assert covered[EH // 2].all() and weight.max() == 2 and not covered[0].any()
    assert (back - e)[:, covered].abs().max() < 0.02
    assert (back[:, ~covered] == 0).all()


def test_perspective_to_erp_single_view_geometry():
    # a 90 deg square view at yaw 0 covers exactly |lon| <= 45 deg on the equator
    _, weight = P.perspective_to_erp(torch.ones(1, 8, 8), 90.0, 0.0, 0.0, (64, 128))
    lon, _ = P.erp_lonlat(64, 128)
    row = weight[32]
    assert torch.equal(row > 0, lon[32].abs() <= math.pi / 4)


def test_perspective_erp_perspective_roundtrip():
    tex = torch.from_numpy(textured_erp(256, 512)).permute(2, 0, 1)
    views = P.erp_to_perspective(tex, 90.0, [30.0, 150.0], [20.0, -10.0], (48, 48))
    erp, weight = P.perspective_to_erp(views, 90.0, [30.0, 150.0], [20.0, -10.0], (256, 512))
    again = P.erp_to_perspective(erp, 80.0, [30.0, 150.0], [20.0, -10.0], (48, 48))     # inside the views
    ref = P.erp_to_perspective(tex, 80.0, [30.0, 150.0], [20.0, -10.0], (48, 48))
    assert (again - ref).abs().mean() < 0.01 and (again - ref).abs().max() < 0.06


def test_perspective_to_erp_view_weight_and_numpy():
    views = torch.stack([torch.full((1, 8, 8), 1.0), torch.full((1, 8, 8), 3.0)])
    w = torch.stack([torch.ones(8, 8), 3 * torch.ones(8, 8)])
    erp, weight = P.perspective_to_erp(views, 90.0, [0.0, 10.0], 0.0, (32, 64), view_weight=w)
    both = weight > 3.5
    assert both.any() and torch.allclose(erp[0, both], torch.tensor(2.5))    # (1*1 + 3*3) / 4
    assert torch.allclose(weight[both], torch.tensor(4.0))
    # a shared h x w weight; numpy views
    erp_np, w_np = P.perspective_to_erp(views[0].permute(1, 2, 0).numpy(), 90.0, 0.0, 0.0, (32, 64),
                                        view_weight=torch.ones(8, 8) * 0.5)
    assert erp_np.shape == (32, 64, 1) and isinstance(w_np, np.ndarray) and w_np.max() == pytest.approx(0.5)


def test_perspective_to_erp_refuses_negative_or_nan_view_weight():
    views = torch.ones(2, 1, 8, 8)
    for bad in (-1.0, float("nan")):
        w = torch.ones(2, 8, 8)
        w[1, 2, 2] = bad
        with pytest.raises(ValueError, match="view_weight must hold finite weights >= 0"):
            P.perspective_to_erp(views, 90.0, [0.0, 10.0], 0.0, (32, 64), view_weight=w)


def test_perspective_to_erp_labels_take_the_heaviest_view():
    views = torch.stack([torch.full((1, 8, 8), 4), torch.full((1, 8, 8), 9)])
    erp, weight = P.perspective_to_erp(views, 90.0, [0.0, 10.0], 0.0, (32, 64), mode="nearest",
                                       view_weight=torch.stack([torch.ones(8, 8), 2 * torch.ones(8, 8)]))
    assert erp.dtype == views.dtype
    assert set(erp.unique().tolist()) == {0, 4, 9}
    assert (erp[0][weight >= 3] == 9).all()


def test_perspective_to_erp_differentiable_wrt_views():
    v = torch.rand(2, 2, 8, 8, requires_grad=True)
    erp, _ = P.perspective_to_erp(v, 90.0, [0.0, 60.0], 0.0, (16, 32))
    erp.sum().backward()
    assert v.grad.abs().sum() > 0 and torch.isfinite(v.grad).all()


@FAST
@given(fov=st.floats(30.0, 150.0), yaw=st.floats(-180.0, 180.0), pitch=st.floats(-85.0, 85.0),
       roll=st.floats(-180.0, 180.0))
def test_perspective_to_erp_property(fov, yaw, pitch, roll):
    e = ray_erp(64, 128)
    view = P.erp_to_perspective(e, fov, yaw, pitch, (24, 32), roll_deg=roll)
    back, weight = P.perspective_to_erp(view, fov, yaw, pitch, (64, 128), roll_deg=roll)
    covered = weight > 0
    assert covered.any() and set(weight.unique().tolist()) <= {0.0, 1.0}
    assert (back - e)[:, covered].abs().max() < 0.08
    # the covered ERP pixels' rays lie inside the camera's field of view
    cam = P.erp_rays(64, 128) @ P.rotation_matrix(yaw, pitch, roll)
    tx = math.tan(math.radians(fov) / 2)
    c = cam[covered]
    assert (c[:, 2] > 0).all() and (c[:, 0].abs() <= c[:, 2] * tx * (1 + 1e-5)).all()


# ---------------------------------------------------------------- footprint

def test_footprint_simple_view_is_one_closed_polyline_on_the_border():
    lines = P.perspective_footprint(90.0, 30.0, 10.0, (60, 80), (128, 256), n=16)
    assert len(lines) == 1
    line = lines[0]
    assert np.allclose(line[0], line[-1]) and line.shape == (4 * 16 + 1, 2)
    lon, lat = P.pixel_to_lonlat(torch.from_numpy(line[:, 0]), torch.from_numpy(line[:, 1]), 128, 256)
    cam = P.lonlat_to_xyz(lon, lat) @ P.rotation_matrix(30.0, 10.0, dtype=torch.float64)
    tx = math.tan(math.radians(45.0))
    x, y = cam[:, 0] / cam[:, 2], cam[:, 1] / cam[:, 2]
    on_edge = torch.minimum((x.abs() - tx).abs(), (y.abs() - tx * 60 / 80).abs())
    assert on_edge.max() < 1e-9


def test_footprint_splits_at_the_seam():
    lines = P.perspective_footprint(90.0, 180.0, 0.0, (64, 64), (128, 256))
    assert len(lines) == 2
    for line in lines:
        assert line[:, 0].min() >= 0 and line[:, 0].max() <= 256
        # each piece ends on the seam at both ends
        assert {round(line[0, 0]), round(line[-1, 0])} <= {0, 256}


@pytest.mark.parametrize("pitch,pole_v", [(80.0, 0.0), (-75.0, 128.0)])
def test_footprint_of_a_view_containing_a_pole(pitch, pole_v):
    lines = P.perspective_footprint(90.0, 20.0, pitch, (64, 64), (128, 256))
    assert len(lines) == 1
    line = lines[0]
    assert line[:, 0].min() == pytest.approx(0.0) and line[:, 0].max() == pytest.approx(256.0)
    assert np.isclose(line[:, 1], pole_v).sum() >= 2             # closed along the pole row
    assert np.allclose(line[0], line[-1])


def test_py360convert_fov():
    h_fov, v_fov = P.py360convert_fov(90.0, (3, 4))
    assert math.tan(math.radians(h_fov / 2)) == pytest.approx(3 / 4)
    assert math.tan(math.radians(v_fov / 2)) == pytest.approx(3 / 4 * 2 / 3)


@settings(max_examples=40, deadline=None)
@given(fov=st.floats(5.0, 175.0), yaw=st.floats(-180.0, 180.0), pitch=st.floats(-90.0, 90.0),
       roll=st.floats(-180.0, 180.0), h=st.integers(1, 16), w=st.integers(1, 16))
def test_perspective_to_erp_covers_exactly_the_pixels_inside_the_view(fov, yaw, pitch, roll, h, w):
    # brute force over every ERP pixel: the speed-up windows must not drop any
    _, weight = P.perspective_to_erp(torch.ones(1, h, w), fov, yaw, pitch, (32, 64), roll_deg=roll)
    cam = P.erp_rays(32, 64, dtype=torch.float64) @ P.rotation_matrix(yaw, pitch, roll, dtype=torch.float64)
    tx = math.tan(math.radians(fov) / 2)
    ty = tx * h / w
    z = cam[..., 2]
    gx, gy = cam[..., 0] / (z * tx), cam[..., 1] / (z * ty)
    inside = (z > 0) & (gx.abs() <= 1) & (gy.abs() <= 1)
    sure = (z > 1e-6) & (gx.abs() < 1 - 1e-4) & (gy.abs() < 1 - 1e-4)
    assert (weight[sure] == 1).all()
    assert (weight[~inside & ((gx.abs() > 1 + 1e-4) | (gy.abs() > 1 + 1e-4) | (z < -1e-6))] == 0).all()
