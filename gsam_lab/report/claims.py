"""The papers' claims beside our measurements, each with a verdict computed from a stated rule.

A claim is either **by construction** (a parameter count: it holds because of how the model is
built, nothing is measured) or **measured** (a difference between two models on the same units).
Each verdict follows one rule (:data:`RULES`), stated beside it in every table:

- a claim that a method is *better* ("up") **holds** when the 95 % interval of our paired difference
  lies above 0, **does not hold** when it lies below 0, and is **not resolved** when it includes 0,
  whatever the point value says;
- a claim that a method *keeps* a quality ("kept") is a non-inferiority test: **non-inferior** when the
  interval's lower end is above ``-margin`` (1 point by default), **inferior** when its upper end is
  below it, otherwise not resolved. A change that does nothing passes it, so it is never counted with
  the claims that hold;
- a parameter count ("small") **holds (by construction)** when it is at most 1.25 x the paper's.

::

    claims = report.claims_table({
        "stable_sam.noisy_box": report.Measured(baseline=47.0, method=47.2, diff=(0.2, -0.3, 0.7), n=120,
                                                data="synthetic test renders", model="tiny-synth SAM"),
        "stable_sam.params": 0.078,                 # a single number: parameter counts (millions)
    })
    report.scorecard(claims)          # one row per claim: the paper's numbers, ours, the verdict
    report.verdict_counts(claims)     # how many claims each rule passes, fails or leaves open
    report.verdict_summary(claims)    # the same in one sentence
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import List, Mapping, Optional, Tuple, Union

import pandas as pd

from gsam_lab.bootstrap import format_ci

__all__ = ["PAPER_CLAIMS", "RULES", "Measured", "claims_table", "scorecard", "sources", "verdict_counts",
           "verdict_summary", "findings"]

_STABLE_SAM = "Stable-SAM (Fan et al., ICLR 2025, arXiv 2311.15776)"
_GOODSAM = "GoodSAM (Zhang et al., CVPR 2024, arXiv 2403.16370)"
_SS_DATA, _SS_MODEL = "DIS, ThinObject, COIFT, HR-SOD (mean)", "SAM ViT-L"

#: What the papers report (docs/methods/stable_sam.md and docs/methods/goodsam.md, "What the paper
#: reports"), keyed by the measurement that answers it. ``kind``: "by construction" (a parameter
#: count) or "measured". ``direction``: how our (baseline, ours) pair must compare for the claim's
#: direction to hold ("up", "kept" within a tolerance, "small").
PAPER_CLAIMS = pd.DataFrame([
    dict(key="stable_sam.noisy_box", paper="Stable-SAM", claim="noisy-box mIoU: SAM -> SAM + plugins",
         kind="measured", source=f"{_STABLE_SAM}, main comparison", paper_data=_SS_DATA, paper_model=_SS_MODEL,
         paper_baseline=48.8, paper_method=82.3, direction="up"),
    dict(key="stable_sam.points1", paper="Stable-SAM", claim="1-point mIoU: SAM -> SAM + plugins",
         kind="measured", source=f"{_STABLE_SAM}, main comparison", paper_data=_SS_DATA, paper_model=_SS_MODEL,
         paper_baseline=43.3, paper_method=76.9, direction="up"),
    dict(key="stable_sam.points3", paper="Stable-SAM", claim="3-point mIoU: SAM -> SAM + plugins",
         kind="measured", source=f"{_STABLE_SAM}, main comparison", paper_data=_SS_DATA, paper_model=_SS_MODEL,
         paper_baseline=78.7, paper_method=84.0, direction="up"),
    dict(key="stable_sam.gt_box", paper="Stable-SAM", claim="GT-box mIoU kept: SAM -> SAM + plugins",
         kind="measured", source=f"{_STABLE_SAM}, main comparison", paper_data=_SS_DATA, paper_model=_SS_MODEL,
         paper_baseline=79.5, paper_method=79.5, direction="kept"),
    dict(key="stable_sam.params", paper="Stable-SAM", claim="learnable parameters of the plugins (M)",
         kind="by construction", source=f"{_STABLE_SAM}, abstract", paper_data="-", paper_model="DSP + DRP",
         paper_baseline=None, paper_method=0.08, direction="small"),
    dict(key="goodsam.headline", paper="GoodSAM", claim="mIoU gain over the best domain-adaptation method (points)",
         kind="measured", source=f"{_GOODSAM}, abstract", paper_data="DensePASS", paper_model="GoodSAM student",
         paper_baseline=None, paper_method=3.75, direction="up"),
    dict(key="goodsam.dar", paper="GoodSAM", claim="ERP mIoU: TA -> DAR ensemble",
         kind="measured", source=f"{_GOODSAM}, DAR ablation (direction only)", paper_data="DensePASS",
         paper_model="SegFormer-B5 TA + SAM", paper_baseline=None, paper_method=None, direction="up"),
    dict(key="goodsam.student", paper="GoodSAM", claim="ERP mIoU: TA -> MKA student (student beats its teacher)",
         kind="measured", source=f"{_GOODSAM} (direction only)", paper_data="DensePASS",
         paper_model="SegFormer student", paper_baseline=None, paper_method=None, direction="up"),
    dict(key="goodsam.student_params", paper="GoodSAM", claim="smallest student parameters (M), SegFormer-B0",
         kind="by construction", source=f"{_GOODSAM}, abstract", paper_data="-", paper_model="SegFormer-B0",
         paper_baseline=None, paper_method=3.7, direction="small"),
])

#: Verdicts of :func:`claims_table`.
HOLDS, NOT_HOLD, NOT_RESOLVED, NOT_MEASURED = "holds", "does not hold", "not resolved", "not measured"
NON_INFERIOR, INFERIOR = "non-inferior", "inferior"
BY_CONSTRUCTION = "holds (by construction)"

#: The rule of each ``direction`` of :data:`PAPER_CLAIMS` (``{margin}``: the non-inferiority margin in points).
RULES = {
    "up": "holds when the 95 % interval of the paired difference lies above 0, does not hold when it lies "
          "below 0, not resolved when it includes 0",
    "kept": "non-inferiority with a {margin:g}-point margin: non-inferior when the interval's lower end is above "
            "-{margin:g}, inferior when its upper end is below -{margin:g}, otherwise not resolved (a change that "
            "does nothing passes it too)",
    "small": "holds by construction when the count is at most 1.25 x the paper's (how the model is built, "
             "not evidence about the method)",
}


@dataclass
class Measured:
    """One measured claim: our two numbers and the paired difference with its 95 % interval.

    Attributes:
        baseline, method: our values in the claim's unit (mIoU in points, i.e. x100).
        diff: ``(method - baseline, low, high)`` from a paired bootstrap on the same units (points).
        n: the units the interval resamples (objects, panoramas).
        data, model: what was measured, in words.
    """

    baseline: Optional[float] = None
    method: Optional[float] = None
    diff: Optional[Tuple[float, float, float]] = None
    n: Optional[int] = None
    data: str = ""
    model: str = ""


def _as_measured(key: str, v) -> Measured:
    if v is None or isinstance(v, Measured):
        return v or Measured()
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{key}: expected (baseline, method), got {v!r}")
        base, ours = (None if x is None else float(x) for x in v)
        return Measured(baseline=base, method=ours)
    return Measured(method=float(v))


def _direction_holds(direction: str, m: Measured, limit: float, margin: float) -> Optional[bool]:
    """Whether the point values move the paper's way (None: not measured)."""
    if direction == "small":
        return None if m.method is None else bool(m.method <= limit)
    d = m.diff[0] if m.diff is not None else (
        None if m.method is None or m.baseline is None else m.method - m.baseline)
    if d is None:
        return None
    if direction == "up":
        return bool(d > 0)
    if direction == "kept":
        return bool(d > -margin)
    raise ValueError(f"unknown direction {direction!r}")


def _verdict(kind: str, direction: str, m: Measured, holds: Optional[bool], margin: float) -> str:
    """The verdict of :data:`RULES` for one claim."""
    if holds is None:
        return NOT_MEASURED
    if kind == "by construction":
        return BY_CONSTRUCTION if holds else NOT_HOLD
    if m.diff is None:
        return f"{NOT_RESOLVED} (no interval)"
    _, lo, hi = m.diff
    if direction == "kept":
        return NON_INFERIOR if lo > -margin else INFERIOR if hi < -margin else NOT_RESOLVED
    return HOLDS if lo > 0 else NOT_HOLD if hi < 0 else NOT_RESOLVED


def claims_table(measured: Mapping[str, Union[Measured, float, Tuple[Optional[float], float]]],
                 kept_margin: float = 1.0) -> pd.DataFrame:
    """The papers' claims beside our numbers, one row per :data:`PAPER_CLAIMS` entry.

    Args:
        measured: ``{key: Measured(...)}`` (numbers in the claim's unit: mIoU in points, i.e. x100;
            parameters in millions); ``{key: (our_baseline, our_method)}`` (point values, no interval)
            or ``{key: value}`` for single numbers (parameter counts). Keys are those of
            :data:`PAPER_CLAIMS`; unknown keys are an error, missing ones show as "not measured".
        kept_margin: the non-inferiority margin (points) of a "kept" claim.

    Returns:
        DataFrame ``key, paper, claim, kind, direction, source, paper_data, paper_model, paper_baseline,
        paper_method, paper_diff, our_data, our_model, n, ours_baseline, ours_method, ours_diff, diff_lo,
        diff_hi, ours_over_paper, direction_holds, verdict, rule``. ``ours_over_paper``: our difference as
        a share of the paper's (a verdict reads the direction; this the size). ``direction_holds``: whether
        our point values move the paper's way (None: not measured). ``verdict``: what ``rule``
        (:data:`RULES`) reads from the interval.
    """
    known = set(PAPER_CLAIMS["key"])
    unknown = set(measured) - known
    if unknown:
        raise ValueError(f"unknown claim key(s) {sorted(unknown)}; expected some of {sorted(known)}")
    rows = []
    for c in PAPER_CLAIMS.itertuples(index=False):
        m = _as_measured(c.key, measured.get(c.key))
        if m.diff is not None:
            if len(m.diff) != 3 or not m.diff[1] <= m.diff[2]:
                raise ValueError(f"{c.key}: diff must be (value, low, high) with low <= high, got {m.diff!r}")
            m = replace(m, diff=tuple(float(x) for x in m.diff))
        limit = max(c.paper_method * 1.25, 0.1) if c.paper_method is not None else 0.1
        holds = _direction_holds(c.direction, m, limit, kept_margin)
        paper_diff = (c.paper_method - c.paper_baseline
                      if c.paper_method is not None and c.paper_baseline is not None else
                      c.paper_method if c.direction == "up" else None)
        verdict = _verdict(c.kind, c.direction, m, holds, kept_margin)
        rule = "nothing measured here" if verdict == NOT_MEASURED else RULES[c.direction].format(margin=kept_margin)
        rows.append(dict(key=c.key, paper=c.paper, claim=c.claim, kind=c.kind, direction=c.direction,
                         source=c.source, paper_data=c.paper_data, paper_model=c.paper_model,
                         paper_baseline=c.paper_baseline, paper_method=c.paper_method, paper_diff=paper_diff,
                         our_data=m.data, our_model=m.model, n=m.n, ours_baseline=m.baseline, ours_method=m.method,
                         ours_diff=None if m.diff is None else m.diff[0],
                         diff_lo=None if m.diff is None else m.diff[1], diff_hi=None if m.diff is None else m.diff[2],
                         ours_over_paper=None if m.diff is None or not paper_diff else m.diff[0] / paper_diff,
                         direction_holds=holds, verdict=verdict, rule=rule))
    return pd.DataFrame(rows)


def _pair(base, method, spec: str) -> str:
    if method is None or pd.isna(method):
        return "-"
    return f"{method:{spec}}" if base is None or pd.isna(base) else f"{base:{spec}} -> {method:{spec}}"


def scorecard(claims: pd.DataFrame) -> pd.DataFrame:
    """The claims table to read: per claim its kind, the paper's numbers and ours (``baseline -> method``;
    mIoU in points, parameters in millions), ``n``, our paired difference with its 95 % interval, the
    paper's difference, ours as a share of it, and the verdict (its rule: :func:`verdict_counts`)."""
    return pd.DataFrame({
        "claim": claims["claim"], "kind": claims["kind"],
        "paper": [_pair(r.paper_baseline, r.paper_method, "g") for r in claims.itertuples()],
        "ours": [_pair(r.ours_baseline, r.ours_method, ".3f" if r.kind == "by construction" else ".1f")
                 for r in claims.itertuples()],
        "n": claims["n"].astype("Int64"),
        "ours: difference [95% CI]": ["" if pd.isna(r.ours_diff) else format_ci(r.ours_diff, r.diff_lo, r.diff_hi, 1)
                                      for r in claims.itertuples()],
        "paper: difference": ["" if pd.isna(r.paper_diff) or r.kind != "measured" else f"{r.paper_diff:+.1f}"
                              for r in claims.itertuples()],
        "ours / paper": ["" if pd.isna(r.ours_over_paper) else f"{r.ours_over_paper:.2f}" for r in claims.itertuples()],
        "verdict": claims["verdict"]})


def sources(claims: pd.DataFrame) -> pd.DataFrame:
    """Where each claim comes from and what answers it: the paper's source, data and model beside ours."""
    return claims[["claim", "source", "paper_data", "paper_model", "our_data", "our_model"]].reset_index(drop=True)


def verdict_counts(claims: pd.DataFrame) -> pd.DataFrame:
    """How many claims each rule gives each verdict: one row per (kind, rule, verdict) with ``count`` and
    the claims, so that a claim kept by a non-inferiority margin is never counted as one that holds."""
    kinds = claims["kind"] + ": " + claims["direction"].map({"up": "better", "kept": "kept", "small": "count"})
    t = claims.assign(test=kinds.where(claims["verdict"] != NOT_MEASURED, NOT_MEASURED))
    rows = [dict(test=test, verdict=verdict, count=len(g), rule=g["rule"].iloc[0], claims="; ".join(g["claim"]))
            for (test, verdict), g in t.groupby(["test", "verdict"], sort=False)]
    order = [HOLDS, NON_INFERIOR, BY_CONSTRUCTION, NOT_HOLD, INFERIOR, NOT_RESOLVED, NOT_MEASURED]
    rank = {v: i for i, v in enumerate(order)}
    rows.sort(key=lambda r: rank.get(r["verdict"], rank[NOT_RESOLVED]))     # "not resolved (no interval)" too
    return pd.DataFrame(rows, columns=["test", "verdict", "count", "rule", "claims"])


def _count(claims: pd.DataFrame, verdict: str, kind: str = "measured") -> int:
    v = claims.loc[claims["kind"] == kind, "verdict"]
    return int(v.str.startswith(verdict).sum())


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def verdict_summary(claims: pd.DataFrame) -> str:
    """One sentence that counts the verdicts by their rules (each measured claim in exactly one count)."""
    measured = int((claims["kind"] == "measured").sum())
    parts = [(_count(claims, HOLDS), "holds", "hold",
              "the interval of the difference lies above 0: a direction, the scorecard's ours / paper gives the size"),
             (_count(claims, NOT_HOLD), "does not hold", "do not hold", "it lies below 0"),
             (_count(claims, NON_INFERIOR), "is non-inferior", "are non-inferior",
              "within the margin, a test that a change doing nothing passes too"),
             (_count(claims, INFERIOR), "is inferior", "are inferior", "beyond the margin"),
             (_count(claims, NOT_RESOLVED), "is not resolved", "are not resolved", "the interval includes the edge"),
             (_count(claims, NOT_MEASURED), "is not measured", "are not measured", "no data for it here")]
    said = [f"{_n(k, one, many)}" + (f" ({why})" if why else "") for k, one, many, why in parts
            if k or one == "holds"]
    built = _count(claims, BY_CONSTRUCTION, "by construction")
    counts = _n(built, "parameter count holds", "parameter counts hold")
    return (f"Of {measured} claims that a measurement answers, " + ", ".join(said)
            + f"; {counts} by construction, which is not evidence about either method.")


def findings(claims: pd.DataFrame, share: float = 0.5) -> List[str]:
    """One line per measured claim that did not reproduce: its verdict is not "holds", or it holds at less
    than ``share`` of the paper's difference. Each line gives our difference with its interval and
    ``n``, the paper's difference, ours as a share of it, and the verdict (the rules: :func:`verdict_counts`)."""
    lines = []
    for r in claims[claims["kind"] == "measured"].itertuples():
        small = pd.notna(r.ours_over_paper) and r.ours_over_paper < share
        if r.verdict == HOLDS and not small:
            continue
        ours = ("not measured here" if pd.isna(r.ours_diff) else
                f"ours {format_ci(r.ours_diff, r.diff_lo, r.diff_hi, 1)} points (n = {int(r.n)})")
        paper = "" if pd.isna(r.paper_diff) else f", the paper {r.paper_diff:+.1f}"
        size = f" (ours is {r.ours_over_paper:.2f} of it)" if pd.notna(r.ours_over_paper) else ""
        lines.append(f"- **{r.claim}**: {ours}{paper}{size}; verdict: {r.verdict}.")
    return lines
