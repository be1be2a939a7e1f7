"""Interactive widgets for the notebooks: thin ipywidgets adapters over tested plain functions.

``ipywidgets`` is only imported when a widget is built, so the logic modules import without it.
"""
from gsam_lab.widgets.colab import enable_colab_widgets, in_colab
from gsam_lab.widgets.distortion_explorer import DistortionExplorer, ExplorerFrame, explorer_frame
from gsam_lab.widgets.prompt_playground import PlaygroundFrame, PlaygroundState, PromptPlayground, playground_frame

__all__ = ["DistortionExplorer", "ExplorerFrame", "explorer_frame", "enable_colab_widgets", "in_colab",
           "PromptPlayground", "PlaygroundState", "PlaygroundFrame", "playground_frame"]
