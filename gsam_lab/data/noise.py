"""Seeded procedural noise in torch: integer hashing, value noise (2-D / 3-D) and band-limited fBm.

Lattice values come from an integer hash of (cell, seed), so noise is a pure function of world
coordinates and seed: deterministic, device independent up to float rounding, and anchored to
the world (textures stretch with the panorama's distortion like real surfaces).
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

import torch

__all__ = ["hash01", "value_noise", "fbm"]

_TABLE_BITS = 16
_TABLES: Dict[Tuple[int, str], torch.Tensor] = {}
_PRIMES = (73856093, 19349663, 83492791, 2654435761)


def _table(seed: int, device: torch.device) -> torch.Tensor:
    """``2**16`` uniform floats of ``seed`` (drawn on the CPU, then cached per device)."""
    key = (int(seed), str(device))
    tab = _TABLES.get(key)
    if tab is None:
        if len(_TABLES) > 256:
            _TABLES.clear()
        g = torch.Generator().manual_seed(int(seed) & 0x7FFFFFFFFFFFFFFF)
        tab = torch.rand(1 << _TABLE_BITS, generator=g).to(device)
        _TABLES[key] = tab
    return tab


def hash01(*ints: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Hash integer tensors (broadcast, int64, up to 4 of them) to floats in [0, 1): a seeded
    random table indexed by the classic xor-of-primes spatial hash."""
    h = ints[0] * _PRIMES[0]
    for x, p in zip(ints[1:], _PRIMES[1:]):
        h = h ^ (x * p)
    h = (h ^ (h >> 16)) & ((1 << _TABLE_BITS) - 1)
    return _table(seed, h.device)[h]


def _smooth(f: torch.Tensor) -> torch.Tensor:
    return f * f * (3 - 2 * f)


def value_noise(p: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Smooth value noise in [0, 1]. p: ``N x D`` (D = 2 or 3) coordinates in lattice units -> ``N``."""
    fl = torch.floor(p)
    f = _smooth(p - fl)
    i = fl.to(torch.int64)
    d = p.shape[-1]
    out = torch.zeros(p.shape[:-1], dtype=p.dtype, device=p.device)
    for corner in range(1 << d):
        bits = [(corner >> k) & 1 for k in range(d)]
        w = torch.ones_like(out)
        idx = []
        for k, b in enumerate(bits):
            w = w * (f[..., k] if b else 1 - f[..., k])
            idx.append(i[..., k] + b)
        out = out + w * hash01(*idx, seed=seed)
    return out


def fbm(p: torch.Tensor, scales: Sequence[float], seed: int = 0, footprint: torch.Tensor = None) -> torch.Tensor:
    """Band-limited fractal noise in [0, 1] (mean 0.5).

    p: ``N x D`` world coordinates (m); scales: feature sizes (m) of the octaves, each with weight
    proportional to its scale; footprint: ``N`` size of a pixel on the surface (m): an octave fades
    to its mean 0.5 as the footprint grows past half its scale (no aliasing at a distance).
    """
    total = sum(scales)
    out = torch.zeros(p.shape[:-1], dtype=p.dtype, device=p.device)
    for k, s in enumerate(scales):
        if footprint is None:
            out = out + (s / total) * (value_noise(p / s, seed=seed * 31 + k) - 0.5)
            continue
        w = (2.0 - 2.0 * footprint / s).clamp(0, 1)
        sel = (w > 0).nonzero(as_tuple=True)[0]          # evaluate only where the octave is resolved
        if sel.numel() == 0:
            continue
        n = value_noise(p[sel] / s, seed=seed * 31 + k) - 0.5
        out = out.index_add(0, sel, (s / total) * n * w[sel])
    return 0.5 + out
