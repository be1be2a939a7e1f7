"""The widgets' JupyterLab screenshots, for a notebook to show what a widget looks like where no kernel runs it
(an executed copy opened elsewhere, a rendered page).

The PNGs are the repository's ``docs/img/<name>.png`` (the README shows them; the browser tests refresh them
with ``GSAM_LAB_UPDATE_DOCS_IMG=1``). :func:`screenshot` puts the file's bytes into the cell's output, so an
executed notebook carries the image wherever it is copied; an installation without the repository's ``docs``
folder (a wheel, Colab) gets a link to the repository's copy instead.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

__all__ = ["SCREENSHOTS", "screenshot", "screenshot_path"]

#: the repository's ``docs/img`` (present in a clone and an editable install)
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
#: where the repository publishes the same files (``{name}``: a key of :data:`SCREENSHOTS`)
REPOSITORY_URL = "https://raw.githubusercontent.com/gsam-lab/gsam_lab/main/docs/img/{name}.png"
#: screenshot name -> what it shows
SCREENSHOTS = {
    "distortion_explorer": "the distortion explorer (notebook 01): yaw, pitch and FoV sliders, the panorama with "
                           "the view's footprint, the tangent view",
    "prompt_playground": "the prompt playground (notebook 02): a dragged box, its noisy copies and how often each "
                         "pixel lands in their masks",
}


def _check(name: str) -> str:
    if name not in SCREENSHOTS:
        raise ValueError(f"no widget screenshot named {name!r}; the names are {', '.join(sorted(SCREENSHOTS))}")
    return name


def screenshot_path(name: str) -> Optional[Path]:
    """The PNG file of screenshot ``name`` (a key of :data:`SCREENSHOTS`), or None when ``docs/img`` is absent."""
    path = DOCS_IMG / f"{_check(name)}.png"
    return path if path.is_file() else None


def screenshot(name: str, width: Optional[int] = None):
    """Screenshot ``name`` as an ``IPython.display.Image``: the PNG's bytes (embedded in the output of the cell
    that shows it), or, without the file, a link to the repository's copy. ``width``: display width in pixels."""
    from IPython.display import Image

    path = screenshot_path(name)
    if path is not None:
        return Image(data=path.read_bytes(), format="png", width=width)
    return Image(url=REPOSITORY_URL.format(name=name), embed=False, width=width)
