"""How an ERP distorts the sphere: area scale per pixel, pixel solid angles, Tissot indicatrices."""
from __future__ import annotations

import math
from typing import List, Tuple, Union

import numpy as np
import torch

from ._validate import check_positive_int
from .outline import sphere_loop_to_erp
from .sphere import check_erp_hw

__all__ = ["area_distortion", "pixel_solid_angle", "tissot_ellipses", "tissot_axes"]


def _lat_centres(h: int, device, dtype) -> torch.Tensor:
    v = torch.arange(h, device=device, dtype=torch.float64) + 0.5
    return (math.pi / 2 - v / h * math.pi).to(dtype)


def area_distortion(h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Area scale of each ERP pixel relative to the equator: ``1 / cos(lat)`` at pixel centres.

    An ERP draws every pixel row with the same number of pixels, so a pixel at latitude ``lat``
    covers ``cos(lat)`` times the solid angle of an equator pixel: on the image, the surface there
    is drawn ``1 / cos(lat)`` times too large (stretched east-west only). Returns ``H x W``.
    """
    check_erp_hw(h, w)
    return (1.0 / torch.cos(_lat_centres(h, device, torch.float64))).to(dtype)[:, None].expand(h, w).contiguous()


def pixel_solid_angle(h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Exact solid angle (steradians) of each ERP pixel, ``H x W``; sums to ``4 pi``.

    A pixel spans ``2 pi / W`` of longitude and the latitude band ``[lat_bottom, lat_top]``, so its
    solid angle is ``(2 pi / W) * (sin(lat_top) - sin(lat_bottom))``.
    """
    check_erp_hw(h, w)
    edges = math.pi / 2 - torch.arange(h + 1, device=device, dtype=torch.float64) / h * math.pi
    band = torch.sin(edges[:-1]) - torch.sin(edges[1:])
    return (band * (2 * math.pi / w)).to(dtype)[:, None].expand(h, w).contiguous()


def tissot_axes(lat_deg: Union[float, np.ndarray]) -> Tuple[Union[float, np.ndarray], Union[float, np.ndarray]]:
    """Scale factors of the ERP at latitude ``lat_deg``: ``(east-west, north-south) = (1/cos(lat), 1)``.

    A small circle on the sphere is drawn as an ellipse with these semi-axes (times its radius).
    """
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    if not np.all(np.abs(lat) < math.pi / 2):
        raise ValueError(f"lat_deg must lie in (-90, 90), got {lat_deg!r}")
    ew = 1.0 / np.cos(lat)
    ns = np.ones_like(ew)
    if ew.ndim == 0:
        return float(ew), 1.0
    return ew, ns


def _small_circle(lon_c: float, lat_c: float, radius: float, n: int) -> np.ndarray:
    """``(n+1) x 3`` points at angular distance ``radius`` (radians) around (lon_c, lat_c), closed."""
    c = np.array([math.cos(lat_c) * math.sin(lon_c), math.sin(lat_c), math.cos(lat_c) * math.cos(lon_c)])
    east = np.array([math.cos(lon_c), 0.0, -math.sin(lon_c)])
    north = np.cross(c, east)
    t = np.linspace(0.0, 2 * math.pi, n + 1)
    t[-1] = 0.0
    ring = np.cos(t)[:, None] * east + np.sin(t)[:, None] * north
    return math.cos(radius) * c + math.sin(radius) * ring


def tissot_ellipses(h: int, w: int, n_lon: int = 8, n_lat: int = 5, radius_deg: float = 8.0,
                    n: int = 64) -> List[np.ndarray]:
    """Tissot's indicatrix on an ``H x W`` ERP: small circles of the sphere as drawn on the image.

    Circles of angular radius ``radius_deg`` are centred on a grid of ``n_lon`` longitudes
    (``-180 + (i + 1/2) 360 / n_lon``) and ``n_lat`` latitudes (``-90 + (j + 1/2) 180 / n_lat``);
    circles that would reach a pole are skipped. Each circle is traced exactly on the sphere with
    ``n`` points and projected; circles crossing the ±180° seam come back as two pieces.

    Returns:
      A list of ``N x 2`` numpy arrays of ``(u, v)`` ERP pixel coordinates (circles in row-major order
      of the grid, latitude from north to south).
    """
    check_erp_hw(h, w)
    n_lon, n_lat, n = (check_positive_int(a, name) for a, name in ((n_lon, "n_lon"), (n_lat, "n_lat"), (n, "n")))
    r = float(radius_deg)
    if not (0.0 < r < 90.0):
        raise ValueError(f"radius_deg must lie in (0, 90), got {radius_deg!r}")
    out = []
    for j in reversed(range(n_lat)):
        lat = -90.0 + (j + 0.5) * 180.0 / n_lat
        if abs(lat) + r >= 90.0:
            continue
        for i in range(n_lon):
            lon = -180.0 + (i + 0.5) * 360.0 / n_lon
            ring = _small_circle(math.radians(lon), math.radians(lat), math.radians(r), n)
            out.extend(sphere_loop_to_erp(ring, h, w))
    return out
