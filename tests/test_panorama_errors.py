"""Bad input gets a clear ValueError / TypeError that says what was expected."""
import math

import numpy as np
import pytest
import torch

from gsam_lab import panorama as P

E = torch.rand(3, 16, 32)


@pytest.mark.parametrize("erp", [torch.rand(3, 16, 31), torch.rand(16, 16), np.zeros((16, 30, 3))])
def test_erp_not_2_to_1(erp):
    with pytest.raises(ValueError, match="2:1"):
        P.erp_to_perspective(erp, 90, 0, 0, (8, 8))
    with pytest.raises(ValueError, match="2:1"):
        P.rotate_erp(erp, 10)
    with pytest.raises(ValueError, match="2:1"):
        P.erp_to_cubemap(erp, 8)


@pytest.mark.parametrize("erp", [torch.rand(32), torch.rand(1, 1, 3, 16, 32), np.zeros((1, 16, 32, 3)), np.zeros(32)])
def test_erp_wrong_rank(erp):
    with pytest.raises(ValueError, match="H x W"):
        P.erp_to_perspective(erp, 90, 0, 0, (8, 8))
    with pytest.raises(ValueError, match="H x W"):
        P.rotate_erp(erp, 10, 5)


@pytest.mark.parametrize("erp", [[[0.0] * 32] * 16, "erp", None])
def test_erp_wrong_type(erp):
    with pytest.raises(TypeError, match="torch.Tensor or a numpy.ndarray"):
        P.erp_to_perspective(erp, 90, 0, 0, (8, 8))


def test_erp_wrong_dtype():
    with pytest.raises(TypeError, match="numbers"):
        P.erp_to_perspective(np.zeros((16, 32), dtype=object), 90, 0, 0, (8, 8))
    with pytest.raises(TypeError, match="complex"):
        P.erp_to_perspective(torch.zeros(16, 32, dtype=torch.complex64), 90, 0, 0, (8, 8))


@pytest.mark.parametrize("fov", [0, 180, -10, 200, math.nan, math.inf, [90, 180]])
def test_fov_outside_open_interval(fov):
    with pytest.raises(ValueError, match=r"fov_deg.*\(0, 180\)|fov_deg must be finite"):
        P.erp_to_perspective(E, fov, 0, 0, (8, 8))
    with pytest.raises(ValueError, match="fov_deg"):
        P.perspective_to_erp(torch.rand(3, 8, 8), fov, 0, 0, (16, 32))
    with pytest.raises(ValueError, match="fov_deg"):
        P.perspective_footprint(fov, 0, 0, (8, 8), (16, 32))


@pytest.mark.parametrize("name", ["yaw_deg", "pitch_deg", "roll_deg"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, [0.0, math.nan]])
def test_non_finite_angles(name, bad):
    kw = dict(yaw_deg=0.0, pitch_deg=0.0, roll_deg=0.0)
    kw[name] = bad
    with pytest.raises(ValueError, match=f"{name} must be finite"):
        P.erp_to_perspective(E, 90.0, out_hw=(8, 8), **kw)
    with pytest.raises(ValueError, match=name):
        P.rotate_erp(E, **kw)
    with pytest.raises(ValueError, match=name):
        P.perspective_to_erp(torch.rand(3, 8, 8), 90.0, erp_hw=(16, 32), **kw)


def test_angle_shapes_and_types():
    with pytest.raises(ValueError, match="equal lengths"):
        P.erp_to_perspective(E, 90, [0, 1, 2], [0, 1], (8, 8))
    with pytest.raises(ValueError, match="1-D"):
        P.erp_to_perspective(E, 90, [[0, 1]], 0, (8, 8))
    with pytest.raises(ValueError, match="empty"):
        P.erp_to_perspective(E, 90, [], 0, (8, 8))
    with pytest.raises(TypeError, match="yaw_deg must be a number"):
        P.erp_to_perspective(E, 90, "left", 0, (8, 8))
    with pytest.raises(ValueError, match="single angle"):
        P.rotate_erp(E, [10, 20])
    with pytest.raises(ValueError, match="one view"):
        P.perspective_footprint(90, [0, 10], 0, (8, 8), (16, 32))


@pytest.mark.parametrize("hw", [(0, 8), (8, -1), (8,), (8, 8, 8), (8.0, 8), (2.5, 3), "ab", 8, None, (True, 8)])
def test_out_hw_must_be_two_positive_ints(hw):
    with pytest.raises(ValueError, match="out_hw must be two positive ints"):
        P.erp_to_perspective(E, 90, 0, 0, hw)
    with pytest.raises(ValueError, match="out_hw must be two positive ints"):
        P.perspective_footprint(90, 0, 0, hw, (16, 32))


def test_numpy_ints_are_fine_for_sizes():
    assert P.erp_to_perspective(E, 90, 0, 0, (np.int64(4), np.int32(6))).shape == (3, 4, 6)
    assert P.erp_to_cubemap(E, np.int64(4)).shape == (6, 3, 4, 4)


@pytest.mark.parametrize("erp_hw", [(16, 31), (16, 16), (0, 0), (16,), (16.0, 32)])
def test_erp_hw(erp_hw):
    with pytest.raises(ValueError, match="erp_hw|2:1"):
        P.perspective_to_erp(torch.rand(3, 8, 8), 90, 0, 0, erp_hw)
    with pytest.raises(ValueError, match="erp_hw|2:1"):
        P.cubemap_to_erp(torch.rand(6, 3, 8, 8), erp_hw)
    with pytest.raises(ValueError, match="erp_hw|2:1"):
        P.perspective_footprint(90, 0, 0, (8, 8), erp_hw)


def test_bad_mode():
    for fn in (lambda: P.erp_to_perspective(E, 90, 0, 0, (8, 8), mode="bicubic"),
               lambda: P.rotate_erp(E, 10, mode="cubic"),
               lambda: P.perspective_to_erp(torch.rand(3, 8, 8), 90, 0, 0, (16, 32), mode="area"),
               lambda: P.erp_to_cubemap(E, 8, mode="linear"),
               lambda: P.cubemap_to_erp(torch.rand(6, 3, 8, 8), (16, 32), mode="x")):
        with pytest.raises(ValueError, match="mode must be one of"):
            fn()


def test_perspective_to_erp_bad_views_and_weights():
    with pytest.raises(ValueError, match="C x h x w or V x C x h x w"):
        P.perspective_to_erp(torch.rand(8, 8), 90, 0, 0, (16, 32))
    with pytest.raises(ValueError, match="C x h x w or V x C x h x w"):
        P.perspective_to_erp(torch.rand(1, 2, 3, 8, 8), 90, 0, 0, (16, 32))
    with pytest.raises(ValueError, match="V x h x w x C"):
        P.perspective_to_erp(np.zeros((1, 2, 8, 8, 3)), 90, 0, 0, (16, 32))
    with pytest.raises(TypeError, match="views must be a torch.Tensor"):
        P.perspective_to_erp([[0.0]], 90, 0, 0, (16, 32))
    with pytest.raises(ValueError, match=r"2 view\(s\) but 3 angles"):
        P.perspective_to_erp(torch.rand(2, 3, 8, 8), 90, [0, 1, 2], 0, (16, 32))
    with pytest.raises(ValueError, match="view_weight must be h x w"):
        P.perspective_to_erp(torch.rand(2, 3, 8, 8), 90, [0, 1], 0, (16, 32), view_weight=torch.ones(8, 7))
    with pytest.raises(ValueError, match="view_weight must be h x w"):
        P.perspective_to_erp(torch.rand(2, 3, 8, 8), 90, [0, 1], 0, (16, 32), view_weight=torch.ones(3, 8, 8))


@pytest.mark.parametrize("f", [0, -4, 2.5, "8", None, True])
def test_face_size(f):
    with pytest.raises(ValueError, match="face_size must be a positive int"):
        P.erp_to_cubemap(E, f)


@pytest.mark.parametrize("faces", [torch.rand(5, 3, 8, 8), torch.rand(6, 3, 8, 7), torch.rand(2, 5, 3, 8, 8),
                                   torch.rand(8, 8), torch.rand(1, 1, 6, 3, 8, 8), np.zeros((6, 8, 8, 3, 1)),
                                   np.zeros((5, 8, 8))])
def test_faces_of_the_wrong_shape(faces):
    with pytest.raises(ValueError, match="faces"):
        P.cubemap_to_erp(faces, (16, 32))


def test_faces_wrong_type():
    with pytest.raises(TypeError, match="faces must be a torch.Tensor"):
        P.cubemap_to_erp([0] * 6, (16, 32))


def test_distortion_bad_sizes():
    with pytest.raises(ValueError, match="2:1"):
        P.area_distortion(10, 10)
    with pytest.raises(ValueError, match="2:1"):
        P.pixel_solid_angle(10, 30)
    with pytest.raises(ValueError, match="2:1"):
        P.tissot_ellipses(10, 30)
    with pytest.raises(ValueError, match="radius_deg"):
        P.tissot_ellipses(16, 32, radius_deg=0.0)
    with pytest.raises(ValueError, match="radius_deg"):
        P.tissot_ellipses(16, 32, radius_deg=95.0)
    with pytest.raises(ValueError, match="n_lon must be a positive int"):
        P.tissot_ellipses(16, 32, n_lon=0)
    with pytest.raises(ValueError, match="lat_deg"):
        P.tissot_axes(90.0)
    with pytest.raises(ValueError, match="n must be a positive int"):
        P.perspective_footprint(90, 0, 0, (8, 8), (16, 32), n=0)
