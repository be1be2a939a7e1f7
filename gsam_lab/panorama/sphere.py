"""Coordinate conventions of the whole package: ERP pixels <-> longitude/latitude <-> unit vectors.

World frame (right-handed, y up)::

    x  -> east / right of the forward direction
    y  -> up
    z  -> forward (longitude 0, latitude 0)

Longitude ``lon = atan2(x, z)`` in (-pi, pi], positive to the right (east).
Latitude ``lat = asin(y)`` in [-pi/2, pi/2], positive up.

An equirectangular image (ERP) of size ``H x W`` (``W == 2 H``) has pixel *centres* at
``u = 0.5 .. W-0.5`` (columns) and ``v = 0.5 .. H-0.5`` (rows)::

    lon = (u / W) * 2 pi - pi          # column 0 starts at -180 deg (the seam), centre column = 0 deg
    lat = pi / 2 - (v / H) * pi        # row 0 is the north pole (top), last row the south pole

Continuous pixel coordinates are used throughout: ``u`` in [0, W) and ``v`` in [0, H), so the
centre of the pixel in row ``i`` and column ``j`` is ``(u, v) = (j + 0.5, i + 0.5)``.
This is the same pixel convention as ``py360convert``; its ``e2p(u_deg, v_deg, in_rot_deg)`` are our
``(yaw_deg, pitch_deg, -roll_deg)`` (see :mod:`gsam_lab.panorama.projection`).

Cameras. A pinhole camera looks along its own +z, with +x right and +y up in the image. Its
orientation in the world is ``R = R_y(yaw) @ R_x(-pitch) @ R_z(roll)``: ``yaw_deg`` turns the
view to the right (the view centre sits at longitude ``+yaw``), ``pitch_deg`` tilts it up (the
view centre sits at latitude ``+pitch``), ``roll_deg`` turns the image counter-clockwise about the
viewing axis. ``fov_deg`` is the horizontal field of view; the vertical one follows from the
output aspect ratio with square pixels.
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple, Union

import torch

Number = Union[float, int]
TensorLike = Union[torch.Tensor, Number]

__all__ = [
    "pixel_to_lonlat",
    "lonlat_to_pixel",
    "lonlat_to_xyz",
    "xyz_to_lonlat",
    "erp_lonlat",
    "erp_rays",
    "rotation_matrix",
    "perspective_rays",
    "perspective_lonlat",
    "check_erp_hw",
]


def check_erp_hw(h: int, w: int) -> None:
    """Raise ``ValueError`` unless ``(h, w)`` is a valid equirectangular size (``w == 2 h``)."""
    if not (isinstance(h, int) and isinstance(w, int)) or h <= 0 or w <= 0:
        raise ValueError(f"ERP size must be two positive ints (H, W) with W == 2*H, got {(h, w)!r}")
    if w != 2 * h:
        raise ValueError(f"an equirectangular image must be 2:1 (W == 2*H); got H={h}, W={w}")


def pixel_to_lonlat(u: torch.Tensor, v: torch.Tensor, h: int, w: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Continuous ERP pixel coordinates -> (lon, lat) in radians. Shapes are broadcast."""
    lon = (u / w) * (2 * math.pi) - math.pi
    lat = math.pi / 2 - (v / h) * math.pi
    return lon, lat


def lonlat_to_pixel(lon: torch.Tensor, lat: torch.Tensor, h: int, w: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """(lon, lat) in radians -> continuous ERP pixel coordinates (u, v); ``u`` is not wrapped."""
    u = (lon + math.pi) / (2 * math.pi) * w
    v = (math.pi / 2 - lat) / math.pi * h
    return u, v


def lonlat_to_xyz(lon: torch.Tensor, lat: torch.Tensor) -> torch.Tensor:
    """(lon, lat) of shape ``S`` -> unit vectors of shape ``S x 3``."""
    c = torch.cos(lat)
    return torch.stack((c * torch.sin(lon), torch.sin(lat), c * torch.cos(lon)), dim=-1)


def xyz_to_lonlat(xyz: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Vectors ``S x 3`` (any length > 0) -> (lon, lat) of shape ``S`` in radians."""
    x, y, z = xyz.unbind(-1)
    lon = torch.atan2(x, z)
    lat = torch.atan2(y, torch.sqrt(x * x + z * z))
    return lon, lat


def erp_lonlat(h: int, w: int, device=None, dtype=torch.float32) -> Tuple[torch.Tensor, torch.Tensor]:
    """(lon, lat) of every ERP pixel centre, each of shape ``H x W``."""
    check_erp_hw(h, w)
    u = torch.arange(w, device=device, dtype=dtype) + 0.5
    v = torch.arange(h, device=device, dtype=dtype) + 0.5
    lon, lat = pixel_to_lonlat(u[None, :], v[:, None], h, w)
    return lon.expand(h, w), lat.expand(h, w)


def erp_rays(h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Unit viewing directions of every ERP pixel centre, ``H x W x 3`` (world frame)."""
    lon, lat = erp_lonlat(h, w, device=device, dtype=dtype)
    return lonlat_to_xyz(lon, lat)


def _as_angle(x: TensorLike, name: str, dtype, device) -> torch.Tensor:
    t = torch.as_tensor(x, dtype=dtype, device=device)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite degrees, got {x!r}")
    return t * (math.pi / 180.0)


def rotation_matrix(yaw_deg: TensorLike = 0.0, pitch_deg: TensorLike = 0.0, roll_deg: TensorLike = 0.0,
                    dtype=torch.float32, device=None) -> torch.Tensor:
    """Camera-to-world rotation ``R_y(yaw) @ R_x(-pitch) @ R_z(roll)``.

    Angles are degrees, scalars or tensors of a common broadcast shape ``S``; returns ``S x 3 x 3``.
    ``R @ (0, 0, 1)`` is the viewing direction at longitude ``yaw`` and latitude ``pitch``.
    """
    y = _as_angle(yaw_deg, "yaw_deg", dtype, device)
    p = _as_angle(pitch_deg, "pitch_deg", dtype, device)
    r = _as_angle(roll_deg, "roll_deg", dtype, device)
    y, p, r = torch.broadcast_tensors(y, p, r)
    one, zero = torch.ones_like(y), torch.zeros_like(y)
    cy, sy, cp, sp, cr, sr = y.cos(), y.sin(), p.cos(), p.sin(), r.cos(), r.sin()
    ry = torch.stack((cy, zero, sy, zero, one, zero, -sy, zero, cy), -1).unflatten(-1, (3, 3))
    # R_x(-pitch): (0,0,1) -> (0, sin p, cos p)
    rx = torch.stack((one, zero, zero, zero, cp, sp, zero, -sp, cp), -1).unflatten(-1, (3, 3))
    rz = torch.stack((cr, -sr, zero, sr, cr, zero, zero, zero, one), -1).unflatten(-1, (3, 3))
    return ry @ rx @ rz


def _check_fov(fov_deg: TensorLike) -> None:
    f = torch.as_tensor(fov_deg, dtype=torch.float64)
    if not torch.isfinite(f).all() or (f <= 0).any() or (f >= 180).any():
        raise ValueError(f"fov_deg must lie in the open interval (0, 180) degrees, got {fov_deg!r}")


def _camera(fov_deg, yaw_deg, pitch_deg, roll_deg, out_hw, device, dtype):
    """Shared set-up of the pinhole functions: sizes, scalar flag, tan(fov/2) (V), R (V x 3 x 3) and the
    normalised image-plane coordinates of the pixel centres (xs: -1..1 across, ys: +1..-1 down)."""
    if len(out_hw) != 2 or int(out_hw[0]) <= 0 or int(out_hw[1]) <= 0:
        raise ValueError(f"out_hw must be (H, W) with positive sizes, got {out_hw!r}")
    h, w = int(out_hw[0]), int(out_hw[1])
    _check_fov(fov_deg)
    scalar = all(torch.as_tensor(a).dim() == 0 for a in (fov_deg, yaw_deg, pitch_deg, roll_deg))
    fov = torch.as_tensor(fov_deg, dtype=dtype, device=device).reshape(-1)
    rot = rotation_matrix(torch.as_tensor(yaw_deg, dtype=dtype).reshape(-1),
                          torch.as_tensor(pitch_deg, dtype=dtype).reshape(-1),
                          torch.as_tensor(roll_deg, dtype=dtype).reshape(-1), dtype=dtype, device=device)
    n = max(fov.shape[0], rot.shape[0])
    half = torch.tan(fov.expand(n) * (math.pi / 360.0))
    xs = (torch.arange(w, device=device, dtype=dtype) + 0.5) / w * 2 - 1
    ys = 1 - (torch.arange(h, device=device, dtype=dtype) + 0.5) / h * 2
    return h, w, scalar, half, rot.expand(n, 3, 3), xs, ys


def perspective_rays(fov_deg: TensorLike, yaw_deg: TensorLike, pitch_deg: TensorLike,
                     out_hw: Sequence[int], roll_deg: TensorLike = 0.0,
                     device=None, dtype=torch.float32, normalize: bool = True) -> torch.Tensor:
    """Unit world directions of a pinhole camera's pixel centres.

    ``fov_deg`` (horizontal), ``yaw_deg``, ``pitch_deg``, ``roll_deg``: scalars or 1-D sequences
    broadcast to ``V`` views. Returns ``H x W x 3`` for scalar angles, ``V x H x W x 3`` otherwise.
    ``normalize=False`` skips the normalisation (directions of length >= 1: ``R @ (x, y, 1)``), enough
    for anything that only needs angles, such as :func:`xyz_to_lonlat`.
    """
    h, w, scalar, half, rot, xs, ys = _camera(fov_deg, yaw_deg, pitch_deg, roll_deg, out_hw, device, dtype)
    x = xs[None, None, :] * half[:, None, None]
    y = ys[None, :, None] * half[:, None, None] * (h / w)
    cam = torch.stack(torch.broadcast_tensors(x, y, torch.ones_like(x)), -1)  # V x H x W x 3
    if normalize:
        cam = cam / cam.norm(dim=-1, keepdim=True)
    world = torch.einsum("vij,vhwj->vhwi", rot, cam)
    return world[0] if scalar else world


def perspective_lonlat(fov_deg: TensorLike, yaw_deg: TensorLike, pitch_deg: TensorLike,
                       out_hw: Sequence[int], roll_deg: TensorLike = 0.0,
                       device=None, dtype=torch.float32) -> Tuple[torch.Tensor, torch.Tensor]:
    """(lon, lat) in radians of a pinhole camera's pixel centres: ``xyz_to_lonlat(perspective_rays(...))``.

    Same arguments as :func:`perspective_rays`; returns two ``H x W`` (scalar angles) or ``V x H x W``
    tensors. Computed plane by plane (each world coordinate is an affine function of the image-plane
    coordinates), which is several times faster than going through ``V x H x W x 3`` rays.
    """
    h, w, scalar, half, rot, xs, ys = _camera(fov_deg, yaw_deg, pitch_deg, roll_deg, out_hw, device, dtype)
    xc = xs[None, None, :] * half[:, None, None]                    # V x 1 x W
    yc = ys[None, :, None] * (half[:, None, None] * (h / w))        # V x H x 1
    r = rot[..., None, None]                                        # V x 3 x 3 x 1 x 1
    # R @ (xc, yc, 1), one full-size operation per coordinate: (r0 xc + r2) [V x 1 x W] + r1 yc [V x H x 1]
    x, y, z = (torch.addcmul(r[:, i, 0] * xc + r[:, i, 2], r[:, i, 1], yc) for i in range(3))
    lon = torch.atan2(x, z)
    lat = torch.atan2(y, torch.hypot(x, z))
    return (lon[0], lat[0]) if scalar else (lon, lat)
