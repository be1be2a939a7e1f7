"""Google Colab needs its custom widget manager switched on before third-party widgets render."""
from __future__ import annotations

import sys

__all__ = ["in_colab", "enable_colab_widgets"]


def in_colab() -> bool:
    """True inside a Google Colab kernel."""
    return "google.colab" in sys.modules


def enable_colab_widgets() -> bool:
    """Enable Colab's custom widget manager when running there; returns whether it was enabled."""
    if not in_colab():
        return False
    from google.colab import output  # type: ignore[import-not-found]

    output.enable_custom_widget_manager()
    return True
