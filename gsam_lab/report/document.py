"""Shareable results: a report written as Markdown and as one self-contained HTML file.

::

    report.write_report("outputs/06", "gsam_lab results", [
        "Some *Markdown* text.",
        ("Claims", claims),                      # a titled table
        ("Figure 1", "figures/sweep.png"),       # a titled image (path relative to the output folder)
        ("What did not reproduce", ["A paragraph.", "- a list item\\n- another"]),   # titled text
    ], caveat="Synthetic renders, tiny models: directions, not sizes.")

The HTML file embeds its images (one file to send around); the Markdown file links them.
"""
from __future__ import annotations

import base64
import html
import mimetypes
import re
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

import pandas as pd

from gsam_lab.utils import atomic_write_bytes

__all__ = ["write_report", "Block"]

Block = Union[str, Tuple[str, pd.DataFrame], Tuple[str, Union[str, Path]], Tuple[str, Sequence[str]]]


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
