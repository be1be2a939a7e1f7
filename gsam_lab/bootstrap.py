"""Bootstrap confidence intervals: how much a mean over a few dozen objects can be trusted.

A mIoU over 60 objects is itself a random number: another 60 objects from the same world give
another value. The percentile bootstrap estimates that spread from the sample itself: resample
the per-object values with replacement many times, recompute the mean each time, and read the
2.5 % and 97.5 % quantiles of those means (Efron & Tibshirani, "An Introduction to the Bootstrap",
1993). Two methods scored on the *same* objects are compared through the bootstrap of their
per-object *differences* (:func:`paired_bootstrap_ci`), which is much tighter than comparing two
separate intervals.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
import pandas as pd

__all__ = ["bootstrap_ci", "paired_bootstrap_ci", "summarize_ci", "format_ci", "miou_bootstrap_ci"]


def _as_values(values, name: str = "values") -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size and not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite numbers, got {int((~np.isfinite(v)).sum())} NaN/inf of {v.size}")
    return v


def bootstrap_ci(values: Sequence[float], level: float = 0.95, n_boot: int = 2000,
                 seed: int = 0) -> Tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` and its percentile-bootstrap interval.

    Args:
        values: one number per independent unit (object, image, panorama).
        level: coverage of the interval (0.95: the 2.5 % and 97.5 % quantiles).
        n_boot: resamples; 2000 puts the interval's ends within about 0.002 of their limit for
            values in [0, 1].
        seed: seed of the resampling (the same values give the same interval).

    Returns:
        ``(nan, nan, nan)`` for no values; ``(v, v, v)`` for one.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot!r}")
    v = _as_values(values)
    if v.size == 0:
        return (float("nan"),) * 3
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(int(n_boot), v.size))].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(v.mean()), float(lo), float(hi)


def paired_bootstrap_ci(a: Sequence[float], b: Sequence[float], level: float = 0.95, n_boot: int = 2000,
                        seed: int = 0) -> Tuple[float, float, float]:
    """``(mean(a - b), low, high)`` for two methods scored on the same units, in the same order; or, for two
    pandas Series, on the units (index entries) both have, each unit's two values paired by its index."""
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        a, b = a.align(b, join="inner")
    a, b = _as_values(a, "a"), _as_values(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same length, got {a.size} and {b.size}")
    return bootstrap_ci(a - b, level=level, n_boot=n_boot, seed=seed)


def _miou_of_sums(cm: np.ndarray) -> np.ndarray:
    """mIoU of each ``... x K x K`` confusion matrix (rows: ground truth), over classes that occur."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    union = cm.sum(-1) + cm.sum(-2) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    return np.nanmean(iou, axis=-1)


def miou_bootstrap_ci(cms: Sequence, base: Optional[Sequence] = None, level: float = 0.95, n_boot: int = 2000,
                      seed: int = 0) -> Tuple[float, float, float]:
    """Dataset mIoU (from summed confusion matrices) and its bootstrap interval over images.

    A semantic-segmentation mIoU is not a mean over images: the confusion matrices of all images
    are summed first, then each class's IoU is read from the sum. So the bootstrap resamples the
    *images* (their confusion matrices) and recomputes the dataset mIoU each time.

    Args:
        cms: one ``K x K`` confusion matrix per image (rows: ground truth, columns: prediction).
        base: another method's matrices on the same images, in the same order: then the result is
            the paired difference ``mIoU(cms) - mIoU(base)``, images resampled together.

    Returns:
        ``(value, low, high)`` with ``value`` on all images.
    """
    a = np.asarray(cms, dtype=np.float64)
    if a.ndim != 3 or a.shape[1] != a.shape[2]:
        raise ValueError(f"cms must be N x K x K confusion matrices, got shape {a.shape}")
    b = None if base is None else np.asarray(base, dtype=np.float64)
    if b is not None and b.shape != a.shape:
        raise ValueError(f"base must match cms' shape {a.shape}, got {b.shape}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")

    def stat(idx):
        m = _miou_of_sums(a[idx].sum(-3))
        return m if b is None else m - _miou_of_sums(b[idx].sum(-3))

    value = float(stat(np.arange(len(a))))
    idx = np.random.default_rng(seed).integers(0, len(a), size=(int(n_boot), len(a)))
    stats = stat(idx)
    lo, hi = np.nanquantile(stats, [(1 - level) / 2, 1 - (1 - level) / 2])
    return value, float(lo), float(hi)


def summarize_ci(df: pd.DataFrame, by: Sequence[str], value: str, level: float = 0.95, n_boot: int = 2000,
                 seed: int = 0, sort: bool = False) -> pd.DataFrame:
    """Per group of ``by``: ``n``, the mean of column ``value`` and its bootstrap interval
    (columns ``n``, ``<value>``, ``<value>_lo``, ``<value>_hi``)."""
    rows = []
    for key, g in df.groupby(list(by), sort=sort, observed=True):
        key = key if isinstance(key, tuple) else (key,)
        m, lo, hi = bootstrap_ci(g[value].to_numpy(), level=level, n_boot=n_boot, seed=seed)
        rows.append(dict(zip(by, key), n=len(g), **{value: m, f"{value}_lo": lo, f"{value}_hi": hi}))
    return pd.DataFrame(rows, columns=list(by) + ["n", value, f"{value}_lo", f"{value}_hi"])


def format_ci(mean: float, lo: float, hi: float, digits: int = 3, n: Optional[int] = None) -> str:
    """``"0.812 [0.781, 0.840]"`` (``n=...`` appended when given)."""
    s = f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
    return s if n is None else f"{s} (n={n})"
