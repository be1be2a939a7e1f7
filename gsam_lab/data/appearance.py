"""Shading: procedural textures, Lambert lighting, sky, fog and the camera's colour response.

Input is the per-ray surface record of :func:`gsam_lab.data.render.render_rays` (flattened to
``N`` rays); output an ``N x 3`` float image in [0, 1]. Textures live in world / object units
(metres), so the panorama's distortion stretches them like a real panorama does; their fine
detail fades with the pixel footprint ``depth * pixel_angle / |cos(incidence)|`` so that far
textures average out instead of aliasing. Colours are drawn per instance from overlapping ranges
(see ``appearance_params.py``): class is carried by shape, texture and context, not by hue.
"""
from __future__ import annotations

from typing import Dict

import torch

from .appearance_params import Material
from .noise import fbm, hash01, value_noise
from .world import World

__all__ = ["shade", "sky_color"]


def _t(x, ref: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(x, dtype=ref.dtype, device=ref.device)


def _lerp(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return a + (b - a) * w


def _fade(fp: torch.Tensor, size) -> torch.Tensor:
    """1 where a pattern of feature ``size`` (m) is resolved by the pixel footprint ``fp``, -> 0 beyond."""
    return (2.0 - 2.0 * fp / size).clamp(0, 1)


def sky_color(world: World, d: torch.Tensor) -> torch.Tensor:
    """Sky radiance for directions ``N x 3`` -> ``N x 3``: horizon-zenith gradient, sun glow, clouds."""
    lk = world.look
    up = d[:, 1].clamp(-1, 1)
    el = up.clamp_min(0).sqrt()[:, None]
    col = _lerp(_t(lk.horizon, d), _t(lk.zenith, d), el)
    sun = _t(lk.sun, d)
    glow = ((d @ sun).clamp_min(0) ** 48)[:, None]
    col = col + 0.35 * glow
    q = d[:, [0, 2]] / (up.clamp_min(0) + 0.08)[:, None] * 2.0                 # cloud layer coordinates
    n = fbm(q, (1.6, 0.7, 0.3), seed=lk.noise_seed + 7)
    thr = 1.0 - lk.cloud_cover
    cover = ((n - (0.5 - 0.25 * (1 - thr) + 0.15 * thr)) / 0.12).clamp(0, 1)
    cover = cover * (up * 6).clamp(0, 1)
    cloud = _t(lk.cloud_color, d) * (0.85 + 0.3 * (n - 0.5))[:, None]
    return _lerp(col, cloud, 0.85 * cover[:, None])


def _facade(s: Dict[str, torch.Tensor], m: torch.Tensor, seed: int) -> torch.Tensor:
    loc, half, nl, col, tex, fp = (s[k][m] for k in ("local", "half", "local_normal", "color", "tex", "footprint"))
    floor_h, pitch, wfrac, tone = tex.unbind(1)
    across_x = nl[:, 2].abs() > 0.5                      # a face whose normal is +-z runs along local x
    u = torch.where(across_x, loc[:, 0] + half[:, 0], loc[:, 2] + half[:, 2])
    width = torch.where(across_x, 2 * half[:, 0], 2 * half[:, 2])
    v = loc[:, 1] + half[:, 1]
    height = 2 * half[:, 1]
    nu = torch.floor((width - 1.0) / pitch).clamp_min(1)
    u0 = (width - nu * pitch) / 2                        # centre the window columns on the face
    fu = ((u - u0) / pitch) - torch.floor((u - u0) / pitch)
    fv = v / floor_h - torch.floor(v / floor_h)
    col_i = torch.floor((u - u0) / pitch).to(torch.int64)
    row_i = torch.floor(v / floor_h).to(torch.int64)
    win = ((fu - 0.5).abs() < wfrac / 2) & (fv > 0.3) & (fv < 0.82) & (u > u0) & (u < width - u0) \
        & (v > 0.8) & (v < height - 0.8) & (nl[:, 1].abs() < 0.5)
    wvar = hash01(col_i, row_i, (s["inst"][m] & 0xFFFF), seed=seed)
    glass = _lerp(_t((0.07, 0.09, 0.12), col), _t((0.5, 0.58, 0.66), col), (tone * 0.7 + 0.3 * wvar)[:, None])
    grain = fbm(s["point"][m], (0.6, 0.15), seed=seed + 1, footprint=fp)
    wall = col * (0.8 + 0.4 * grain)[:, None]
    band = (fv < 0.04) & (nl[:, 1].abs() < 0.5)
    wall = torch.where(band[:, None], wall * 0.85, wall)
    roof = nl[:, 1] > 0.5
    wall = torch.where(roof[:, None], col * 0.6 + 0.1, wall)
    frac = (wfrac * 0.52).clamp(0, 1)[:, None]
    mean = _lerp(wall, glass, frac)
    pat = torch.where(win[:, None], glass, wall)
    return _lerp(mean, pat, _fade(fp, pitch * wfrac * 0.5)[:, None])


def _paving(s, m, seed):
    p, nl, col, tex, fp = (s[k][m] for k in ("point", "local_normal", "color", "tex", "footprint"))
    size, grout = tex[:, 0], tex[:, 1]
    top = nl[:, 1] > 0.5
    gx, gz = p[:, 0] / size, p[:, 2] / size
    fx, fz = gx - torch.floor(gx), gz - torch.floor(gz)
    edge = torch.minimum(torch.minimum(fx, 1 - fx), torch.minimum(fz, 1 - fz)) * size
    tile_v = hash01(torch.floor(gx).to(torch.int64), torch.floor(gz).to(torch.int64), seed=seed)
    tile = col * (0.88 + 0.24 * tile_v)[:, None]
    tile = torch.where((edge < 0.02)[:, None], tile * (1 - 0.5 * grout)[:, None], tile)
    mean = col * (1 - 0.5 * grout * (0.08 / size).clamp(max=1))[:, None]
    top_col = _lerp(mean, tile, _fade(fp, size * 0.3)[:, None])
    kerb = _lerp(col, _t((0.68, 0.67, 0.64), col), 0.6)
    return torch.where(top[:, None], top_col, kerb)


def _ground(world: World, s, m, seed):
    g = world.ground
    p, fp, cls = s["point"][m], s["footprint"][m], s["cls"][m]
    x, z = p[:, 0], p[:, 2]
    xz = p[:, [0, 2]]
    road = cls == 0
    out = torch.empty_like(p)
    ri, gi = road.nonzero(as_tuple=True)[0], (~road).nonzero(as_tuple=True)[0]
    grass_n = fbm(xz[gi], (1.5, 0.35, 0.08, 0.03), seed=seed + 3, footprint=fp[gi])
    out[gi] = _t(g.grass, p) * (0.55 + 0.9 * grass_n)[:, None]
    p, fp, x, z, xz = p[ri], fp[ri], x[ri], z[ri], xz[ri]
    asphalt = _t(g.asphalt, p) * (0.75 + 0.5 * fbm(xz, (2.0, 0.5, 0.12, 0.04), seed=seed, footprint=fp))[:, None]
    # lane markings (main road only, not inside the crossing)
    in_cross = (z >= g.cross_z0) & (z <= g.cross_z1) if g.crossing else torch.zeros_like(x, dtype=torch.bool)
    mark = torch.zeros_like(x)
    for lx in g.lane_x:
        dash = (z / 9.0 - torch.floor(z / 9.0)) < 0.35
        mark = torch.maximum(mark, (((x - lx).abs() < 0.07) & dash).to(x.dtype))
    for ex in g.edge_x:
        mark = torch.maximum(mark, ((x - ex).abs() < 0.08).to(x.dtype))
    if g.crossing:   # zebra stripes across the main road just before the crossing street
        zz = (z > g.cross_z0 - 4.0) & (z < g.cross_z0 - 1.0) | (z > g.cross_z1 + 1.0) & (z < g.cross_z1 + 4.0)
        stripe = (x / 1.0 - torch.floor(x / 1.0)) < 0.5
        mark = torch.maximum(mark, (zz & stripe & (x > g.road_x0 + 0.5) & (x < g.road_x1 - 0.5)).to(x.dtype))
    mark = mark * (~in_cross).to(x.dtype) * (0.15 / fp).clamp(max=1)
    out[ri] = _lerp(asphalt, _t(g.marking, p) * (0.9 + 0.1 * value_noise(xz * 3, seed)[:, None]), mark[:, None])
    return out


def _car(s, m, seed, glass_mat: bool):
    loc, half, nl, col, tex, fp = (s[k][m] for k in ("local", "half", "local_normal", "color", "tex", "footprint"))
    if glass_mat:
        side = nl[:, 1].abs() < 0.5
        pillar = (loc[:, 2].abs() > half[:, 2] * 0.82) | (loc[:, 0].abs() > half[:, 0] * 0.85) & (nl[:, 2].abs() > 0.5)
        tint = _lerp(_t((0.05, 0.06, 0.08), col), _t((0.35, 0.4, 0.45), col), tex[:, :1])
        return torch.where((side & ~pillar)[:, None], tint, col)
    low = loc[:, 1] < -half[:, 1] * 0.45
    body = torch.where(low[:, None], col * 0.55 + 0.02, col)
    # wheels: dark half discs on the long sides, near both ends
    wz = half[:, 2] * 0.62
    dz = torch.minimum((loc[:, 2] - wz).abs(), (loc[:, 2] + wz).abs())
    dy = loc[:, 1] + half[:, 1] + 0.25
    wheel = (nl[:, 0].abs() > 0.5) & (dz * dz + dy * dy < 0.34 ** 2)
    return torch.where(wheel[:, None], _t((0.05, 0.05, 0.05), col), body)


def shade(world: World, s: Dict[str, torch.Tensor]) -> torch.Tensor:
    """Colour every ray of the surface record ``s`` (flat tensors, ``N`` rays).

    s keys: dir, depth, cls, inst, material (-1 = sky), color, tex, point, normal, local,
    local_normal, half, footprint. Returns ``N x 3`` float32 in [0, 1] (after exposure).
    """
    lk = world.look
    seed = lk.noise_seed
    d = s["dir"]
    n = d.shape[0]
    out = torch.zeros(n, 3, dtype=d.dtype, device=d.device)
    mat = s["material"]
    albedo = s["color"].clone()
    fp = s["footprint"]
    for code in (Material.PLAIN, Material.CLOTH, Material.SKIN, Material.METAL, Material.BARK, Material.LEAVES):
        m = mat == code
        if not bool(m.any()):
            continue
        p, c = s["point"][m], s["color"][m]
        if code == Material.LEAVES:
            sc = s["tex"][m][:, 0:1]
            con = s["tex"][m][:, 1]
            nz = fbm(p / sc, (4.0, 2.0, 1.0), seed=seed + 5, footprint=fp[m] / sc[:, 0])
            nz = ((nz - 0.5) * 2.2 + 0.5).clamp(0, 1)
            albedo[m] = c * (1 - 0.75 * con + 1.2 * con * nz)[:, None]
        elif code == Material.BARK:
            q = p * torch.tensor([8.0, 0.8, 8.0], device=p.device, dtype=p.dtype)
            albedo[m] = c * (0.65 + 0.7 * fbm(q, (1.0, 0.4), seed=seed + 6))[:, None]
        elif code == Material.METAL:
            albedo[m] = c * (0.85 + 0.3 * fbm(p * 2, (1.0,), seed=seed + 8, footprint=fp[m] * 2))[:, None]
        elif code == Material.CLOTH:
            albedo[m] = c * (0.85 + 0.3 * fbm(p, (0.25, 0.06), seed=seed + 9, footprint=fp[m]))[:, None]
        elif code == Material.PLAIN:
            albedo[m] = c * (0.9 + 0.2 * fbm(p, (0.5,), seed=seed + 10, footprint=fp[m]))[:, None]
    for code, fn in ((Material.FACADE, _facade), (Material.PAVING, _paving)):
        m = mat == code
        if bool(m.any()):
            albedo[m] = fn(s, m, seed + 11 + code)
    for code in (Material.PAINT, Material.GLASS):
        m = mat == code
        if bool(m.any()):
            albedo[m] = _car(s, m, seed + 12, code == Material.GLASS)
    m = mat == Material.GROUND
    if bool(m.any()):
        albedo[m] = _ground(world, s, m, seed + 13)

    # lighting
    sun = _t(lk.sun, d)
    lam = (s["normal"] @ sun).clamp_min(0)
    leaves = mat == Material.LEAVES
    lam = torch.where(leaves, 0.5 * lam + 0.25, lam)                         # wrapped light for foliage
    light = lk.ambient + (1 - lk.ambient) * 1.25 * lam
    surf = albedo * light[:, None]
    # fog towards the horizon colour
    depth = s["depth"]
    hit = mat >= 0
    fog = (1 - torch.exp(-depth.clamp(max=1e6) / lk.fog_distance)).clamp(max=0.85)
    surf = _lerp(surf, _t(lk.horizon, d), fog[:, None])
    out[hit] = surf[hit]
    sky = ~hit
    if bool(sky.any()):
        out[sky] = sky_color(world, d[sky])
    # camera response: gain, white balance, gamma
    out = (out * _t(lk.white_balance, d) * lk.gain).clamp(0, 1) ** lk.gamma
    return out
