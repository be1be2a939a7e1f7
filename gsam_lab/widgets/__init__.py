"""Interactive widgets for the notebooks: thin ipywidgets adapters over tested plain functions.

``ipywidgets`` is only imported when a widget is built, so the logic modules import without it.
"""
from .colab import enable_colab_widgets, in_colab
from .distortion_explorer import DistortionExplorer, ExplorerFrame, explorer_frame
from .playground_state import PlaygroundFrame, PlaygroundState, playground_frame
from .prompt_playground import PromptPlayground
from .screenshots import SCREENSHOTS, screenshot, screenshot_path

__all__ = [
    # colab.py
    "enable_colab_widgets", "in_colab",
    # distortion_explorer.py
    "DistortionExplorer", "ExplorerFrame", "explorer_frame",
    # playground_state.py
    "PlaygroundFrame", "PlaygroundState", "playground_frame",
    # prompt_playground.py
    "PromptPlayground",
    # screenshots.py
    "SCREENSHOTS", "screenshot", "screenshot_path",
]
