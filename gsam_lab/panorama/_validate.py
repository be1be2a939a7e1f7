"""Argument checks shared by the panorama functions (clear ``ValueError`` / ``TypeError`` messages)."""
from __future__ import annotations

import math
import numbers
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from .sphere import check_erp_hw

MODES = ("bilinear", "nearest")


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is a supported interpolation mode, else raise ``ValueError``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def _is_int(x) -> bool:
    if isinstance(x, bool) or isinstance(x, np.bool_):
        return False
    if isinstance(x, torch.Tensor):
        return x.dim() == 0 and not x.dtype.is_floating_point and x.dtype != torch.bool and not x.is_complex()
    return isinstance(x, numbers.Integral)


def check_hw(hw, name: str) -> Tuple[int, int]:
    """``hw`` must be a pair of positive ints ``(H, W)``; returns it as a tuple of Python ints."""
    try:
        n = len(hw)
    except TypeError:
        n = -1
    if n != 2 or not all(_is_int(s) for s in hw) or int(hw[0]) <= 0 or int(hw[1]) <= 0:
        raise ValueError(f"{name} must be two positive ints (H, W), got {hw!r}")
    return int(hw[0]), int(hw[1])


def check_erp_size(hw, name: str = "erp_hw") -> Tuple[int, int]:
    """``hw`` must be two positive ints with ``W == 2 H``."""
    h, w = check_hw(hw, name)
    check_erp_hw(h, w)
    return h, w


def check_positive_int(x, name: str) -> int:
    if not _is_int(x) or int(x) <= 0:
        raise ValueError(f"{name} must be a positive int, got {x!r}")
    return int(x)


def _angle_values(x, name: str) -> Tuple[List[float], bool]:
    """One angle argument -> (list of floats, is_scalar)."""
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be a number or a 1-D sequence of numbers (degrees), got {x!r}")
    try:
        t = torch.as_tensor(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f"{name} must be a number or a 1-D sequence of numbers (degrees), got {x!r}") from e
    if t.dim() > 1:
        raise ValueError(f"{name} must be a scalar or a 1-D sequence (one angle per view), got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite degrees, got {x!r}")
    return t.reshape(-1).tolist(), t.dim() == 0


def check_fov(values: Sequence[float], name: str = "fov_deg") -> None:
    for f in values:
        if not (0.0 < f < 180.0):
            raise ValueError(f"{name} must lie in the open interval (0, 180) degrees, got {f!r}")


def broadcast_angles(**angles) -> Tuple[Dict[str, List[float]], int, bool]:
    """Broadcast scalar / 1-D angle arguments (degrees) to ``V`` views.

    Returns ``(values, V, scalar)``: ``values[name]`` is a list of ``V`` floats, ``scalar`` is True
    when every argument was a scalar. ``fov_deg`` (when given) must lie in (0, 180).
    """
    vals, scalars = {}, []
    for name, x in angles.items():
        vals[name], s = _angle_values(x, name)
        scalars.append(s)
    lengths = {len(v) for v in vals.values() if len(v) != 1}
    if len(lengths) > 1:
        desc = ", ".join(f"{k}: {len(v)}" for k, v in vals.items())
        raise ValueError(f"angle sequences must have equal lengths (or length 1) to broadcast, got {desc}")
    n = lengths.pop() if lengths else 1
    vals = {k: (v * n if len(v) == 1 else v) for k, v in vals.items()}
    if "fov_deg" in vals:
        check_fov(vals["fov_deg"])
    return vals, n, all(scalars)


def check_scalar_angle(x, name: str) -> float:
    vals, scalar = _angle_values(x, name)
    if not scalar and len(vals) != 1:
        raise ValueError(f"{name} must be a single angle in degrees, got {x!r}")
    return vals[0]


def deg(x: float) -> float:
    return x * math.pi / 180.0
