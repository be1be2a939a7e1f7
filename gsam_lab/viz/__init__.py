"""Figure helpers used by every notebook, one module per kind of picture.

* :mod:`~gsam_lab.viz.images`: any array/tensor layout to a displayable image, grids, saving figures;
* :mod:`~gsam_lab.viz.labels`: label maps and masks (class colours, overlays, object colours, class legends,
  names written inside masks);
* :mod:`~gsam_lab.viz.erp`: panoramas with longitude/latitude ticks, curves across the seam, window layouts;
* :mod:`~gsam_lab.viz.heatmaps`: heat maps (attention, confidence) over an image, with a colour scale;
* :mod:`~gsam_lab.viz.prompts`: SAM prompts (boxes, clicks), prompt outcomes, prompt-sweep curves.

All functions take numpy arrays or torch tensors (on any device) and return numpy ``uint8`` images
or matplotlib objects. Functions that create figures use ``pyplot``; in Jupyter assign the result
(``fig = viz.show_grid(...)``) so the figure is shown once, not twice.
"""
from .erp import draw_polylines, draw_windows, plot_erp
from .heatmaps import plot_heatmap
from .images import savefig, show_grid, to_numpy_image
from .labels import add_class_legend, annotate_masks, colorize, colorize_instances, label_point, legend_patches, overlay
from .prompts import draw_boxes, draw_points, plot_sweep, show_outcomes

__all__ = [
    "draw_polylines", "draw_windows", "plot_erp",
    "plot_heatmap",
    "savefig", "show_grid", "to_numpy_image",
    "add_class_legend", "annotate_masks", "colorize", "colorize_instances", "label_point", "legend_patches",
    "overlay",
    "draw_boxes", "draw_points", "plot_sweep", "show_outcomes",
]
