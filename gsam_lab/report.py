"""Shareable results: the papers' claims beside our measurements, written as Markdown and HTML.

::

    from gsam_lab import report
    claims = report.claims_table({
        "stable_sam.noisy_box": report.Measured(baseline=47.0, method=47.2, diff=(0.2, -0.3, 0.7), n=120,
                                                data="synthetic test renders", model="tiny-synth SAM"),
        "stable_sam.params": 0.078,                 # a single number: parameter counts (millions)
    })
    report.write_report("outputs/06", "gsam_lab results", [
        "Some *Markdown* text.",
        ("Claims", claims),                      # a titled table
        ("Figure 1", "figures/sweep.png"),       # a titled image (path relative to the output folder)
        ("What did not reproduce", ["A paragraph.", "- a list item\\n- another"]),   # titled text
    ], caveat="Synthetic renders, tiny models: directions, not sizes.")

The HTML file embeds its images (one file to send around); the Markdown file links them.

A claim is either **by construction** (a parameter count: it holds because of how the model is
built, nothing is measured) or **measured** (a difference between two models on the same data). A
measured claim *holds* only when the 95 % interval of our difference lies on the paper's side of 0;
when the interval includes 0 the verdict is "not resolved", whatever the point value says.
"""
from __future__ import annotations

import base64
import html
import mimetypes
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import pandas as pd

from gsam_lab.utils import atomic_write_bytes

__all__ = ["PAPER_CLAIMS", "Measured", "claims_table", "write_report", "Block"]

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
HOLDS, NOT_RESOLVED, REVERSED, NOT_MEASURED = "holds", "not resolved", "does not hold", "not measured"


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


Block = Union[str, Tuple[str, pd.DataFrame], Tuple[str, Union[str, Path]], Tuple[str, Sequence[str]]]


def _as_measured(key: str, v) -> Measured:
    if v is None or isinstance(v, Measured):
        return v or Measured()
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{key}: expected (baseline, method), got {v!r}")
        base, ours = (None if x is None else float(x) for x in v)
        return Measured(baseline=base, method=ours)
    return Measured(method=float(v))


def _direction_holds(direction: str, m: Measured, limit: float, tol: float) -> Optional[bool]:
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
        return bool(d >= -tol)
    raise ValueError(f"unknown direction {direction!r}")


def _verdict(kind: str, direction: str, m: Measured, holds: Optional[bool], tol: float) -> str:
    if holds is None:
        return NOT_MEASURED
    if kind == "by construction":
        return f"{HOLDS} (by construction)" if holds else REVERSED
    if m.diff is None:
        return f"{NOT_RESOLVED} (no interval)"
    _, lo, hi = m.diff
    edge = 0.0 if direction == "up" else -tol
    if lo > edge or (direction == "kept" and lo >= edge):
        return HOLDS
    return REVERSED if hi < edge else f"{NOT_RESOLVED} (interval includes {edge:g})"


def claims_table(measured: Mapping[str, Union[Measured, float, Tuple[Optional[float], float]]],
                 kept_tolerance: float = 1.0) -> pd.DataFrame:
    """The papers' claims beside our numbers, one row per :data:`PAPER_CLAIMS` entry.

    Args:
        measured: ``{key: Measured(...)}`` (numbers in the claim's unit: mIoU in points, i.e. x100;
            parameters in millions); ``{key: (our_baseline, our_method)}`` (point values, no interval)
            or ``{key: value}`` for single numbers (parameter counts). Keys are those of
            :data:`PAPER_CLAIMS`; unknown keys are an error, missing ones show as "not measured".
        kept_tolerance: how far (points) a "kept" claim may drop and still hold.

    Returns:
        DataFrame ``key, paper, claim, kind, source, paper_data, paper_model, paper_baseline,
        paper_method, paper_diff, our_data, our_model, n, ours_baseline, ours_method, ours_diff,
        diff_lo, diff_hi, direction_holds, verdict``. ``direction_holds``: whether our point values
        move the paper's way (None: not measured). ``verdict``: "holds" when the 95 % interval of a
        measured difference excludes 0 on the paper's side (for "kept": lies above ``-kept_tolerance``),
        "not resolved (...)" when it includes that edge or there is no interval, "does not hold"
        when it excludes it on the other side, "holds (by construction)" for parameter counts.
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
        holds = _direction_holds(c.direction, m, limit, kept_tolerance)
        paper_diff = (c.paper_method - c.paper_baseline
                      if c.paper_method is not None and c.paper_baseline is not None else
                      c.paper_method if c.direction == "up" else None)
        rows.append(dict(key=c.key, paper=c.paper, claim=c.claim, kind=c.kind, source=c.source,
                         paper_data=c.paper_data, paper_model=c.paper_model, paper_baseline=c.paper_baseline,
                         paper_method=c.paper_method, paper_diff=paper_diff, our_data=m.data, our_model=m.model,
                         n=m.n, ours_baseline=m.baseline, ours_method=m.method,
                         ours_diff=None if m.diff is None else m.diff[0],
                         diff_lo=None if m.diff is None else m.diff[1], diff_hi=None if m.diff is None else m.diff[2],
                         direction_holds=holds, verdict=_verdict(c.kind, c.direction, m, holds, kept_tolerance)))
    return pd.DataFrame(rows)


def _image_data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _inline_html(text: str) -> str:
    """Escaped text with Markdown's ``**bold**`` and ```code``` as HTML."""
    s = html.escape(text)
    s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", s)


def _paragraph_html(par: str) -> str:
    lines = [ln.strip() for ln in par.strip().splitlines() if ln.strip()]
    if lines and all(ln.startswith("- ") for ln in lines):
        return "<ul>" + "".join(f"<li>{_inline_html(ln[2:])}</li>" for ln in lines) + "</ul>"
    return f"<p>{_inline_html(' '.join(lines))}</p>"


def write_report(out_dir: Union[str, Path], title: str, blocks: Sequence[Block], name: str = "report",
                 overwrite: bool = True, caveat: Optional[str] = None) -> Dict[str, Path]:
    """Write ``<name>.md`` and ``<name>.html`` into ``out_dir``.

    Args:
        blocks: in order: a string (Markdown paragraph), ``(heading, DataFrame)``,
            ``(heading, image path)`` (relative to ``out_dir``, or absolute inside it) or
            ``(heading, [paragraph, ...])`` (a titled text section; a paragraph whose lines all start
            with ``"- "`` is a list).
        overwrite: ``False`` refuses to replace existing report files.
        caveat: a paragraph placed right under the title of both files (the scale of the evidence:
            data, models, hardware, what ``n`` counts), so that it travels with every copy.

    Returns:
        ``{"md": path, "html": path}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / f"{name}.md", "html": out / f"{name}.html"}
    if not overwrite:
        for p in paths.values():
            if p.exists():
                raise FileExistsError(f"{p} exists; pass overwrite=True to replace it")
    md = [f"# {title}", ""]
    body = [f"<h1>{html.escape(title)}</h1>"]
    if caveat:
        md += ["> **Caveat.** " + " ".join(caveat.split()), ""]
        body.append(f'<p class="caveat"><strong>Caveat.</strong> {_inline_html(" ".join(caveat.split()))}</p>')
    for i, b in enumerate(blocks):
        if isinstance(b, str):
            md += [b, ""]
            body.append("".join(_paragraph_html(par) for par in b.split("\n\n")))
            continue
        if not (isinstance(b, tuple) and len(b) == 2 and isinstance(b[0], str)):
            raise TypeError(f"block {i}: expected a string, (heading, DataFrame), (heading, image path) or "
                            f"(heading, [paragraphs]); got {b!r:.80}")
        heading, content = b
        md += [f"## {heading}", ""]
        body.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(content, pd.DataFrame):
            md += [content.to_markdown(index=False, floatfmt=".3g") if _has_tabulate() else
                   "```\n" + content.to_string(index=False) + "\n```", ""]
            body.append(content.to_html(index=False, float_format=lambda x: f"{x:.3g}", na_rep="–", border=0))
        elif isinstance(content, (list, tuple)):
            if not all(isinstance(p, str) for p in content):
                raise TypeError(f"block {i} ({heading!r}): a text section is a list of strings")
            for par in content:
                md += [par, ""]
                body.append(_paragraph_html(par))
        else:
            p = Path(content)
            full = p if p.is_absolute() else out / p
            if not full.is_file():
                raise FileNotFoundError(f"block {i} ({heading!r}): image {full} does not exist")
            rel = full.resolve().relative_to(out.resolve()) if full.resolve().is_relative_to(out.resolve()) else full
            md += [f"![{heading}]({rel.as_posix() if isinstance(rel, Path) else rel})", ""]
            body.append(f'<img alt="{html.escape(heading)}" src="{_image_data_uri(full)}" style="max-width:100%">')
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.45}"
             "table{border-collapse:collapse}td,th{padding:.25em .6em;border-bottom:1px solid #ccc;text-align:right}"
             ".caveat{background:#fff6d5;border-left:4px solid #e0b000;padding:.5em .8em}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")
    atomic_write_bytes(paths["md"], "\n".join(md).encode("utf-8"))
    atomic_write_bytes(paths["html"], page.encode("utf-8"))
    return paths


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True
