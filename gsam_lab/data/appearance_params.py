"""Seeded draws of appearance parameters: materials, per-instance base colours, sun, sky, camera look.

The colour ranges deliberately overlap across classes (grey cars and grey buildings and asphalt,
green buildings and green cars and plants, colourful clothing and colourful cars and facades), so
that colour alone does not give a pixel's class away. Colours are display RGB in [0, 1].
Everything is drawn from a ``numpy.random.Generator`` seeded by the world seed.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Tuple

import numpy as np

__all__ = ["Material", "Look", "sample_look", "sample_color"]


class Material:
    """Integer ids of the procedural materials (one texture function each, see ``appearance.py``).

    ``tex`` (4 floats per primitive) holds the material's parameters, documented per material.
    """
    PLAIN = 0     # base colour + soft noise; tex unused
    FACADE = 1    # window grid on vertical faces; tex = (floor height m, window pitch m, window width fraction,
    #               glass tone 0..1)
    PAVING = 2    # tiles on top faces, concrete kerb on the sides; tex = (tile size m, grout darkness 0..1, -, -)
    LEAVES = 3    # leafy 3-D noise; tex = (leaf scale m, contrast 0..1, -, -)
    PAINT = 4     # car body paint with a dark lower band; tex unused
    GLASS = 5     # car cabin: tinted glass on the sides, paint (base colour) on the roof; tex[0] = glass tone 0..1
    CLOTH = 6     # clothing noise; tex unused
    SKIN = 7      # skin tone; tex unused
    METAL = 8     # poles: vertical streaks; tex unused
    BARK = 9      # tree trunks: vertical bark noise; tex unused
    GROUND = 10   # the ground plane: asphalt + lane markings on road, grass on terrain (see Ground)


def _hsv(h: float, s: float, v: float) -> Tuple[float, float, float]:
    return colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1)))


def sample_color(rng: np.random.Generator, kind: str) -> Tuple[float, float, float]:
    """One base colour (RGB in [0,1]) for an object part of the given ``kind``.

    kinds: building, car, cloth, pants, skin, asphalt, paving, grass, leaves, bark, pole, marking.
    """
    u = rng.random()
    if kind == "building":
        if u < 0.35:   # greys / concrete
            return _hsv(rng.random(), rng.uniform(0, 0.06), rng.uniform(0.3, 0.85))
        if u < 0.6:    # warm plaster, beige, brick
            return _hsv(rng.uniform(0.0, 0.12), rng.uniform(0.15, 0.55), rng.uniform(0.35, 0.85))
        if u < 0.72:   # greenish
            return _hsv(rng.uniform(0.18, 0.4), rng.uniform(0.2, 0.55), rng.uniform(0.3, 0.7))
        if u < 0.87:   # glass / sky-reflecting facades
            return _hsv(rng.uniform(0.54, 0.62), rng.uniform(0.15, 0.55), rng.uniform(0.55, 0.95))
        return _hsv(rng.random(), rng.uniform(0.1, 0.6), rng.uniform(0.3, 0.85))   # any pastel / glass
    if kind == "car":
        if u < 0.5:    # white, silver, grey, black
            return _hsv(rng.random(), rng.uniform(0, 0.06), rng.uniform(0.08, 0.9))
        return _hsv(rng.random(), rng.uniform(0.35, 0.9), rng.uniform(0.25, 0.85))
    if kind == "cloth":
        if u < 0.4:
            return _hsv(rng.random(), rng.uniform(0, 0.08), rng.uniform(0.1, 0.85))
        return _hsv(rng.random(), rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.85))
    if kind == "pants":
        return _hsv(rng.choice([0.6, 0.08, 0.3, rng.random()]), rng.uniform(0, 0.5), rng.uniform(0.1, 0.55))
    if kind == "skin":
        return _hsv(rng.uniform(0.03, 0.1), rng.uniform(0.25, 0.6), rng.uniform(0.3, 0.9))
    if kind == "asphalt":
        return _hsv(rng.random(), rng.uniform(0, 0.12), rng.uniform(0.22, 0.55))
    if kind == "paving":
        if u < 0.5:
            return _hsv(rng.random(), rng.uniform(0, 0.08), rng.uniform(0.45, 0.8))
        return _hsv(rng.uniform(-0.03, 0.12), rng.uniform(0.1, 0.45), rng.uniform(0.4, 0.8))
    if kind == "grass":
        if u < 0.75:
            return _hsv(rng.uniform(0.16, 0.33), rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.65))
        return _hsv(rng.uniform(0.07, 0.15), rng.uniform(0.3, 0.6), rng.uniform(0.35, 0.65))  # dry / brownish
    if kind == "leaves":
        if u < 0.8:
            return _hsv(rng.uniform(0.17, 0.42), rng.uniform(0.3, 0.8), rng.uniform(0.2, 0.6))
        return _hsv(rng.uniform(0.02, 0.14), rng.uniform(0.4, 0.8), rng.uniform(0.3, 0.7))   # autumn
    if kind == "bark":
        return _hsv(rng.uniform(0.03, 0.12), rng.uniform(0.2, 0.6), rng.uniform(0.15, 0.45))
    if kind == "pole":
        if u < 0.7:
            return _hsv(rng.random(), rng.uniform(0, 0.08), rng.uniform(0.15, 0.75))
        return _hsv(rng.choice([0.33, 0.6, 0.0]), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.5))
    if kind == "marking":
        return (0.92, 0.92, 0.88) if u < 0.8 else (0.9, 0.78, 0.3)
    raise ValueError(f"unknown colour kind {kind!r}")


@dataclass(frozen=True)
class Look:
    """Global appearance of one world: lighting, sky, fog and the camera's colour response.

    sun: unit 3-vector towards the sun (world frame); ambient: share of light not from the sun;
    zenith/horizon: sky colours; cloud_cover in [0,1]; cloud_color; fog_distance (m, larger =
    clearer); gain, white_balance (3,), gamma: the per-image exposure jitter; noise_seed: the seed of
    every procedural texture of this world.
    """
    sun: Tuple[float, float, float]
    ambient: float
    zenith: Tuple[float, float, float]
    horizon: Tuple[float, float, float]
    cloud_cover: float
    cloud_color: Tuple[float, float, float]
    fog_distance: float
    gain: float
    white_balance: Tuple[float, float, float]
    gamma: float
    noise_seed: int


def sample_look(rng: np.random.Generator) -> Look:
    """Draw a :class:`Look` (sun elevation 20-70 deg, clear blue to overcast grey sky, ...)."""
    el, az = np.radians(rng.uniform(20, 70)), rng.uniform(0, 2 * np.pi)
    sun = (float(np.cos(el) * np.sin(az)), float(np.sin(el)), float(np.cos(el) * np.cos(az)))
    overcast = rng.random() < 0.3
    if overcast:
        zen = _hsv(rng.uniform(0.55, 0.65), rng.uniform(0.0, 0.12), rng.uniform(0.55, 0.85))
        hor = _hsv(rng.uniform(0.55, 0.65), rng.uniform(0.0, 0.06), rng.uniform(0.7, 0.95))
        cover, ambient = rng.uniform(0.5, 0.9), rng.uniform(0.55, 0.75)
    else:
        zen = _hsv(rng.uniform(0.55, 0.63), rng.uniform(0.35, 0.75), rng.uniform(0.55, 0.9))
        hor = _hsv(rng.uniform(0.55, 0.63), rng.uniform(0.08, 0.3), rng.uniform(0.75, 0.98))
        cover, ambient = rng.uniform(0.05, 0.6), rng.uniform(0.3, 0.5)
    cloud = _hsv(0.6, rng.uniform(0, 0.05), rng.uniform(0.75, 1.0))
    return Look(
        sun=sun, ambient=float(ambient), zenith=zen, horizon=hor, cloud_cover=float(cover), cloud_color=cloud,
        fog_distance=float(rng.uniform(150, 600)), gain=float(rng.uniform(0.85, 1.15)),
        white_balance=tuple(float(x) for x in rng.uniform(0.92, 1.08, size=3)),
        gamma=float(rng.uniform(0.9, 1.1)), noise_seed=int(rng.integers(0, 2 ** 20)),
    )
