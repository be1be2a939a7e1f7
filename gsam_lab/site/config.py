"""The Sphinx settings of the site (Sphinx, MyST-NB and the book theme), passed in without a ``conf.py``.

Nothing is executed (``nb_execution_mode = "off"``), nothing is loaded from another host when a page is
read: no widget JavaScript (widgets are shown as screenshots), MathJax from the installed
``django-static-mathjax`` package (copied into the site), the theme's own fonts and icons.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Dict, List, Optional

__all__ = ["STATIC", "mathjax_file", "sphinx_config"]

#: the site's own style sheet
STATIC = Path(__file__).resolve().parent / "static"


def mathjax_file() -> Optional[Path]:
    """MathJax 3's one-file TeX-to-SVG component from the installed ``django-static-mathjax`` package
    (SVG output: no font files to load), or None when it is not installed."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "static" / "mathjax" / "es5" / "tex-svg.js"
        if path.is_file():
            return path
    return None


def _mock_imports() -> List[str]:
    """Optional packages the API reference's modules import; mocked only when they are not installed."""
    optional = ("ipywidgets", "ipyevents", "cv2", "IPython")
    return [m for m in optional if importlib.util.find_spec(m) is None]


def sphinx_config(static: List[str], extra: List[str], title: str) -> Dict[str, object]:
    """The settings: ``static`` / ``extra`` folders copied into the site, ``title`` of the site."""
    return {
        "project": "gsam_lab",
        "author": "the gsam_lab authors",
        "extensions": ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"],
        "exclude_patterns": ["**.ipynb_checkpoints"],
        "root_doc": "index",
        "language": "en",
        # notebooks: read as they ran, never executed; outputs as the run left them
        "nb_execution_mode": "off",
        "nb_ipywidgets_js": {},
        "nb_merge_streams": True,
        "myst_enable_extensions": ["dollarmath", "amsmath", "colon_fence"],
        "myst_heading_anchors": 3,
        # the API reference
        "autodoc_default_options": {"members": True},
        "autodoc_member_order": "bysource",
        "autodoc_typehints": "description",
        "autodoc_mock_imports": _mock_imports(),
        "napoleon_google_docstring": True,
        "napoleon_numpy_docstring": False,
        "napoleon_use_ivar": True,          # a dataclass's "Attributes:" are not described twice
        # MathJax from the site itself
        "mathjax_path": "mathjax/tex-svg.js",
        # the pages
        "html_theme": "sphinx_book_theme",
        "html_title": title,
        "html_static_path": static,
        "html_extra_path": extra,
        "html_css_files": ["gsam-site.css"],
        "html_favicon": str(STATIC / "favicon.svg"),
        "html_context": {"default_mode": "light"},      # figures are drawn on white
        "html_copy_source": False,
        "html_show_sourcelink": False,
        "html_last_updated_fmt": None,
        "html_theme_options": {
            "home_page_in_toc": True,
            "show_navbar_depth": 1,
            "show_toc_level": 2,
            "use_download_button": False,
            "use_fullscreen_button": False,
            "use_repository_button": False,
            "navigation_with_keys": False,
        },
        "suppress_warnings": ["mystnb.unknown_mime_type", "myst.header"],
    }
