"""Where each class lives on the sphere: class shares per latitude band of ERP label maps."""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np
import pandas as pd

from .classes import CLASSES, IGNORE_INDEX

__all__ = ["latitude_class_shares"]


def latitude_class_shares(labels: Iterable[np.ndarray], bands: int = 6,
                          classes: Optional[Sequence[str]] = None, ignore_index: int = IGNORE_INDEX) -> pd.DataFrame:
    """Fraction of each class in each latitude band, pooled over ERP label maps (each ``H x W``, 2:1).

    Pixels are weighted by their solid angle (``cos(lat)``), so a share is a share of the *sphere*,
    not of ERP pixels. Returns a DataFrame with one row per band (index ``"lat_max..lat_min"`` in
    degrees, north first) and one column per class; each row sums to 1 (ignored pixels left out).
    """
    classes = list(CLASSES if classes is None else classes)
    k = len(classes)
    if not isinstance(bands, int) or bands < 1:
        raise ValueError(f"bands must be a positive int, got {bands!r}")
    counts, h0 = None, None
    for lab in labels:
        lab = np.asarray(lab)
        if lab.ndim != 2 or lab.shape[1] != 2 * lab.shape[0]:
            raise ValueError(f"expected ERP label maps of shape H x 2H, got {lab.shape}")
        h = lab.shape[0]
        if h0 is not None and h != h0:
            raise ValueError(f"all label maps must share one size; got H={h} after H={h0}")
        if bands > h:
            raise ValueError(f"bands={bands} exceeds the {h} rows of the label map")
        h0 = h
        lat = np.pi / 2 - (np.arange(h) + 0.5) / h * np.pi
        band_of_row = np.minimum((np.arange(h) * bands) // h, bands - 1)
        weight = np.broadcast_to(np.cos(lat)[:, None], lab.shape)
        valid = lab != ignore_index
        if (lab[valid] < 0).any() or (lab[valid] >= k).any():
            raise ValueError(f"label ids must lie in 0..{k - 1} (or {ignore_index} = ignore)")
        idx = band_of_row[:, None].repeat(lab.shape[1], 1)[valid] * k + lab[valid]
        c = np.bincount(idx, weights=weight[valid], minlength=bands * k).reshape(bands, k)
        counts = c if counts is None else counts + c
    if counts is None:
        raise ValueError("no label maps given")
    edges = np.linspace(90.0, -90.0, bands + 1)
    index = [f"{edges[i]:+.0f}..{edges[i + 1]:+.0f}" for i in range(bands)]
    shares = counts / np.maximum(counts.sum(1, keepdims=True), 1e-12)
    return pd.DataFrame(shares, index=pd.Index(index, name="latitude band (deg)"), columns=classes)
