"""Render a :class:`~gsam_lab.data.world.World` through any set of rays, an ERP camera or a pinhole.

The cameras are the package's own (``gsam_lab.panorama.sphere``): :func:`render_panorama` uses
``erp_rays(h, w)`` and :func:`render_pinhole` uses ``perspective_rays(fov, yaw, pitch, (h, w), roll)``,
both centred at the origin, so a render agrees pixel for pixel with the panorama module's
resampling (``erp_to_perspective`` of an ERP render ~ a pinhole render of the same camera).

Outputs per pixel: ``semantic`` (class id, sky = 6), ``instance`` (0 for stuff and sky), ``depth``
(float32 distance along the unit ray in metres, ``inf`` for sky), and from :func:`render_rays` also
``normal`` / ``point`` (world frame, zero for sky) and ``image``. Results are deterministic: the same
world and camera on the same device give bit-identical arrays. ``device=None`` renders on the CPU
(what the dataset cache stores); pass ``"auto"``, ``"cuda"``, ... to render elsewhere
(:func:`render_rays` with ``device=None`` follows its rays' device).
"""
from __future__ import annotations

import contextlib
import math
from typing import Dict, Optional

import numpy as np
import torch

from gsam_lab.panorama.sphere import check_erp_hw, erp_rays, perspective_rays
from gsam_lab.utils import resolve_device

from .appearance import shade as _shade
from .appearance_params import Material
from .classes import CLASSES
from .raycast import GROUND_ID, NO_HIT, cast, cast_bruteforce
from .world import World

__all__ = ["render_rays", "render_panorama", "render_pinhole", "RENDERER_VERSION"]

#: Bump whenever the world generator, ray caster or shading changes the pixels (invalidates caches).
RENDERER_VERSION = "street-2"

_SKY = CLASSES.index("sky")
_ROAD = CLASSES.index("road")
_TERRAIN = CLASSES.index("terrain")


def _device(device) -> torch.device:
    return torch.device("cpu") if device is None else resolve_device(device)


def _rot(local: torch.Tensor, yaw: torch.Tensor) -> torch.Tensor:
    """Local (yaw-rotated) frame -> world: ``N x 3``, ``N`` -> ``N x 3``."""
    c, s = torch.cos(yaw), torch.sin(yaw)
    return torch.stack((c * local[:, 0] + s * local[:, 2], local[:, 1], -s * local[:, 0] + c * local[:, 2]), 1)


def _to_local(p: torch.Tensor, center: torch.Tensor, yaw: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(yaw), torch.sin(yaw)
    r = p - center
    return torch.stack((c * r[:, 0] - s * r[:, 2], r[:, 1], s * r[:, 0] + c * r[:, 2]), 1)


def _surface(world: World, d: torch.Tensor, t: torch.Tensor, ids: torch.Tensor,
             o: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Per-ray surface record (flat, ``N`` rays) from the nearest hits ``t``, ``ids``."""
    n = d.shape[0]
    f32 = dict(dtype=d.dtype, device=d.device)
    hit = ids != NO_HIT
    groups = [getattr(world, g) for g in world.groups]
    n_prim = sum(len(p) for p in groups)
    # per-primitive attribute tables + a ground row (index n_prim) and a sky row (n_prim + 1)
    row = torch.where(ids == GROUND_ID, n_prim, torch.where(hit, ids, n_prim + 1))

    def table(attr, ground, sky):
        parts = [getattr(p, attr) for p in groups]
        parts += [torch.as_tensor(ground, device=d.device, dtype=parts[0].dtype)[None],
                  torch.as_tensor(sky, device=d.device, dtype=parts[0].dtype)[None]]
        return torch.cat(parts)[row]

    g = world.ground
    point = torch.where(hit[:, None], o + torch.where(hit, t, 0)[:, None] * d, torch.zeros_like(d))
    cls = table("cls", _TERRAIN, _SKY)
    is_ground = ids == GROUND_ID
    road = (point[:, 0] >= g.road_x0) & (point[:, 0] <= g.road_x1)
    if g.crossing:
        road |= (point[:, 2] >= g.cross_z0) & (point[:, 2] <= g.cross_z1)
    cls = torch.where(is_ground & road, _ROAD, cls)
    up = torch.tensor([0.0, 1.0, 0.0], **f32)
    normal = torch.where(is_ground[:, None], up, torch.zeros_like(d))
    s = {
        "dir": d, "depth": t, "prim": ids, "cls": cls, "inst": table("inst", 0, 0),
        "material": table("material", Material.GROUND, -1), "color": table("color", [0.0] * 3, [0.0] * 3),
        "tex": table("tex", [0.0] * 4, [0.0] * 4), "point": point, "normal": normal,
        "local": torch.where(is_ground[:, None], point, torch.zeros_like(d)), "local_normal": normal.clone(),
        "half": torch.zeros(n, 3, **f32),
    }
    off = 0
    for prims in groups:
        k = len(prims)
        sel = (hit & (ids >= off) & (ids < off + k) & ~is_ground).nonzero(as_tuple=True)[0]
        if k and sel.numel():
            j = ids[sel] - off
            par, p = prims.params[j], point[sel]
            if prims.kind in ("box", "ellipsoid"):
                yaw = par[:, 6]
                loc = _to_local(p, par[:, 0:3], yaw)
                half = par[:, 3:6]
                if prims.kind == "box":
                    ratio = loc.abs() / half
                    axis = ratio.argmax(1, keepdim=True)
                    ln = torch.zeros_like(loc).scatter_(1, axis, torch.sign(loc.gather(1, axis)))
                else:
                    ln = loc / (half * half)
                    ln = ln / ln.norm(dim=1, keepdim=True).clamp_min(1e-12)
                nrm = _rot(ln, yaw)
            else:   # cylinder
                cx, cz, y0, y1, r = par.unbind(1)
                rx, rz = p[:, 0] - cx, p[:, 2] - cz
                radial = torch.sqrt(rx * rx + rz * rz).clamp_min(1e-9)
                d_side, d_top, d_bot = (radial - r).abs(), (p[:, 1] - y1).abs(), (p[:, 1] - y0).abs()
                side = (d_side <= d_top) & (d_side <= d_bot)
                cap = torch.where(d_top <= d_bot, 1.0, -1.0)
                zeros = torch.zeros_like(rx)
                nrm = torch.where(side[:, None], torch.stack((rx / radial, zeros, rz / radial), 1),
                                  torch.stack((zeros, cap, zeros), 1))
                loc = torch.stack((rx, p[:, 1] - 0.5 * (y0 + y1), rz), 1)
                half = torch.stack((r, 0.5 * (y1 - y0), r), 1)
                ln = nrm
            s["normal"][sel], s["local_normal"][sel], s["local"][sel], s["half"][sel] = nrm, ln, loc, half
        off += k
    return s


#: Torch CPU threads used while rendering (None: torch's current setting). Rendering is thousands of
#: small tensor ops; measured on a shared 2-core machine, one thread took 0.7 s of CPU for a 512x1024
#: ERP and two threads 2.4 s (3.7 s wall against 1.0 s), so renders default to one thread and leave
#: the other cores to data loading or training. The previous setting is restored afterwards.
CPU_RENDER_THREADS = 1


@contextlib.contextmanager
def _render_threads(device: torch.device):
    want = CPU_RENDER_THREADS
    before = torch.get_num_threads()
    if device.type != "cpu" or want is None or before == want:
        yield
        return
    torch.set_num_threads(int(want))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _pixel_angle(rays: torch.Tensor) -> float:
    """Angle (rad) between horizontally adjacent rays at the centre of an ``H x W x 3`` grid."""
    h, w = rays.shape[:2]
    if w < 2:
        return 0.0
    a, b = rays[h // 2, w // 2 - 1], rays[h // 2, w // 2]
    return float(torch.acos((a * b).sum().clamp(-1, 1)))


def render_rays(world: World, rays: torch.Tensor, device=None, origin: Optional[torch.Tensor] = None,
                shade: bool = True, pixel_angle: Optional[float] = None, cull: bool = True) -> Dict[str, torch.Tensor]:
    """Ray-cast ``world`` along ``rays`` (unit directions, ``... x 3``; an ``H x W x 3`` grid is culled
    in 8x8 tiles, any other shape in runs of 64 rays), from ``origin`` (``3``, default the origin).

    Returns a dict of tensors on ``device`` (None -> the device of ``rays``; CPU for arrays), each of
    shape ``S = rays.shape[:-1]``:
    ``depth`` float32 (inf = sky), ``semantic`` int64, ``instance`` int64, ``prim`` int64 (primitive id),
    ``normal`` / ``point`` ``S x 3`` float32 (zero for sky) and, with ``shade``, ``image`` ``S x 3``
    float32 in [0, 1]. ``pixel_angle`` (rad) sets how fast fine textures fade with distance; by
    default it is measured on an ``H x W`` grid and 0 (no fading) otherwise. CPU renders run on
    ``CPU_RENDER_THREADS`` torch threads (default 1, restored afterwards). ``cull=False`` tests every
    ray against every primitive (``raycast.cast_bruteforce``: same result, slower; the benchmark's baseline).
    """
    if not isinstance(world, World):
        raise TypeError(f"world must be a gsam_lab.data.World, got {type(world).__name__}")
    rays = torch.as_tensor(rays)
    if rays.shape[-1:] != (3,) or rays.dim() < 2:
        raise ValueError(f"rays must have shape (..., 3) with at least one batch dimension, got {tuple(rays.shape)}")
    dev = rays.device if device is None else _device(device)
    rays = rays.to(dev, torch.float32)
    world = world.to(dev)
    o = torch.zeros(3, device=dev) if origin is None else torch.as_tensor(origin, dtype=torch.float32, device=dev)
    shape = rays.shape[:-1]
    grid = rays if rays.dim() == 3 else rays.reshape(-1, 3)
    if pixel_angle is None:
        pixel_angle = _pixel_angle(rays) if rays.dim() == 3 else 0.0
    with _render_threads(dev):
        t, ids = (cast if cull else cast_bruteforce)(world, grid, origin=o)
        d = grid.reshape(-1, 3)
        s = _surface(world, d, t.reshape(-1), ids.reshape(-1), o)
        out = {"depth": s["depth"], "semantic": s["cls"], "instance": s["inst"], "prim": s["prim"],
               "normal": s["normal"], "point": s["point"]}
        if shade:
            cosi = (s["normal"] * d).sum(1).abs().clamp_min(0.2)
            s["footprint"] = torch.where(torch.isfinite(s["depth"]), s["depth"], 0) * pixel_angle / cosi
            out["image"] = _shade(world, s)
    return {k: v.reshape(*shape, *v.shape[1:]) for k, v in out.items()}


def _to_numpy(out: Dict[str, torch.Tensor]) -> Dict[str, np.ndarray]:
    img = (out["image"] * 255.0 + 0.5).floor().clamp(0, 255).to(torch.uint8)
    return {"image": img.cpu().numpy(), "semantic": out["semantic"].cpu().numpy().astype(np.int64),
            "instance": out["instance"].cpu().numpy().astype(np.int64),
            "depth": out["depth"].cpu().numpy().astype(np.float32)}


def render_panorama(world: World, h: int, w: int, device=None) -> Dict[str, np.ndarray]:
    """Render the ERP panorama (``w == 2*h``, else ``ValueError``) seen from the camera at the origin.

    Returns numpy arrays: ``image`` uint8 ``H x W x 3``, ``semantic`` int64 ``H x W``, ``instance``
    int64 ``H x W``, ``depth`` float32 ``H x W`` (inf = sky).
    """
    check_erp_hw(h, w)
    dev = _device(device)
    return _to_numpy(render_rays(world, erp_rays(h, w, device=dev), device=dev))


def render_pinhole(world: World, h: int, w: int, fov_deg: float, yaw_deg: float = 0.0, pitch_deg: float = 0.0,
                   roll_deg: float = 0.0, device=None) -> Dict[str, np.ndarray]:
    """Render a pinhole view (horizontal field of view ``fov_deg`` in (0, 180); yaw right, pitch up,
    roll counter-clockwise, as in ``gsam_lab.panorama.sphere.perspective_rays``) of ``h x w`` pixels.

    Returns the same dict as :func:`render_panorama`.
    """
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in (h, w)):
        raise ValueError(f"h and w must be positive ints, got {(h, w)!r}")
    for name, v in (("fov_deg", fov_deg), ("yaw_deg", yaw_deg), ("pitch_deg", pitch_deg), ("roll_deg", roll_deg)):
        if not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(float(v)):
            raise ValueError(f"{name} must be a finite number of degrees, got {v!r}")
    dev = _device(device)
    rays = perspective_rays(float(fov_deg), float(yaw_deg), float(pitch_deg), (int(h), int(w)), float(roll_deg),
                            device=dev)
    return _to_numpy(render_rays(world, rays, device=dev))
