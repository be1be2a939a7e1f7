"""Shareable results: the papers' claims beside our measurements, written as Markdown and HTML.

::

    from gsam_lab import report
    claims = report.claims_table({"stable_sam.noisy_box": (0.47, 0.55), ...})
    report.write_report("outputs/06", "gsam_lab results", [
        "Some *Markdown* text.",
        ("Claims", claims),                      # a titled table
        ("Figure 1", "figures/sweep.png"),       # a titled image (path relative to the output folder)
    ])

The HTML file embeds its images (one file to send around); the Markdown file links them.
"""
from __future__ import annotations

import base64
import html
import mimetypes
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import pandas as pd

from gsam_lab.utils import atomic_write_bytes

__all__ = ["PAPER_CLAIMS", "claims_table", "write_report", "Block"]

#: What the papers report (docs/methods/stable_sam.md and docs/methods/goodsam.md, "What the paper
#: reports"), keyed by the measurement that answers it.
#: ``direction``: how our (baseline, ours) pair must compare for the claim's *direction* to hold.
PAPER_CLAIMS = pd.DataFrame([
    dict(key="stable_sam.noisy_box", paper="Stable-SAM", claim="noisy-box mIoU: SAM -> SAM + plugins",
         paper_baseline=48.8, paper_method=82.3, direction="up"),
    dict(key="stable_sam.points1", paper="Stable-SAM", claim="1-point mIoU: SAM -> SAM + plugins",
         paper_baseline=43.3, paper_method=76.9, direction="up"),
    dict(key="stable_sam.points3", paper="Stable-SAM", claim="3-point mIoU: SAM -> SAM + plugins",
         paper_baseline=78.7, paper_method=84.0, direction="up"),
    dict(key="stable_sam.gt_box", paper="Stable-SAM", claim="GT-box mIoU kept (SAM ≈ 79.5)",
         paper_baseline=79.5, paper_method=79.5, direction="kept"),
    dict(key="stable_sam.params", paper="Stable-SAM", claim="learnable parameters (M)",
         paper_baseline=None, paper_method=0.08, direction="small"),
    dict(key="goodsam.dar", paper="GoodSAM", claim="ERP mIoU: TA -> DAR pseudo-labels",
         paper_baseline=None, paper_method=None, direction="up"),
    dict(key="goodsam.student", paper="GoodSAM", claim="ERP mIoU: TA -> MKA student (student beats its teacher)",
         paper_baseline=None, paper_method=None, direction="up"),
    dict(key="goodsam.student_params", paper="GoodSAM", claim="smallest student parameters (M), SegFormer-B0",
         paper_baseline=None, paper_method=3.7, direction="small"),
])

Block = Union[str, Tuple[str, pd.DataFrame], Tuple[str, Union[str, Path]]]


def _holds(direction: str, base: Optional[float], ours: Optional[float], tol: float) -> Optional[bool]:
    if ours is None or (base is None and direction != "small"):
        return None
    if direction == "up":
        return bool(ours > base)
    if direction == "kept":
        return bool(ours >= base - tol)
    if direction == "small":
        return bool(ours <= 0.1) if base is None else bool(ours <= base)
    raise ValueError(f"unknown direction {direction!r}")


def claims_table(measured: Mapping[str, Union[float, Tuple[Optional[float], float]]],
                 kept_tolerance: float = 1.0) -> pd.DataFrame:
    """The papers' claims beside our numbers.

    Args:
        measured: ``{key: (our_baseline, our_method)}`` in the claim's unit (mIoU in points, i.e. x100;
            parameters in millions), or ``{key: value}`` for single numbers (parameter counts).
            Keys are those of :data:`PAPER_CLAIMS`; unknown keys are an error, missing ones show as
            "not measured".
        kept_tolerance: how far (points) a "kept" claim may drop and still hold.

    Returns:
        DataFrame ``paper, claim, paper_baseline, paper_method, ours_baseline, ours_method, direction_holds``;
        ``direction_holds`` says whether our numbers move the way the paper's do (None: not measured).
    """
    known = set(PAPER_CLAIMS["key"])
    unknown = set(measured) - known
    if unknown:
        raise ValueError(f"unknown claim key(s) {sorted(unknown)}; expected some of {sorted(known)}")
    rows = []
    for c in PAPER_CLAIMS.itertuples(index=False):
        v = measured.get(c.key)
        if v is None:
            base = ours = None
        elif isinstance(v, (tuple, list)):
            if len(v) != 2:
                raise ValueError(f"{c.key}: expected (baseline, method), got {v!r}")
            base, ours = (None if x is None else float(x) for x in v)
        else:
            base, ours = None, float(v)
        if c.direction == "small" and base is None and c.paper_method is not None and ours is not None:
            holds = bool(ours <= max(c.paper_method * 1.25, 0.1))
        else:
            holds = _holds(c.direction, base, ours, kept_tolerance)
        rows.append(dict(paper=c.paper, claim=c.claim, paper_baseline=c.paper_baseline, paper_method=c.paper_method,
                         ours_baseline=base, ours_method=ours, direction_holds=holds))
    return pd.DataFrame(rows)


def _image_data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def write_report(out_dir: Union[str, Path], title: str, blocks: Sequence[Block],
                 name: str = "report", overwrite: bool = True) -> Dict[str, Path]:
    """Write ``<name>.md`` and ``<name>.html`` into ``out_dir``.

    Args:
        blocks: in order: a string (Markdown paragraph), ``(heading, DataFrame)`` or
            ``(heading, image path)``; image paths are relative to ``out_dir`` (or absolute inside it).
        overwrite: ``False`` refuses to replace existing report files.

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
    for i, b in enumerate(blocks):
        if isinstance(b, str):
            md += [b, ""]
            body.append("".join(f"<p>{html.escape(par)}</p>" for par in b.split("\n\n")))
            continue
        if not (isinstance(b, tuple) and len(b) == 2 and isinstance(b[0], str)):
            raise TypeError(f"block {i}: expected a string, (heading, DataFrame) or (heading, image path); "
                            f"got {b!r:.80}")
        heading, content = b
        md += [f"## {heading}", ""]
        body.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(content, pd.DataFrame):
            md += [content.to_markdown(index=False, floatfmt=".3g") if _has_tabulate() else
                   "```\n" + content.to_string(index=False) + "\n```", ""]
            body.append(content.to_html(index=False, float_format=lambda x: f"{x:.3g}", na_rep="–", border=0))
        else:
            p = Path(content)
            full = p if p.is_absolute() else out / p
            if not full.is_file():
                raise FileNotFoundError(f"block {i} ({heading!r}): image {full} does not exist")
            rel = full.resolve().relative_to(out.resolve()) if full.resolve().is_relative_to(out.resolve()) else full
            md += [f"![{heading}]({rel.as_posix() if isinstance(rel, Path) else rel})", ""]
            body.append(f'<img alt="{html.escape(heading)}" src="{_image_data_uri(full)}" style="max-width:100%">')
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.45}"
             "table{border-collapse:collapse}td,th{padding:.25em .6em;border-bottom:1px solid #ccc;text-align:right}")
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
