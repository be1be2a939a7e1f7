"""The results report's tables, one function per table, and the measurements its claims are read from.

::

    ev = stable_sam.compare({"SAM": sam_model, "Stable-SAM": stable}, domains, noise=(0.4,), points=(1, 3))
    report.stable_sam_table(ev)            # mIoU per domain, setting and model, 95 % intervals over objects
    diffs = report.stable_sam_differences(ev)   # paired differences and robustness gaps (IoU)
    report.size_differences(ev)            # SAM minus filling the box (GT box) per object size
    scores = {"TA": goodsam.evaluate_miou(ta, test), **goodsam.evaluate_labels(goodsam.dar_labels(ta, sam_model),
                                                                                test, K)}
    gs = report.goodsam_table(scores, baseline="TA")   # dataset mIoU per model, minus the TA (points)
    claims = report.claims_table({**report.stable_sam_claims(ev, plugin_params=78_132),
                                  **report.goodsam_claims(gs, dar="DAR ctcf", student="shipped student")})

Every interval is a 95 % percentile bootstrap (:mod:`gsam_lab.bootstrap`): over objects for Stable-SAM
(mean IoU), over panoramas for GoodSAM (dataset mIoU from summed confusion matrices); every
difference is paired (both methods on the same units, resampled together).
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from gsam_lab.bootstrap import format_ci, miou_bootstrap_ci, paired_bootstrap_ci

from .claims import Measured

__all__ = ["NOISY", "COMPARISONS", "stable_sam_table", "stable_sam_differences", "size_differences", "goodsam_table",
           "stable_sam_claims", "goodsam_claims"]

#: The casual box of the Stable-SAM section: HQ-SAM's box noise at scale 0.4.
NOISY = "noisy_box s=0.4"
_MODELS = ("SAM", "Stable-SAM", "fill box")

#: ``name -> (a, b)``: the paired differences ``a - b`` of :func:`stable_sam_differences`, per object. A
#: term is ``(model, setting)`` (its IoU) or ``("gap", model)`` (its robustness gap: GT-box IoU minus
#: noisy-box IoU, how much the model loses when the box is casual).
COMPARISONS = {
    "Stable-SAM - SAM, noisy box s=0.4": (("Stable-SAM", NOISY), ("SAM", NOISY)),
    "Stable-SAM - SAM, 1 click": (("Stable-SAM", "points k=1"), ("SAM", "points k=1")),
    "Stable-SAM - SAM, 3 clicks": (("Stable-SAM", "points k=3"), ("SAM", "points k=3")),
    "Stable-SAM - SAM, GT box": (("Stable-SAM", "gt_box"), ("SAM", "gt_box")),
    "SAM - fill box, GT box": (("SAM", "gt_box"), ("fill box", "gt_box")),
    "SAM - fill box, noisy box s=0.4": (("SAM", NOISY), ("fill box", NOISY)),
    "robustness gap, SAM (GT box - noisy s=0.4)": (("SAM", "gt_box"), ("SAM", NOISY)),
    "robustness gap, Stable-SAM": (("Stable-SAM", "gt_box"), ("Stable-SAM", NOISY)),
    "robustness gap, fill box": (("fill box", "gt_box"), ("fill box", NOISY)),
    "gap of Stable-SAM - gap of SAM": (("gap", "Stable-SAM"), ("gap", "SAM")),
    "gap of fill box - gap of SAM": (("gap", "fill box"), ("gap", "SAM")),
}

#: The Stable-SAM claims of :data:`~gsam_lab.report.PAPER_CLAIMS`, each answered by one setting.
_SS_CLAIMS = {"stable_sam.noisy_box": NOISY, "stable_sam.points1": "points k=1", "stable_sam.points3": "points k=3",
              "stable_sam.gt_box": "gt_box"}


def _per_object(ev, term: Tuple[str, str], domain: Optional[str]) -> pd.Series:
    if term[0] == "gap":
        return ev.per_object(term[1], "gt_box", domain) - ev.per_object(term[1], NOISY, domain)
    return ev.per_object(*term, domain)


def _n_objects(ev) -> Dict[str, int]:
    """Objects per domain (every model is scored on the same ones), in the evaluation's order."""
    o = ev.objects
    first = o[(o["method"] == o["method"].iloc[0]) & (o["setting"] == o["setting"].iloc[0])]
    return first.groupby("domain", sort=False).size().to_dict()


def stable_sam_table(ev, models: Sequence[str] = _MODELS) -> pd.DataFrame:
    """mIoU of each model per domain and prompt setting, ``"mean [low, high]"`` (95 % interval over objects).

    Args:
        ev: a :class:`~gsam_lab.sam.evaluate.PromptEvaluation` (:func:`gsam_lab.stable_sam.compare`).
        models: the columns, in order (a model the evaluation lacks is left out).

    Returns:
        one row per (domain, setting): ``domain``, ``n objects``, ``setting`` and one column per model
        (``"-"`` where a model has no such setting: filling the box takes no clicks).
    """
    s = ev.summary()
    cols = [m for m in models if m in set(s["method"])]
    s = s.assign(ci=[format_ci(r.miou, r.miou_lo, r.miou_hi) for r in s.itertuples()])
    t = s.pivot(index=["domain", "setting"], columns="method", values="ci").reindex(columns=cols)
    t = t.fillna("-").reset_index().rename_axis(columns=None)
    t.insert(1, "n objects", t["domain"].map(_n_objects(ev)))
    return t


def stable_sam_differences(ev, comparisons: Mapping[str, Tuple[Tuple[str, str], Tuple[str, str]]] = COMPARISONS
                           ) -> pd.DataFrame:
    """Paired differences of :data:`COMPARISONS` on the same objects, in IoU (0.01 = 1 point).

    Returns:
        one row per comparison: ``comparison``, then per domain of the evaluation and for ``both``
        together: ``<domain>`` (the mean difference over its objects), ``<domain> low`` and ``<domain>
        high`` (its 95 % paired bootstrap interval over objects). The objects per domain are the
        ``n objects`` of :func:`stable_sam_table`.
    """
    rows = []
    for name, (a, b) in comparisons.items():
        row = {"comparison": name}
        for dom in (*_n_objects(ev), None):
            d, lo, hi = paired_bootstrap_ci(_per_object(ev, a, dom), _per_object(ev, b, dom))
            key = dom or "both"
            row.update({key: d, f"{key} low": lo, f"{key} high": hi})
        rows.append(row)
    return pd.DataFrame(rows)


def size_differences(ev, a: Tuple[str, str] = ("SAM", "gt_box"), b: Tuple[str, str] = ("fill box", "gt_box"),
                     bins: Optional[Mapping[str, Tuple[float, float]]] = None) -> pd.DataFrame:
    """The paired difference ``a - b`` (IoU) per object-size bin, every domain together.

    Returns:
        one row per bin of ``bins`` (pixels, ``[low, high)``; default
        :data:`gsam_lab.sam.evaluate.SIZE_BINS`) that holds objects: ``size``, ``n`` (objects),
        ``difference`` (mean over them), ``low`` and ``high`` (95 % paired bootstrap interval).
    """
    if bins is None:
        from gsam_lab.sam.evaluate import SIZE_BINS as bins
    va, vb = _per_object(ev, a, None), _per_object(ev, b, None)
    o = ev.objects
    area = o[(o["method"] == a[0]) & (o["setting"] == a[1])].set_index(["domain", "image", "object"])["area"]
    rows = []
    for name, (lo_px, hi_px) in bins.items():
        keys = area[(area >= lo_px) & (area < hi_px)].index
        if len(keys):
            d, lo, hi = paired_bootstrap_ci(va.loc[keys], vb.loc[keys])
            rows.append(dict(size=name, n=len(keys), difference=d, low=lo, high=hi))
    return pd.DataFrame(rows, columns=["size", "n", "difference", "low", "high"])


def goodsam_table(scores: Mapping[str, Mapping[str, object]], baseline: str = "TA",
                  params: Optional[Mapping[str, Optional[int]]] = None, labels: Optional[Mapping[str, str]] = None,
                  size: str = "") -> pd.DataFrame:
    """Dataset mIoU of each method on the same panoramas, and its paired difference to ``baseline``, in points.

    Args:
        scores: ``{name: goodsam.evaluate_miou(...) or evaluate_labels(...) result}`` (their
            ``"confusions"``: one matrix per panorama, the same panoramas in the same order).
        baseline: the name the differences are taken to (its own row has none).
        params: parameter counts by name (None or missing: no model of its own, e.g. an ensemble).
        labels: names to print instead of the keys.
        size: the panoramas' size in words (``"128 x 256"``), a column of its own.

    Returns:
        one row per method: ``name`` (the key), ``model``, ``params (M)``, ``ERP size``, ``n``
        (panoramas), ``mIoU``, ``low``, ``high``, ``minus <baseline>``, ``diff low``, ``diff high`` (95 %
        intervals over panoramas; the differences paired).
    """
    base = np.asarray(scores[baseline]["confusions"])
    rows = []
    for name, e in scores.items():
        cms = np.asarray(e["confusions"])
        m = [100 * v for v in miou_bootstrap_ci(cms)]
        d = [np.nan] * 3 if name == baseline else [100 * v for v in miou_bootstrap_ci(cms, base)]
        p = (params or {}).get(name)
        rows.append({"name": name, "model": (labels or {}).get(name, name),
                     "params (M)": np.nan if p is None else p / 1e6, "ERP size": size, "n": len(cms),
                     "mIoU": m[0], "low": m[1], "high": m[2], f"minus {baseline}": d[0], "diff low": d[1],
                     "diff high": d[2]})
    return pd.DataFrame(rows)


def _describe_objects(ev) -> str:
    o = ev.objects
    images = o.groupby("domain", sort=False)["image"].nunique().to_dict()
    counts = _n_objects(ev)
    where = " + ".join(f"{counts[d]} objects on {images[d]} {d} image{'s' * (images[d] != 1)}" for d in counts)
    return (f"synthetic test renders, every object >= {ev.params.get('min_area', '?')} px: {where}; "
            f"{ev.params.get('draws', '?')} prompt draws per object and setting")


def stable_sam_claims(ev, plugin_params: int, model: str = "SAM + shipped plugins") -> Dict[str, Measured]:
    """The Stable-SAM measurements of :data:`~gsam_lab.report.PAPER_CLAIMS`, in points: per setting SAM's and
    Stable-SAM's mIoU over every object of both domains and their paired difference; the plugins'
    parameter count (millions)."""
    n = sum(_n_objects(ev).values())
    data = _describe_objects(ev)
    out = {}
    for key, setting in _SS_CLAIMS.items():
        d = tuple(100 * v for v in ev.paired(None, ("Stable-SAM", setting), ("SAM", setting)))
        out[key] = Measured(baseline=100 * ev.per_object("SAM", setting).mean(),
                            method=100 * ev.per_object("Stable-SAM", setting).mean(), diff=d, n=n, data=data,
                            model=model)
    out["stable_sam.params"] = Measured(method=plugin_params / 1e6, data="-", model="DSP + DRP plugins")
    return out


def _row(table: pd.DataFrame, name: str) -> pd.Series:
    hit = table[table["name"] == name]
    if hit.empty:
        raise KeyError(f"no row {name!r} in the GoodSAM table; it has {list(table['name'])}")
    return hit.iloc[0]


def goodsam_claims(table: pd.DataFrame, dar: str = "DAR ctcf", student: str = "shipped student",
                   baseline: str = "TA", student_table: Optional[pd.DataFrame] = None,
                   data: str = "synthetic test panoramas", b0_params: Optional[Union[int, float]] = None
                   ) -> Dict[str, Measured]:
    """The GoodSAM measurements of :data:`~gsam_lab.report.PAPER_CLAIMS` from :func:`goodsam_table` rows.

    Args:
        table: the table with ``baseline`` (the TA) and the ``dar`` ensemble (mIoU in points).
        student: the student's row, in ``student_table`` (default: ``table``) beside that table's own
            ``baseline`` row (a student scored at another size is compared with the TA at that size).
        data: what the panoramas are, in words (their number is put first).
        b0_params: parameters of a SegFormer-B0 student (default: counted for 19 classes).
    """
    if b0_params is None:
        from gsam_lab.goodsam.student import count_parameters
        b0_params = count_parameters("b0", 19)
    out = {}
    for key, name, t in (("goodsam.dar", dar, table), ("goodsam.student", student,
                                                        table if student_table is None else student_table)):
        base, r = _row(t, baseline), _row(t, name)
        who = f"{r['model']} ({r['params (M)']:.2f}M)" if pd.notna(r["params (M)"]) else r["model"]
        out[key] = Measured(baseline=float(base["mIoU"]), method=float(r["mIoU"]),
                            diff=(float(r[f"minus {baseline}"]), float(r["diff low"]), float(r["diff high"])),
                            n=int(r["n"]), data=f"{int(r['n'])} {data}", model=f"{who} vs {base['model']}")
    out["goodsam.student_params"] = Measured(method=b0_params / 1e6, data="-", model="SegFormer-B0 student, 19 classes")
    return out
