"""Rotating a whole panorama: the ERP seen by a rotated camera."""
from __future__ import annotations

import torch

from gsam_lab.images import from_batch, to_batch, work_dtype

from ._validate import check_mode, check_scalar_angle
from .sampling import sample_erp
from .sphere import check_erp_hw, erp_rays, lonlat_to_pixel, rotation_matrix, xyz_to_lonlat

__all__ = ["rotate_erp"]


def rotate_erp(erp, yaw_deg=0.0, pitch_deg=0.0, roll_deg=0.0, mode: str = "bilinear", inverse: bool = False):
    """Resample an ERP as seen by a camera rotated by ``R = rotation_matrix(yaw, pitch, roll)``.

    Output pixel with direction ``d`` (in the rotated camera's frame) shows the input's direction
    ``R @ d``: the output's centre (column ``W/2``, row ``H/2``: lon 0, lat 0) shows the input at
    longitude ``yaw_deg``, latitude ``pitch_deg``, and ``roll_deg`` turns the picture about that
    direction exactly as for a tangent view of :func:`~gsam_lab.panorama.erp_to_perspective` with the
    same angles. ``inverse=True`` applies ``R^T`` instead, undoing the forward rotation.

    A pure yaw (pitch = roll = 0) of a whole number of pixel columns (``yaw_deg * W / 360`` an
    integer) is an exact ``torch.roll`` of the columns; anything else is resampled with the seam
    wrapped and the poles clamped.

    Arguments:
      erp: torch ``C x H x W``, ``B x C x H x W`` or ``H x W``, or numpy ``H x W x C`` / ``H x W``.
      yaw_deg, pitch_deg, roll_deg: scalar angles in degrees.
      mode: ``"bilinear"`` (integer input rounded back to its dtype) or ``"nearest"`` (exact values).

    Returns:
      The rotated ERP, same shape, layout and dtype as ``erp``.
    """
    mode = check_mode(mode)
    yaw = check_scalar_angle(yaw_deg, "yaw_deg")
    pitch = check_scalar_angle(pitch_deg, "pitch_deg")
    roll = check_scalar_angle(roll_deg, "roll_deg")
    ib = to_batch(erp, "erp")
    h, w = ib.hw
    check_erp_hw(h, w)
    if pitch == 0.0 and roll == 0.0:
        shift = yaw * w / 360.0
        if abs(shift - round(shift)) < 1e-9:
            k = int(round(shift)) * (-1 if inverse else 1)
            out = torch.roll(ib.x, shifts=-k, dims=-1)             # out[..., j] = in[..., j + k]
            return from_batch(out[:, None], ib, multi=False)
    wdt = work_dtype(ib.dtype)
    x = ib.x if mode == "nearest" else ib.x.to(wdt)
    rot = rotation_matrix(yaw, pitch, roll, dtype=wdt, device=x.device)
    if inverse:
        rot = rot.T
    rays = erp_rays(h, w, device=x.device, dtype=wdt) @ rot.T              # R @ d for every pixel
    lon, lat = xyz_to_lonlat(rays)
    u, v = lonlat_to_pixel(lon, lat, h, w)
    out = sample_erp(x, u, v, mode)
    return from_batch(out[:, None], ib, multi=False)
