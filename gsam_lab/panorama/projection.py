"""Tangent (gnomonic, pinhole) views out of an ERP and back, and a view's footprint on the ERP.

Camera conventions are those of :mod:`gsam_lab.panorama.sphere`: a view with ``yaw_deg=a``,
``pitch_deg=b`` is centred on longitude ``a`` (positive to the right / east) and latitude ``b``
(positive up); ``roll_deg`` turns the image counter-clockwise; ``fov_deg`` is horizontal and the
vertical field of view follows from the output aspect ratio (square pixels).

Relation to ``py360convert.e2p(e_img, fov_deg, u_deg, v_deg, out_hw, in_rot_deg)`` (same ERP pixel
convention): ``u_deg = yaw_deg``, ``v_deg = pitch_deg``, ``in_rot_deg = -roll_deg``. py360convert
places its first and last output pixel *centres* on the field-of-view limits (``np.linspace``),
while here pixels tile the field of view (centres half a pixel inside), so the same image is
obtained by passing py360convert ``fov_deg = (2 atan(t (w-1)/w), 2 atan(t (h/w) (h-1)/h))`` with
``t = tan(fov_deg / 2)``; see :func:`py360convert_fov`.
"""
from __future__ import annotations

import functools
import math
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from gsam_lab.images import from_batch, numpy_to_tensor, restore_dtype, to_batch, work_dtype

from ._validate import broadcast_angles, check_erp_size, check_hw, check_mode, check_positive_int, deg
from .outline import sphere_loop_to_erp
from .sampling import sample_erp_grid
from .sphere import check_erp_hw, erp_rays, perspective_lonlat, rotation_matrix

__all__ = ["erp_to_perspective", "perspective_to_erp", "perspective_footprint", "py360convert_fov"]


@functools.lru_cache(maxsize=4)
def cached_erp_rays(h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """:func:`~gsam_lab.panorama.sphere.erp_rays`, kept for the last few sizes (callers treat it as read-only)."""
    with torch.inference_mode(False), torch.no_grad():
        return erp_rays(h, w, device=device, dtype=dtype)


@functools.lru_cache(maxsize=4)
def view_grids(views: Tuple[Tuple[float, float, float, float], ...], out_hw: Tuple[int, int],
                erp_hw: Tuple[int, int], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``grid_sample`` grids into the padded ERP (see :func:`~gsam_lab.panorama.sampling.erp_grid`) of the
    views ``((fov, yaw, pitch, roll), ...)``: ``V x h x w x 2``.

    The last few view sets are cached (a notebook or a sliding-window loop asks for the same views
    again and again); callers must treat the result as read-only.
    """
    (h, w), ew = out_hw, erp_hw[1]
    k = 2.0 / (ew + 2)
    bases = list(dict.fromkeys((f, p, r) for f, _, p, r in views))   # yaw is a longitude shift: share the rest
    with torch.inference_mode(False), torch.no_grad():
        fovs, pitches, rolls = (list(c) for c in zip(*bases))
        lon, lat = perspective_lonlat(fovs, 0.0, pitches, (h, w), rolls, device=device, dtype=dtype)
        # a few large operations (many small ones are slow on a busy CPU); planar layout 2 x V x h x w,
        # handed to grid_sample as a V x h x w x 2 view, which needs no interleaving copy
        idx = torch.tensor([bases.index((f, p, r)) for f, _, p, r in views], device=device)
        # u / W = lon / 2 pi + 1/2 + yaw / 360, kept positive (+1) so that frac() wraps it into [0, 1)
        shift = torch.tensor([1.5 + ((y + 180.0) % 360.0 - 180.0) / 360.0 for _, y, _, _ in views],
                             device=device, dtype=dtype)
        planes = torch.stack((lon, lat.mul_(-2.0 / math.pi)))[:, idx]   # (lon, 2 v / H - 1)
        gx = planes[0].mul_(1.0 / (2 * math.pi)).add_(shift[:, None, None]).frac_()
        gx.mul_(ew * k).add_(k - 1.0)                                    # (u + 1) k - 1
        return planes.permute(1, 2, 3, 0)


def erp_to_perspective(erp, fov_deg, yaw_deg, pitch_deg, out_hw: Sequence[int], roll_deg=0.0,
                       mode: str = "bilinear"):
    """Tangent (gnomonic) views of an equirectangular image.

    Arguments:
      erp: torch ``C x H x W``, ``B x C x H x W`` or ``H x W`` (``W == 2 H``), float or integer; or a
        numpy ``H x W x C`` / ``H x W`` array (the result is then numpy in the same layout).
      fov_deg: horizontal field of view in (0, 180) degrees.
      yaw_deg, pitch_deg, roll_deg: view direction (see module docstring). Every angle argument may
        be a scalar or a 1-D sequence; sequences are broadcast together to ``V`` views.
      out_hw: ``(h, w)`` of each view.
      mode: ``"bilinear"`` (differentiable w.r.t. ``erp``; integer input is interpolated in float and
        rounded back to its dtype) or ``"nearest"`` (exact values, keeps the dtype: label maps).

    Returns:
      ``C x H x W`` input: ``C x h x w`` for scalar angles, ``V x C x h x w`` otherwise;
      ``B x C x H x W`` input: ``B x C x h x w`` or ``B x V x C x h x w``;
      ``H x W`` input: ``h x w`` or ``V x h x w``; numpy ``H x W x C``: ``h x w x C`` or ``V x h x w x C``.
      Longitude wraps across the ±180° seam; latitude clamps at the poles.
    """
    mode = check_mode(mode)
    h, w = check_hw(out_hw, "out_hw")
    vals, n, scalar = broadcast_angles(fov_deg=fov_deg, yaw_deg=yaw_deg, pitch_deg=pitch_deg, roll_deg=roll_deg)
    ib = to_batch(erp, "erp")
    eh, ew = ib.hw
    check_erp_hw(eh, ew)
    wdt = work_dtype(ib.dtype)
    x = ib.x if mode == "nearest" else ib.x.to(wdt)
    views = tuple(zip(vals["fov_deg"], vals["yaw_deg"], vals["pitch_deg"], vals["roll_deg"]))
    grid = view_grids(views, (h, w), (eh, ew), x.device, wdt)
    out = sample_erp_grid(x, grid, mode)                              # B x V x C x h x w
    return from_batch(out, ib, multi=not scalar)


def py360convert_fov(fov_deg: float, out_hw: Sequence[int]) -> Tuple[float, float]:
    """The ``(h_fov, v_fov)`` to give ``py360convert.e2p`` for the same pixels as ``erp_to_perspective``."""
    h, w = check_hw(out_hw, "out_hw")
    t = math.tan(math.radians(float(fov_deg)) / 2)
    return (math.degrees(2 * math.atan(t * (w - 1) / w)), math.degrees(2 * math.atan(t * (h / w) * (h - 1) / h)))


def _erp_windows(yaw_deg: float, pitch_deg: float, tx: float, ty: float, eh: int, ew: int):
    """ERP windows ``(r0, r1, c0, c1)`` (one, or two where the seam cuts it) that contain every pixel a
    view can see: the spherical cap of radius ``atan(hypot(tx, ty))`` (the image corners) around the
    view axis, with a margin of two pixels."""
    theta = math.atan(math.hypot(tx, ty))
    lat = math.radians(pitch_deg)
    pad = 4 * math.pi / ew
    top, bottom = lat + theta + pad, lat - theta - pad
    r0 = max(0, math.floor((math.pi / 2 - top) / math.pi * eh))
    r1 = min(eh, math.ceil((math.pi / 2 - bottom) / math.pi * eh))
    if top >= math.pi / 2 or bottom <= -math.pi / 2:                  # a pole inside: every longitude
        return [(r0, r1, 0, ew)]
    half = math.asin(min(1.0, math.sin(theta) / math.cos(lat))) + pad  # longitude half-width of the cap
    centre = (math.radians(yaw_deg) + math.pi) / (2 * math.pi) * ew
    c0 = math.floor(centre - half / (2 * math.pi) * ew)
    c1 = math.ceil(centre + half / (2 * math.pi) * ew)
    if c1 - c0 >= ew:
        return [(r0, r1, 0, ew)]
    c0, c1 = c0 % ew, c0 % ew + (c1 - c0)
    if c1 <= ew:
        return [(r0, r1, c0, c1)]
    return [(r0, r1, c0, ew), (r0, r1, 0, c1 - ew)]


def _sample_view(img: torch.Tensor, gx: torch.Tensor, gy: torch.Tensor, mode: str) -> torch.Tensor:
    """Sample ``1 x C x h x w`` at normalised coordinates ``gx, gy`` in [-1, 1] (``P x Q``) -> ``1 x C x P x Q``."""
    if mode == "nearest":
        h, w = img.shape[-2:]
        ci = torch.floor((gx + 1.0) * (w / 2)).long().clamp_(0, w - 1)
        ri = torch.floor((gy + 1.0) * (h / 2)).long().clamp_(0, h - 1)
        return img[:, :, ri, ci]
    grid = torch.stack((gx, gy), dim=-1).to(img.dtype)[None]
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _views_to_batch(views) -> Tuple[torch.Tensor, str]:
    """views -> (``V x C x h x w`` tensor, layout of the result: "t", "np_hw" or "np_hwc")."""
    if isinstance(views, np.ndarray):
        if views.ndim == 4:
            t = numpy_to_tensor(views, "views")
            return t.permute(0, 3, 1, 2), "np_hwc"
        if views.ndim in (2, 3):
            ib = to_batch(views, "views")
            return ib.x, ib.layout
        raise ValueError(f"numpy views must be h x w, h x w x C or V x h x w x C, got shape {views.shape}")
    if isinstance(views, torch.Tensor):
        if views.dim() == 3:
            return views[None], "t"
        if views.dim() == 4:
            return views, "t"
        raise ValueError(f"views must be C x h x w or V x C x h x w, got shape {tuple(views.shape)}")
    raise TypeError(f"views must be a torch.Tensor or a numpy.ndarray, got {type(views).__name__}")


def perspective_to_erp(views, fov_deg, yaw_deg, pitch_deg, erp_hw: Sequence[int], roll_deg=0.0,
                       mode: str = "bilinear", view_weight: Optional[torch.Tensor] = None):
    """Re-project tangent views onto an ERP, averaging where views overlap.

    Arguments:
      views: torch ``C x h x w`` (one view) or ``V x C x h x w``; or numpy ``h x w``, ``h x w x C``
        or ``V x h x w x C``.
      fov_deg, yaw_deg, pitch_deg, roll_deg: as in :func:`erp_to_perspective`, scalars or ``V``-long
        sequences (scalars are shared by every view).
      erp_hw: ``(H, W)`` of the output ERP, ``W == 2 H``.
      mode: ``"bilinear"`` or ``"nearest"``. Integer views with ``"nearest"`` (label maps) are not
        averaged: each ERP pixel takes the value of the covering view with the largest weight.
      view_weight: optional ``h x w`` or ``V x h x w`` non-negative weights multiplying each view
        pixel's contribution (e.g. lower near view borders); sampled bilinearly.

    Returns:
      ``(erp, weight)``: ``erp`` is ``C x H x W`` (numpy: ``H x W x C`` or ``H x W``), the weighted mean
      over the views whose image contains the ERP pixel's ray (in front of the camera); ``weight`` is
      ``H x W``, the summed weights (the coverage count when ``view_weight`` is None). Pixels seen by
      no view are 0 in both. Differentiable w.r.t. ``views`` (bilinear).
    """
    mode = check_mode(mode)
    eh, ew = check_erp_size(erp_hw, "erp_hw")
    x, layout = _views_to_batch(views)
    nv, c, h, w = x.shape
    vals, n, _ = broadcast_angles(fov_deg=fov_deg, yaw_deg=yaw_deg, pitch_deg=pitch_deg, roll_deg=roll_deg)
    if n not in (1, nv):
        raise ValueError(f"got {nv} view(s) but {n} angles per argument; give one angle per view or scalars")
    vals = {k: (v * nv if len(v) == 1 else v) for k, v in vals.items()}
    dtype = x.dtype
    wdt = work_dtype(dtype)
    labels = mode == "nearest" and not dtype.is_floating_point
    if not labels:
        x = x.to(wdt)
    vw = _check_view_weight(view_weight, nv, h, w, x.device, wdt)
    rays = cached_erp_rays(eh, ew, x.device, wdt)
    acc = torch.zeros(c, eh, ew, dtype=x.dtype, device=x.device)
    wsum = torch.zeros(eh, ew, dtype=wdt, device=x.device)
    best = torch.zeros(eh, ew, dtype=wdt, device=x.device) if labels else None
    for i in range(nv):
        angles = tuple(vals[k][i] for k in ("fov_deg", "yaw_deg", "pitch_deg", "roll_deg"))
        _splat_view(x[i:i + 1], None if vw is None else vw[i:i + 1, None], angles, rays, mode, acc, wsum, best)
    if labels:
        erp = acc
    else:
        erp = torch.where(wsum > 0, acc / wsum.clamp_min(torch.finfo(wdt).tiny), torch.zeros_like(acc))
        erp = restore_dtype(erp, dtype)
    if layout == "t":
        return erp, wsum
    erp = erp[0] if layout == "np_hw" else erp.movedim(0, -1)
    return np.ascontiguousarray(erp.detach().cpu().numpy()), wsum.detach().cpu().numpy()


def _check_view_weight(view_weight, nv: int, h: int, w: int, device, dtype) -> Optional[torch.Tensor]:
    """``view_weight`` as ``V x h x w`` (an ``h x w`` one shared by every view), or None."""
    if view_weight is None:
        return None
    vw = torch.as_tensor(view_weight).to(device=device, dtype=dtype)
    if vw.dim() == 2 and tuple(vw.shape) == (h, w):
        vw = vw[None].expand(nv, h, w)
    if tuple(vw.shape) != (nv, h, w):
        raise ValueError(f"view_weight must be h x w = {(h, w)} or V x h x w = {(nv, h, w)}, "
                         f"got shape {tuple(vw.shape)}")
    if not bool(torch.isfinite(vw).all()) or bool((vw < 0).any()):
        raise ValueError("view_weight must hold finite weights >= 0 (a negative weight would flip a view's "
                         "contribution and can make the weighted mean divide by zero)")
    return vw


def _splat_view(view: torch.Tensor, weight: Optional[torch.Tensor], angles, rays: torch.Tensor, mode: str,
                acc: torch.Tensor, wsum: torch.Tensor, best: Optional[torch.Tensor]) -> None:
    """Add one view (``1 x C x h x w``, with optional ``1 x 1 x h x w`` pixel weights) to the ERP sums, in place.

    Each ERP pixel's ray is projected into the view; where it lands inside the image (and in front of
    the camera) the view is sampled there. ``acc`` (``C x H x W``) gets ``sample * weight`` and
    ``wsum`` (``H x W``) the weight; for label maps (``best`` given) ``acc`` instead keeps the sample
    of the view with the largest weight so far. Only the ERP windows the view can see are visited.
    """
    fov, yaw, pitch, roll = angles
    h, w = view.shape[-2:]
    eh, ew = wsum.shape
    wdt = wsum.dtype
    tx = math.tan(deg(fov) / 2)
    ty = tx * h / w
    # d -> (x / (z tx), -y / (z ty), z) in camera coordinates: grid_sample's normalised image coordinates
    proj = rotation_matrix(yaw, pitch, roll, dtype=wdt, device=view.device) * torch.tensor(
        [1.0 / tx, -1.0 / ty, 1.0], dtype=wdt, device=view.device)
    for r0, r1, c0, c1 in _erp_windows(yaw, pitch, tx, ty, eh, ew):
        q = rays[r0:r1, c0:c1] @ proj                                   # rows x cols x 3
        z = q[..., 2]
        valid = z > 1e-9                                                # in front of the camera
        z = torch.where(valid, z, torch.ones_like(z))
        gx, gy = q[..., 0] / z, q[..., 1] / z
        valid &= (gx.abs() <= 1.0) & (gy.abs() <= 1.0)                  # inside the image
        s = _sample_view(view, gx, gy, mode)[0]                         # C x rows x cols
        wt = valid.to(wdt)
        if weight is not None:
            wt = wt * _sample_view(weight, gx, gy, "bilinear")[0, 0]
        win = (slice(r0, r1), slice(c0, c1))
        if best is not None:
            take = wt > best[win]
            acc[(slice(None),) + win] = torch.where(take, s, acc[(slice(None),) + win])
            best[win] = torch.where(take, wt, best[win])
        else:
            acc[(slice(None),) + win] += s * wt
        wsum[win] += wt


def perspective_footprint(fov_deg, yaw_deg, pitch_deg, out_hw: Sequence[int], erp_hw: Sequence[int],
                          roll_deg=0.0, n: int = 64) -> List[np.ndarray]:
    """The border of one view drawn on the ERP.

    Arguments:
      fov_deg, yaw_deg, pitch_deg, roll_deg: scalars, as in :func:`erp_to_perspective`.
      out_hw: ``(h, w)`` of the view (sets its vertical field of view).
      erp_hw: ``(H, W)`` of the ERP the outline is drawn on.
      n: points per side of the view.

    Returns:
      A list of ``N x 2`` arrays of ERP pixel coordinates ``(u, v)``: one closed polyline, or several
      open ones where the border crosses the ±180° seam. A view that contains a pole gives one polyline
      running across the whole width, closed along the pole's row (``v = 0`` or ``v = H``).
    """
    h, w = check_hw(out_hw, "out_hw")
    eh, ew = check_erp_size(erp_hw, "erp_hw")
    n = check_positive_int(n, "n")
    vals, nv, scalar = broadcast_angles(fov_deg=fov_deg, yaw_deg=yaw_deg, pitch_deg=pitch_deg, roll_deg=roll_deg)
    if nv != 1:
        raise ValueError("perspective_footprint draws one view: give scalar angles")
    tx = math.tan(deg(vals["fov_deg"][0]) / 2)
    ty = tx * h / w
    s = np.linspace(-1.0, 1.0, n, endpoint=False)
    one = np.ones_like(s)
    x = np.concatenate((s * tx, tx * one, -s * tx, -tx * one))        # top, right, bottom, left (clockwise)
    y = np.concatenate((ty * one, -s * ty, -ty * one, s * ty))
    cam = np.stack((x, y, np.ones_like(x)), axis=-1)
    cam = np.concatenate((cam, cam[:1]), axis=0)
    rot = rotation_matrix(vals["yaw_deg"][0], vals["pitch_deg"][0], vals["roll_deg"][0], dtype=torch.float64).numpy()
    world = cam @ rot.T
    pole_v = None
    for direction, pv in (((0.0, 1.0, 0.0), 0.0), ((0.0, -1.0, 0.0), float(eh))):
        c = rot.T @ np.asarray(direction)
        if c[2] > 0 and abs(c[0] / c[2]) <= tx and abs(c[1] / c[2]) <= ty:
            pole_v = pv
    return sphere_loop_to_erp(world, eh, ew, pole_v=pole_v)
