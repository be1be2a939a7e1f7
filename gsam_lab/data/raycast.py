"""Vectorised analytic ray casting against a :class:`~gsam_lab.data.world.World` (torch).

All rays start at one ``origin`` (the camera centre, a 3-vector; the origin by default) and have
unit directions. Intersections (``t`` = distance along the ray, ``inf`` on a miss):

- ground plane ``y = world.ground.y``;
- boxes rotated about +y by ``yaw`` (slab test in the box frame);
- ellipsoids rotated about +y (unit-sphere test after scaling);
- finite vertical cylinders (side quadric + the two caps).

Nearest hit: every candidate (ray, primitive) pair produces one int64 key
``(float32 bits of t) << 24 | primitive id``; since the bit patterns of non-negative floats sort like
the floats, one ``scatter_reduce(amin)`` gives each ray its nearest primitive, with ties broken by
the smaller id, so the result does not depend on evaluation order (bit-identical across calls).

Culling (:func:`cast`): rays are grouped into tiles of neighbouring pixels; each tile's rays lie
in a cone (axis, half-angle); a primitive is tested against a tile's rays only if its bounding
sphere meets the cone. :func:`cast_bruteforce` tests every ray against every primitive (the
baseline of ``benchmarks/bench_render.py`` and the reference of the tests).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch

from .world import World

__all__ = ["cast", "cast_bruteforce", "intersect_boxes", "intersect_ellipsoids", "intersect_cylinders",
           "NO_HIT", "GROUND_ID"]

_ID_BITS = 24
_ID_MASK = (1 << _ID_BITS) - 1
NO_HIT = _ID_MASK            # primitive id of a ray that hits nothing (sky)
GROUND_ID = _ID_MASK - 1     # primitive id of the ground plane
_EPS = 1e-4
_INF = float("inf")


def _local(o: torch.Tensor, d: torch.Tensor, params: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Ray origin / direction in the frame of yaw-rotated primitives.

    o: ``3``; d: ``... x 3``; params: ``... x 7`` (cx, cy, cz, sx, sy, sz, yaw) broadcastable with d.
    Returns (local origin, local direction), each ``... x 3``.
    """
    c, s = torch.cos(params[..., 6]), torch.sin(params[..., 6])
    rel = o - params[..., 0:3]
    # local = R_y(yaw)^T (world - centre): x' = c x - s z, z' = s x + c z
    lo = torch.stack((c * rel[..., 0] - s * rel[..., 2], rel[..., 1], s * rel[..., 0] + c * rel[..., 2]), -1)
    dx, dy, dz = d[..., 0], d[..., 1], d[..., 2]
    ld = torch.stack((c * dx - s * dz, dy.expand_as(c * dx), s * dx + c * dz), -1)
    return lo, ld


def intersect_boxes(o: torch.Tensor, d: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Distance to yaw-rotated boxes. o: ``3``; d: ``... x 3``; params: ``... x 7`` -> t ``...``."""
    lo, ld = _local(o, d, params)
    half = params[..., 3:6]
    ld = torch.where(ld.abs() < 1e-12, torch.full_like(ld, 1e-12), ld)
    inv = 1.0 / ld
    t1 = (-half - lo) * inv
    t2 = (half - lo) * inv
    tnear = torch.minimum(t1, t2).amax(-1)
    tfar = torch.maximum(t1, t2).amin(-1)
    hit = (tnear <= tfar) & (tnear > _EPS)
    return torch.where(hit, tnear, _INF)


def intersect_ellipsoids(o: torch.Tensor, d: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Distance to yaw-rotated ellipsoids. o: ``3``; d: ``... x 3``; params: ``... x 7`` -> t ``...``."""
    lo, ld = _local(o, d, params)
    rad = params[..., 3:6]
    p, q = lo / rad, ld / rad
    a = (q * q).sum(-1)
    bb = (p * q).sum(-1)
    c = (p * p).sum(-1) - 1.0
    disc = bb * bb - a * c
    t = (-bb - torch.sqrt(disc.clamp_min(0))) / a
    return torch.where((disc >= 0) & (t > _EPS), t, _INF)


def intersect_cylinders(o: torch.Tensor, d: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Distance to vertical finite cylinders. o: ``3``; d: ``... x 3``; params: ``... x 5``
    (cx, cz, y0, y1, r) -> t ``...``."""
    px, pz = o[0] - params[..., 0], o[2] - params[..., 1]
    y0, y1, r = params[..., 2], params[..., 3], params[..., 4]
    dx, dy, dz = d[..., 0], d[..., 1], d[..., 2]
    a = (dx * dx + dz * dz).clamp_min(1e-12)
    bb = px * dx + pz * dz
    c = px * px + pz * pz - r * r
    disc = bb * bb - a * c
    ts = (-bb - torch.sqrt(disc.clamp_min(0))) / a
    ys = o[1] + ts * dy
    side = torch.where((disc >= 0) & (ts > _EPS) & (ys >= y0) & (ys <= y1), ts, _INF)
    dy_safe = torch.where(dy.abs() < 1e-12, torch.full_like(dy, 1e-12), dy)
    best = side
    for yc in (y0, y1):
        tc = (yc - o[1]) / dy_safe
        qx, qz = px + tc * dx, pz + tc * dz
        ok = (tc > _EPS) & (qx * qx + qz * qz <= r * r)
        best = torch.minimum(best, torch.where(ok, tc, _INF))
    return best


_INTERSECT = {"box": intersect_boxes, "ellipsoid": intersect_ellipsoids, "cylinder": intersect_cylinders}


def _keys(t: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Pack non-negative float32 distances and primitive ids into sortable int64 keys."""
    t = t.to(torch.float32).contiguous()
    bits = t.view(torch.int32).to(torch.int64)
    return (bits << _ID_BITS) | torch.where(torch.isfinite(t), ids, NO_HIT)


def _unpack(keys: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    t = (keys >> _ID_BITS).to(torch.int32).view(torch.float32)
    return t, keys & _ID_MASK


def _ground_keys(world: World, o: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    dy = d[..., 1]
    t = (world.ground.y - o[1]) / torch.where(dy < 0, dy, torch.full_like(dy, -1.0))
    t = torch.where((dy < -1e-9) & (t > _EPS), t, _INF)
    ids = torch.where(torch.isfinite(t), GROUND_ID, NO_HIT)
    return _keys(t, ids)


def _offsets(world: World) -> Dict[str, int]:
    off, out = 0, {}
    for g in world.groups:
        out[g] = off
        off += len(getattr(world, g))
    if off >= GROUND_ID:
        raise ValueError(f"too many primitives ({off}); at most {GROUND_ID - 1}")
    return out


def _tiles(d: torch.Tensor, tile: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Group rays into tiles. d: ``H x W x 3`` (image grid, tiles of ``tile x tile`` pixels) or
    ``N x 3`` (runs of ``tile*tile`` rays). Returns (tile rays ``T x S x 3``, flat ray index ``T x S``
    into ``d.reshape(-1, 3)``); incomplete tiles repeat their last ray."""
    if d.dim() == 3:
        h, w = d.shape[:2]
        ii = torch.arange(h, device=d.device)
        jj = torch.arange(w, device=d.device)
        hp, wp = -(-h // tile) * tile, -(-w // tile) * tile
        ii = torch.cat((ii, ii[-1:].expand(hp - h)))
        jj = torch.cat((jj, jj[-1:].expand(wp - w)))
        idx = ii[:, None] * w + jj[None, :]                                     # hp x wp
        idx = idx.reshape(hp // tile, tile, wp // tile, tile).permute(0, 2, 1, 3).reshape(-1, tile * tile)
    else:
        n = d.shape[0]
        s = tile * tile
        np_ = -(-n // s) * s
        idx = torch.arange(n, device=d.device)
        idx = torch.cat((idx, idx[-1:].expand(np_ - n))).reshape(-1, s)
    flat = d.reshape(-1, 3)
    return flat[idx], idx


def _cone_mask(tile_d: torch.Tensor, o: torch.Tensor, centers: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """``T x P`` bool: does primitive p's bounding sphere meet the cone of tile t's rays?"""
    axis = tile_d.sum(1)
    axis = axis / axis.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    cos_half = (tile_d * axis[:, None, :]).sum(-1).amin(1).clamp(-1, 1)
    half = torch.acos(cos_half) + 1e-3                                          # T
    v = centers - o
    dist = v.norm(dim=-1).clamp_min(1e-9)                                       # P
    ang_r = torch.asin((radii / dist).clamp(max=1.0))                           # P
    cosang = (axis @ (v / dist[:, None]).T).clamp(-1, 1)                        # T x P
    ang = torch.acos(cosang)
    return (ang <= half[:, None] + ang_r[None, :]) | (dist <= radii)[None, :]


def cast(world: World, dirs: torch.Tensor, origin: Optional[torch.Tensor] = None, tile: int = 8,
         block: int = 1 << 21) -> Tuple[torch.Tensor, torch.Tensor]:
    """Nearest hit of every ray, with cone culling.

    world: on the device of ``dirs``; dirs: ``H x W x 3`` or ``N x 3`` unit directions; origin: ``3``
    (default 0); tile: tile side in pixels; block: max (ray, primitive) pairs evaluated at once.
    Returns (t, prim_id), each of shape ``dirs.shape[:-1]``: t float32 (inf on a miss), prim_id int64
    (global id: boxes, then ellipsoids, then cylinders; ``GROUND_ID``; ``NO_HIT``).
    """
    o = torch.zeros(3, device=dirs.device, dtype=dirs.dtype) if origin is None else origin.to(dirs)
    shape = dirs.shape[:-1]
    best = _ground_keys(world, o, dirs.reshape(-1, 3))                           # N
    tile_d, tile_idx = _tiles(dirs, tile)
    s = tile_d.shape[1]
    for g, off in _offsets(world).items():
        prims = getattr(world, g)
        if len(prims) == 0:
            continue
        centers, radii = prims.bounding_spheres()
        ti, pi = _cone_mask(tile_d, o, centers, radii).nonzero(as_tuple=True)
        step = max(1, block // s)
        fn = _INTERSECT[prims.kind]
        for k in range(0, ti.numel(), step):
            tb, pb = ti[k:k + step], pi[k:k + step]
            t = fn(o, tile_d[tb], prims.params[pb][:, None, :])                     # Kb x S
            keys = _keys(t, (pb + off)[:, None].expand_as(t))
            best.scatter_reduce_(0, tile_idx[tb].reshape(-1), keys.reshape(-1), reduce="amin")
    t, ids = _unpack(best)
    return t.reshape(shape), ids.reshape(shape)


def cast_bruteforce(world: World, dirs: torch.Tensor, origin: Optional[torch.Tensor] = None,
                    chunk: int = 4096) -> Tuple[torch.Tensor, torch.Tensor]:
    """Same result as :func:`cast`, testing every ray against every primitive (no culling);
    rays are processed ``chunk`` at a time only to bound memory."""
    o = torch.zeros(3, device=dirs.device, dtype=dirs.dtype) if origin is None else origin.to(dirs)
    flat = dirs.reshape(-1, 3)
    best = _ground_keys(world, o, flat)
    for g, off in _offsets(world).items():
        prims = getattr(world, g)
        if len(prims) == 0:
            continue
        ids = torch.arange(len(prims), device=flat.device) + off
        fn = _INTERSECT[prims.kind]
        for k in range(0, flat.shape[0], chunk):
            t = fn(o, flat[k:k + chunk, None, :], prims.params[None, :, :])      # n x P
            keys = _keys(t, ids[None, :].expand_as(t)).amin(1)
            best[k:k + chunk] = torch.minimum(best[k:k + chunk], keys)
    t, ids = _unpack(best)
    return t.reshape(dirs.shape[:-1]), ids.reshape(dirs.shape[:-1])
