"""Agreement with py360convert (a numpy reference implementation, test-only dependency).

Mapping of conventions, found by experiment and documented in ``gsam_lab.panorama.projection``:
``py360convert.e2p(e, fov, u_deg, v_deg, out_hw, in_rot_deg)`` with ``u_deg = yaw_deg``,
``v_deg = pitch_deg``, ``in_rot_deg = -roll_deg`` and ``fov = panorama.py360convert_fov(fov_deg, out_hw)``
(py360convert puts its edge pixel centres on the field-of-view limits; ours tile it).
``py360convert.e2c(e, face_w, cube_format="list")`` gives faces in order F R B L U D, the same order
as ``panorama.FACE_NAMES``.
"""
import numpy as np
import pytest
import torch

from gsam_lab import panorama as P

py360convert = pytest.importorskip("py360convert")


def texture(h=128, w=256, seed=1):
    rng = np.random.default_rng(seed)
    lon, lat = (t.numpy() for t in P.erp_lonlat(h, w, dtype=torch.float64))
    chans = [0.5 + 0.3 * np.sin(k * lon + rng.uniform(0, 6)) * np.cos(rng.uniform(1, 5) * lat) for k in (1, 3, 5)]
    noise = 0.05 * rng.standard_normal((h, w, 3))                  # some pixel-level detail too
    return (np.stack(chans, -1) + noise).astype(np.float32)


@pytest.mark.parametrize("fov,yaw,pitch,roll,hw", [
    (90.0, 0.0, 0.0, 0.0, (48, 48)),
    (90.0, 30.0, 20.0, 0.0, (48, 48)),
    (60.0, -120.0, -35.0, 0.0, (40, 64)),
    (100.0, 175.0, 10.0, 25.0, (48, 32)),
    (75.0, -60.0, 55.0, -70.0, (36, 36)),
])
def test_e2p_agrees_with_erp_to_perspective(fov, yaw, pitch, roll, hw):
    erp = texture()
    ours = P.erp_to_perspective(erp, fov, yaw, pitch, hw, roll_deg=roll)
    ref = py360convert.e2p(erp, P.py360convert_fov(fov, hw), yaw, pitch, hw, in_rot_deg=-roll, mode="bilinear")
    # compare away from the image border, and away from the poles: within one ERP row of a pole
    # py360convert pads with the row across the pole, we clamp to the last row
    lat = np.degrees(P.xyz_to_lonlat(P.perspective_rays(fov, yaw, pitch, hw, roll))[1].numpy())
    keep = np.abs(lat) < 90.0 - 180.0 / erp.shape[0]
    keep[:2], keep[-2:], keep[:, :2], keep[:, -2:] = False, False, False, False
    diff = np.abs(ours - ref)[keep]
    value_range = float(erp.max() - erp.min())
    assert diff.mean() < 0.002 * value_range
    assert diff.max() < 0.02 * value_range


def test_e2p_sign_convention_is_not_mirrored():
    # a wrong sign for yaw or roll would give a clearly different image
    erp = texture()
    ours = P.erp_to_perspective(erp, 90.0, 40.0, 0.0, (32, 32), roll_deg=30.0)
    wrong_yaw = py360convert.e2p(erp, P.py360convert_fov(90.0, (32, 32)), -40.0, 0.0, (32, 32), in_rot_deg=-30.0)
    wrong_roll = py360convert.e2p(erp, P.py360convert_fov(90.0, (32, 32)), 40.0, 0.0, (32, 32), in_rot_deg=30.0)
    assert np.abs(ours - wrong_yaw).mean() > 0.05
    assert np.abs(ours - wrong_roll).mean() > 0.02


def test_e2c_agrees_with_erp_to_cubemap():
    erp = texture()
    f = 32
    ours = P.erp_to_cubemap(erp, f)                                # 6 x f x f x 3 (numpy layout)
    ref = np.stack(py360convert.e2c(erp, face_w=f, mode="bilinear", cube_format="list"))
    # py360convert's faces sample pixel centres on a grid spanning the face edges, like e2p
    b = 3
    for k, name in enumerate(P.FACE_NAMES[:4]):                    # side faces: same orientation
        diff = np.abs(ours[k, b:-b, b:-b] - ref[k, b:-b, b:-b]).mean()
        assert diff < 0.03, name
